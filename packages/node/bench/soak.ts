/**
 * A soak (issue 13, item 6): one consortium of real Reef nodes kept up while crowds come and go,
 * each burst striking the next member in turn (so every member is struck, helps and is helped).
 * After every burst's calm: the process's RSS (after a full GC) and open file descriptors; at
 * the end, every member's ledger recomputed from its records against what it stores, the members'
 * balances compared, and every error-level log line.
 *
 *   pnpm bench soak [--minutes 30] [--burst-s 15] [--calm-s 15] [--rps 600]
 *
 * In-process on loopback (`startLocalConsortium`): the nodes, their origins and the crowd share
 * one process, so RSS and descriptors are the whole process's. Bounded: every burst is a bounded
 * crowd, the run stops after --minutes.
 */
import { readdirSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { pino } from 'pino'
import { loopbackDispatcher, runCrowd, startLocalConsortium, waitForMesh } from '../demo/index.ts'

export interface SoakOptions {
  minutes: number
  burstS: number
  calmS: number
  rps: number
  note?: (line: string) => void
}

export interface SoakBurst {
  index: number
  /** The member struck in this burst. */
  site: string
  success: number
  requests: number
  /** Failed requests by status and error (e.g. "503", "0 ECONNRESET"). */
  failures: Record<string, number>
  /** After the calm that followed, after a full GC. */
  rssBytes: number
  heapUsedBytes: number
  fds: number
}

export interface SoakReport {
  bursts: SoakBurst[]
  /** Per member: its stored balances equal those recomputed from its records. */
  ledgersRecompute: boolean
  /** Every member holds the same balances for every member. */
  ledgersAgree: boolean
  /** Error-level (and fatal) log lines, as logged. */
  errors: string[]
  minutes: number
}

function fullGc(): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  gc?.()
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return -1
  }
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const note = opts.note ?? (() => {})
  const errors: string[] = []
  // Every line the nodes log at warn or above; errors kept to report.
  const logger = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        if (/"level":(50|60)/.test(line)) errors.push(line.trim())
      }
    }
  )
  const c = await startLocalConsortium({
    nodes: 4,
    capacityRps: 50,
    workers: 8,
    logger,
    uplinkOf: () => 4_000_000,
    overrides: { ledger: { settleIntervalMs: 1_000 } }
  })
  const dispatcher = loopbackDispatcher()
  const bursts: SoakBurst[] = []
  const started = Date.now()
  try {
    await waitForMesh(c)
    for (let i = 0; Date.now() - started < opts.minutes * 60_000; i++) {
      const site = c.sites[i % c.sites.length]!
      const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
      const report = await runCrowd({
        siteUrl: site.url,
        pages: site.origin.pages,
        profile: { kind: 'step', rps: opts.rps, durationMs: opts.burstS * 1000 },
        maxRequests: opts.rps * opts.burstS + 500,
        maxDurationMs: opts.burstS * 1000 + 15_000,
        expected,
        dispatcher,
        seed: 100 + i
      })
      // The calm: until the struck member is normal again, then the rest of --calm-s.
      const calmStart = Date.now()
      while (site.node!.detector.state !== 'normal' && Date.now() - calmStart < opts.calmS * 1000) await new Promise(resolve => setTimeout(resolve, 100))
      await new Promise(resolve => setTimeout(resolve, Math.max(0, opts.calmS * 1000 - (Date.now() - calmStart))))
      fullGc()
      const mem = process.memoryUsage()
      const failures: Record<string, number> = {}
      for (const x of report.results)
        if (!x.ok) {
          const k = `${x.status}${x.error === undefined ? '' : ' ' + x.error.slice(0, 40)}`
          failures[k] = (failures[k] ?? 0) + 1
        }
      const b: SoakBurst = {
        index: i,
        site: site.label,
        success: report.successRate,
        requests: report.sent,
        failures,
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        fds: openFds()
      }
      bursts.push(b)
      note(
        `burst ${i} at ${site.label}: ${(100 * b.success).toFixed(2)}% of ${b.requests}${Object.keys(failures).length === 0 ? '' : ` (failed: ${JSON.stringify(failures)})`}; RSS ${(b.rssBytes / 1e6).toFixed(0)} MB, heap ${(b.heapUsedBytes / 1e6).toFixed(0)} MB, ${b.fds} fds; ${((Date.now() - started) / 60_000).toFixed(1)} min`
      )
    }
    // Settlement of the last burst, then the ledgers.
    const nodes = c.sites.map(s => s.node!)
    const view = (n: (typeof nodes)[number]): string => JSON.stringify(nodes.map(m => n.ledgerStore.totals(m.peerId)))
    const deadline = Date.now() + 30_000
    while (!nodes.every(n => view(n) === view(nodes[0]!)) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
    const ledgersAgree = nodes.every(n => view(n) === view(nodes[0]!))
    let ledgersRecompute = true
    for (const n of nodes) {
      const rebuilt = await n.ledgerStore.recompute()
      for (const m of nodes) {
        const a = JSON.stringify(rebuilt.totals.get(m.peerId) ?? { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 })
        if (a !== JSON.stringify(n.ledgerStore.totals(m.peerId))) ledgersRecompute = false
      }
    }
    return { bursts, ledgersRecompute, ledgersAgree, errors, minutes: (Date.now() - started) / 60_000 }
  } finally {
    await dispatcher.close()
    await c.close()
  }
}

/**
 * Growth of a sawtooth after warm-up, as a ratio: from the highest reading of the first quarter
 * after the first round to the highest of the last quarter. RSS after a full GC is such a
 * sawtooth: the allocator gives freed pages back to the system now and then, and in the
 * 30-minute soak of 2026-11-30 one process went from 300 to 160 MB and back between bursts while
 * its heap, its Buffers and its cache stayed put; two readings at each end (`growth`) measured
 * when it last did that (+30 to +58 %, against +2 to +7 % for the peaks). 0 with too few bursts.
 */
export function peakGrowth(values: readonly number[], round = 4): number {
  const after = values.slice(round)
  if (after.length < 8) return 0
  const q = Math.floor(after.length / 4)
  return Math.max(...after.slice(-q)) / Math.max(...after.slice(0, q)) - 1
}

/**
 * Growth after warm-up, as a ratio: from the median of the two bursts after the first round
 * (every member struck once: its caches and helpers' copies filled) to the median of the last
 * two. 0 with too few bursts to tell.
 */
export function growth(values: readonly number[], round = 4): number {
  if (values.length < round + 4) return 0
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b)
    return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2
  }
  return median(values.slice(-2)) / median(values.slice(round, round + 2)) - 1
}
