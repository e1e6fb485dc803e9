/**
 * From one crowd's raw record (scenario.ts) to the figures a reader compares: page-load success
 * within the timeout, page-load times, when shedding began and when every second's page loads
 * succeeded again, what each namespace sent (peak of 1 s windows and mean over the crowd),
 * goodput and efficiency against what the uplinks (calibrated) or the demand allow, the CPU,
 * and in the kill set-up what happened around the kill. Plus the timeline SVG. MB = 10⁶ bytes.
 */
import type { Sample } from './sampler.ts'
import type { ScenarioResult } from './scenario.ts'

const GOOD_SECOND = 0.99
const PEAK_WINDOW_MS = 1_000
/** Saturated ("steady") figures skip this share of the crowd as warm-up, at most STEADY_WARMUP_MAX_MS. */
const STEADY_WARMUP_SHARE = 0.25
const STEADY_WARMUP_MAX_MS = 5_000

export interface Rate {
  peak: number
  mean: number
}

export interface KillSummary {
  /** The helpers killed or cut. */
  labels: string[]
  /** Ms after the crowd start. */
  killAtMs: number
  before: { started: number; success: number }
  after: { started: number; success: number }
  /** Failed requests whose final URL is a killed helper's, by whole seconds after the kill (their end). */
  errorsBySecond: number[]
  errors: number
  /** Ms after the kill of the last such failure. */
  lastErrorMs: number | undefined
  /**
   * Ms after the kill at which the last request was sent to a killed helper (by its start): how
   * long site 1 kept sending visitors there. A cut link's requests only end at their time-out.
   */
  lastSentMs: number | undefined
  /** Of those failed requests, the ones site 1 redirected there after the kill, and the last one's start (ms after the kill). */
  redirectedAfter: number
  lastRedirectedMs: number | undefined
}

export interface Summary {
  setup: string
  title: string
  version: string
  rateLabel: string
  loadsPerSec: number
  started: number
  succeeded: number
  success: number
  p50Ms: number | undefined
  p99Ms: number | undefined
  firstShedMs: number | undefined
  /** First second (from the crowd start) from which every second's page loads succeed ≥ 99%; undefined: never. */
  allGoodFromS: number | undefined
  perSecondSuccess: Array<number | null>
  /** Bytes/s out of site 1's namespace and out of the helpers' (summed). */
  site1: Rate
  helpers: Rate | undefined
  /** Share of the bytes sent during the crowd window that the helpers sent. */
  helperShare: number
  /** Body bytes/s of successful requests that ended inside the window. */
  goodput: number
  /** Σ calibrated uplink goodput of the set-up's namespaces. */
  capacity: number
  /** Page loads/s × mean page-load bytes. */
  demand: number
  efficiency: number
  /**
   * The crowd once the set-up is saturated: from `fromMs` after the crowd start (the first
   * quarter, at most 5 s, is warm-up) to its end. Body bytes of successful requests spread evenly
   * over each one's body time ([headers arrived, end]) and counted inside that window, so bytes
   * still on their way at the end count as much as bytes that arrived: `goodput` above counts
   * only requests that ended inside the crowd, and so under-counts a saturated crowd's last
   * seconds. Efficiency against the same bound as `efficiency`.
   */
  steady: { fromMs: number; goodput: number; efficiency: number }
  /** Machine CPU busy share: mean over the window, peak of 1 s windows. */
  cpu: Rate
  /** Share of the machine's CPU time the testbed's processes used (mean over the window). */
  cpuTestbed: number
  /** The same before the crowd (the formed, idle set-up), when sampled. */
  cpuTestbedIdle: number | undefined
  kill: KillSummary | undefined
  setUpMs: number
  uplinkSection: boolean | undefined
  /** Site 1's status during the crowd (Reef), condensed: what it shed, sent and needed, and its helpers. */
  site1Trace?: Array<Record<string, unknown>>
  /** Failed requests by the host that answered (or not) and what went wrong: "host status/error" → count. */
  failures: Record<string, number>
  /**
   * Site 1's help session (Reef r3): bytes of every object its manifests listed (the hot set)
   * and bytes it sent its helpers over fetch streams, at the largest seen during the crowd.
   */
  hotSet: { manifestBytes: number; sentToHelpers: number } | undefined
  /** Per helper: its mirror's fills by where from (MirrorFill.counts). */
  fills: Record<string, Record<string, number>>
  /** Warm standby arm: what filling the standbys cost in calm time (undefined: no standby arm). */
  standbyFill: ScenarioResult['standbyFill']
  /** Page loads by where their page was served: started, loaded in time, loaded too late, failed; p99 of the loaded. */
  visitsByHost: Record<string, { started: number; ok: number; late: number; failed: number; p99Ms: number | undefined }>
}

