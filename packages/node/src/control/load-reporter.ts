/**
 * Load gossip (SPEC.md §load-report): the node publishes a signed load report on its
 * consortium's load topic — its state, demand, declared uplink, what it sends, what it can
 * spare and what it waits to send:
 * - every SERVING_REPORT_INTERVAL_MS while it serves a help session, to each beneficiary alone (a
 *   direct record: a beneficiary stops sending clients to a helper it has not heard from for
 *   HELPER_SILENCE_MS, and nobody else needs five reports a second: gossiped, each helper's went
 *   round the whole consortium five times a second);
 * - every report interval while its site is struck or recovering, or it serves;
 * - in calm times (r4 calm cadence), every members ÷ CALM_REPORTS_PER_SEC seconds (between its
 *   interval and MAX_CALM_REPORT_INTERVAL_MS), so that a member's gossip does not grow with the
 *   consortium; at its interval while any live peer is an r3 node (no `nextReportMs`), which
 *   would drop it after its own expiry;
 * - every report interval for its first REPORT_WARMUP_MS (a newcomer is news);
 * - at once (SERVING_REPORT_INTERVAL_MS apart) when its state changes, and within its interval
 *   when its spare bytes/s moved by more than REPORT_CHANGE_SHARE.
 * Each report says by when the next will come (`nextReportMs`).
 */
import { CALM_REPORTS_PER_SEC, MAX_CALM_REPORT_INTERVAL_MS, REPORT_CHANGE_SHARE, SERVING_REPORT_INTERVAL_MS, loadTopic } from '@reef/protocol'
import type { LoadReport } from '@reef/protocol'
import type { ReefConfig } from '../config/config.ts'
import { MAX_REPORTED_HELPING, RATE_WINDOW_MS, REPORT_EARLY_MS, REPORT_WARMUP_MS } from '../constants.ts'
import { sendOrPublish } from '../p2p/record-bus.ts'
import type { RecordBus } from '../p2p/record-bus.ts'
import type { StandbyService } from '../help/standby.ts'
import type { DemandMeter } from './demand.ts'
import type { CrowdDetector } from '../load/crowd-detector.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import type { UplinkMeter } from '../load/uplink-meter.ts'
import type { PeerTable } from '../p2p/peer-table.ts'

export interface LoadReporterComponents {
  config: Pick<ReefConfig, 'consortium' | 'site' | 'mirror' | 'origin' | 'uplink' | 'gossip'>
  bus: Pick<RecordBus, 'publish'> & Partial<Pick<RecordBus, 'sendTo'>>
  monitor: Pick<LoadMonitor, 'originStarted' | 'helpingRates'>
  uplink: Pick<UplinkMeter, 'rate' | 'queuedBytes'>
  detector: Pick<CrowdDetector, 'state'>
  demand: Pick<DemandMeter, 'last' | 'spare'>
  standby: Pick<StandbyService, 'standingBy'>
  /** The beneficiaries of the help sessions this node serves now (accepted, not released). */
  servingFor: () => string[]
  /** The live view: its size sets the calm interval. */
  peers: Pick<PeerTable, 'live'>
}

/** r4: the calm report interval in a consortium of `members` (this node included), ms. */
export function calmIntervalMs(configuredMs: number, members: number): number {
  const spread = Math.round((members * 1000) / CALM_REPORTS_PER_SEC)
  return Math.max(configuredMs, Math.min(spread, MAX_CALM_REPORT_INTERVAL_MS))
}

export class LoadReporter {
  readonly #c: LoadReporterComponents
  #lastAt = 0
  /** When the last serving report went to the beneficiaries. */
  #lastDirectAt = 0
  #last: { state: LoadReport['state']; spareBytesPerSec: number } | undefined
  /** When this node first reported: it reports at its interval for REPORT_WARMUP_MS after. */
  #firstAt: number | undefined

  constructor(components: LoadReporterComponents) {
    this.#c = components
  }

  /** The interval the reports are due at now, in ms. */
  get intervalMs(): number {
    return this.#intervalAt(Date.now())
  }

