/**
 * A soak on the testbed (issue 13, item 6): four equal Reef members, each in its own namespace
 * behind its shaped uplink, started once and kept up while crowds of page loads come and go,
 * each burst striking the next member in turn (so every member is struck, helps and is helped).
 *
 * After every burst's calm (the struck member normal again, then the rest of the calm): each
 * site process's RSS and heap right after a full GC (asked over IPC) and its open file
 * descriptors (from /proc); the node and its demo origin share the process. At the end: every member's ledger rebuilt from its records against what
 * it stores, the members' stored balances compared, and every error-level line of the sites'
 * logs. Bounded: every burst is a bounded crowd and the run stops after `minutes`.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { runCrowd } from '../../demo/crowd.ts'
import type { LedgerProbe } from './control.ts'
import { TESTBED_DOMAIN, testbedDispatcher } from './dispatcher.ts'
import { blogSite } from './page-mix.ts'
import { planSetup, startSites, stopSites } from './scenario.ts'
import type { RunningSites, StartOptions } from './scenario.ts'
import type { Testbed } from './testbed.ts'

export interface NetSoakOptions extends StartOptions {
  members: number
  /** Every member's uplink, bytes/s. */
  uplinkBytesPerSec: number
  loadsPerSec: number
  minutes: number
  burstS: number
  calmS: number
  /** A page load must complete within this to count; also each request's time-out. */
  timeoutS: number
  /** Stop after this many bursts even if time is left. */
  maxBursts?: number
  note?: (line: string) => void
}

export interface NetSoakBurst {
  index: number
  /** The member struck. */
  site: string
  /** Page loads started, and the share fully loaded within timeoutS. */
  started: number
  success: number
  /** Failed requests by host and status or error. */
  failures: Record<string, number>
  /** Per site process, after the calm that followed and a full GC. */
  rssBytes: Record<string, number>
  heapUsedBytes: Record<string, number>
  /** Per site process: Buffers outside the heap (cached bodies among them), and the content cache's bytes. */
  externalBytes: Record<string, number>
  cacheBytes: Record<string, number>
  fds: Record<string, number>
  /** Ms after the crowd's end until the struck member was normal again (undefined: not within the calm). */
  calmAfterMs: number | undefined
  /** The struck member's 503s during the burst, by why (`reef_refused_total`'s reasons). */
  refusedBy: Record<string, number>
  /** Its visitors that waited for help during the burst, by how it ended (`reef_help_waits_total`). */
  helpWaits: Record<string, number>
}

export interface NetSoakReport {
  bursts: NetSoakBurst[]
  /** Per member: its stored balances equal those its records rebuild to. */
  ledgersRecompute: boolean
  /** Every member holds the same balances for every member. */
  ledgersAgree: boolean
  ledgers: Record<string, LedgerProbe>
  /** Error-level (and fatal) lines of the sites' logs. */
  errors: string[]
  minutes: number
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return 0
  }
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

