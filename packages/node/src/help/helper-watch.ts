/**
 * Failing fast (README §How it works): every HEALTH_TICK_MS the struck site looks at its
 * accepted helpers — heard from, connected, mirror answering (helper-health.ts) — and excludes
 * the ones that are down from the redirect targets, holds back new page loads from one whose
 * reported queue is long, and probes the mirrors that are due. It also closes the site to new
 * page loads of its own while its uplink does not drain quickly.
 */
import type { Logger } from 'pino'
import {
  HEALTH_PRUNE_MS,
  HELPER_QUEUE_SECONDS,
  LEGACY_REPORT_INTERVAL_MS,
  LOCAL_QUEUE_SECONDS,
  OVERFLOW_QUEUE_SECONDS,
  OVERFLOW_SENT_SHARE,
  WATCH_STALL_MS
} from '../constants.ts'
import type { Shedder } from '../load/shedder.ts'
import type { UplinkMeter } from '../load/uplink-meter.ts'
import type { PeerTable } from '../p2p/peer-table.ts'
import type { HelperHealth, MirrorProber } from './helper-health.ts'

export interface HelperWatchComponents {
  shedder: Pick<Shedder, 'helpers' | 'localOpen' | 'setBusy' | 'setExcluded' | 'setRoomy'>
  helperHealth: Pick<HelperHealth, 'accepted' | 'isDown' | 'retain' | 'connected' | 'disconnected' | 'silenceOf' | 'unreachableSince'>
  prober: Pick<MirrorProber, 'probe' | 'close'>
  peers: Pick<PeerTable, 'get' | 'live'>
  uplink: Pick<UplinkMeter, 'drainSeconds'>
  log: Logger
}

export class HelperWatch {
  readonly #c: HelperWatchComponents
  /** The helpers `check` saw last (to tell newly accepted ones). */
  #seen = new Set<string>()
  #excluded = ''
  #busyKey = ''
  #lastPrune = 0
  #lastCheck = 0
  /** Excluded helpers down by the session's measure (`unreachableSince`), as last logged. */
  #unreachable = new Set<string>()

  constructor(components: HelperWatchComponents) {
    this.#c = components
  }

  /** The excluded (down) and busy helpers, as last set on the shedder (for debug logs). */
  get excluded(): string {
    return this.#excluded
  }
  get busy(): string {
    return this.#busyKey
  }

  /**
   * Exclude accepted helpers that are down (not heard from, connection closed, mirror not
   * answering) from the redirect targets, and probe the mirrors that are due.
   */
  check(now = Date.now()): void {
    const { shedder, helperHealth: health, peers, log } = this.#c
    // New page loads are kept here only while what waits on the uplink drains quickly.
    shedder.localOpen = this.#c.uplink.drainSeconds < LOCAL_QUEUE_SECONDS
    const helpers = shedder.helpers
    for (const h of helpers) if (!this.#seen.has(h.peer)) health.accepted(h.peer, now, peers.get(h.peer, now)?.report.nextReportMs ?? LEGACY_REPORT_INTERVAL_MS)
    this.#seen = new Set(helpers.map(h => h.peer))
    // After this node's own event loop stalled, what its helpers sent meanwhile is still unread:
    // judged now, every one would look silent. The exclusions stay as they are for this tick.
    const stalled = this.#lastCheck !== 0 && now - this.#lastCheck > WATCH_STALL_MS
    this.#lastCheck = Math.max(this.#lastCheck, now)
    // From each helper's latest report: busy, one that reports more queued than it sends in
    // HELPER_QUEUE_SECONDS, gets no new page loads until it drains (it is up: it stays accepted
    // and keeps the visits it has); roomy, one sending well under its uplink with little queued,
    // may take page loads past the offers (the front's overflow).
    const busy = new Set<string>()
    const roomy = new Set<string>()
    for (const h of helpers) {
      const r = peers.get(h.peer, now)?.report
      const up = r?.uplinkBytesPerSec
      if (r === undefined || up === undefined) continue
      const queued = r.queuedBytes ?? 0
      if (queued > HELPER_QUEUE_SECONDS * up) busy.add(h.peer)
      else if (r.sentBytesPerSec !== undefined && r.sentBytesPerSec < OVERFLOW_SENT_SHARE * up && queued < OVERFLOW_QUEUE_SECONDS * up) roomy.add(h.peer)
    }
    const busyKey = [...busy].join(',')
    if (busyKey !== this.#busyKey) {
      this.#busyKey = busyKey
      shedder.setBusy(busy)
    }
    shedder.setRoomy(roomy)
    if (!stalled) {
      const down = helpers.filter(h => health.isDown(h.peer, now)).map(h => h.peer)
      const key = down.join(',')
      if (key !== this.#excluded) {
        const was = new Set(this.#excluded === '' ? [] : this.#excluded.split(','))
        this.#excluded = key
        shedder.setExcluded(new Set(down))
        for (const peer of down)
          if (!was.has(peer)) log.debug({ helper: peer, silenceMs: health.silenceOf(peer) }, 'helper excluded: no clients sent to it until it shows life')
      }
      // The operator hears of a helper that is down by the session's measure; one only skipped
      // because an answer came late (its cadence) usually shows life a moment later.
      const unreachable = new Set(down.filter(peer => health.unreachableSince(peer, now) !== undefined))
      for (const peer of unreachable) if (!this.#unreachable.has(peer)) log.warn({ helper: peer }, 'helper unreachable: no more clients sent to it')
      for (const peer of this.#unreachable)
        if (!unreachable.has(peer) && helpers.some(h => h.peer === peer)) log.info({ helper: peer }, 'helper reachable again')
      this.#unreachable = unreachable
    }
    if (helpers.length > 0) this.#c.prober.probe(helpers, now)
  }

  /** Forget the health of peers that are neither live nor accepted (every HEALTH_PRUNE_MS). */
  prune(now: number): void {
    if (now - this.#lastPrune <= HEALTH_PRUNE_MS) return
    this.#lastPrune = now
    this.#c.helperHealth.retain(new Set([...this.#c.peers.live(now).map(e => e.peer), ...this.#c.shedder.helpers.map(h => h.peer)]))
  }

  connected(peer: string): void {
    this.#c.helperHealth.connected(peer)
  }

  /** A helper's connection closed: it is down now, not at the next tick. */
  disconnected(peer: string): void {
    this.#c.helperHealth.disconnected(peer)
    this.check()
  }

  async close(): Promise<void> {
    await this.#c.prober.close()
  }
}
