/**
 * The control loop (SPEC.md §Crowd states, §Help session; README §How it works): every
 * `crowd.tickMs` it samples the demand, moves the crowd detector, sets the shedder's shares and
 * byte budgets, asks the help coordinator and the standby service to act on the state, settles
 * the ledger when a help session ends, looks for cheaters and climbs or descends the relief
 * ladder. Beside the tick it runs the helper watch (every HEALTH_TICK_MS) and the load report.
 *
 * The front can make it strike at once (`strikeNow`): a visitor it is about to refuse, with
 * warm standbys ready to take the crowd, waits for one tick instead of the strike hold.
 */
import type { CrowdState } from '@reef/protocol'
import { SERVING_REPORT_INTERVAL_MS } from '@reef/protocol'
import type { Capacity } from '@reef/governance'
import type { Logger } from 'pino'
import type { ReefConfig } from '../config/config.ts'
import {
  HEALTH_TICK_MS,
  HELPER_FETCH_SHARE,
  RATE_WINDOW_MS,
  RELIEF_LOG_INTERVAL_MS,
  STRIKE_WAIT_MS,
  WARMING_IDLE_GRACE_MS,
  WARMING_MIN_MS,
  WARMING_SHARE
} from '../constants.ts'
import type { HelpCoordinator } from '../help/help-coordinator.ts'
import type { HelperWatch } from '../help/helper-watch.ts'
import type { StandbyService } from '../help/standby.ts'
import type { LedgerService } from '../ledger/service.ts'
import type { HotSet } from '../origin/hot-set.ts'
import type { OriginGate } from '../origin/gate.ts'
import type { CrowdDetector } from '../load/crowd-detector.ts'
import type { DemandMeter } from './demand.ts'
import type { LoadReporter } from './load-reporter.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import type { ReliefLadder } from './relief-ladder.ts'
import type { Shedder } from '../load/shedder.ts'
import type { UplinkMeter } from '../load/uplink-meter.ts'

export interface ControlLoopComponents {
  config: Pick<ReefConfig, 'crowd' | 'origin' | 'uplink' | 'gossip'>
  log: Logger
  demand: Pick<DemandMeter, 'sample' | 'originTarget' | 'need' | 'meanObjectBytes'>
  detector: Pick<CrowdDetector, 'sample' | 'state'>
  gate: Pick<OriginGate<string | null>, 'queued' | 'divert'>
  shedder: Pick<
    Shedder,
    | 'helpers'
    | 'helping'
    | 'active'
    | 'share'
    | 'localOpen'
    | 'reset'
    | 'adapt'
    | 'adaptBytes'
    | 'setRedirectBudget'
    | 'liveHelperBytesPerSec'
    | 'setLocalBudget'
  >
  monitor: Pick<LoadMonitor, 'arrivals' | 'sheddable' | 'fillWaitBytes'>
  uplink: Pick<UplinkMeter, 'rate' | 'totals' | 'pendingP2pBytes' | 'queuedBytes'>
  hotSet: Pick<HotSet, 'isShareable'>
  help: Pick<HelpCoordinator, 'helpingSessions' | 'ownManifestBytes' | 'ownSession' | 'ownSessionId' | 'ownSessionStartedAt' | 'tick'>
  standby: Pick<StandbyService, 'heldBy' | 'ready' | 'tick'>
  ledger: Pick<LedgerService, 'settle' | 'checkUnsigned'>
  relief: Pick<ReliefLadder, 'engageMicroCache' | 'engageExternalMirror' | 'track'>
  helpers: Pick<HelperWatch, 'check' | 'prune' | 'excluded' | 'busy'>
  reporter: Pick<LoadReporter, 'maybeReport'>
  /** Ledger evidence and freeloading become accusations (governed consortia). */
  scanForCheaters: (now: number) => Promise<void>
  /** Mirror fills in progress, by kind (debug logs). */
  fillCounts: () => unknown
}

/**
 * Whether a struck site still holds WARMING_SHARE of its uplink for its helpers' fetches: until
 * it has sent them the hot set once (`sentBytes`, standbys' replicas counted), and only while
 * they are fetching and for at most twice the time the hot set takes to cross that share. Helpers
 * fetch from each other first (SPEC r7) and may hold objects from before, so the site may never
 * send the whole hot set: held back on bytes alone, it kept 0.5 of its 4 MB/s for itself through
 * a whole crowd while no helper fetched anything, shed 93 % of page loads and answered 503.
 */
export function warmingUp(x: {
  helping: boolean
  manifestBytes: number
  sentBytes: number
  sessionAgeMs: number
  /** Fetch-stream bytes/s sent over the last RATE_WINDOW_MS. */
  fetchBytesPerSec: number
  /** Body bytes on fetch streams under way. */
  pendingBytes: number
  targetBps: number
}): boolean {
  if (!x.helping || x.manifestBytes <= x.sentBytes || !(x.targetBps > 0)) return false
  const crossMs = (1000 * x.manifestBytes) / (WARMING_SHARE * x.targetBps)
  if (x.sessionAgeMs > Math.max(WARMING_MIN_MS, 2 * crossMs)) return false
  return x.sessionAgeMs < WARMING_IDLE_GRACE_MS || x.pendingBytes > 0 || x.fetchBytesPerSec > 0
}

