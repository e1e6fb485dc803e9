/**
 * Load gossip (SPEC.md §load-report): the node publishes a signed load report every report
 * interval on its consortium's load topic — its state, demand, declared uplink, what it sends,
 * what it can spare and what it waits to send — and every SERVING_REPORT_INTERVAL_MS while it
 * serves a help session (a beneficiary stops sending clients to a helper it has not heard from
 * for HELPER_SILENCE_MS).
 */
import { SERVING_REPORT_INTERVAL_MS, loadTopic } from '@reef/protocol'
import type { LoadReport } from '@reef/protocol'
import type { ReefConfig } from '../config/config.ts'
import { MAX_REPORTED_HELPING, RATE_WINDOW_MS, REPORT_EARLY_MS } from '../constants.ts'
import type { RecordBus } from '../p2p/record-bus.ts'
import type { StandbyService } from '../help/standby.ts'
import type { DemandMeter } from './demand.ts'
import type { CrowdDetector } from '../load/crowd-detector.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import type { UplinkMeter } from '../load/uplink-meter.ts'

export interface LoadReporterComponents {
  config: Pick<ReefConfig, 'consortium' | 'site' | 'mirror' | 'origin' | 'uplink' | 'gossip'>
  bus: Pick<RecordBus, 'publish'>
  monitor: Pick<LoadMonitor, 'originStarted' | 'helpingRates'>
  uplink: Pick<UplinkMeter, 'rate' | 'queuedBytes'>
  detector: Pick<CrowdDetector, 'state'>
  demand: Pick<DemandMeter, 'last' | 'spare'>
  standby: Pick<StandbyService, 'standingBy'>
  /** Whether this node serves an accepted help session now. */
  serving: () => boolean
}

export class LoadReporter {
  readonly #c: LoadReporterComponents
  #lastAt = 0

  constructor(components: LoadReporterComponents) {
    this.#c = components
  }

  /** The interval the reports are due at now, in ms. */
  get intervalMs(): number {
    const every = this.#c.config.gossip.reportIntervalMs
    return this.#c.serving() ? Math.min(SERVING_REPORT_INTERVAL_MS, every) : every
  }

  /** Publish the load report if one is due. */
  async maybeReport(now = Date.now()): Promise<void> {
    if (now - this.#lastAt < this.intervalMs - REPORT_EARLY_MS) return
    this.#lastAt = now
    await this.report()
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

  async report(): Promise<void> {
    await this.#c.bus.publish(loadTopic(this.#c.config.consortium), 'load-report', this.body())
  }
}
