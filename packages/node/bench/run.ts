/**
 * Benchmarks. Loopback only, bounded in count and time.
 *
 *   pnpm bench crowd [--rps N] [--seconds S] [--nodes N]
 *   pnpm bench protocol [--ms MS]      record encode+sign / decode+verify throughput
 *   pnpm bench ledger [--records N]    redirect accounting cost, ledger writes/s, rebuild from N records
 *
 * crowd: the same browser-like flash crowd (step profile, Zipf pages) against the origin alone
 * and against the origin behind a Reef consortium, in one run; reports success rate, origin
 * peak requests/s, time from crowd start to the first redirect and to the first helper-served
 * response, share served by helpers, and time to stop shedding after the crowd.
 */
import { parseArgs } from 'node:util'
import { loopbackDispatcher, runCrowd } from '../src/demo/crowd.ts'
import type { CrowdReport } from '../src/demo/crowd.ts'
import { startLocalConsortium, waitForMesh } from '../src/demo/consortium.ts'

const [command, ...rest] = process.argv.slice(2)
if (command === 'protocol') {
  await import(new URL('../../protocol/bench/records.ts', import.meta.url).href)
  process.exit(0)
}
if (command === 'ledger') {
  await import('./ledger.ts')
  process.exit(0)
}
if (command !== 'crowd') {
  process.stderr.write('Usage: pnpm bench crowd [--rps N] [--seconds S] [--nodes N] [--capacity RPS] [--workers N]\n       pnpm bench protocol [--ms MS]\n       pnpm bench ledger [--records N] [--runs R] [--seconds S] [--writes N]\n')
  process.exit(2)
}
const { values } = parseArgs({ args: rest, options: { rps: { type: 'string' }, seconds: { type: 'string' }, nodes: { type: 'string' }, capacity: { type: 'string' }, workers: { type: 'string' } }, strict: true })
const capacity = Number(values.capacity ?? 50)
const workers = Number(values.workers ?? 8)
const rps = Number(values.rps ?? 20 * capacity)
const seconds = Number(values.seconds ?? 10)
const nodes = Number(values.nodes ?? 3)
if (!(capacity > 0 && workers > 0 && rps > 0 && rps <= 5000 && seconds > 0 && seconds <= 120 && nodes >= 2 && nodes <= 8)) {
  process.stderr.write('bench: --rps 1..5000, --seconds 1..120, --nodes 2..8, --capacity and --workers > 0\n')
  process.exit(2)
}

interface Row {
  name: string
  report: CrowdReport
  originPeak: number
  originArrivalsPeak: number
  firstRedirectMs: number | undefined
  firstHelperMs: number | undefined
  stopMs: number | undefined
}

async function crowdAgainst (reef: boolean): Promise<Row> {
  const c = await startLocalConsortium({ nodes: reef ? nodes : 1, capacityRps: capacity, workers, reef, logLevel: 'error' })
  const dispatcher = loopbackDispatcher()
  try {
    if (reef) await waitForMesh(c)
    const site = c.sites[0]!
    const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    const report = await runCrowd({
      siteUrl: site.url, pages: site.origin.pages, profile: { kind: 'step', rps, durationMs: seconds * 1000 },
      maxRequests: Math.ceil(rps * seconds) + 1000, maxDurationMs: seconds * 1000 + 20_000, expected, dispatcher, seed: 42
    })
    const ended = Date.now()
    let stopMs: number | undefined
    if (site.node !== undefined) {
      while ((site.node.state !== 'normal' || site.node.shedder.active) && Date.now() - ended < 20_000) await new Promise(resolve => setTimeout(resolve, 50))
      if (site.node.state === 'normal') stopMs = Date.now() - ended
    }
    const start = Math.min(...report.results.map(r => r.start))
    const helpers = report.results.filter(r => r.ok && r.servedBy === 'helper').map(r => r.end)
    return {
      name: reef ? `Reef, ${nodes} nodes` : 'origin alone',
      report,
      originPeak: site.origin.stats.peakRps(),
      originArrivalsPeak: site.origin.stats.peakArrivalsRps(),
      firstRedirectMs: site.node?.monitor.firstShedAt !== undefined ? site.node.monitor.firstShedAt - start : undefined,
      firstHelperMs: helpers.length > 0 ? Math.min(...helpers) - start : undefined,
      stopMs
    }
  } finally {
    await dispatcher.close()
    await c.close()
  }
}

const fmt = (v: number | undefined, unit = ' ms'): string => v === undefined ? '–' : `${Math.round(v)}${unit}`
const rows = [await crowdAgainst(false), await crowdAgainst(true)]
const out = [
  `Crowd: ${rps} req/s (${(rps / capacity).toFixed(0)}× capacity) for ${seconds} s; origin ${capacity} req/s, ${workers} workers; ${new Date().toISOString()}`,
  '',
  '| setup | requests | success | peak req/s reaching origin | origin peak served req/s | served by helpers | first redirect | first helper response | shedding stopped after crowd |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(r => `| ${r.name} | ${r.report.sent} | ${(100 * r.report.successRate).toFixed(2)}% | ${r.originArrivalsPeak} | ${r.originPeak} (${(100 * r.originPeak / capacity).toFixed(0)}%) | ${(100 * r.report.byServer.helper / Math.max(1, r.report.sent)).toFixed(1)}% | ${fmt(r.firstRedirectMs)} | ${fmt(r.firstHelperMs)} | ${fmt(r.stopMs)} |`),
  '',
  `Success with Reef / origin alone: ${(rows[1]!.report.successRate / Math.max(1e-9, rows[0]!.report.successRate)).toFixed(1)}×`
]
process.stdout.write(out.join('\n') + '\n')
