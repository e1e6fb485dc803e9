/**
 * Helpers fail fast: a struck site stops sending clients to a helper within HELPER_SILENCE_MS
 * of the helper going quiet — its process frozen (SIGSTOP: connections stay open, nothing
 * answers, as with a cut link) — and at once when its process dies (SIGKILL: connections reset).
 * The helpers are real `reef start` processes; alpha, the struck site, runs in this process
 * under a browser-like crowd.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { HELPER_SILENCE_MS } from '@reef/protocol'
import { freePort, loopbackDispatcher, runCrowd, startDemoOrigin, startLocalConsortium } from '@reef/node/demo'
import type { ReefNode } from '@reef/node'
import type { CrowdReport, DemoOrigin, LocalConsortium } from '@reef/node/demo'
import { until } from './wait.ts'

const REEF = fileURLToPath(new URL('../../packages/node/bin/reef.js', import.meta.url))
const CROWD_RPS = 600
const CROWD_MS = 14_000

interface Helper {
  label: string
  child: ChildProcess
  origin: DemoOrigin
  mirrorHost: string
  peerId?: string
  log: string
}

describe('helpers fail fast', { timeout: 120_000 }, () => {
  let dir: string
  let c: LocalConsortium
  let alpha: ReefNode
  const helpers: Helper[] = []
  const dispatcher = loopbackDispatcher()
  let report: CrowdReport
  const marks: Record<string, number> = {}

  async function startHelper(label: string, bootstrap: string[]): Promise<Helper> {
    const origin = await startDemoOrigin({ workers: 4, capacityRps: 100, seed: helpers.length + 10, siteName: label })
    const [front, mirror, admin] = [await freePort(), await freePort(), await freePort()]
    const file = join(dir, `${label}.json`)
    await writeFile(
      file,
      JSON.stringify({
        consortium: 'demo',
        site: { label, publicUrl: `http://127.0.0.1:${front}` },
        origin: { url: origin.url, capacityRps: 50, maxConcurrent: 4 },
        front: { listen: { host: '127.0.0.1', port: front } },
        mirror: { listen: { host: '127.0.0.1', port: mirror }, publicUrl: `http://mirror-${label}.localhost:${mirror}`, capacityRps: 1000 },
        admin: { listen: { host: '127.0.0.1', port: admin } },
        p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap },
        uplink: { bytesPerSec: 100_000_000 },
        dataDir: join(dir, label),
        log: { level: 'warn' }
      })
    )
    const child = spawn(process.execPath, [REEF, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    const h: Helper = { label, child, origin, mirrorHost: `mirror-${label}.localhost:${mirror}`, log: '' }
    child.stdout!.on('data', d => {
      h.log += String(d)
    })
    child.stderr!.on('data', d => {
      h.log += String(d)
    })
    return h
  }

  const peerOf = (h: Helper): string => {
    const p = alpha.peers.live().find(e => e.report.site === h.label)?.peer
    if (p !== undefined) h.peerId = p
    return h.peerId ?? ''
  }
  const helping = (h: Helper): boolean => alpha.shedder.helpers.some(x => x.peer === peerOf(h))
  /** Whether alpha sends no one to `h` now. */
  const down = (h: Helper): boolean => alpha.shedder.isExcluded(peerOf(h)) || !helping(h)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-failfast-'))
    // A small site's uplink (4 MB/s): the crowd's bytes exceed it, so alpha must shed to its helpers.
    c = await startLocalConsortium({ nodes: 1, capacityRps: 50, workers: 8, logLevel: 'warn', uplinkBytesPerSec: 4_000_000 })
    alpha = c.sites[0]!.node!
    const bootstrap = alpha.libp2p.getMultiaddrs().map(String)
    helpers.push(await startHelper('bravo', bootstrap), await startHelper('charlie', bootstrap))
    await until('both helpers to report load to alpha', () => alpha.peers.live().length === 2, 30_000)
    const [bravo, charlie] = helpers as [Helper, Helper]
    const site = c.sites[0]!
    const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    const crowd = runCrowd({
      siteUrl: site.url,
      pages: site.origin.pages,
      profile: { kind: 'step', rps: CROWD_RPS, durationMs: CROWD_MS },
      maxRequests: (CROWD_RPS * CROWD_MS) / 1000 + 500,
      maxDurationMs: CROWD_MS + 15_000,
      expected,
      dispatcher,
      seed: 5
    })
    const t0 = Date.now()
    await until('both helpers accepted and serving', () => helping(bravo) && helping(charlie) && alpha.monitor.totals.shed > 200, 8_000, 10)

    // Charlie freezes: its connections stay open, nothing it sends arrives, its mirror is mute.
    charlie.child.kill('SIGSTOP')
    marks.stop = Date.now()
    await until('alpha to see charlie down', () => down(charlie), 5_000, 10)
    marks.charlieDown = Date.now()
    await until('1.5 s frozen', () => Date.now() - marks.stop! >= 1_500, 3_000, 20)
    charlie.child.kill('SIGCONT')
    marks.cont = Date.now()

    // Bravo dies: its connections are reset.
    await until('6 s into the crowd', () => Date.now() - t0 >= 6_000, 10_000, 20)
    bravo.child.kill('SIGKILL')
    marks.kill = Date.now()
    await until('alpha to see bravo down', () => down(bravo), 5_000, 10)
    marks.bravoDown = Date.now()
    report = await crowd
  })

  after(async () => {
    for (const h of helpers) {
      h.child.kill('SIGCONT')
      h.child.kill('SIGKILL')
      if (h.child.exitCode === null && h.child.signalCode === null) await once(h.child, 'exit').catch(() => {})
      await h.origin.close()
    }
    await c?.close()
    await dispatcher.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** Whether a request ended up at `h`'s mirror (alpha is served there as alpha.<mirror host>). */
  const to =
    (h: Helper) =>
    (r: { finalUrl: string }): boolean =>
      new URL(r.finalUrl).host === `alpha.${h.mirrorHost}`

  it(`stops sending clients to a frozen helper within HELPER_SILENCE_MS (${HELPER_SILENCE_MS} ms) of its last sign of life`, t => {
    const charlie = helpers[1]!
    const took = marks.charlieDown! - marks.stop!
    t.diagnostic(`charlie seen down ${took} ms after SIGSTOP`)
    assert.ok(took <= HELPER_SILENCE_MS + 100, `took ${took} ms`)
    // Redirects are answered at once: a request alpha redirected after it saw charlie down, while
    // charlie was frozen, never went there. (The subresources of a page charlie served before
    // go to its host directly, without alpha: they are not alpha's choice.)
    const late = report.results.filter(r => r.redirects > 0 && r.start > marks.charlieDown! + 20 && r.start < marks.cont! && to(charlie)(r))
    assert.equal(late.length, 0, `${late.length} requests sent to the frozen helper`)
  })

  it('stops at once when a helper process dies, and drops it from the session', t => {
    const bravo = helpers[0]!
    const took = marks.bravoDown! - marks.kill!
    t.diagnostic(`bravo seen down ${took} ms after SIGKILL`)
    assert.ok(took <= HELPER_SILENCE_MS, `took ${took} ms`)
    const late = report.results.filter(r => r.redirects > 0 && r.start > marks.bravoDown! + 20 && to(bravo)(r))
    assert.equal(late.length, 0, `${late.length} requests sent to the dead helper`)
    assert.equal(helping(bravo), false)
  })

  it('the crowd is served throughout, by the helpers that live', t => {
    const failed = report.results.filter(r => !r.ok)
    t.diagnostic(
      `crowd: ${report.sent} requests, success ${report.successRate.toFixed(4)}, ${failed.length} failed (${[...new Set(failed.map(r => r.error ?? r.status))].join(', ')})`
    )
    assert.ok(report.successRate >= 0.99, `success ${report.successRate}`)
    // Charlie, alive again, serves again.
    const charlie = helpers[1]!
    assert.ok(
      report.results.some(r => r.start > marks.cont! && r.ok && to(charlie)(r)),
      'charlie never served again after it resumed'
    )
  })
})