/**
 * Body bytes of successful requests that arrived inside [from, to], each request's bytes spread
 * evenly over its body time (from its headers, or its start when unknown, to its end).
 */
export function deliveredBetween(
  results: ReadonlyArray<{ ok: boolean; start: number; end: number; bytes: number; bodyStart?: number }>,
  from: number,
  to: number
): number {
  let total = 0
  for (const x of results) {
    if (!x.ok || x.bytes === 0) continue
    const a = x.bodyStart ?? x.start
    const b = Math.max(a, x.end)
    if (b < from || a > to) continue
    if (b === a) {
      total += x.bytes
      continue
    }
    total += (x.bytes * (Math.min(b, to) - Math.max(a, from))) / (b - a)
  }
  return total
}

/** The largest manifest and fetch-stream totals site 1's status showed during the crowd. */
function hotSetOf(trace: ScenarioResult['site1Trace']): Summary['hotSet'] {
  let manifestBytes = 0
  let sentToHelpers = 0
  for (const { status } of trace) {
    const s = status.session as { manifestBytes?: unknown; sentToHelpers?: unknown } | null | undefined
    if (typeof s?.manifestBytes === 'number') manifestBytes = Math.max(manifestBytes, s.manifestBytes)
    if (typeof s?.sentToHelpers === 'number') sentToHelpers = Math.max(sentToHelpers, s.sentToHelpers)
  }
  return manifestBytes === 0 ? undefined : { manifestBytes, sentToHelpers }
}

/** Page loads grouped by the host that served the page (its first two labels). */
export function visitsByHost(visits: ReadonlyArray<{ ok: boolean; start: number; end: number; finalUrl: string }>, timeoutMs: number): Summary['visitsByHost'] {
  const groups = new Map<string, Array<{ ok: boolean; ms: number }>>()
  for (const v of visits) {
    let host = '?'
    try {
      host = new URL(v.finalUrl).hostname.split('.').slice(0, 2).join('.')
    } catch {}
    let g = groups.get(host)
    if (g === undefined) {
      g = []
      groups.set(host, g)
    }
    g.push({ ok: v.ok, ms: v.end - v.start })
  }
  const out: Summary['visitsByHost'] = {}
  for (const [host, g] of [...groups].sort()) {
    const loaded = g.filter(v => v.ok)
    out[host] = {
      started: g.length,
      ok: loaded.filter(v => v.ms <= timeoutMs).length,
      late: loaded.filter(v => v.ms > timeoutMs).length,
      failed: g.length - loaded.length,
      p99Ms: quantile(
        loaded.map(v => v.ms),
        0.99
      )
    }
  }
  return out
}

/** Failed requests counted by the answering host's first label and the status or error. */
export function failureCounts(results: ReadonlyArray<{ ok: boolean; finalUrl: string; status: number; error?: string }>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of results) {
    if (x.ok) continue
    let host = '?'
    try {
      host = new URL(x.finalUrl).hostname.split('.').slice(0, 2).join('.')
    } catch {}
    const key = `${host} ${x.error === undefined ? String(x.status) : x.error.replace(/:.*/, '')}`
    out[key] = (out[key] ?? 0) + 1
  }
  return out
}

