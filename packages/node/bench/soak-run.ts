/**
 * pnpm bench soak [--minutes 30] [--burst-s 15] [--calm-s 15] [--rps 600] [--out DIR]
 * Prints one line per burst and a summary; writes the figures as JSON to --out. Exit 1 when a
 * burst fell under 99 %, RSS or descriptors grew over 10 % after warm-up, the ledgers disagree
 * or do not recompute, or an error was logged.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { growth, runSoak } from './soak.ts'

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: { minutes: { type: 'string' }, 'burst-s': { type: 'string' }, 'calm-s': { type: 'string' }, rps: { type: 'string' }, out: { type: 'string' } },
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
const opts = {
  minutes: num(values.minutes, 30, 'minutes', 24 * 60),
  burstS: num(values['burst-s'], 15, 'burst-s', 600),
  calmS: num(values['calm-s'], 15, 'calm-s', 600),
  rps: num(values.rps, 600, 'rps', 5_000)
}
const r = await runSoak({
  ...opts,
  note: line => {
    process.stdout.write(line + '\n')
  }
})
const worst = Math.min(...r.bursts.map(b => b.success))
const rss = growth(r.bursts.map(b => b.rssBytes))
const fds = growth(r.bursts.map(b => b.fds))
process.stdout.write(
  `\n${r.bursts.length} bursts in ${r.minutes.toFixed(1)} min; worst burst ${(100 * worst).toFixed(2)}%; RSS growth after warm-up ${(100 * rss).toFixed(1)}%, descriptors ${(100 * fds).toFixed(1)}%; ledgers recompute: ${r.ledgersRecompute}, agree: ${r.ledgersAgree}; error lines: ${r.errors.length}\n`
)
for (const e of r.errors.slice(0, 20)) process.stdout.write(`  ${e}\n`)
const out = values.out ?? 'bench-results/soak'
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'results.json'), JSON.stringify({ options: opts, ...r, worst, rssGrowth: rss, fdGrowth: fds }, null, 2) + '\n')
process.exitCode = worst >= 0.99 && rss <= 0.1 && fds <= 0.1 && r.ledgersRecompute && r.ledgersAgree && r.errors.length === 0 ? 0 : 1
