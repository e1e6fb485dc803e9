/**
 * What a site's visitors ask of it and what it can spare for others (SPEC.md §Capacity in
 * bytes, §Crowd states): the demand on its origin and its uplink, the need it asks helpers to
 * take, its uplink as a helper sees it, and the capacity it offers other sites. It only reads:
 * the control loop samples it every tick, the load report and the status view read the sample.
 */
import type { Capacity } from '@reef/governance'
import type { CrowdState } from '@reef/protocol'
import type { ReefConfig } from '../config/config.ts'
import {
  BACKLOG_SECONDS,
  DEFAULT_MEAN_OBJECT_BYTES,
  MAX_MICRO_CACHE_SHARE,
  RATE_WINDOW_MS,
  REQUEST_DEMAND_WINDOW_MS,
  STANDBY_CALM_SHARE
} from '../constants.ts'
import type { PeerTable } from '../p2p/peer-table.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import type { Shedder } from '../load/shedder.ts'
import type { UplinkMeter } from '../load/uplink-meter.ts'

/** The uplink as a helper sees it. */
export interface UplinkState {
  /** Bytes/s it may send for others in all: its target less its own site's traffic. */
  budgetBytesPerSec: number
  /** Sending at its target, or holding more than BACKLOG_SECONDS of it unsent for a whole second. */
  saturated: boolean
  /** Backed up while sending below its target: the uplink is slower than declared. */
  slowerThanDeclared: boolean
}

export interface DemandComponents {
  config: Pick<ReefConfig, 'site' | 'origin' | 'uplink' | 'mirror'>
  monitor: Pick<LoadMonitor, 'arrivals' | 'shed' | 'microCache' | 'bytesOut' | 'shedBytes' | 'meanArrivalBytes' | 'arrivalBytesPerSec'>
  uplink: Pick<UplinkMeter, 'rate' | 'backlogBytes' | 'persistentBacklogBytes'>
  shedder: Pick<Shedder, 'active' | 'helpers'>
  peers: Pick<PeerTable, 'get'>
  /** The site's crowd state now. */
  state: () => CrowdState
  /** What this node offered, in all, in the help sessions it serves and has not released. */
  offered: () => Capacity
  /** Whether it serves an accepted help session now. */
  serving: () => boolean
}

export class DemandMeter {
  readonly #c: DemandComponents
  /** The last sample (`sample`): demand in the origin's requests/s and in bytes/s. */
  #last = { rps: 0, bytesPerSec: 0 }

  constructor(components: DemandComponents) {
    this.#c = components
  }

  get last(): { readonly rps: number; readonly bytesPerSec: number } {
    return this.#last
  }

  /** Measure the demand now and keep it as `last`. */
  sample(): { rps: number; bytesPerSec: number } {
    const bytesPerSec = this.demandBytesPerSec()
    this.#last = { rps: this.demandRps(), bytesPerSec }
    return this.#last
  }

  /** Mean bytes of a request of this site over the last seconds (its cached sizes). */
  meanObjectBytes(): number {
    return this.#c.monitor.meanArrivalBytes() ?? DEFAULT_MEAN_OBJECT_BYTES
  }