export function quantile(xs: number[], q: number): number | undefined {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

/** Linear interpolation of a cumulative series at time t. */
function at(samples: Sample[], value: (s: Sample) => number, t: number): number {
  const first = samples[0]
  if (first === undefined) return 0
  if (t <= first.t) return value(first)
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!
    const b = samples[i]!
    if (t <= b.t) return value(a) + ((value(b) - value(a)) * (t - a.t)) / Math.max(1, b.t - a.t)
  }
  return value(samples[samples.length - 1]!)
}

/** Highest rate of a cumulative series over windows of ≥ 1 s inside [from, to]. */
function peakRate(samples: Sample[], value: (s: Sample) => number, from: number, to: number): number {
  let peak = 0
  for (let i = 0; i < samples.length; i++) {
    const a = samples[i]!
    if (a.t < from) continue
    let j = i + 1
    while (j < samples.length && samples[j]!.t - a.t < PEAK_WINDOW_MS) j++
    const b = samples[j]
    if (b === undefined || b.t > to + PEAK_WINDOW_MS / 2) break
    peak = Math.max(peak, ((value(b) - value(a)) * 1000) / (b.t - a.t))
  }
  return peak
}

function rateOver(samples: Sample[], value: (s: Sample) => number, from: number, to: number): Rate {
  return { peak: peakRate(samples, value, from, to), mean: ((at(samples, value, to) - at(samples, value, from)) * 1000) / Math.max(1, to - from) }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname
  } catch {
    return ''
  }
}

