/**
 * pnpm bench soak --net [--minutes 30] [--burst-s 15] [--calm-s 15] [--loads 20] [--uplink 4000000] [--timeout-s 10] [--out DIR]
 *   on the namespace testbed (bench/net/soak.ts): four members, each in its own namespace behind
 *   its shaped uplink, crowds of page loads striking each in turn; per-site RSS and descriptors.
 * pnpm bench soak [--minutes 30] [--burst-s 15] [--calm-s 15] [--rps 600] [--out DIR]
 *   in one process on loopback (bench/soak.ts): quicker to set up, no uplinks, one RSS for all.
 *
 * Prints one line per burst and a summary; writes the figures as JSON to --out. Exit 1 when a
 * burst fell under 99 %, RSS peaks, heap or descriptors grew over 10 % after warm-up (soak.ts,
 * `peakGrowth` and `growth`), the ledgers disagree or do not recompute, or an error was logged.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { blogSite, mirrorCapacityRps } from './net/page-mix.ts'
import { runNetSoak } from './net/soak.ts'
import { namespacesUnavailable, Testbed } from './net/testbed.ts'
import { growth, peakGrowth, runSoak } from './soak.ts'

const REPO_ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)))

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    net: { type: 'boolean' },
    minutes: { type: 'string' },
    'burst-s': { type: 'string' },
    'calm-s': { type: 'string' },
    rps: { type: 'string' },
    loads: { type: 'string' },
    uplink: { type: 'string' },
    'timeout-s': { type: 'string' },
    out: { type: 'string' }
  },
  strict: true
})
const num = (v: string | undefined, d: number, name: string, max: number): number => {
  const n = v === undefined ? d : Number(v)
  if (!(n > 0 && n <= max)) {
    process.stderr.write(`bench soak: --${name} must be a number in (0, ${max}]\n`)
    process.exit(2)
  }
  return n
}
const say = (line: string): void => {
  process.stdout.write(line + '\n')
}
const common = {
  minutes: num(values.minutes, 30, 'minutes', 24 * 60),
  burstS: num(values['burst-s'], 15, 'burst-s', 600),
  calmS: num(values['calm-s'], 15, 'calm-s', 600)
}
const out = values.out ?? (values.net === true ? 'bench-results/soak-net' : 'bench-results/soak')
mkdirSync(out, { recursive: true })

if (values.net === true) {
  const opts = {
    ...common,
    loadsPerSec: num(values.loads, 20, 'loads', 1_000),
    uplinkBytesPerSec: num(values.uplink, 4_000_000, 'uplink', 1e9),
    timeoutS: num(values['timeout-s'], 10, 'timeout-s', 120)
  }
  const why = await namespacesUnavailable()
  if (why !== undefined) {
    say(`bench soak --net: no network namespaces here (${why}); nothing run`)
    process.exit(0)
  }
  const tb = await Testbed.create({ repoRoot: REPO_ROOT, note: say })
  const { mix } = blogSite(1, 'alpha')
  try {
    say(
      `soak on the testbed: 4 members on ${(opts.uplinkBytesPerSec / 1e6).toFixed(1)} MB/s uplinks; bursts of ${opts.loadsPerSec} page loads/s (~${((opts.loadsPerSec * mix.meanBytes) / 1e6).toFixed(1)} MB/s) for ${opts.burstS} s, ${opts.calmS} s calm, for ${opts.minutes} min`
    )
    const r = await runNetSoak(tb, {
      ...opts,
      members: 4,
      tcLatencyMs: 100,
      reefRoot: REPO_ROOT,
      mirrorCapacityRps: uplink => mirrorCapacityRps(uplink, mix),
      runId: 'soak',
      note: say
    })
    const worst = Math.min(...r.bursts.map(b => b.success))
    const labels = Object.keys(r.bursts[0]?.rssBytes ?? {})
    const rss = Object.fromEntries(labels.map(l => [l, peakGrowth(r.bursts.map(b => b.rssBytes[l] ?? 0))]))
    const heap = Object.fromEntries(labels.map(l => [l, growth(r.bursts.map(b => b.heapUsedBytes[l] ?? 0))]))
    const fds = Object.fromEntries(labels.map(l => [l, growth(r.bursts.map(b => b.fds[l] ?? 0))]))
    const pct = (m: Record<string, number>): string => labels.map(l => `${l} ${(100 * m[l]!).toFixed(1)}%`).join(', ')
    say(
      `\n${r.bursts.length} bursts in ${r.minutes.toFixed(1)} min; worst burst ${(100 * worst).toFixed(2)}%; growth after warm-up (after a full GC): RSS peaks ${pct(rss)}; heap ${pct(heap)}; descriptors: ${pct(fds)}; ledgers recompute: ${r.ledgersRecompute}, agree: ${r.ledgersAgree}; error lines: ${r.errors.length}`
    )
    for (const e of r.errors.slice(0, 20)) say(`  ${e}`)
    writeFileSync(join(out, 'results.json'), JSON.stringify({ options: opts, ...r, worst, rssGrowth: rss, heapGrowth: heap, fdGrowth: fds }, null, 2) + '\n')
    const grew = [...Object.values(rss), ...Object.values(heap), ...Object.values(fds)].some(g => g > 0.1)
    process.exitCode = worst >= 0.99 && !grew && r.ledgersRecompute && r.ledgersAgree && r.errors.length === 0 ? 0 : 1
  } finally {
    await tb.cleanup()
  }
} else {
  const opts = { ...common, rps: num(values.rps, 600, 'rps', 5_000) }
  const r = await runSoak({ ...opts, note: say })
  const worst = Math.min(...r.bursts.map(b => b.success))
  const rss = growth(r.bursts.map(b => b.rssBytes))
  const fds = growth(r.bursts.map(b => b.fds))
  say(
    `\n${r.bursts.length} bursts in ${r.minutes.toFixed(1)} min; worst burst ${(100 * worst).toFixed(2)}%; RSS growth after warm-up ${(100 * rss).toFixed(1)}%, descriptors ${(100 * fds).toFixed(1)}%; ledgers recompute: ${r.ledgersRecompute}, agree: ${r.ledgersAgree}; error lines: ${r.errors.length}`
  )
  for (const e of r.errors.slice(0, 20)) say(`  ${e}`)
  writeFileSync(join(out, 'results.json'), JSON.stringify({ options: opts, ...r, worst, rssGrowth: rss, fdGrowth: fds }, null, 2) + '\n')
  process.exitCode = worst >= 0.99 && rss <= 0.1 && fds <= 0.1 && r.ledgersRecompute && r.ledgersAgree && r.errors.length === 0 ? 0 : 1
}
