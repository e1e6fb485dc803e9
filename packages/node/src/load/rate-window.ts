/**
 * Event counts in a ring of fixed-width time buckets, for rates over the recent past without
 * keeping one entry per event (O(1) per event, O(buckets) per read).
 */
export class RateWindow {
  readonly #bucketMs: number
  readonly #counts: Float64Array
  readonly #stamps: Float64Array
  readonly #now: () => number

  constructor(spanMs = 5_000, bucketMs = 100, now: () => number = Date.now) {
    this.#bucketMs = bucketMs
    const n = Math.ceil(spanMs / bucketMs)
    this.#counts = new Float64Array(n)
    this.#stamps = new Float64Array(n).fill(-1)
    this.#now = now
  }

  add(amount = 1): void {
    const slot = Math.floor(this.#now() / this.#bucketMs)
    const i = slot % this.#counts.length
    if (this.#stamps[i] !== slot) {
      this.#stamps[i] = slot
      this.#counts[i] = 0
    }
    this.#counts[i]! += amount
  }

  /** Sum over the last `windowMs` (whole buckets, the current partial one included). */
  sum(windowMs: number): number {
    const current = Math.floor(this.#now() / this.#bucketMs)
    const buckets = Math.min(this.#counts.length, Math.max(1, Math.round(windowMs / this.#bucketMs)))
    let total = 0
    for (let k = 0; k < buckets; k++) {
      const slot = current - k
      const i = ((slot % this.#counts.length) + this.#counts.length) % this.#counts.length
      if (this.#stamps[i] === slot) total += this.#counts[i]!
    }
    return total
  }

  /** Per-second rate over the last `windowMs`; the current bucket counts in proportion to its elapsed part. */
  rate(windowMs: number): number {
    const now = this.#now()
    const elapsedInCurrent = now % this.#bucketMs || this.#bucketMs
    const buckets = Math.min(this.#counts.length, Math.max(1, Math.round(windowMs / this.#bucketMs)))
    const span = (buckets - 1) * this.#bucketMs + elapsedInCurrent
    return (this.sum(windowMs) * 1000) / span
  }
}