export function summarize(r: ScenarioResult, ctx: { version: string; rateLabel: string; calibrated: Map<number, number>; meanPageBytes: number }): Summary {
  const timeoutMs = r.timeoutS * 1000
  const good = (v: { ok: boolean; start: number; end: number }): boolean => v.ok && v.end - v.start <= timeoutMs
  const visits = r.report.visitResults
  const succeeded = visits.filter(good)
  const durations = succeeded.map(v => v.end - v.start)

  const buckets = Array.from({ length: r.seconds }, () => ({ started: 0, good: 0 }))
  for (const v of visits) {
    const b = buckets[Math.floor((v.start - r.crowdStart) / 1000)]
    if (b === undefined) continue
    b.started++
    if (good(v)) b.good++
  }
  const perSecondSuccess = buckets.map(b => (b.started === 0 ? null : b.good / b.started))
  let allGoodFromS: number | undefined
  for (let k = perSecondSuccess.length - 1; k >= 0; k--) {
    const s = perSecondSuccess[k]
    if (s !== null && s !== undefined && s < GOOD_SECOND) break
    allGoodFromS = k
  }

  const helperIdx = r.sites.map((_, k) => k).filter(k => k > 0)
  const from = r.crowdStart
  const to = r.crowdEnd
  const site1 = rateOver(r.samples, s => s.sent[0] ?? 0, from, r.finishedAt)
  site1.mean = rateOver(r.samples, s => s.sent[0] ?? 0, from, to).mean
  const helperSum = (s: Sample): number => helperIdx.reduce((a, k) => a + (s.sent[k] ?? 0), 0)
  let helpers: Rate | undefined
  if (helperIdx.length > 0) {
    helpers = rateOver(r.samples, helperSum, from, r.finishedAt)
    helpers.mean = rateOver(r.samples, helperSum, from, to).mean
  }
  const totalMean = site1.mean + (helpers?.mean ?? 0)
  const cpuShare = (s: Sample): number => s.cpuBusy
  const cpuTotal = (s: Sample): number => s.cpuTotal
  const cpuMean = (at(r.samples, cpuShare, to) - at(r.samples, cpuShare, from)) / Math.max(1, at(r.samples, cpuTotal, to) - at(r.samples, cpuTotal, from))
  const cpuTestbed =
    (at(r.samples, s => s.cpuTestbed, to) - at(r.samples, s => s.cpuTestbed, from)) / Math.max(1, at(r.samples, cpuTotal, to) - at(r.samples, cpuTotal, from))
  const first = r.samples[0]
  const cpuTestbedIdle =
    first === undefined || from - first.t < 500
      ? undefined
      : (at(r.samples, s => s.cpuTestbed, from) - first.cpuTestbed) / Math.max(1, at(r.samples, cpuTotal, from) - first.cpuTotal)
  let cpuPeak = 0
  for (let i = 0; i < r.samples.length; i++) {
    const a = r.samples[i]!
    if (a.t < from) continue
    let j = i + 1
    while (j < r.samples.length && r.samples[j]!.t - a.t < PEAK_WINDOW_MS) j++
    const b = r.samples[j]
    if (b === undefined || b.t > r.finishedAt + PEAK_WINDOW_MS / 2) break
    cpuPeak = Math.max(cpuPeak, (b.cpuBusy - a.cpuBusy) / Math.max(1, b.cpuTotal - a.cpuTotal))
  }

  const goodBytes = r.report.results.filter(x => x.ok && x.end >= from && x.end <= to).reduce((a, x) => a + x.bytes, 0)
  const goodput = (goodBytes * 1000) / (to - from)
  const capacity = r.sites.reduce((a, s) => a + (ctx.calibrated.get(s.uplinkBytesPerSec) ?? Number.NaN), 0)
  const demand = r.loadsPerSec * ctx.meanPageBytes
  const steadyFrom = from + Math.min(STEADY_WARMUP_MAX_MS, (to - from) * STEADY_WARMUP_SHARE)
  const steadyGoodput = (deliveredBetween(r.report.results, steadyFrom, to) * 1000) / Math.max(1, to - steadyFrom)

  let kill: KillSummary | undefined
  if (r.killedAt !== undefined) {
    const killedAt = r.killedAt
    const hosts = r.killedLabels.map(l => `mirror-${l}.`)
    const atKilled = r.report.results.filter(x => !x.ok && x.end >= killedAt && hosts.some(h => `${hostOf(x.finalUrl)}.`.includes(h)))
    // Sent there by site 1 after the kill (a redirect brought them): what failing fast governs.
    // The rest went there straight from a page that helper had served (its subresources).
    const redirectedAfter = atKilled.filter(x => x.redirects > 0 && x.start >= killedAt)
    const bySecond: number[] = []
    for (const x of atKilled) {
      const s = Math.floor((x.end - killedAt) / 1000)
      while (bySecond.length <= s) bySecond.push(0)
      bySecond[s] = (bySecond[s] ?? 0) + 1
    }
    const part = (vs: typeof visits): { started: number; success: number } => ({
      started: vs.length,
      success: vs.length === 0 ? 0 : vs.filter(good).length / vs.length
    })
    kill = {
      labels: r.killedLabels,
      killAtMs: killedAt - r.crowdStart,
      before: part(visits.filter(v => v.start < killedAt)),
      after: part(visits.filter(v => v.start >= killedAt)),
      errorsBySecond: bySecond,
      errors: atKilled.length,
      lastErrorMs: atKilled.length === 0 ? undefined : Math.max(...atKilled.map(x => x.end)) - killedAt,
      lastSentMs: atKilled.length === 0 ? undefined : Math.max(...atKilled.map(x => x.start)) - killedAt,
      redirectedAfter: redirectedAfter.length,
      lastRedirectedMs: redirectedAfter.length === 0 ? undefined : Math.max(...redirectedAfter.map(x => x.start)) - killedAt
    }
  }

  return {
    setup: r.plan.setup,
    title: r.plan.title,
    version: ctx.version,
    rateLabel: ctx.rateLabel,
    loadsPerSec: r.loadsPerSec,
    started: visits.length,
    succeeded: succeeded.length,
    success: visits.length === 0 ? 0 : succeeded.length / visits.length,
    p50Ms: quantile(durations, 0.5),
    p99Ms: quantile(durations, 0.99),
    firstShedMs: r.firstShedAt === undefined ? undefined : r.firstShedAt - r.crowdStart,
    allGoodFromS,
    perSecondSuccess,
    site1,
    helpers,
    helperShare: totalMean === 0 ? 0 : (helpers?.mean ?? 0) / totalMean,
    goodput,
    capacity,
    demand,
    efficiency: goodput / Math.min(capacity, demand),
    steady: { fromMs: steadyFrom - from, goodput: steadyGoodput, efficiency: steadyGoodput / Math.min(capacity, demand) },
    cpu: { mean: cpuMean, peak: cpuPeak },
    cpuTestbed,
    cpuTestbedIdle,
    kill,
    setUpMs: r.setUpMs,
    uplinkSection: r.uplinkSection,
    failures: failureCounts(r.report.results),
    hotSet: hotSetOf(r.site1Trace),
    fills: r.fills,
    standbyFill: r.standbyFill,
    visitsByHost: visitsByHost(visits, timeoutMs),
    site1Trace: r.site1Trace.map(({ at, status: s }) => ({
      at,
      state: s.state,
      demandRps: s.demandRps,
      demandBytesPerSec: s.demandBytesPerSec,
      shedShare: s.shedShare,
      shed: s.shed,
      uplink: s.uplink,
      totals: s.totals,
      arrivalsRps: s.arrivalsRps,
      originRps: s.originRps,
      originQueued: s.originQueued,
      session: s.session,
      cache: s.cache,
      peers: (s.peers as Array<Record<string, unknown>> | undefined)?.map(p => ({
        site: p.site,
        state: p.state,
        sentBytesPerSec: p.sentBytesPerSec,
        spareBytesPerSec: p.spareBytesPerSec,
        helping: p.helping
      }))
    }))
  }
}

