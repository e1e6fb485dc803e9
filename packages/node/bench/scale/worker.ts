/**
 * One process of the scale harness (run.ts): hosts a share of the consortium's Reef nodes, all
 * real (libp2p over loopback TCP, gossipsub, kad-dht, ledger, governance), behind one demo origin
 * they share, and answers the coordinator's questions over IPC. Observations are taken here, in
 * the process that receives the records, with Date.now() (one clock for every process of the
 * machine).
 */
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { pino } from 'pino'
import { startDemoOrigin } from '../../demo/origin-site.ts'
import type { DemoOriginOptions } from '../../demo/origin-site.ts'
import { ReefNode, parseConfig } from '../../src/index.ts'
import type { ReefConfigInput } from '../../src/index.ts'
import { loadTopic } from '@reef/protocol'
import type { LoadReport } from '@reef/protocol'
import type { FromWorker, HelpProgress, NodeSpec, ToWorker, WorkerNodeSample } from './messages.ts'

const send = (m: FromWorker): void => {
  process.send?.(m)
}

interface Hosted {
  spec: NodeSpec
  node: ReefNode
  /**
   * Per author: its state in this node's view, and per state the last VIEW_ENTRIES times the view
   * entered it (and the `ts` of the record that brought it), oldest first: a struck site may go
   * recovering and struck again within a crowd, and the strike is timed by the first.
   */
  view: Map<string, { state: string; entered: Map<string, Array<{ at: number; ts: number }>> }>
  /** Transit of load reports (arrival − ts, ms) since the last sample. */
  transit: number[]
  /** Per watched peer: when this node first held it expelled. */
  expelledAt: Map<string, number>
}

const hosted: Hosted[] = []
/** Records delivered to the hosted nodes since the last sample, by type. */
let recordsByType: Record<string, number> = {}
let origin: Awaited<ReturnType<typeof startDemoOrigin>> | undefined
let cpuMark = process.cpuUsage()
let cpuAt = performance.now()
const watchedExpel = new Set<string>()
/** This process's event-loop delay since the watched expulsion began (every node here waits on it). */
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()
/** REEF_SCALE_DEBUG: labels (m000,m001) of nodes that log at debug level; the run's directory is then kept. */
const DEBUG_NODES = new Set((process.env.REEF_SCALE_DEBUG ?? '').split(',').filter(Boolean))
/** How many entries into each state a view keeps per author (the strike is timed by the first since the crowd began). */
const VIEW_ENTRIES = 8
/** Each node's vote relay counters when the expulsion being watched began. */
const relayMark = new Map<Hosted, RelayCounts>()
type RelayCounts = { relayed: number; fromBelow: number; fallbacks: number }
const relayCounters = (h: Hosted): RelayCounts => {
  const c = h.node.gov?.counters
  return { relayed: c?.votesRelayed ?? 0, fromBelow: c?.votesFromBelow ?? 0, fallbacks: c?.voteRelayFallbacks ?? 0 }
}
const help = new Map<string, HelpProgress>()
let poll: NodeJS.Timeout | undefined

async function start(specs: NodeSpec[], originOpts: DemoOriginOptions, logFile: string): Promise<void> {
  origin = await startDemoOrigin(originOpts)
  const dest = pino.destination({ dest: logFile, sync: false, mkdir: true })
  const root = pino({ level: DEBUG_NODES.size > 0 ? 'debug' : 'warn' }, dest)
  const t0 = Date.now()
  // Start in small batches: a hundred Noise handshakes at once starve one event loop.
  for (let i = 0; i < specs.length; i += 4) {
    await Promise.all(
      specs.slice(i, i + 4).map(async spec => {
        const input: ReefConfigInput = { ...spec.config, origin: { ...spec.config.origin, url: origin!.url } }
        const logger = root.child({ site: spec.label }, { level: DEBUG_NODES.has(spec.label) ? 'debug' : 'warn' })
        const node = await ReefNode.create(parseConfig(input), { logger })
        const h: Hosted = { spec, node, view: new Map(), transit: [], expelledAt: new Map() }
        node.bus.onRecord(r => {
          recordsByType[r.type] = (recordsByType[r.type] ?? 0) + 1
          if (r.type !== 'load-report') return
          const now = Date.now()
          h.transit.push(now - r.ts)
          const state = (r.body as LoadReport).state
          let v = h.view.get(r.author)
          if (v === undefined) h.view.set(r.author, (v = { state: '', entered: new Map() }))
          if (v.state !== state) {
            v.state = state
            const times = v.entered.get(state) ?? []
            times.push({ at: now, ts: r.ts })
            if (times.length > VIEW_ENTRIES) times.shift()
            v.entered.set(state, times)
          }
        })
        await node.start()
        hosted.push(h)
      })
    )
  }
  poll = setInterval(tick, 10)
  poll.unref()
  send({ op: 'started', ms: Date.now() - t0, nodes: hosted.map(h => ({ label: h.spec.label, peerId: h.node.peerId })) })
}