export class ControlLoop {
  readonly #c: ControlLoopComponents
  #timers: NodeJS.Timeout[] = []
  #running = false
  #ticking = false
  /** The front is about to refuse a visitor that ready standbys could take: strike in this tick. */
  #forceStrike = false
  #striking: Promise<boolean> | undefined
  /** When the relief state was last logged (debug, once a second while not normal). */
  #reliefLoggedAt = 0
  /** What this node had sent on fetch streams when its current help session began. */
  #p2pAtSessionStart = 0
  #lastOwnSession: string | undefined

  constructor(components: ControlLoopComponents) {
    this.#c = components
  }

  /** Bytes this node sent its helpers on fetch streams in its current help session. */
  get sentToHelpers(): number {
    return this.#c.uplink.totals.p2p - this.#p2pAtSessionStart
  }

  start(): void {
    const c = this.#c.config
    this.#timers.push(
      setInterval(() => {
        void this.tick()
      }, c.crowd.tickMs)
    )
    this.#timers.push(
      setInterval(
        () => {
          void this.#c.reporter.maybeReport()
        },
        Math.min(SERVING_REPORT_INTERVAL_MS, c.gossip.reportIntervalMs)
      )
    )
    this.#timers.push(
      setInterval(() => {
        this.#c.helpers.check()
      }, HEALTH_TICK_MS)
    )
    this.#running = true
  }

  /** Stop the timers (the tick in progress finishes). */
  stop(): void {
    this.#running = false
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
  }

  /** On the way out: release this site's helpers and settle the ledger of its last session. */
  async release(): Promise<void> {
    if (this.#c.help.ownSession !== undefined) await this.#c.help.tick('normal', { rps: 0, bytesPerSec: 0 }).catch(() => {})
    if (this.#lastOwnSession !== undefined) await this.#c.ledger.settle(this.#lastOwnSession)
  }

  /** A refusal while calm: the site is full now (its uplink or its origin), not in a tick. */
  onRefused(): void {
    if (this.#c.detector.state === 'normal' && this.#running) void this.tick()
  }

  /**
   * The front is about to refuse a visitor: strike now if ready standbys can take the crowd
   * (true: helpers take redirects now). Every visitor refused meanwhile waits for the same strike.
   */
  async strikeNow(): Promise<boolean> {
    const { shedder, detector, standby } = this.#c
    if (shedder.helping) return true
    if (this.#striking !== undefined) return this.#striking
    if (detector.state !== 'normal' || !this.#running || standby.ready().length === 0) return false
    this.#striking = (async () => {
      this.#forceStrike = true
      const deadline = Date.now() + STRIKE_WAIT_MS
      while (this.#ticking && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 1))
      await this.tick()
      return shedder.helping
    })().finally(() => {
      this.#striking = undefined
    })
    return this.#striking
  }

  async tick(): Promise<void> {
    if (this.#ticking) return
    this.#ticking = true
    const { config: c, log, demand: meter, detector, shedder, monitor, uplink, help, standby } = this.#c
    try {
      const now = Date.now()
      const { rps: demand, bytesPerSec: demandBps } = meter.sample()
      // Struck without waiting for strikeHoldMs: the origin's queue is full (with demand over the
      // strike share).
      // Struck at once, too, when the front is about to refuse a visitor that ready standbys can
      // take (strikeNow). Without standbys a refusal does not skip the hold: struck on its first
      // refusal, a site asks for help with a need and a hot set it has barely measured.
      const refusing = this.#forceStrike
      this.#forceStrike = false
      const change = detector.sample(demand, now, this.#c.gate.queued >= c.origin.maxConcurrent, refusing)
      if (change !== undefined) {
        log.info({ from: change.from, to: change.to, demandRps: Math.round(demand), demandBytesPerSec: Math.round(demandBps) }, 'crowd state changed')
        // The report saying so goes out now, not at the reporter's next timer: on a busy event
        // loop timers run late (100 members on two cores: the struck report left 0.3–0.6 s after
        // the strike, and the view's p99 followed).
        void this.#c.reporter.maybeReport(now)
      }
      const target = c.crowd.targetShare * c.origin.capacityRps
      const targetBps = c.uplink.targetShare * c.uplink.bytesPerSec
      const state = detector.state
      // Everything this machine sends competes for the uplink: the fetch streams to helpers too.
      // And what helpers fetch goes first: until they hold the hot content they cannot serve the
      // crowd, while what the site keeps for itself competes with their fetches for its uplink
      // (one libp2p connection each against a crowd of HTTP ones). So the site keeps little
      // until its helpers have fetched every manifest object once (each object crosses its
      // uplink about once: help/mirror-fill.ts), and after that it still makes room for the
      // bodies they wait for.
      // Standbys that already hold the hot content need none of it (SPEC.md §Warm standby).
      let held = 0
      for (const h of shedder.helpers) held = Math.max(held, standby.heldBy(h.peer))
      const warming = warmingUp({
        helping: shedder.helping,
        manifestBytes: help.ownManifestBytes,
        sentBytes: uplink.totals.p2p - this.#p2pAtSessionStart + held,
        sessionAgeMs: now - (help.ownSessionStartedAt ?? now),
        fetchBytesPerSec: uplink.rate(RATE_WINDOW_MS, 'p2p'),
        pendingBytes: uplink.pendingP2pBytes,
        targetBps
      })
      const waited = warming ? WARMING_SHARE * targetBps : Math.min(HELPER_FETCH_SHARE * targetBps, uplink.pendingP2pBytes)
      if (state === 'normal') {
        shedder.reset()
      } else {
        shedder.adapt(monitor.arrivals.rate(RATE_WINDOW_MS), monitor.sheddable.rate(RATE_WINDOW_MS), meter.originTarget(target))
        shedder.adaptBytes(uplink.rate(RATE_WINDOW_MS) + Math.max(0, waited - uplink.rate(RATE_WINDOW_MS, 'p2p')), targetBps, demandBps)
        // No more bytes to helpers than they offered.
        shedder.setRedirectBudget(shedder.helping ? shedder.liveHelperBytesPerSec() : undefined)
      }
      // New page loads the site keeps for itself, always — also in the second a crowd arrives,
      // before it is struck: what its uplink can send, less what its helpers' fetches need. A page
      // load commits its images too, so its weight counts when it is admitted, before its bytes
      // reach any queue.
      shedder.setLocalBudget(Math.max(0, targetBps - waited))
      this.#logRelief(now, state, demandBps, warming, waited)
      if (shedder.active) this.#c.gate.divert(tag => tag !== null && this.#c.hotSet.isShareable(tag))
      const need = meter.need(demand, target, demandBps, targetBps)
      await help.tick(state, need, now)
      await standby.tick(now)
      this.#c.helpers.prune(now)
      this.#sessionChanged(help.ownSessionId)
      this.#c.ledger.checkUnsigned(now)
      await this.#c.scanForCheaters(now)
      this.#climb(state, demand, need, now)
    } catch (err) {
      log.error({ err }, 'control tick failed')
    } finally {
      this.#ticking = false
    }
  }

  /** A new own help session starts counting what its helpers fetch; an ended one is settled. */
  #sessionChanged(session: string | undefined): void {
    if (session !== undefined && session !== this.#lastOwnSession) this.#p2pAtSessionStart = this.#c.uplink.totals.p2p
    if (this.#lastOwnSession !== undefined && session !== this.#lastOwnSession) void this.#c.ledger.settle(this.#lastOwnSession)
    this.#lastOwnSession = session
  }

  #climb(state: CrowdState, demand: number, need: Capacity, now: number): void {
    const relief = this.#c.relief
    relief.engageMicroCache(state, demand, now)
    relief.engageExternalMirror(state, need, this.#c.demand.meanObjectBytes())
    relief.track(now)
  }

  #logRelief(now: number, state: CrowdState, demandBps: number, warming: boolean, waited: number): void {
    const { log, uplink, shedder, help } = this.#c
    const helping = help.helpingSessions.some(x => x.accepted && x.releasedAt === undefined)
    if (!(state !== 'normal' || helping) || now - this.#reliefLoggedAt < RELIEF_LOG_INTERVAL_MS || !log.isLevelEnabled('debug')) return
    this.#reliefLoggedAt = now
    if (helping) {
      log.debug(
        {
          sentBps: Math.round(uplink.rate(RATE_WINDOW_MS)),
          mirrorBps: Math.round(uplink.rate(RATE_WINDOW_MS, 'mirror')),
          queued: Math.round(uplink.queuedBytes),
          fillWait: this.#c.monitor.fillWaitBytes,
          fills: this.#c.fillCounts()
        },
        'helping'
      )
    }
    if (state !== 'normal') {
      log.debug(
        {
          state,
          demandBps: Math.round(demandBps),
          sentBps: Math.round(uplink.rate(RATE_WINDOW_MS)),
          p2pBps: Math.round(uplink.rate(RATE_WINDOW_MS, 'p2p')),
          pendingP2p: uplink.pendingP2pBytes,
          queued: Math.round(uplink.queuedBytes),
          warming,
          waited: Math.round(waited),
          share: Number(shedder.share.toFixed(2)),
          localOpen: shedder.localOpen,
          excluded: this.#c.helpers.excluded,
          busy: this.#c.helpers.busy
        },
        'relief'
      )
    }
  }
}