const MB = 1e6
const PALETTE = [
  '#1f6fd1',
  '#2a9d4b',
  '#d98a1c',
  '#8e44ad',
  '#16a085',
  '#c0392b',
  '#7f8c8d',
  '#2c3e50',
  '#e84393',
  '#6ab04c',
  '#f0932b',
  '#4834d4',
  '#be2edd',
  '#22a6b3',
  '#eb4d4b',
  '#130f40'
]

function esc(s: string): string {
  return s.replace(/[<&>"]/g, c => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;', '"': '&quot;' })[c] ?? c)
}

/** MB/s out of each namespace over time, each one's uplink dashed, the crowd window shaded. */
export function timelineSvg(title: string, r: ScenarioResult): string {
  const W = 820
  const H = 320
  const padL = 50
  const padR = 130
  const padT = 44
  const padB = 40
  const s = r.samples
  const t0 = s[0]?.t ?? r.crowdStart
  const t1 = Math.max(s[s.length - 1]?.t ?? r.finishedAt, t0 + 1)
  const series = r.sites.map((_, k) => {
    const pts: Array<[number, number]> = []
    for (let i = 1; i < s.length; i++) {
      const a = s[i - 1]!
      const b = s[i]!
      pts.push([(a.t + b.t) / 2, (((b.sent[k] ?? 0) - (a.sent[k] ?? 0)) * 1000) / Math.max(1, b.t - a.t) / MB])
    }
    return pts
  })
  const maxY = Math.max(1, ...series.flat().map(p => p[1]), ...r.sites.map(x => x.uplinkBytesPerSec / MB)) * 1.1
  const x = (t: number): number => padL + ((t - t0) * (W - padL - padR)) / (t1 - t0)
  const y = (v: number): number => H - padB - (v * (H - padT - padB)) / maxY
  const lines: string[] = []
  lines.push(
    `<rect x="${x(r.crowdStart).toFixed(1)}" y="${padT}" width="${(x(r.crowdEnd) - x(r.crowdStart)).toFixed(1)}" height="${H - padT - padB}" fill="#fff6d5"/>`
  )
  if (r.killedAt !== undefined)
    lines.push(
      `<line x1="${x(r.killedAt).toFixed(1)}" y1="${padT}" x2="${x(r.killedAt).toFixed(1)}" y2="${H - padB}" stroke="#d33" stroke-width="1.5"/><text x="${(x(r.killedAt) + 3).toFixed(1)}" y="${padT + 12}" fill="#d33">kill</text>`
    )
  for (const [k, site] of r.sites.entries()) {
    const color = PALETTE[k % PALETTE.length]!
    const u = y(site.uplinkBytesPerSec / MB).toFixed(1)
    lines.push(`<line x1="${padL}" y1="${u}" x2="${W - padR}" y2="${u}" stroke="${color}" stroke-dasharray="6 4" stroke-width="1"/>`)
    lines.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${series[k]!.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`
    )
    lines.push(
      `<text x="${W - padR + 8}" y="${padT + 14 * (k + 1)}" fill="${color}">${esc(site.label)} (${(site.uplinkBytesPerSec / MB).toFixed(1)} MB/s)</text>`
    )
  }
  const seconds = (t1 - t0) / 1000
  // A tick every 5 s from the crowd's start.
  for (let k = Math.ceil((t0 - r.crowdStart) / 5_000); r.crowdStart + k * 5_000 <= t1; k++) {
    const tx = x(r.crowdStart + k * 5_000).toFixed(1)
    lines.push(
      `<line x1="${tx}" y1="${H - padB}" x2="${tx}" y2="${H - padB + 4}" stroke="#888"/><text x="${tx}" y="${H - padB + 28}" text-anchor="middle" fill="#555">${k * 5} s</text>`
    )
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="${padL}" y="18" font-size="13">${esc(title)}</text>
<line x1="${padL}" y1="${H - padB}" x2="${W - padR}" y2="${H - padB}" stroke="#888"/><line x1="${padL}" y1="${padT}" x2="${padL}" y2="${H - padB}" stroke="#888"/>
<text x="${padL - 4}" y="${y(maxY) + 4}" text-anchor="end">${maxY.toFixed(1)}</text><text x="${padL - 4}" y="${H - padB + 4}" text-anchor="end">0</text>
<text x="${padL}" y="34" fill="#555">MB/s sent by each namespace (dashed: its uplink; shaded: the crowd; time from its start, ${seconds.toFixed(0)} s shown)</text>
${lines.join('\n')}
</svg>
`
}

const mbps = (b: number | undefined): string => (b === undefined ? '–' : (b / MB).toFixed(2))
const msOrDash = (v: number | undefined): string => (v === undefined ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`)
const pct = (v: number): string => `${(100 * v).toFixed(1)}%`

/** The results table (one row per set-up, code version and rate). */
export function markdownTable(rows: Summary[], opts: { versions: boolean; timeoutS: number }): string {
  const head = [
    'set-up',
    ...(opts.versions ? ['code'] : []),
    'page loads/s',
    'started',
    `success (≤ ${opts.timeoutS} s)`,
    'p50 / p99',
    'first shed',
    'all seconds ≥ 99% from',
    'site 1 out MB/s peak / mean',
    'helpers out MB/s peak / mean',
    'goodput MB/s',
    'efficiency',
    'CPU: testbed / machine mean, peak (testbed idle before)'
  ]
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 || (opts.versions && i === 1) ? '---' : '---:')).join(' | ')} |`]
  for (const r of rows) {
    lines.push(
      `| ${[
        r.title,
        ...(opts.versions ? [r.version] : []),
        r.rateLabel,
        String(r.started),
        pct(r.success),
        `${msOrDash(r.p50Ms)} / ${msOrDash(r.p99Ms)}`,
        msOrDash(r.firstShedMs),
        r.allGoodFromS === undefined ? 'never' : `${r.allGoodFromS} s`,
        `${mbps(r.site1.peak)} / ${mbps(r.site1.mean)}`,
        r.helpers === undefined ? '–' : `${mbps(r.helpers.peak)} / ${mbps(r.helpers.mean)} (${pct(r.helperShare)} of bytes)`,
        mbps(r.goodput),
        `${pct(r.efficiency)} of ${mbps(Math.min(r.capacity, r.demand))}; from ${(r.steady.fromMs / 1000).toFixed(0)} s ${pct(r.steady.efficiency)}`,
        `${pct(r.cpuTestbed)} / ${pct(r.cpu.mean)}, ${pct(r.cpu.peak)} (${r.cpuTestbedIdle === undefined ? '–' : pct(r.cpuTestbedIdle)})`
      ].join(' | ')} |`
    )
  }
  return lines.join('\n')
}

/** The kill set-up's rows: success before and after, errors met at the killed helpers. */
/** Standby arms: the crowd's first seconds, p2p bytes against the hot set, and the calm-time cost of filling the standbys. */
export function standbySection(rows: Summary[]): string {
  const k = rows.filter(r => /standby/.test(r.version))
  if (k.length === 0) return ''
  const pct = (x: number | null | undefined): string => (x === undefined || x === null ? '–' : `${(100 * x).toFixed(1)}%`)
  const lines = [
    '| set-up | arm | page loads/s | success | p99 | 1st s | 2nd s | 3rd s | first shed | site 1 → helpers over libp2p / hot set | standby fill: time, MB/s, share of uplink |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  ]
  for (const r of k) {
    const ps = r.perSecondSuccess
    const hs =
      r.hotSet === undefined
        ? '–'
        : `${(r.hotSet.sentToHelpers / MB).toFixed(2)} / ${(r.hotSet.manifestBytes / MB).toFixed(2)} MB (${(r.hotSet.sentToHelpers / Math.max(1, r.hotSet.manifestBytes)).toFixed(2)}×)`
    const f = r.standbyFill
    const fill = f === undefined ? '–' : `${(f.fillMs / 1000).toFixed(1)} s, ${(f.bytesPerSec / MB).toFixed(3)} MB/s, ${(100 * f.shareOfUplink).toFixed(1)}%`
    lines.push(
      `| ${r.title} | ${r.version} | ${r.rateLabel} | ${pct(r.success)} | ${r.p99Ms === undefined ? '–' : `${Math.round(r.p99Ms)} ms`} | ${pct(ps[0])} | ${pct(ps[1])} | ${pct(ps[2])} | ${r.firstShedMs === undefined ? '–' : `${Math.round(r.firstShedMs)} ms`} | ${hs} | ${fill} |`
    )
  }
  return lines.join('\n')
}

export function killSection(rows: Summary[]): string {
  const k = rows.filter(r => r.kill !== undefined)
  if (k.length === 0) return ''
  const lines = [
    '| code | page loads/s | killed at (who) | success before / after | failed requests at killed helpers | by second after the kill (their end) | last one ended | last one sent | redirected there after the kill: failed, last sent |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |'
  ]
  for (const r of k) {
    const kill = r.kill!
    lines.push(
      `| ${r.version} | ${r.rateLabel} | ${(kill.killAtMs / 1000).toFixed(1)} s (${kill.labels.join(', ')}) | ${pct(kill.before.success)} of ${kill.before.started} / ${pct(kill.after.success)} of ${kill.after.started} | ${kill.errors} | ${
        kill.errorsBySecond
          .map((n, s) => `+${s}s: ${n}`)
          .filter(x => !x.endsWith(': 0'))
          .join(', ') || '–'
      } | ${kill.lastErrorMs === undefined ? '–' : `+${(kill.lastErrorMs / 1000).toFixed(1)} s`} | ${kill.lastSentMs === undefined ? '–' : `+${(kill.lastSentMs / 1000).toFixed(2)} s`} | ${kill.redirectedAfter}, ${kill.lastRedirectedMs === undefined ? '–' : `+${(kill.lastRedirectedMs / 1000).toFixed(2)} s`} |`
    )
  }
  return lines.join('\n')
}
