/**
 * The flash-crowd bench on a network-namespace testbed (testbed.ts): each site in its own
 * namespace with a tc-shaped uplink, real processes (site-process.ts), a browser-like crowd of
 * page loads from the root namespace at site 1, bytes counted on the veths.
 *
 *   pnpm bench crowd --net [--setups origin,nginx,alone,4,8,16,fat3,kill,blackhole,blackhole1,origindown] [--loads 5,20,80,sat]
 *                          [--seconds 20] [--uplink BYTES_PER_SEC] [--timeout-s 10]
 *                          [--tc-latency-ms 100] [--kill-at-s 8] [--baseline REF]
 *                          [--mirror-rps N] [--seed 42] [--out bench-results/net] [--keep-logs]
 *                          [--standby] [--standby-share 0.05] [--repeat 1]
 *
 * Every (set-up, rate) is one crowd on freshly made namespaces and freshly started processes;
 * with --baseline, every Reef set-up runs twice, "before" (REF, in a temporary worktree) and
 * "after" (this checkout). `sat` is 1.3 × the set-up's Σ calibrated uplink goodput ÷ the mean
 * page-load bytes. --repeat N runs each crowd N times (before and after alternating), for the
 * spread from run to run. Prints a Markdown report (also written to --out with an SVG timeline per
 * crowd and the figures as JSON). Without root (or namespaces), says so in one line and exits 0.
 *
 * Profiling: REEF_TESTBED_CPU_PROF=<dir> makes every site process write a V8 CPU profile
 * (site<N>-<role>-<ms>.cpuprofile) into <dir> when it stops; run the bench itself with
 * `node --cpu-prof` for the crowd client's. REEF_TESTBED_LOG_LEVEL sets the sites' log level.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { prepareBaseline } from './baseline.ts'
import { calibrateUplink } from './calibrate.ts'
import { blogSite, mirrorCapacityRps } from './page-mix.ts'
import { killSection, markdownTable, standbySection, summarize, timelineSvg } from './report.ts'
import type { Summary } from './report.ts'
import { LABELS, planSetup, runScenario } from './scenario.ts'
import { namespacesUnavailable, Testbed, tbfArgs } from './testbed.ts'

const REPO_ROOT = resolve(fileURLToPath(new URL('../../../../', import.meta.url)))
const SAT_FACTOR = 1.3
const MB = 1e6

class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

interface NetOptions {
  setups: string[]
  loads: string[]
  seconds: number
  uplink: number
  timeoutS: number
  tcLatencyMs: number
  killAtS: number
  baseline: string | undefined
  mirrorRps: number | undefined
  seed: number
  out: string
  /** Copy every site's log into --out (they are always kept when the run fails). */
  keepLogs: boolean
  /** Run each Reef set-up twice, without and with warm standby, after the same calm traffic. */
  standby: boolean
  /** `standby.uplinkShare` for every Reef site (small uplinks fill their standbys too slowly at the default 5 %). */
  standbyShare: number | undefined
  /** Runs of every set-up × load × version, one after the other (run-to-run spread). */
  repeat: number
}

