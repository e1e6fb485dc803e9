/**
 * One crowd on the testbed: make the set-up's namespaces, start its sites (site 1 first; each
 * Reef node bootstraps to those started before it), wait until every site answers and, for
 * Reef, until the consortium has formed and is calm (every node sees N−1 peers, none struck or
 * shedding), then run a browser-like crowd of page loads at site 1 from the root namespace
 * while sampling what every namespace sends; in the `kill` set-up, SIGKILL two helpers part-way
 * through. Then stop everything and remove the namespaces. Bounded in time throughout.
 *
 * Set-ups: origin (the origin alone), nginx (nginx proxy_cache + origin), alone (one Reef
 * node), N (N equal Reef members, 2..16), fat3 (site 1 + 3 Reef helpers with 10× its uplink),
 * kill (fat3, two of the helpers SIGKILLed at killAtS).
 *
 * The crowd runs in the bench's own process, in the root namespace: its record (every request
 * and page load, tens of thousands of them) stays in memory instead of crossing a pipe, and on
 * a 2-core machine another process would add no CPU. The sampler and the kill timer share its
 * event loop; a busy loop can delay them, but each records the time at which it actually ran.
 */
import { spawnSync } from 'node:child_process'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { runCrowd } from '../../demo/crowd.ts'
import type { CrowdReport } from '../../demo/crowd.ts'
import type { SiteRole } from './control.ts'
import { TESTBED_DOMAIN, testbedDispatcher } from './dispatcher.ts'
import { blogSite } from './page-mix.ts'
import { Sampler } from './sampler.ts'
import type { Sample } from './sampler.ts'
import { SiteProcess } from './site.ts'
import { TestbedError } from './testbed.ts'
import type { Testbed, TestbedSite } from './testbed.ts'

export const LABELS = [
  'alpha',
  'bravo',
  'charlie',
  'delta',
  'echo',
  'foxtrot',
  'golf',
  'hotel',
  'india',
  'juliet',
  'kilo',
  'lima',
  'mike',
  'november',
  'oscar',
  'papa'
] as const
const FAT_MULTIPLE = 10
const FAT_HELPERS = 3
/** Helpers (site indexes) SIGKILLed in the kill set-up: two of the three. */
const KILLED = [2, 3]
const POLL_MS = 200

export interface PlannedSite {
  index: number
  label: string
  role: SiteRole
  uplinkBytesPerSec: number
}

export interface SetupPlan {
  setup: string
  title: string
  reef: boolean
  sites: PlannedSite[]
  /** Site indexes SIGKILLed during the crowd. */
  killed: number[]
  /** Site indexes whose link is cut during the crowd (host veth down: packets dropped, no reset). */
  cut: number[]
  /** Site 1's origin closes during the crowd (its node lives on). */
  originDown?: boolean
}

/** What a set-up name means, or a RangeError naming the valid ones. */
/**
 * The helpers to kill or cut: as many as `planned`, the ones site 1 sends visitors to now first
 * (from its status: its session's helpers, by their mirror host), then the planned ones.
 */
export function servingFirst(planned: readonly number[], sites: readonly PlannedSite[], status: Record<string, unknown> | undefined): number[] {
  const helpers = (status?.session as { helpers?: Array<{ siteBase?: unknown; down?: unknown }> } | null | undefined)?.helpers ?? []
  const serving: number[] = []
  for (const h of helpers) {
    if (typeof h.siteBase !== 'string' || h.down === true) continue
    let host = ''
    try {
      host = new URL(h.siteBase).hostname
    } catch {
      continue
    }
    const k = sites.findIndex((s, i) => i > 0 && host.includes(`.mirror-${s.label}.`))
    if (k > 0 && !serving.includes(k + 1)) serving.push(k + 1)
  }
  return [...serving, ...planned.filter(i => !serving.includes(i))].slice(0, planned.length)
}

