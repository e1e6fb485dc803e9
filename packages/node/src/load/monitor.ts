/**
 * Live load of the front, the origin and the mirror, as rates over short windows. Every figure
 * the crowd detector, the shedder, the load report and the status API use comes from here.
 */
import { RateWindow } from './rate-window.ts'

/**
 * Why the front answered 503: `no_room`, a new page load while shedding that neither the helpers
 * (even past their offers) nor the site's uplink could take; `no_helper`, one no target could take
 * yet (after any wait for help); `origin_busy`, the origin gate's queue full or its wait over.
 */
export type RefusalReason = 'no_room' | 'no_helper' | 'origin_busy'
export type HelpWaitOutcome = 'redirected' | 'kept' | 'refused'

export class LoadMonitor {
  readonly arrivals = new RateWindow()
  /** Bytes the arrivals of known size would cost the uplink if the site answered them all (cached sizes). */
  readonly arrivalBytes = new RateWindow()
  /** Arrivals whose size the front knew (a cached copy). */
  readonly sizedArrivals = new RateWindow()
  readonly sheddable = new RateWindow()
  readonly shed = new RateWindow()
  /** Bytes of the objects redirected to helpers (what the origin would otherwise have sent). */
  readonly shedBytes = new RateWindow()
  readonly originStarted = new RateWindow()
  /** Requests the front answered from its micro-cache (they cost the origin nothing). */
  readonly microCache = new RateWindow()
  readonly refused = new RateWindow()
  readonly bytesOut = new RateWindow()
  readonly mirrorServed = new Map<string, RateWindow>()
  /** Body bytes this node's mirror served per site. */
  readonly mirrorBytes = new Map<string, RateWindow>()
  totals = {
    arrivals: 0,
    ofKeptPages: 0,
    shed: 0,
    shedExternal: 0,
    origin: 0,
    refused: 0,
    originErrors: 0,
    mirrorServed: 0,
    mirrorMisses: 0,
    integrityFailures: 0,
    microCache: 0
  }
  /** Refusals (503) by why, since start. */
  readonly refusedBy: Record<RefusalReason, number> = { no_room: 0, no_helper: 0, origin_busy: 0 }
  /** Visitors that waited for help at a crowd's onset, by how the wait ended, since start. */
  readonly helpWaits: Record<HelpWaitOutcome, number> = { redirected: 0, kept: 0, refused: 0 }
  #latencyMs = 0

  arrival(sheddable: boolean, bytes = 0): void {
    this.arrivals.add()
    this.totals.arrivals++
    if (sheddable) this.sheddable.add()
    if (bytes > 0) {
      this.arrivalBytes.add(bytes)
      this.sizedArrivals.add()
    }
  }

  /** Mean size of the arrivals of known size over the last `windowMs` (undefined: none). */
  meanArrivalBytes(windowMs = 5_000): number | undefined {
    const n = this.sizedArrivals.sum(windowMs)
    return n > 0 ? this.arrivalBytes.sum(windowMs) / n : undefined
  }

  /**
   * Bytes/s the arrivals would cost the uplink if the site answered them all: their cached
   * sizes, and `meanBytes` for each arrival of unknown size (not cached yet, or never shareable).
   */
  arrivalBytesPerSec(meanBytes: number, windowMs = 1_000): number {
    const unsized = Math.max(0, this.arrivals.rate(windowMs) - this.sizedArrivals.rate(windowMs))
    return this.arrivalBytes.rate(windowMs) + unsized * meanBytes
  }

  /** Epoch ms of the first redirect to a helper (for time-to-relief measurements). */
  firstShedAt: number | undefined

  /** A redirect to a helper or, with `external`, to the external mirror (counted in `shed` too). */
  shedOne(bytes: number, external = false): void {
    this.shed.add()
    this.totals.shed++
    if (external) this.totals.shedExternal++
    this.shedBytes.add(bytes)
    this.firstShedAt ??= Date.now()
  }
  originStart(): void {
    this.originStarted.add()
    this.totals.origin++
  }
  fromMicroCache(): void {
    this.microCache.add()
    this.totals.microCache++
  }
  refusedOne(reason: RefusalReason = 'origin_busy'): void {
    this.refused.add()
    this.totals.refused++
    this.refusedBy[reason]++
  }

  /** A visitor waited for help at a crowd's onset (`crowd.helpWaitMs`), and how that ended. */
  helpWaited(outcome: HelpWaitOutcome): void {
    this.helpWaits[outcome]++
  }

  originDone(latencyMs: number, bytes: number): void {
    this.#latencyMs = this.#latencyMs === 0 ? latencyMs : 0.9 * this.#latencyMs + 0.1 * latencyMs
    this.bytesOut.add(bytes)
  }

  /** Bytes of mirrored objects clients wait for while this node fetches them. */
  fillWaitBytes = 0

  /** Cumulative requests and bytes this node's mirror served per site (for receipts). */
  readonly mirrorTotals = new Map<string, { requests: number; bytes: number }>()

  mirrored(site: string, bytes = 0): void {
    let w = this.mirrorServed.get(site)
    if (w === undefined) {
      w = new RateWindow()
      this.mirrorServed.set(site, w)
      this.mirrorBytes.set(site, new RateWindow())
    }
    w.add()
    if (bytes > 0) this.mirrorBytes.get(site)!.add(bytes)
    this.totals.mirrorServed++
    let t = this.mirrorTotals.get(site)
    if (t === undefined) {
      t = { requests: 0, bytes: 0 }
      this.mirrorTotals.set(site, t)
    }
    t.requests++
    t.bytes += bytes
  }

  get originLatencyMs(): number {
    return this.#latencyMs
  }

  /** What this node's mirror serves per site, over the last second. */
  helpingRates(): Array<{ site: string; rps: number; bytesPerSec: number }> {
    const out: Array<{ site: string; rps: number; bytesPerSec: number }> = []
    for (const [site, w] of this.mirrorServed) {
      const rps = Math.round(w.rate(1_000))
      const bytesPerSec = Math.round(this.mirrorBytes.get(site)?.rate(1_000) ?? 0)
      if (rps > 0 || bytesPerSec > 0) out.push({ site, rps, bytesPerSec })
    }
    return out
  }

  /** What this node's mirror serves for `site` now. */
  servedRate(site: string): { rps: number; bytesPerSec: number } {
    return { rps: this.mirrorServed.get(site)?.rate(1_000) ?? 0, bytesPerSec: this.mirrorBytes.get(site)?.rate(1_000) ?? 0 }
  }
}