export async function runNetSoak(tb: Testbed, opts: NetSoakOptions): Promise<NetSoakReport> {
  const note = opts.note ?? (() => {})
  const plan = planSetup(String(opts.members), opts.uplinkBytesPerSec)
  const running: RunningSites = { procs: [], made: [] }
  const sites = new Map(plan.sites.map(s => [s.label, tb.address(s.index)]))
  const dispatcher = testbedDispatcher({ sites, prefix: tb.prefix }, { connectTimeoutMs: opts.timeoutS * 1000 })
  const bursts: NetSoakBurst[] = []
  try {
    await startSites(tb, plan, opts, dispatcher, running)
    const started = Date.now()
    for (let i = 0; Date.now() - started < opts.minutes * 60_000 && i < (opts.maxBursts ?? Infinity); i++) {
      const k = i % plan.sites.length
      const target = plan.sites[k]!
      const { files, pages, mix } = blogSite(target.index, target.label)
      const expected = new Map([...files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
      const maxPerLoad = Math.max(...mix.perPage.map(p => p.requests))
      // A client of its own per burst, closed after it: visitors leave, and their keep-alive
      // connections do not linger into the next reading of the sites' descriptors.
      const crowdDispatcher = testbedDispatcher({ sites, prefix: tb.prefix }, { connectTimeoutMs: opts.timeoutS * 1000 })
      const before = await running.procs[k]!.probe().catch(() => ({ refusedBy: undefined, helpWaits: undefined }))
      const report = await runCrowd({
        siteUrl: `http://${target.label}.${TESTBED_DOMAIN}`,
        pages,
        profile: { kind: 'step', rps: opts.loadsPerSec, durationMs: opts.burstS * 1000 },
        pace: 'visits',
        expected,
        dispatcher: crowdDispatcher,
        seed: 1_000 + i,
        maxRequests: Math.ceil(opts.loadsPerSec * opts.burstS * maxPerLoad) + 1_000,
        maxDurationMs: (opts.burstS + opts.timeoutS + 1) * 1000,
        maxInFlight: 20_000,
        requestTimeoutMs: opts.timeoutS * 1000
      }).finally(async () => crowdDispatcher.destroy().catch(() => {}))
      const ended = Date.now()
      const after = await running.procs[k]!.probe().catch(() => ({ refusedBy: undefined, helpWaits: undefined }))
      const grew = (a: Record<string, number> | undefined, b: Record<string, number> | undefined): Record<string, number> =>
        Object.fromEntries(
          Object.entries(b ?? {})
            .map(([key, n]) => [key, n - (a?.[key] ?? 0)] as const)
            .filter(([, n]) => n > 0)
        )
      const refusedBy = grew(before.refusedBy, after.refusedBy)
      const helpWaits = grew(before.helpWaits, after.helpWaits)
      let calmAfterMs: number | undefined
      while (Date.now() - ended < opts.calmS * 1000) {
        if ((await running.procs[k]!.probe().catch(() => ({ state: undefined }))).state === 'normal') {
          calmAfterMs = Date.now() - ended
          break
        }
        await sleep(200)
      }
      await sleep(Math.max(0, opts.calmS * 1000 - (Date.now() - ended)))
      const rssBytes: Record<string, number> = {}
      const heapUsedBytes: Record<string, number> = {}
      const externalBytes: Record<string, number> = {}
      const cacheBytes: Record<string, number> = {}
      const fds: Record<string, number> = {}
      for (const [j, s] of plan.sites.entries()) {
        const p = running.procs[j]!
        const mem = await p.memory()
        rssBytes[s.label] = mem.rssBytes
        heapUsedBytes[s.label] = mem.heapUsedBytes
        externalBytes[s.label] = mem.externalBytes
        cacheBytes[s.label] = mem.cacheBytes ?? 0
        fds[s.label] = p.pid === undefined ? 0 : fdCount(p.pid)
      }
      const failures: Record<string, number> = {}
      for (const r of report.results) {
        if (r.ok) continue
        let host = ''
        try {
          host = new URL(r.finalUrl).hostname.split('.')[0] ?? ''
        } catch {}
        const key = `${host} ${r.status === 0 ? (r.error ?? 'error').slice(0, 40) : r.status}`
        failures[key] = (failures[key] ?? 0) + 1
      }
      const inTime = report.pageLoadsMs.filter(ms => ms <= opts.timeoutS * 1000).length
      const b: NetSoakBurst = {
        index: i,
        site: target.label,
        started: report.visits.started,
        success: report.visits.started === 0 ? 0 : inTime / report.visits.started,
        failures,
        rssBytes,
        heapUsedBytes,
        externalBytes,
        cacheBytes,
        fds,
        calmAfterMs,
        refusedBy,
        helpWaits
      }
      bursts.push(b)
      const mb = (n: number): string => (n / 1e6).toFixed(0)
      note(
        `burst ${i} at ${b.site}: ${(100 * b.success).toFixed(2)}% of ${b.started} page loads${Object.keys(failures).length === 0 ? '' : ` (failed requests: ${JSON.stringify(failures)})`}${Object.keys(refusedBy).length === 0 ? '' : `; 503s by why: ${JSON.stringify(refusedBy)}`}${Object.keys(helpWaits).length === 0 ? '' : `; waits for help: ${JSON.stringify(helpWaits)}`}; calm after ${calmAfterMs === undefined ? '–' : (calmAfterMs / 1000).toFixed(1) + ' s'}; RSS MB ${plan.sites.map(s => mb(rssBytes[s.label] ?? 0)).join('/')}, heap MB ${plan.sites.map(s => mb(heapUsedBytes[s.label] ?? 0)).join('/')}, external MB ${plan.sites.map(s => mb(externalBytes[s.label] ?? 0)).join('/')}, cache MB ${plan.sites.map(s => mb(cacheBytes[s.label] ?? 0)).join('/')}, fds ${plan.sites.map(s => fds[s.label]).join('/')}; ${((Date.now() - started) / 60_000).toFixed(1)} min`
      )
    }
    // The last burst's final settlement, then the ledgers.
    const read = async (): Promise<LedgerProbe[]> => Promise.all(running.procs.map(async p => p.ledger()))
    const stored = (l: LedgerProbe[]): string[] =>
      l.map(x =>
        JSON.stringify(
          Object.keys(x.stored ?? {})
            .sort()
            .map(k => [k, x.stored![k]])
        )
      )
    let ledgers = await read()
    const deadline = Date.now() + 30_000
    while (new Set(stored(ledgers)).size > 1 && Date.now() < deadline) {
      await sleep(500)
      ledgers = await read()
    }
    const ledgersAgree = ledgers.every(l => l.error === undefined) && new Set(stored(ledgers)).size === 1
    const ledgersRecompute = ledgers.every(l => l.error === undefined && JSON.stringify(sortedTotals(l.stored)) === JSON.stringify(sortedTotals(l.rebuilt)))
    const errors: string[] = []
    for (const p of running.procs) {
      try {
        for (const line of readFileSync(p.logFile, 'utf8').split('\n')) if (/"level":(50|60)/.test(line)) errors.push(`${p.spec.label}: ${line.slice(0, 400)}`)
      } catch {}
    }
    return {
      bursts,
      ledgersRecompute,
      ledgersAgree,
      ledgers: Object.fromEntries(ledgers.map((l, j) => [plan.sites[j]!.label, l])),
      errors,
      minutes: (Date.now() - started) / 60_000
    }
  } finally {
    await dispatcher.destroy().catch(() => {})
    await stopSites(tb, running)
  }
}

/** Totals by peer in key order, members with nothing at all left out (a store keeps no zero rows). */
function sortedTotals(t: Record<string, { given: number; taken: number; givenRequests: number; takenRequests: number }> | undefined): unknown[] {
  return Object.keys(t ?? {})
    .sort()
    .map(k => [k, t![k]])
    .filter(([, v]) => {
      const x = v as { given: number; taken: number; givenRequests: number; takenRequests: number }
      return x.given + x.taken + x.givenRequests + x.takenRequests > 0
    })
}