export function planSetup(setup: string, uplinkBytesPerSec: number): SetupPlan {
  const site = (index: number, role: SiteRole, uplink = uplinkBytesPerSec): PlannedSite => ({
    index,
    label: LABELS[index - 1] ?? `site${index}`,
    role,
    uplinkBytesPerSec: uplink
  })
  if (setup === 'origin') return { setup, title: 'origin alone', reef: false, sites: [site(1, 'origin')], killed: [], cut: [] }
  if (setup === 'nginx') return { setup, title: 'nginx + proxy_cache', reef: false, sites: [site(1, 'nginx')], killed: [], cut: [] }
  if (setup === 'alone') return { setup, title: 'Reef alone', reef: true, sites: [site(1, 'reef')], killed: [], cut: [] }
  if (setup === 'fat3' || setup === 'kill' || setup === 'blackhole' || setup === 'blackhole1') {
    const sites = [site(1, 'reef'), ...Array.from({ length: FAT_HELPERS }, (_, k) => site(k + 2, 'reef', uplinkBytesPerSec * FAT_MULTIPLE))]
    const title = `Reef, 1 + ${FAT_HELPERS} helpers with ${FAT_MULTIPLE}× uplink`
    if (setup === 'kill') return { setup, title: `${title}, ${KILLED.length} killed`, reef: true, sites, killed: KILLED, cut: [] }
    if (setup === 'blackhole') return { setup, title: `${title}, ${KILLED.length} blackholed`, reef: true, sites, killed: [], cut: KILLED }
    // Issue "Never worse than no Reef", item 2: one helper blackholed.
    if (setup === 'blackhole1') return { setup, title: `${title}, 1 blackholed`, reef: true, sites, killed: [], cut: [KILLED[0]!] }
    return { setup, title, reef: true, sites, killed: [], cut: [] }
  }
  if (setup === 'origindown') {
    return {
      setup,
      title: "Reef, 4 equal members, site 1's origin down",
      reef: true,
      sites: Array.from({ length: 4 }, (_, k) => site(k + 1, 'reef')),
      killed: [],
      cut: [],
      originDown: true
    }
  }
  const n = Number(setup)
  if (Number.isInteger(n) && n >= 2 && n <= LABELS.length) {
    return { setup, title: `Reef, ${n} equal members`, reef: true, sites: Array.from({ length: n }, (_, k) => site(k + 1, 'reef')), killed: [], cut: [] }
  }
  throw new RangeError(
    `unknown set-up "${setup}" (origin, nginx, alone, fat3, kill, blackhole, blackhole1, origindown, or a consortium size 2..${LABELS.length})`
  )
}

export interface ScenarioOptions {
  setup: string
  /** Uplink of site 1 and of equal members, bytes/s. */
  uplinkBytesPerSec: number
  loadsPerSec: number
  seconds: number
  /** A page load must complete within this to count; also each request's timeout. */
  timeoutS: number
  tcLatencyMs: number
  killAtS: number
  /** Checkout whose Reef code the nodes run. */
  reefRoot: string
  /** Mirror capacity of a site given its uplink (requests/s). */
  mirrorCapacityRps: (uplinkBytesPerSec: number) => number
  seed?: number
  /** Names this run's log files. */
  runId: string
  meshTimeoutMs?: number
  /** Sampling before the crowd starts and after its last request (a baseline and the tail). Default 1000 and 2000. */
  preRollMs?: number
  postRollMs?: number
  note?: (line: string) => void
  /**
   * Warm standby arms: both get the same calm traffic first (every public object of site 1,
   * once, so that its hot set is known); 'on' then waits until site 1's standbys hold its hot
   * set, 'off' runs nodes that name none. Undefined: no calm phase, the code's default.
   */
  standby?: 'on' | 'off'
  /** `standby.uplinkShare` of every Reef site (undefined: the code's default, 5 %). */
  standbyShare?: number
}

/** What the calm phase cost and how long the standbys took to fill (standby 'on'). */
export interface StandbyFill {
  /** From the end of the calm traffic until every standby held ≥ STANDBY_HELD_SHARE of the hot set. */
  fillMs: number
  /** Bytes site 1 sent over libp2p meanwhile, and their rate as a share of its uplink. */
  p2pBytes: number
  bytesPerSec: number
  shareOfUplink: number
  manifestBytes: number
  heldBytes: number[]
}

export interface ScenarioSite extends PlannedSite {
  address: string
  hostVeth: string
  logFile: string
}

export interface ScenarioResult {
  plan: SetupPlan
  sites: ScenarioSite[]
  loadsPerSec: number
  seconds: number
  timeoutS: number
  /** Epoch ms: the crowd's window is [crowdStart, crowdStart + seconds]. */
  crowdStart: number
  crowdEnd: number
  /** When the crowd's last request ended. */
  finishedAt: number
  report: CrowdReport
  samples: Sample[]
  /** Epoch ms of site 1's first redirect (Reef). */
  firstShedAt: number | undefined
  /** Site 1's node.status() after the crowd (Reef). */
  site1Status: Record<string, unknown> | undefined
  /** Site 1's node.status() every TRACE_MS during the crowd (Reef), with the time it was taken. */
  site1Trace: Array<{ at: number; status: Record<string, unknown> }>
  /** Per helper (label): its mirror's fills by where from, after the crowd (MirrorFill.counts). */
  fills: Record<string, Record<string, number>>
  killedAt: number | undefined
  killedLabels: string[]
  /** Whether the Reef code took the `uplink` config section (else origin.bytesPerSec). */
  uplinkSection: boolean | undefined
  standbyFill?: StandbyFill | undefined
  /** Ms from the first site's start until the crowd could begin. */
  setUpMs: number
}