  /**
   * The demand on this site as a share of its capacity, in the origin's requests/s: the larger
   * of the request demand (what reached the front and was not shed, plus what its helpers serve
   * for it), the byte demand on its uplink (`demandBytesPerSec`) scaled to the same share of
   * capacity, and, with an `origin.bytesPerSec`, the origin's own byte demand likewise.
   */
  demandRps(): number {
    const m = this.#c.monitor
    const c = this.#c.config.origin
    const originBytes = c.bytesPerSec === undefined ? 0 : ((m.bytesOut.rate(RATE_WINDOW_MS) + m.shedBytes.rate(RATE_WINDOW_MS)) / c.bytesPerSec) * c.capacityRps
    const uplinkBytes = (this.demandBytesPerSec() / this.#c.config.uplink.bytesPerSec) * c.capacityRps
    return Math.max(originBytes, uplinkBytes, this.#requestDemand())
  }

  /**
   * Bytes/s the site's visitors ask of its uplink: what the front would send if it answered
   * every arrival (their cached sizes) — or, while helpers take a share, what the front sends
   * plus what the helpers report serving for the site (a redirected page takes its images with
   * it), whichever is larger.
   */
  demandBytesPerSec(): number {
    const arrivals = this.#c.monitor.arrivalBytesPerSec(this.meanObjectBytes())
    const front = this.#c.uplink.rate(RATE_WINDOW_MS, 'front')
    if (!this.#c.shedder.active) return Math.max(arrivals, front)
    return Math.max(arrivals, front + this.#helpersServe().bytesPerSec)
  }

  /**
   * The request rate to aim the origin at, counted in arrivals that are not redirected: the
   * micro-cache answers a share of those (they cost the origin nothing), so only the rest must
   * stay under the origin's target.
   */
  originTarget(target: number): number {
    const m = this.#c.monitor
    const kept = Math.max(1, m.arrivals.rate(RATE_WINDOW_MS) - m.shed.rate(RATE_WINDOW_MS))
    const cached = Math.min(MAX_MICRO_CACHE_SHARE, m.microCache.rate(RATE_WINDOW_MS) / kept)
    return target / (1 - cached)
  }

  /**
   * What the site needs taken off it: requests/s over the origin's target, bytes/s over the
   * uplink's — each at least the other converted at the site's mean object size, so that a
   * site struck by requests asks for the bytes they carry, and r2 helpers, which offer
   * requests/s only, offer enough for a site struck by bytes.
   */
  need(demand: number, target: number, demandBps: number, targetBps: number): Capacity {
    const mean = this.meanObjectBytes()
    const rps = Math.max(0, demand - target)
    const bytesPerSec = Math.max(0, demandBps - targetBps)
    return { rps: Math.max(rps, bytesPerSec / mean), bytesPerSec: Math.max(bytesPerSec, rps * mean) }
  }

  /**
   * The uplink as a helper sees it: the bytes/s it may send for others in all (its target less
   * its own site's traffic), and whether it is saturated — sending at its target, or holding
   * more than BACKLOG_SECONDS of it in sockets the kernel will not take for a whole second;
   * backed up while sending below its target, the uplink is slower than declared.
   */
  uplinkState(): UplinkState {
    const up = this.#c.config.uplink
    const meter = this.#c.uplink
    const target = up.targetShare * up.bytesPerSec
    const sent = meter.rate(RATE_WINDOW_MS)
    const backlogged = meter.persistentBacklogBytes > BACKLOG_SECONDS * up.bytesPerSec
    return {
      budgetBytesPerSec: Math.max(0, target - meter.rate(RATE_WINDOW_MS, 'front')),
      saturated: backlogged || sent >= target,
      slowerThanDeclared: backlogged && sent < target
    }
  }

  /**
   * What this node offers other sites now: none while its own site sheds; in bytes/s, what is
   * left of its uplink target after its own site's traffic and the offers it has made, and
   * nothing while its uplink is saturated; in requests/s, its mirror's capacity less its offers.
   */
  spare(): Capacity {
    if (this.#c.state() !== 'normal') return { rps: 0, bytesPerSec: 0 }
    const offered = this.#c.offered()
    const up = this.uplinkState()
    return {
      rps: Math.max(0, Math.round(this.#c.config.mirror.capacityRps - offered.rps)),
      bytesPerSec: up.saturated ? 0 : Math.max(0, Math.round(up.budgetBytesPerSec - offered.bytesPerSec))
    }
  }

  /**
   * Calm enough for standby transfers: its site normal, helping no one, its uplink under
   * STANDBY_CALM_SHARE of its target and not backed up.
   */
  calm(): boolean {
    if (this.#c.state() !== 'normal') return false
    if (this.#c.serving()) return false
    const up = this.#c.config.uplink
    return (
      this.#c.uplink.rate(RATE_WINDOW_MS) < STANDBY_CALM_SHARE * up.targetShare * up.bytesPerSec &&
      this.#c.uplink.backlogBytes < BACKLOG_SECONDS * up.bytesPerSec
    )
  }

  /** What the accepted helpers report serving for this site now. */
  #helpersServe(): Capacity {
    let rps = 0
    let bytes = 0
    for (const h of this.#c.shedder.helpers) {
      const x = this.#c.peers.get(h.peer)?.report.helping.find(e => e.site === this.#c.config.site.label)
      rps += x?.rps ?? 0
      bytes += x?.bytesPerSec ?? 0
    }
    return { rps, bytesPerSec: bytes }
  }

  #requestDemand(): number {
    const m = this.#c.monitor
    const arrivals = m.arrivals.rate(REQUEST_DEMAND_WINDOW_MS)
    if (!this.#c.shedder.active) return arrivals
    return Math.max(arrivals, arrivals - m.shed.rate(RATE_WINDOW_MS) + this.#helpersServe().rps)
  }
}
