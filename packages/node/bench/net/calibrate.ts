/**
 * What goodput a shaped uplink gives: one bulk HTTP transfer out of a namespace shaped at the
 * rate, body bytes counted for `measureMs` after a `warmupMs` start (TCP slow start and the
 * tbf burst excluded). At 4 MB/s tbf this is ≈ 3.82 MB/s: TCP/IP and Ethernet headers take the
 * rest.
 */
import { request } from 'undici'
import { testbedDispatcher } from './dispatcher.ts'
import { SiteProcess } from './site.ts'
import type { Testbed } from './testbed.ts'

export async function calibrateUplink(
  tb: Testbed,
  bytesPerSec: number,
  latencyMs: number,
  opts: { warmupMs?: number; measureMs?: number } = {}
): Promise<number> {
  const warmupMs = opts.warmupMs ?? 500
  const measureMs = opts.measureMs ?? 2_000
  const index = 1
  const site = await tb.addSite(index, bytesPerSec, latencyMs)
  const dispatcher = testbedDispatcher({ sites: new Map(), prefix: tb.prefix })
  let proc: SiteProcess | undefined
  try {
    proc = await SiteProcess.start(
      tb,
      site,
      { role: 'bulk', label: 'calibration', address: site.address, seed: 0, uplinkBytesPerSec: bytesPerSec },
      { logName: `calibrate-${bytesPerSec}` }
    )
    const ac = new AbortController()
    const timer = setTimeout(
      () => {
        ac.abort()
      },
      warmupMs + measureMs + 10_000
    )
    try {
      const res = await request(`http://${site.address}/bulk`, { dispatcher, signal: ac.signal })
      if (res.statusCode !== 200) throw new Error(`calibration transfer answered ${res.statusCode}`)
      let first: number | undefined
      let from: number | undefined
      let bytes = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const now = performance.now()
        first ??= now
        if (from === undefined) {
          if (now - first >= warmupMs) from = now
          continue
        }
        bytes += chunk.length
        if (now - from >= measureMs) {
          res.body.destroy()
          return (bytes * 1000) / (now - from)
        }
      }
      throw new Error('calibration transfer ended early')
    } finally {
      clearTimeout(timer)
    }
  } finally {
    await proc?.stop(3_000)
    await dispatcher.close()
    await tb.removeSite(index)
  }
}