function parse(argv: string[]): NetOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      setups: { type: 'string' },
      loads: { type: 'string' },
      seconds: { type: 'string' },
      uplink: { type: 'string' },
      'timeout-s': { type: 'string' },
      'tc-latency-ms': { type: 'string' },
      'kill-at-s': { type: 'string' },
      baseline: { type: 'string' },
      'mirror-rps': { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      'keep-logs': { type: 'boolean' },
      standby: { type: 'boolean' },
      'standby-share': { type: 'string' },
      repeat: { type: 'string' }
    },
    strict: true
  })
  const num = (name: string, v: string | undefined, def: number, ok: (n: number) => boolean, what: string): number => {
    const n = v === undefined ? def : Number(v)
    if (!Number.isFinite(n) || !ok(n)) throw new UsageError(`--${name} must be ${what} (got ${v})`)
    return n
  }
  const o: NetOptions = {
    setups: (values.setups ?? 'origin,nginx,alone,4,8,16,fat3,kill')
      .split(',')
      .map(s => s.trim())
      .filter(s => s !== ''),
    loads: (values.loads ?? '5,20,80')
      .split(',')
      .map(s => s.trim())
      .filter(s => s !== ''),
    seconds: num('seconds', values.seconds, 20, n => n >= 1 && n <= 600, '1..600'),
    uplink: num('uplink', values.uplink, 4_000_000, n => Number.isInteger(n) && n >= 10_000 && n <= 1e9, 'an integer number of bytes/s, 10000..1e9'),
    timeoutS: num('timeout-s', values['timeout-s'], 10, n => n >= 1 && n <= 120, '1..120'),
    tcLatencyMs: num('tc-latency-ms', values['tc-latency-ms'], 100, n => Number.isInteger(n) && n >= 1 && n <= 10_000, 'an integer 1..10000'),
    killAtS: num('kill-at-s', values['kill-at-s'], 8, n => n >= 0, '≥ 0'),
    baseline: values.baseline,
    mirrorRps:
      values['mirror-rps'] === undefined ? undefined : num('mirror-rps', values['mirror-rps'], 0, n => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'),
    seed: num('seed', values.seed, 42, n => Number.isInteger(n), 'an integer'),
    out: values.out ?? 'bench-results/net',
    keepLogs: values['keep-logs'] === true,
    standby: values.standby === true,
    standbyShare:
      values['standby-share'] === undefined
        ? undefined
        : num('standby-share', values['standby-share'], 0.05, n => n >= 0.001 && n <= 0.5, 'a share from 0.001 to 0.5 (config standby.uplinkShare)'),
    repeat: Number(values.repeat ?? 1)
  }
  if (o.standby && o.baseline !== undefined) throw new UsageError('--standby compares two arms of this checkout: it cannot be combined with --baseline')
  if (o.setups.length === 0 || o.loads.length === 0) throw new UsageError('--setups and --loads must not be empty')
  if (!Number.isInteger(o.repeat) || o.repeat < 1 || o.repeat > 20)
    throw new UsageError(`--repeat: "${values.repeat}" is not a whole number of runs from 1 to 20`)
  for (const s of o.setups) {
    try {
      planSetup(s, o.uplink)
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
  }
  for (const l of o.loads)
    if (l !== 'sat' && !(Number(l) > 0 && Number(l) <= 5_000)) throw new UsageError(`--loads: "${l}" is neither a rate 0..5000 (page loads/s) nor sat`)
  if (['kill', 'blackhole', 'blackhole1', 'origindown'].some(x => o.setups.includes(x)) && o.killAtS >= o.seconds)
    throw new UsageError('--kill-at-s must fall inside the crowd (< --seconds)')
  return o
}

function gitDescribe(root: string): string {
  try {
    const sha = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== ''
    return dirty ? `${sha}+changes` : sha
  } catch {
    return 'unknown'
  }
}

/** Run the bench; resolves to the exit code. */
export async function runNetBench(argv: string[]): Promise<number> {
  let o: NetOptions
  try {
    o = parse(argv)
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err
    process.stderr.write(`bench crowd --net: ${err.message}\n`)
    return 2
  }
  const why = await namespacesUnavailable()
  if (why !== undefined) {
    process.stdout.write(`bench crowd --net: skipped: ${why}\n`)
    return 0
  }
  const note = (line: string): void => {
    process.stderr.write(line + '\n')
  }
  const started = Date.now()
  let tb: Testbed
  try {
    tb = await Testbed.create({ repoRoot: REPO_ROOT, note })
  } catch (err) {
    process.stderr.write(`bench crowd --net: cannot set up the testbed: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
  const rows: Summary[] = []
  try {
    note(`testbed: bridge ${tb.bridge} ${tb.address(0)}/16, temp dir ${tb.tmpDir}`)
    const versions: Array<{ name: string; root: string; standby?: 'on' | 'off'; tag?: string }> = []
    if (o.standby) {
      const d = gitDescribe(REPO_ROOT)
      versions.push(
        { name: `no standby (${d})`, root: REPO_ROOT, standby: 'off', tag: 'nostandby' },
        { name: `warm standby (${d})`, root: REPO_ROOT, standby: 'on', tag: 'standby' }
      )
    } else if (o.baseline !== undefined) {
      const b = await prepareBaseline(tb, REPO_ROOT, o.baseline, note)
      versions.push({ name: `before (${b.sha})`, root: b.root }, { name: `after (${gitDescribe(REPO_ROOT)})`, root: REPO_ROOT })
    } else {
      versions.push({ name: `this checkout (${gitDescribe(REPO_ROOT)})`, root: REPO_ROOT })
    }

    const plans = o.setups.map(s => planSetup(s, o.uplink))
    const rates = [...new Set(plans.flatMap(p => p.sites.map(s => s.uplinkBytesPerSec)))].sort((a, b) => a - b)
    const calibrated = new Map<number, number>()
    for (const rate of rates) {
      const g = await calibrateUplink(tb, rate, o.tcLatencyMs)
      calibrated.set(rate, g)
      note(`calibration: tbf ${(rate / MB).toFixed(2)} MB/s gives ${(g / MB).toFixed(3)} MB/s of HTTP body (${((100 * g) / rate).toFixed(1)}%)`)
    }

    const { mix } = blogSite(1, LABELS[0])
    const meanRequestBytes = mix.meanBytes / mix.meanRequests
    const mirrorCapacity = (uplink: number): number => o.mirrorRps ?? mirrorCapacityRps(uplink, mix)

    const header = [
      '# Reef flash-crowd testbed (network namespaces, shaped uplinks)',
      '',
      `- Command: \`pnpm bench crowd --net ${argv.join(' ')}\``.replace(/ `$/, '`'),
      `- Node ${process.version}, Linux ${release()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); ${new Date(started).toISOString()}`,
      `- Uplinks (tc ${tbfArgs(o.uplink, o.tcLatencyMs).join(' ')} on each namespace's side of its veth; ingress not shaped): site 1 and equal members ${(o.uplink / MB).toFixed(2)} MB/s${rates.length > 1 ? `; helpers in fat3/kill ${(rates[rates.length - 1]! / MB).toFixed(2)} MB/s` : ''}. MB = 10⁶ bytes.`,
      `- Calibration (one bulk HTTP transfer, 2 s after 0.5 s): ${rates.map(r => `${(r / MB).toFixed(2)} MB/s → ${((calibrated.get(r) ?? 0) / MB).toFixed(3)} MB/s of body`).join('; ')}`,
      `- Page mix: blog-like demo site of site 1, ${mix.pages} pages, Zipf(1) mean page load ${(mix.meanBytes / 1000).toFixed(1)} KB in ${mix.meanRequests.toFixed(2)} requests (pages from ${(mix.minBytes / 1000).toFixed(0)} to ${(mix.maxBytes / 1000).toFixed(0)} KB: HTML, shared CSS and JS, 2–8 images); no downloads`,
      `- Origin: the demo origin, 8 workers × 20 ms (400 req/s), no bandwidth limit of its own. Reef nodes are told origin capacityRps 50, maxConcurrent 8, their uplink (\`uplink.bytesPerSec\` when the code knows that section, else \`origin.bytesPerSec\`), mirror capacityRps ${o.mirrorRps === undefined ? `= uplink ÷ mean request bytes (${(meanRequestBytes / 1000).toFixed(1)} KB): ${rates.map(r => `${mirrorCapacity(r)} at ${(r / MB).toFixed(0)} MB/s`).join(', ')}` : String(o.mirrorRps)}`,
      ...(o.standbyShare === undefined
        ? []
        : [`- Warm standby fills at \`standby.uplinkShare\` ${o.standbyShare} of each sending site's uplink (the default is 0.05)`]),
      `- Crowd: from the root namespace, step profile of page loads started per second for ${o.seconds} s, seed ${o.seed}; a page load succeeds when the page and every subresource arrive (bodies verified) within ${o.timeoutS} s; each request times out after ${o.timeoutS} s. \`sat\` = ${SAT_FACTOR} × Σ calibrated uplink goodput ÷ mean page-load bytes. Kill set-up: two of the three helpers SIGKILLed at ${o.killAtS} s; blackhole set-up: two helpers' links cut then (host veth down: packets dropped, no reset); blackhole1: one helper's; the helpers killed or cut are those site 1 sends visitors to at that moment first, then bravo and charlie (named in the kill table); origindown: 4 equal members, site 1's origin closed then.`,
      `- Code: ${versions.map(v => v.name).join(' vs ')}`,
      `- Columns: success = page loads within the timeout ÷ started; p50/p99 of successful page loads; first shed = site 1's first redirect after the crowd start; "all seconds ≥ 99% from" = first second (by page-load start) after which every second's page loads succeed ≥ 99%; out MB/s = bytes the namespace sent (host veth rx_bytes), peak of 1 s windows / mean over the crowd; goodput = body bytes of successful requests that ended inside the crowd ÷ its length; efficiency = goodput ÷ min(Σ calibrated uplink goodput, demand) (above 100% when the pages drawn were heavier than the mean); "from N s" = the same once saturated: from N s (a quarter of the crowd, at most 5 s) to the crowd's end, each successful request's body bytes spread over its body time and counted inside that window, bytes still arriving at the end included; CPU = share of the machine's ${cpus().length} CPUs used by the testbed's processes (bench + namespaces; kernel networking not included) / by everything on the machine (other work included), mean over the crowd, the machine's peak 1 s, and in brackets the testbed's share in the second before the crowd (the formed set-up, idle); at 100% the CPU, not the uplinks, limits the set-up.`,
      ''
    ]

    mkdirSync(o.out, { recursive: true })
    let n = 0
    for (const plan of plans) {
      const capacity = plan.sites.reduce((a, s) => a + (calibrated.get(s.uplinkBytesPerSec) ?? 0), 0)
      for (const load of o.loads) {
        const loadsPerSec = load === 'sat' ? (SAT_FACTOR * capacity) / mix.meanBytes : Number(load)
        const loadLabel = load === 'sat' ? `sat (${loadsPerSec.toFixed(1)})` : load
        // --repeat: before and after alternate, so that both see the machine's same moods.
        const vs = plan.reef ? versions : versions.slice(-1)
        for (const { v, rep } of Array.from({ length: o.repeat }, (_, rep) => vs.map(v => ({ v, rep }))).flat()) {
          n++
          const rateLabel = o.repeat > 1 ? `${loadLabel} #${rep + 1}` : loadLabel
          const runId = `${String(n).padStart(2, '0')}-${plan.setup}-${load}${plan.reef && versions.length > 1 ? `-${v.tag ?? (v === versions[0] ? 'before' : 'after')}` : ''}${o.repeat > 1 ? `-r${rep + 1}` : ''}`
          note(`[${n}] ${plan.title}, ${rateLabel} page loads/s${plan.reef ? `, ${v.name}` : ''}`)
          const r = await runScenario(tb, {
            setup: plan.setup,
            uplinkBytesPerSec: o.uplink,
            loadsPerSec,
            seconds: o.seconds,
            timeoutS: o.timeoutS,
            tcLatencyMs: o.tcLatencyMs,
            killAtS: o.killAtS,
            reefRoot: v.root,
            mirrorCapacityRps: mirrorCapacity,
            seed: o.seed,
            runId,
            note,
            ...(o.standby ? { standby: plan.reef ? (v.standby ?? 'off') : 'off' } : {}),
            ...(o.standbyShare === undefined ? {} : { standbyShare: o.standbyShare })
          })
          const s = summarize(r, { version: plan.reef ? v.name : '–', rateLabel, calibrated, meanPageBytes: mix.meanBytes })
          rows.push(s)
          const svg = `timeline-${runId}.svg`
          writeFileSync(
            join(o.out, svg),
            timelineSvg(`${plan.title}, ${rateLabel} page loads/s${plan.reef ? `, ${v.name}` : ''}: success ${(100 * s.success).toFixed(1)}%`, r)
          )
          note(
            `  success ${(100 * s.success).toFixed(1)}% of ${s.started}; goodput ${(s.goodput / MB).toFixed(2)} MB/s (${(100 * s.efficiency).toFixed(0)}%, from ${(s.steady.fromMs / 1000).toFixed(0)} s ${(100 * s.steady.efficiency).toFixed(0)}%); CPU ${(100 * s.cpuTestbed).toFixed(0)}% testbed, ${(100 * s.cpu.mean).toFixed(0)}% machine; ${svg}`
          )
          if (s.hotSet !== undefined) {
            const fills = Object.entries(s.fills).map(
              ([label, c]) =>
                `${label} ${
                  Object.entries(c)
                    .filter(([, n]) => n > 0)
                    .map(([k, n]) => `${k} ${n}`)
                    .join(', ') || 'none'
                }`
            )
            note(`  site 1 → helpers ${(s.hotSet.sentToHelpers / s.hotSet.manifestBytes).toFixed(2)}× the hot set; fills: ${fills.join('; ') || '–'}`)
          }
        }
      }
    }

    const elapsedS = Math.round((Date.now() - started) / 1000)
    const md = [
      ...header,
      markdownTable(rows, { versions: versions.length > 1, timeoutS: o.timeoutS }),
      '',
      ...(rows.some(r => r.kill !== undefined) ? ['Kill and blackhole set-ups:', '', killSection(rows), ''] : []),
      ...(o.standby ? ['Warm standby, the first seconds:', '', standbySection(rows), ''] : []),
      `Per-second success and every figure: ${join(o.out, 'results.json')}; timelines: ${join(o.out, 'timeline-*.svg')}. Run time ${Math.floor(elapsedS / 60)} min ${elapsedS % 60} s.`,
      ''
    ].join('\n')
    if (o.keepLogs) keepLogs(tb.tmpDir, o.out, started)
    writeFileSync(join(o.out, 'report.md'), md)
    writeFileSync(
      join(o.out, 'results.json'),
      JSON.stringify({ options: o, calibrated: Object.fromEntries(calibrated), mix: { ...mix, perPage: undefined }, rows }, null, 2) + '\n'
    )
    process.stdout.write(md)
    return 0
  } catch (err) {
    const dest = keepLogs(tb.tmpDir, o.out, started)
    process.stderr.write(
      `bench crowd --net failed${dest === undefined ? '' : ` (site logs kept in ${dest})`}: ${err instanceof Error ? err.message : String(err)}\n`
    )
    return 1
  } finally {
    await tb.cleanup()
  }
}

/** Copy the sites' logs out of the run's temp dir (it goes with the clean-up); returns where. */
function keepLogs(tmpDir: string, out: string, started: number): string | undefined {
  const logs = join(tmpDir, 'logs')
  if (!existsSync(logs)) return undefined
  const dest = join(out, `logs-${new Date(started).toISOString().replace(/[:.]/g, '-')}`)
  try {
    cpSync(logs, dest, { recursive: true })
    return dest
  } catch {
    return undefined
  }
}