/** Every 10 ms: expulsions applied, help sessions' progress (cheap reads of in-memory state). */
function tick(): void {
  const now = Date.now()
  for (const h of hosted) {
    for (const peer of watchedExpel) if (!h.expelledAt.has(peer) && h.node.gov?.isExpelled(peer) === true) h.expelledAt.set(peer, now)
    const t = help.get(h.spec.label)
    if (t === undefined) continue
    // Times from the node's own records (this poll is late whenever the process is busy): the
    // detector's change to struck, the session's first request, offer and accept events.
    t.struckAt ??= h.node.detector.history.find(c => c.to === 'struck' && c.at >= t.since)?.at
    const own = h.node.help.ownSession
    if (own === undefined) continue
    const first = (kind: string): number | undefined => h.node.help.events.find(e => e.session === own.session && e.kind === kind)?.at
    t.startedAt ??= first('request')
    const accepted = own.helpers.reduce((a, x) => a + x.weightBytesPerSec, 0)
    t.helpers = own.helpers.length
    t.offers = own.offers
    t.needBytes = own.neededBytesPerSec
    t.firstOfferAt ??= first('offer')
    t.firstAcceptAt ??= first('accept')
    // Polled; timed by the latest accept event before it (the accept that made the helpers cover the need).
    if (own.helpers.length > 0 && accepted >= own.neededBytesPerSec)
      t.coveredAt ??= h.node.help.events.findLast(e => e.session === own.session && e.kind === 'accept')?.at ?? now
  }
}

