/**
 * The flash-crowd benchmark: one browser-like crowd (Zipf pages; each visit loads a page and
 * what it links, following redirects, verifying every body) against several set-ups in one run:
 * the origin alone, nginx with proxy_cache in front (Debian's nginx, started here when it is
 * installed), Reef alone (one node, no consortium), and Reef consortia of N nodes. Loopback
 * only; bounded in requests and time.
 *
 *   pnpm bench crowd [--profile step|ramp|bursts] [--multiple 20] [--seconds 10]
 *                    [--capacity 50] [--workers 8] [--bytes-per-sec N] [--setups origin,nginx,alone,2,4,8]
 *                    [--out DIR] [--no-micro]
 *
 * Per set-up: success rate, origin peak req/s and bytes/s, page-load p50/p99, time to first
 * shed and to the first helper-served response, share of bytes served by helpers, time to stop
 * shedding after the crowd; a Markdown table on stdout and a timeline SVG per set-up; then, when
 * nginx is installed, the microbenchmarks against it (micro.ts).
 *
 * With `--net`, the crowd runs against sites in network namespaces whose uplinks are shaped
 * (net/run.ts documents its options).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loopbackDispatcher, runCrowd } from '../demo/crowd.ts'
import type { CrowdProfile, CrowdReport, RequestResult } from '../demo/crowd.ts'
import { startLocalConsortium, waitForMesh } from '../demo/consortium.ts'
import type { LocalConsortium } from '../demo/consortium.ts'
import { nginxInstalled, startCachingNginx } from './nginx.ts'
import type { RunningNginx } from './nginx.ts'

if (process.argv.slice(3).includes('--net')) {
  const { runNetBench } = await import('./net/run.ts')
  process.exit(await runNetBench(process.argv.slice(3).filter(a => a !== '--net')))
}

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    profile: { type: 'string' },
    multiple: { type: 'string' },
    rps: { type: 'string' },
    seconds: { type: 'string' },
    capacity: { type: 'string' },
    workers: { type: 'string' },
    setups: { type: 'string' },
    out: { type: 'string' },
    nodes: { type: 'string' },
    'bytes-per-sec': { type: 'string' },
    'no-micro': { type: 'boolean' }
  },
  strict: true
})
const capacity = Number(values.capacity ?? 50)
const workers = Number(values.workers ?? 8)
const rps = Number(values.rps ?? Number(values.multiple ?? 20) * capacity)
const seconds = Number(values.seconds ?? 10)
const profileKind = values.profile ?? 'step'
const setups = (values.setups ?? (values.nodes !== undefined ? `origin,${values.nodes}` : 'origin,nginx,alone,2,4,8')).split(',').map(s => s.trim())
const outDir = values.out ?? 'bench-results'
const bytesPerSec = values['bytes-per-sec'] === undefined ? undefined : Number(values['bytes-per-sec'])
if (bytesPerSec !== undefined && !(bytesPerSec > 0)) {
  process.stderr.write('bench crowd: --bytes-per-sec must be positive\n')
  process.exit(2)
}
function usage(msg: string): never {
  process.stderr.write(`bench crowd: ${msg}\n`)
  process.exit(2)
}
if (!(capacity > 0 && workers > 0 && rps > 0 && rps <= 5000 && seconds > 0 && seconds <= 120))
  usage('--rps (or --multiple × --capacity) 1..5000, --seconds 1..120, --capacity and --workers > 0')
if (!['step', 'ramp', 'bursts'].includes(profileKind)) usage('--profile is step, ramp or bursts')
for (const s of setups)
  if (!['origin', 'nginx', 'alone'].includes(s) && !(Number(s) >= 2 && Number(s) <= 8))
    usage(`unknown set-up "${s}" (origin, nginx, alone, or a consortium size 2..8)`)

const durationMs = seconds * 1000
const profile: CrowdProfile =
  profileKind === 'ramp'
    ? { kind: 'ramp', fromRps: 0, toRps: rps, durationMs }
    : profileKind === 'bursts'
      ? { kind: 'bursts', rps, burstMs: 2_000, gapMs: 2_000, count: Math.max(1, Math.round(seconds / 4)) }
      : { kind: 'step', rps, durationMs }

interface Row {
  setup: string
  note?: string
  report?: CrowdReport
  originPeakRps?: number
  originPeakArrivals?: number
  originPeakBytes?: number
  firstShedMs?: number | undefined
  firstHelperMs?: number | undefined
  helperBytesShare?: number
  stopMs?: number | undefined
  svg?: string
}

function quantile(xs: number[], q: number): number | undefined {
  if (xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

function timelineSvg(title: string, results: RequestResult[], originPerSecond: Array<{ second: number; served: number }>, start: number): string {
  const span = Math.ceil((Math.max(...results.map(r => r.end), start + 1) - start) / 1000) + 1
  const buckets = Array.from({ length: span }, () => ({ origin: 0, helper: 0, failed: 0, originLoad: 0 }))
  for (const r of results) {
    const b = buckets[Math.max(0, Math.floor((r.end - start) / 1000))]
    if (b === undefined) continue
    if (!r.ok) b.failed++
    else if (r.servedBy === 'helper') b.helper++
    else b.origin++
  }
  for (const s of originPerSecond) {
    const b = buckets[s.second - Math.floor(start / 1000)]
    if (b !== undefined) b.originLoad = s.served
  }
  const W = 760
  const H = 260
  const pad = 40
  const maxY = Math.max(capacity * 1.2, ...buckets.map(b => b.origin + b.helper + b.failed))
  const x = (i: number): number => pad + (i * (W - 2 * pad)) / Math.max(1, span - 1)
  const y = (v: number): number => H - pad - (v * (H - 2 * pad)) / maxY
  const line = (vals: number[], color: string, dash = ''): string =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" ${dash === '' ? '' : `stroke-dasharray="${dash}"`} points="${vals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`
  const esc = (s: string): string => s.replace(/[<&>]/g, c => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[c] ?? c)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="${pad}" y="16" font-size="13">${esc(title)}</text>
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#888"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#888"/>
<text x="${pad - 4}" y="${y(maxY) + 4}" text-anchor="end">${Math.round(maxY)}</text><text x="${pad - 4}" y="${H - pad + 4}" text-anchor="end">0</text>
<text x="${W - pad}" y="${H - pad + 16}" text-anchor="end">${span - 1} s</text><text x="${pad}" y="${H - pad + 16}">req/s</text>
${line(
  buckets.map(() => capacity),
  '#555',
  '6 4'
)}
${line(
  buckets.map(b => b.origin),
  '#1f6fd1'
)}
${line(
  buckets.map(b => b.helper),
  '#2a9d4b'
)}
${line(
  buckets.map(b => b.failed),
  '#d33'
)}
${line(
  buckets.map(b => b.originLoad),
  '#000'
)}
<g transform="translate(${W - 290},24)">
<text y="0" fill="#1f6fd1">served via the site</text><text y="13" fill="#2a9d4b">served by helpers / mirrors</text><text y="26" fill="#d33">failed</text>
<text x="170" y="0">origin load</text><text x="170" y="13" fill="#555">origin capacity</text></g>
</svg>
`
}

async function run(setup: string): Promise<Row> {
  if (setup === 'nginx' && !nginxInstalled()) return { setup: 'nginx + proxy_cache', note: 'not installed here (apt-get install nginx)' }
  const size = setup === 'origin' || setup === 'nginx' ? 1 : setup === 'alone' ? 1 : Number(setup)
  const c: LocalConsortium = await startLocalConsortium({
    nodes: size,
    capacityRps: capacity,
    workers,
    reef: setup !== 'origin' && setup !== 'nginx',
    logLevel: 'error',
    ...(bytesPerSec !== undefined ? { originBytesPerSec: bytesPerSec } : {})
  })
  const dispatcher = loopbackDispatcher()
  let nginx: RunningNginx | undefined
  try {
    if (size > 1) await waitForMesh(c, 60_000)
    const site = c.sites[0]!
    if (setup === 'nginx') nginx = await startCachingNginx(site.origin.url)
    const url = nginx?.url ?? site.url
    const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    const report = await runCrowd({
      siteUrl: url,
      pages: site.origin.pages,
      profile,
      expected,
      dispatcher,
      seed: 42,
      maxRequests: Math.ceil(rps * seconds) + 2_000,
      maxDurationMs: durationMs + 20_000
    })
    const ended = Date.now()
    let stopMs: number | undefined
    const node = site.node
    if (node !== undefined) {
      while ((node.detector.state !== 'normal' || node.shedder.active) && Date.now() - ended < 20_000) await new Promise(resolve => setTimeout(resolve, 50))
      if (node.detector.state === 'normal' && !node.shedder.active) stopMs = Date.now() - ended
    }
    const start = Math.min(...report.results.map(r => r.start))
    const helperResults = report.results.filter(r => r.ok && r.servedBy === 'helper')
    const okBytes = report.results.filter(r => r.ok).reduce((a, r) => a + r.bytes, 0)
    const perSecond = site.origin.stats.perSecond()
    const name = setup === 'origin' ? 'origin alone' : setup === 'nginx' ? 'nginx + proxy_cache' : setup === 'alone' ? 'Reef alone' : `Reef, ${setup} nodes`
    await mkdir(outDir, { recursive: true })
    const svg = join(outDir, `crowd-${profileKind}-${setup}.svg`)
    await writeFile(
      svg,
      timelineSvg(`${name}: ${profileKind} crowd of ${rps} req/s (${(rps / capacity).toFixed(0)}× capacity)`, report.results, perSecond, start)
    )
    return {
      setup: name,
      report,
      originPeakRps: site.origin.stats.peakRps(),
      originPeakArrivals: site.origin.stats.peakArrivalsRps(),
      originPeakBytes: Math.max(0, ...perSecond.map(s => s.bytes)),
      firstShedMs: node?.monitor.firstShedAt !== undefined ? node.monitor.firstShedAt - start : undefined,
      firstHelperMs: helperResults.length > 0 ? Math.min(...helperResults.map(r => r.end)) - start : undefined,
      helperBytesShare: okBytes === 0 ? 0 : helperResults.reduce((a, r) => a + r.bytes, 0) / okBytes,
      stopMs,
      svg
    }
  } finally {
    await nginx?.stop()
    await dispatcher.close()
    await c.close()
  }
}

const ms = (v: number | undefined): string => (v === undefined ? '–' : `${Math.round(v)} ms`)
const rows: Row[] = []
for (const s of setups) rows.push(await run(s))
const mib = (b: number | undefined): string => (b === undefined ? '–' : `${(b / 2 ** 20).toFixed(1)}`)
process.stdout.write(
  [
    `Crowd: ${profileKind}, ${rps} req/s (${(rps / capacity).toFixed(0)}× capacity) for ${seconds} s; origin ${capacity} req/s with ${workers} workers${bytesPerSec === undefined ? '' : ` and ${(bytesPerSec / 2 ** 20).toFixed(1)} MiB/s`}; Node ${process.version}; ${new Date().toISOString()}`,
    `Command: pnpm bench crowd ${process.argv.slice(3).join(' ')}`.trimEnd(),
    '',
    '| set-up | requests | success | origin peak req/s (reaching / served) | origin peak MiB/s | page load p50 / p99 | first shed | first helper response | bytes from helpers | shedding stopped after |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(r =>
      r.report === undefined
        ? `| ${r.setup} | ${r.note ?? ''} | | | | | | | | |`
        : `| ${r.setup} | ${r.report.sent} | ${(100 * r.report.successRate).toFixed(2)}% | ${r.originPeakArrivals} / ${r.originPeakRps} | ${mib(r.originPeakBytes)} | ${ms(quantile(r.report.pageLoadsMs, 0.5))} / ${ms(quantile(r.report.pageLoadsMs, 0.99))} | ${ms(r.firstShedMs)} | ${ms(r.firstHelperMs)} | ${(100 * (r.helperBytesShare ?? 0)).toFixed(1)}% | ${ms(r.stopMs)} |`
    ),
    '',
    'Timelines: ' +
      rows
        .filter(r => r.svg !== undefined)
        .map(r => r.svg)
        .join(', ')
  ].join('\n') + '\n'
)

// The microbenchmarks against nginx belong to the same run (skip with --no-micro).
if (values['no-micro'] !== true && nginxInstalled()) {
  const { runMicro } = await import('./micro.ts')
  process.stdout.write('\n' + (await runMicro({ ms: 2_000, runs: 2 })))
}