/** Share of site 1's hot set each standby must hold before a standby arm's crowd starts. */
const STANDBY_HELD_SHARE = 0.95
/** How long site 1's standby manifest must stay the same before its standbys count as filled (it is re-published at most every 5 s). */
const STANDBY_STABLE_MS = 6_000
/** How often site 1's status is read during the crowd, in ms. */
const TRACE_MS = 500

async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new TestbedError(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

/** What `startSites` needs of a scenario's options. */
export type StartOptions = Pick<ScenarioOptions, 'tcLatencyMs' | 'reefRoot' | 'mirrorCapacityRps' | 'runId' | 'meshTimeoutMs' | 'standby' | 'standbyShare'>

/** The sites of a set-up, while they run: `stopSites` ends them (also after a failed start). */
export interface RunningSites {
  procs: SiteProcess[]
  made: TestbedSite[]
}

/**
 * Make the set-up's namespaces, start its site processes (each Reef node bootstrapping from
 * those before it), wait until every site answers over the bridge and, for Reef, until the
 * consortium has formed and is calm. Fills `into` as it goes, so that `stopSites` can end
 * whatever started when this throws.
 */
export async function startSites(tb: Testbed, plan: SetupPlan, opts: StartOptions, dispatcher: Dispatcher, into: RunningSites): Promise<void> {
  const { procs, made } = into
  for (const s of plan.sites) made.push(await tb.addSite(s.index, s.uplinkBytesPerSec, opts.tcLatencyMs))
  tb.writeHosts(
    new Map(
      plan.sites.flatMap(s => [
        [`${s.label}.${TESTBED_DOMAIN}`, tb.address(s.index)],
        [`mirror-${s.label}.${TESTBED_DOMAIN}`, tb.address(s.index)]
      ])
    )
  )
  const bootstrap: string[] = []
  for (const [k, s] of plan.sites.entries()) {
    const site = made[k]!
    const p = await SiteProcess.start(
      tb,
      site,
      {
        role: s.role,
        label: s.label,
        address: site.address,
        seed: s.index,
        uplinkBytesPerSec: s.uplinkBytesPerSec,
        ...(s.role === 'reef' && opts.standby !== undefined ? { standbyReplicas: opts.standby === 'on' ? 2 : 0 } : {}),
        ...(s.role === 'reef' && opts.standbyShare !== undefined ? { standbyUplinkShare: opts.standbyShare } : {}),
        ...(s.role === 'reef'
          ? {
              reefRoot: opts.reefRoot,
              bootstrap: [...bootstrap],
              dataDir: tb.dir(`data/${opts.runId}-${s.label}`),
              mirrorCapacityRps: opts.mirrorCapacityRps(s.uplinkBytesPerSec)
            }
          : {})
      },
      { logName: `${opts.runId}-${s.label}` }
    )
    procs.push(p)
    bootstrap.push(...(p.ready?.multiaddrs ?? []))
  }
  // Every site answers HTTP from the root namespace (over the bridge).
  for (const s of plan.sites) {
    const url = `http://${s.label}.${TESTBED_DOMAIN}/reef-testbed-probe`
    await until(
      `${url} to answer`,
      async () => {
        try {
          const res = await request(url, { dispatcher, signal: AbortSignal.timeout(2_000) })
          await res.body.dump()
          return true
        } catch {
          return false
        }
      },
      30_000
    )
  }
  if (plan.reef) {
    const n = plan.sites.length
    let last = ''
    try {
      await until(
        'the consortium to form and be calm',
        async () => {
          const probes = await Promise.all(procs.map(async p => p.probe()))
          last = probes
            .map((x, k) => `${plan.sites[k]?.label}: ${x.peers ?? '?'} peers, ${x.state ?? '?'}${x.shedding === true ? ', shedding' : ''}`)
            .join('; ')
          return probes.every(x => (x.peers ?? 0) >= n - 1 && x.state === 'normal' && x.shedding !== true)
        },
        opts.meshTimeoutMs ?? 60_000
      )
    } catch (err) {
      throw new TestbedError(`${(err as Error).message} (${last}); logs: ${procs.map(p => p.logFile).join(', ')}`)
    }
  }
}

/** End every site process of `running` and remove its namespaces. */
export async function stopSites(tb: Testbed, running: RunningSites): Promise<void> {
  await Promise.allSettled(
    running.procs.map(async p => {
      await p.stop(5_000)
    })
  )
  // Nothing of this set-up may still run when the next one starts (nginx workers included).
  for (const s of running.made) {
    await until(`the processes in ${s.netns} to end`, async () => (await tb.pidsIn(s.index)).length === 0, 10_000).catch(() => {})
    await tb.removeSite(s.index)
  }
}

export async function runScenario(tb: Testbed, opts: ScenarioOptions): Promise<ScenarioResult> {
  const plan = planSetup(opts.setup, opts.uplinkBytesPerSec)
  const note = opts.note ?? (() => {})
  const seed = opts.seed ?? 42
  const running: RunningSites = { procs: [], made: [] }
  const { procs, made } = running
  const sites = new Map(plan.sites.map(s => [s.label, tb.address(s.index)]))
  const dispatcher = testbedDispatcher({ sites, prefix: tb.prefix }, { connectTimeoutMs: opts.timeoutS * 1000 })
  try {
    const began = Date.now()
    await startSites(tb, plan, opts, dispatcher, running)
    const setUpMs = Date.now() - began
    note(
      `  ${plan.sites.length} site(s) up and calm in ${(setUpMs / 1000).toFixed(1)} s; crowd of ${opts.loadsPerSec.toFixed(1)} page loads/s for ${opts.seconds} s`
    )

    const first = plan.sites[0]!
    const { files, pages, mix } = blogSite(first.index, first.label)
    const expected = new Map([...files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    const served = procs[0]?.ready?.pages ?? []
    if (served.join() !== pages.join()) throw new TestbedError(`site ${first.label} serves pages ${served.join(', ')}, not the blog's ${pages.join(', ')}`)
    const maxPerLoad = Math.max(...mix.perPage.map(p => p.requests))

    let standbyFill: StandbyFill | undefined
    if (opts.standby !== undefined) {
      // Calm traffic: every public object of site 1, once, one at a time.
      for (const path of expected.keys()) {
        const res = await request(`http://${first.label}.${TESTBED_DOMAIN}${path}`, { dispatcher, signal: AbortSignal.timeout(10_000) })
        await res.body.dump()
      }
      const calmAt = Date.now()
      type St = { standby?: { manifestBytes?: number; standbys?: Array<{ heldBytes: number }> }; uplink?: { sent?: { p2p?: number } } }
      const status = async (): Promise<St> => ((await procs[0]!.probe(true)).status as St) ?? {}
      const p2pBefore = (await status()).uplink?.sent?.p2p ?? 0
      if (opts.standby === 'on' && plan.reef) {
        let last: St = {}
        // The record names the hot set as it was when published: it is re-published (at most
        // every 5 s) as the calm traffic grows it, so the manifest must have settled too.
        let stableSince = Date.now()
        let lastManifest = -1
        await until(
          "site 1's standbys to hold its hot set",
          async () => {
            last = await status()
            const sb = last.standby
            const m = sb?.manifestBytes ?? 0
            if (m !== lastManifest) {
              lastManifest = m
              stableSince = Date.now()
            }
            return (
              m > 0 &&
              Date.now() - stableSince >= STANDBY_STABLE_MS &&
              (sb?.standbys?.length ?? 0) > 0 &&
              sb!.standbys!.every(x => x.heldBytes >= STANDBY_HELD_SHARE * m)
            )
          },
          180_000
        )
        const fillMs = Date.now() - calmAt
        const p2pBytes = (last.uplink?.sent?.p2p ?? 0) - p2pBefore
        standbyFill = {
          fillMs,
          p2pBytes,
          bytesPerSec: p2pBytes / Math.max(0.001, fillMs / 1000),
          shareOfUplink: p2pBytes / Math.max(0.001, fillMs / 1000) / first.uplinkBytesPerSec,
          manifestBytes: last.standby?.manifestBytes ?? 0,
          heldBytes: (last.standby?.standbys ?? []).map(x => x.heldBytes)
        }
        note(
          `  standbys filled in ${(fillMs / 1000).toFixed(1)} s: ${(p2pBytes / 1e6).toFixed(2)} MB over libp2p (${(standbyFill.bytesPerSec / 1e3).toFixed(0)} KB/s, ${(100 * standbyFill.shareOfUplink).toFixed(1)}% of the uplink) for a hot set of ${((last.standby?.manifestBytes ?? 0) / 1e6).toFixed(2)} MB`
        )
      }
      // Both arms: site 1 back to normal before the crowd.
      await until('site 1 to be calm again', async () => (await procs[0]!.probe()).state === 'normal', 30_000)
    }

    const pids = [process.pid, ...(await Promise.all(made.map(async s => tb.pidsIn(s.index)))).flat()]
    const sampler = new Sampler(
      made.map(s => () => tb.sentBytes(s)),
      pids
    )
    sampler.start()
    await new Promise(resolve => setTimeout(resolve, opts.preRollMs ?? 1_000))
    const crowdStart = Date.now()
    // Site 1's own view while the crowd lasts, to explain the outcome (its shed shares, what it
    // sends, its helpers' weights and health): read over IPC, off the measured path.
    const site1Trace: ScenarioResult['site1Trace'] = []
    const tracer = plan.reef
      ? setInterval(() => {
          void procs[0]!.probe(true, TRACE_MS).then(
            p => {
              if (p.status !== undefined) site1Trace.push({ at: Date.now() - crowdStart, status: p.status })
            },
            () => {}
          )
        }, TRACE_MS)
      : undefined
    let killedAt: number | undefined
    let cutNow: number[] = plan.cut
    let killedNow: number[] = plan.killed
    const killTimer =
      plan.killed.length === 0 && plan.cut.length === 0 && plan.originDown !== true
        ? undefined
        : setTimeout(() => {
            killedAt = Date.now()
            // The helpers killed or cut are the ones serving now (site 1's latest accept), as many
            // as planned: one helper's offer may cover the need, and losing an idle one tests nothing.
            const now = site1Trace.at(-1)?.status
            killedNow = servingFirst(plan.killed, plan.sites, now)
            cutNow = servingFirst(plan.cut, plan.sites, now)
            for (const i of killedNow) procs[i - 1]?.kill()
            // A cut link: the helper's host-side veth goes down, so whatever it is sent is dropped
            // without a reset (its process lives on; the namespace and link go at clean-up).
            for (const i of cutNow) spawnSync('ip', ['link', 'set', 'dev', made[i - 1]!.hostVeth, 'down'], { stdio: 'ignore', timeout: 5_000 })
            if (plan.originDown === true) void procs[0]?.stopOrigin().catch(() => {})
          }, opts.killAtS * 1000)
    let report: CrowdReport
    try {
      report = await runCrowd({
        siteUrl: `http://${first.label}.${TESTBED_DOMAIN}`,
        pages,
        profile: { kind: 'step', rps: opts.loadsPerSec, durationMs: opts.seconds * 1000 },
        pace: 'visits',
        expected,
        dispatcher,
        seed,
        maxRequests: Math.ceil(opts.loadsPerSec * opts.seconds * maxPerLoad) + 1_000,
        // A visit started at the end may still load its subresources; past its timeout it failed anyway.
        maxDurationMs: (opts.seconds + opts.timeoutS + 1) * 1000,
        maxInFlight: 20_000,
        requestTimeoutMs: opts.timeoutS * 1000
      })
    } finally {
      clearTimeout(killTimer)
      clearInterval(tracer)
    }
    await new Promise(resolve => setTimeout(resolve, opts.postRollMs ?? 2_000))
    const samples = sampler.stop()
    const finishedAt = Math.max(crowdStart, ...report.results.map(r => r.end))
    let firstShedAt: number | undefined
    let site1Status: Record<string, unknown> | undefined
    const fills: Record<string, Record<string, number>> = {}
    if (plan.reef) {
      const p = await procs[0]!.probe(true)
      firstShedAt = p.firstShedAt
      site1Status = p.status
      // What each helper's mirror filled, and from where (a killed helper answers nothing).
      const probes = await Promise.all(procs.slice(1).map(async q => q.probe().catch(() => undefined)))
      probes.forEach((q, k) => {
        const label = plan.sites[k + 1]?.label
        if (q?.fills !== undefined && label !== undefined) fills[label] = q.fills
      })
    }
    return {
      plan,
      sites: plan.sites.map((s, k) => ({ ...s, address: made[k]!.address, hostVeth: made[k]!.hostVeth, logFile: procs[k]?.logFile ?? '' })),
      loadsPerSec: opts.loadsPerSec,
      seconds: opts.seconds,
      timeoutS: opts.timeoutS,
      crowdStart,
      crowdEnd: crowdStart + opts.seconds * 1000,
      finishedAt,
      report,
      samples,
      firstShedAt,
      site1Status,
      site1Trace,
      fills,
      killedAt,
      killedLabels: [...killedNow, ...cutNow].map(i => plan.sites[i - 1]?.label ?? ''),
      uplinkSection: procs[0]?.ready?.uplinkSection,
      standbyFill,
      setUpMs
    }
  } finally {
    await dispatcher.destroy().catch(() => {})
    await stopSites(tb, running)
  }
}