function sample(): { rssBytes: number; heapBytes: number; cpuMs: number; wallMs: number; records: Record<string, number>; nodes: WorkerNodeSample[] } {
  const cpu = process.cpuUsage(cpuMark)
  const wall = performance.now() - cpuAt
  cpuMark = process.cpuUsage()
  cpuAt = performance.now()
  const mem = process.memoryUsage()
  const records = recordsByType
  recordsByType = {}
  const nodes = hosted.map(h => {
    const transit = h.transit
    h.transit = []
    return {
      label: h.spec.label,
      peerId: h.node.peerId,
      livePeers: h.node.peers.live().length,
      connections: h.node.libp2p.getConnections().length,
      topicPeers: h.node.libp2p.services.pubsub.getSubscribers(loadTopic(h.node.config.consortium)).length,
      transit
    }
  })
  return { rssBytes: mem.rss, heapBytes: mem.heapUsed, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: wall, records, nodes }
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.op) {
    case 'start':
      await start(m.specs, m.origin, m.logFile)
      return
    case 'sample':
      send({ op: 'sample', id: m.id, ...sample() })
      return
    case 'view': {
      // Which nodes' view holds `author` in `state`, since when, brought by a record made when.
      const seen = hosted
        .filter(h => h.node.peerId !== m.author)
        .map(h => {
          // When the view first entered that state since `since` (a struck site may be recovering by the time we ask).
          const v = h.view
            .get(m.author)
            ?.entered.get(m.state)
            ?.find(e => e.at >= m.since)
          return v !== undefined && v.at >= m.since ? { label: h.spec.label, at: v.at, ts: v.ts } : { label: h.spec.label }
        })
      send({ op: 'view', id: m.id, seen })
      return
    }
    case 'track-help':
      help.set(m.label, { since: Date.now(), helpers: 0, offers: 0, needBytes: 0 })
      send({ op: 'ok', id: m.id })
      return
    case 'help': {
      const t = help.get(m.label)
      const h = hosted.find(x => x.spec.label === m.label)
      send({ op: 'help', id: m.id, state: h?.node.detector.state ?? 'unknown', ...(t ?? { since: 0, helpers: 0, offers: 0, needBytes: 0 }) })
      return
    }
    case 'watch-expel':
      watchedExpel.add(m.peer)
      for (const h of hosted) relayMark.set(h, relayCounters(h))
      loopDelay.reset()
      send({ op: 'ok', id: m.id })
      return
    case 'expelled':
      send({
        op: 'expelled',
        id: m.id,
        loopDelayMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
        at: hosted
          .filter(h => h.node.peerId !== m.peer)
          .map(h => {
            // When the proposal reached the member and when it voted (its governance events since the proposal).
            const ev = (kinds: string[]): number | undefined => h.node.gov?.events.find(e => e.at >= (m.since ?? 0) && kinds.includes(e.kind))?.at
            const c = relayCounters(h)
            const was = relayMark.get(h) ?? { relayed: 0, fromBelow: 0, fallbacks: 0 }
            return {
              label: h.spec.label,
              at: h.expelledAt.get(m.peer),
              proposalAt: ev(['proposal', 'proposed']),
              votedAt: ev(['voted']),
              relay: { relayed: c.relayed - was.relayed, fromBelow: c.fromBelow - was.fromBelow, fallbacks: c.fallbacks - was.fallbacks }
            }
          })
      })
      return
    case 'propose-expel': {
      const h = hosted.find(x => x.spec.label === m.label)
      if (h?.node.gov === undefined) throw new Error(`no governed node ${m.label} here`)
      const at = Date.now()
      const id = await h.node.gov.proposeExpel(m.peer, m.reason, m.evidence)
      send({ op: 'proposed', id: m.id, at, proposal: id ?? null })
      return
    }
    case 'debug': {
      // Each hosted node's help state and what its load view shows of the others' spare (for diagnosis).
      const now = Date.now()
      send({
        op: 'debug',
        id: m.id,
        nodes: hosted.map(h => {
          const live = h.node.peers.live(now)
          return {
            label: h.spec.label,
            held: h.node.help.heldRequests.length,
            helping: h.node.help.helpingSessions.length,
            live: live.length,
            normalWithSpare: live.filter(e => e.report.state === 'normal' && (e.report.spareBytesPerSec ?? 0) > 0).length,
            spare: h.node.demand.spare(),
            reportedSpareP50: live.map(e => e.report.spareBytesPerSec ?? -1).sort((a, b) => a - b)[Math.floor(live.length / 2)],
            heldRequests: h.node.help.heldRequests,
            offered: h.node.help.events.filter(e => e.kind === 'offered').map(e => e.at)
          }
        })
      })
      return
    }
    case 'height': {
      send({ op: 'height', id: m.id, heights: hosted.map(h => ({ label: h.spec.label, height: h.node.gov?.state?.height ?? -1 })) })
      return
    }
    case 'profile': {
      // A V8 CPU profile of this process over `ms` (the harness's --profile DIR).
      const session = new Session()
      session.connect()
      await session.post('Profiler.enable')
      // A coarser interval costs the profiled process less (the default is about 1 ms).
      if (m.intervalUs !== undefined) await session.post('Profiler.setSamplingInterval', { interval: m.intervalUs })
      await session.post('Profiler.start')
      await new Promise(r => setTimeout(r, m.ms))
      const { profile } = await session.post('Profiler.stop')
      session.disconnect()
      await writeFile(m.file, JSON.stringify(profile))
      send({ op: 'ok', id: m.id })
      return
    }
    case 'stop':
      clearInterval(poll)
      await Promise.allSettled(hosted.map(async h => h.node.stop()))
      await origin?.close()
      send({ op: 'stopped', id: m.id })
      process.exit(0)
  }
}

process.on('message', (m: ToWorker) => {
  handle(m).catch((err: unknown) => {
    send({ op: 'error', id: 'id' in m ? m.id : 0, message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  })
})
process.on('disconnect', () => process.exit(0))