  #intervalAt(now: number): number {
    const every = this.#c.config.gossip.reportIntervalMs
    if (this.#c.detector.state !== 'normal' || this.#c.servingFor().length > 0) return every
    // A node that just started is news: its first reports may reach few peers (its connections
    // are still being made), and the others learn of it within seconds, not a calm interval.
    if (this.#firstAt === undefined || now - this.#firstAt < REPORT_WARMUP_MS) return every
    return this.#calmMs()
  }

  /** Publish the load report if one is due: its interval passed, or what it says changed. */
  async maybeReport(now = Date.now()): Promise<void> {
    const beneficiaries = this.#c.servingFor()
    let body: LoadReport | undefined
    if (beneficiaries.length > 0 && now - this.#lastDirectAt >= SERVING_REPORT_INTERVAL_MS - REPORT_EARLY_MS) {
      this.#lastDirectAt = now
      body = { ...this.body(), nextReportMs: this.#calmMs() }
      await Promise.all(beneficiaries.map(async b => this.#sendTo(b, body!)))
    }
    const since = now - this.#lastAt
    if (since < SERVING_REPORT_INTERVAL_MS - REPORT_EARLY_MS) return
    // Decided on the state and the spare alone; the whole body is built only when it goes out.
    const last = this.#last
    const stateChanged = last === undefined || last.state !== this.#c.detector.state
    const spare = this.#c.demand.spare().bytesPerSec
    const spareMoved = last !== undefined && Math.abs(spare - last.spareBytesPerSec) > REPORT_CHANGE_SHARE * Math.max(spare, last.spareBytesPerSec)
    const due =
      stateChanged || (spareMoved && since >= this.#c.config.gossip.reportIntervalMs - REPORT_EARLY_MS) || since >= this.#intervalAt(now) - REPORT_EARLY_MS
    if (!due) return
    await this.#publish(body ?? this.body(), now)
  }

  /** Beneficiaries a serving report is on its way to (a slow one gets no second until the first is through). */
  readonly #sending = new Set<string>()

  async #sendTo(beneficiary: string, body: LoadReport): Promise<void> {
    if (this.#sending.has(beneficiary)) return
    this.#sending.add(beneficiary)
    try {
      await sendOrPublish(this.#c.bus, beneficiary, loadTopic(this.#c.config.consortium), 'load-report', body)
    } finally {
      this.#sending.delete(beneficiary)
    }
  }

  /**
   * What `nextReportMs` promises: the longest this node may wait before its next report, in any
   * state — the calm interval. Struck, serving or warming up it reports more often, but each of
   * those ends without a report (a session released, the warm-up over), and the next report then
   * comes a calm interval later: promising the short interval made its peers drop it from their
   * views until then.
   */
  #calmMs(): number {
    const every = this.#c.config.gossip.reportIntervalMs
    const live = this.#c.peers.live()
    if (live.some(e => e.report.nextReportMs === undefined)) return every
    return calmIntervalMs(every, live.length + 1)
  }

  async #publish(body: LoadReport, now: number): Promise<void> {
    this.#firstAt ??= now
    this.#lastAt = now
    this.#last = { state: body.state, spareBytesPerSec: body.spareBytesPerSec ?? 0 }
    await this.#c.bus.publish(loadTopic(this.#c.config.consortium), 'load-report', { ...body, nextReportMs: this.#calmMs() })
  }

  /** What this node reports now. */
  body(): LoadReport {
    const { config: c, monitor: m, uplink, demand } = this.#c
    const spare = demand.spare()
    return {
      site: c.site.label,
      siteUrl: c.site.publicUrl,
      mirrorUrl: c.mirror.publicUrl,
      state: this.#c.detector.state,
      capacityRps: Math.round(c.origin.capacityRps),
      demandRps: Math.round(demand.last.rps),
      originRps: Math.round(m.originStarted.rate(RATE_WINDOW_MS)),
      spareRps: spare.rps,
      helping: m.helpingRates().slice(0, MAX_REPORTED_HELPING),
      uplinkBytesPerSec: c.uplink.bytesPerSec,
      sentBytesPerSec: Math.round(uplink.rate(RATE_WINDOW_MS)),
      spareBytesPerSec: spare.bytesPerSec,
      demandBytesPerSec: Math.round(demand.last.bytesPerSec),
      // What this node's uplink owes now: bytes queued to send. Not the mirrored objects clients
      // wait for while it fetches them: they wait on the struck site's uplink (SPEC.md, Queues).
      queuedBytes: Math.round(uplink.queuedBytes),
      standingBy: this.#c.standby.standingBy()
    }
  }

  /** Publish a report now. */
  async report(now = Date.now()): Promise<void> {
    await this.#publish(this.body(), now)
  }
}
