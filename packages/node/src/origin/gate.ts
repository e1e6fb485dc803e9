/**
 * Admission to the origin: never more than `maxConcurrent` requests in flight and never more
 * than `capacityRps` started per second (a token bucket whose burst is a small share of a
 * second, so that no calendar second sees more than ~(1 + burstShare) × capacity). With
 * `bytesPerSec`, a second bucket meters response bytes: sizes are known only once bodies flow,
 * so bytes are charged as they pass (`consumeBytes`) and the bucket may go into debt; nothing
 * new starts until the debt is repaid. Requests
 * that cannot start wait in a bounded FIFO queue; a waiter can be diverted (to a helper) or
 * time out, and is then answered without ever reaching the origin.
 */
export type GateOutcome = 'admitted' | 'diverted' | 'timeout' | 'full'

interface Waiter<T> {
  tag: T
  resolve: (o: GateOutcome) => void
  timer: NodeJS.Timeout | undefined
}

export interface OriginGateOptions {
  capacityRps: number
  maxConcurrent: number
  queueLimit: number
  burstShare?: number
  bytesPerSec?: number | undefined
  now?: () => number
}

export class OriginGate<T = unknown> {
  readonly #rate: number
  readonly #burst: number
  readonly #maxConcurrent: number
  readonly #queueLimit: number
  readonly #now: () => number
  #tokens: number
  readonly #bytesPerSec: number
  readonly #byteBurst: number
  #byteTokens: number
  #last: number
  #inFlight = 0
  #queue: Array<Waiter<T>> = []
  #wakeTimer: NodeJS.Timeout | undefined
  #admitted = 0

  constructor(opts: OriginGateOptions) {
    this.#rate = opts.capacityRps
    this.#burst = Math.max(1, opts.capacityRps * (opts.burstShare ?? 0.05))
    this.#maxConcurrent = opts.maxConcurrent
    this.#queueLimit = opts.queueLimit
    this.#now = opts.now ?? (() => performance.now())
    this.#tokens = this.#burst
    this.#bytesPerSec = opts.bytesPerSec ?? 0
    this.#byteBurst = this.#bytesPerSec * (opts.burstShare ?? 0.05)
    this.#byteTokens = this.#byteBurst
    this.#last = this.#now()
  }

  get inFlight(): number {
    return this.#inFlight
  }
  get queued(): number {
    return this.#queue.length
  }
  get admittedTotal(): number {
    return this.#admitted
  }

  #refill(): void {
    const now = this.#now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#rate) / 1000)
    if (this.#bytesPerSec > 0) this.#byteTokens = Math.min(this.#byteBurst, this.#byteTokens + ((now - this.#last) * this.#bytesPerSec) / 1000)
    this.#last = now
  }

  #open(): boolean {
    return this.#inFlight < this.#maxConcurrent && this.#tokens >= 1 && this.#byteTokens >= 0
  }

  /** Charge response bytes that came from the origin against its bytes/s capacity. */
  consumeBytes(n: number): void {
    if (this.#bytesPerSec <= 0) return
    this.#refill()
    this.#byteTokens -= n
  }

  /** Whether a request arriving now would start at once. */
  canAdmitNow(): boolean {
    this.#refill()
    return this.#queue.length === 0 && this.#open()
  }

  #take(): void {
    this.#tokens -= 1
    this.#inFlight++
    this.#admitted++
  }

  /**
   * Wait for admission. Resolves 'admitted' (the caller must call `release()` when the origin
   * response ends), 'diverted', 'timeout' or 'full'.
   */
  acquire(tag: T, timeoutMs: number): Promise<GateOutcome> {
    if (this.canAdmitNow()) {
      this.#take()
      return Promise.resolve('admitted')
    }
    if (this.#queue.length >= this.#queueLimit || timeoutMs <= 0) return Promise.resolve('full')
    return new Promise(resolve => {
      const waiter: Waiter<T> = { tag, resolve, timer: undefined }
      waiter.timer = setTimeout(() => {
        const i = this.#queue.indexOf(waiter)
        if (i >= 0) this.#queue.splice(i, 1)
        resolve('timeout')
      }, timeoutMs)
      this.#queue.push(waiter)
      this.#schedule()
    })
  }

  release(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1)
    this.#drain()
  }

  /** Take out every waiter whose tag matches and answer it 'diverted'. Returns how many. */
  divert(predicate: (tag: T) => boolean): number {
    let n = 0
    this.#queue = this.#queue.filter(w => {
      if (!predicate(w.tag)) return true
      clearTimeout(w.timer)
      w.resolve('diverted')
      n++
      return false
    })
    return n
  }

  #drain(): void {
    this.#refill()
    while (this.#queue.length > 0 && this.#open()) {
      const w = this.#queue.shift()!
      clearTimeout(w.timer)
      this.#take()
      w.resolve('admitted')
    }
    this.#schedule()
  }

  /** When waiters are blocked only by the token buckets, wake up when the next token is due. */
  #schedule(): void {
    if (this.#wakeTimer !== undefined || this.#queue.length === 0) return
    if (this.#inFlight >= this.#maxConcurrent) return // release() will drain
    const requestWait = ((1 - this.#tokens) * 1000) / this.#rate
    const byteWait = this.#bytesPerSec > 0 ? (-this.#byteTokens * 1000) / this.#bytesPerSec : 0
    const waitMs = Math.max(1, Math.ceil(Math.max(requestWait, byteWait)))
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined
      this.#drain()
    }, waitMs)
  }

  close(): void {
    clearTimeout(this.#wakeTimer)
    for (const w of this.#queue) {
      clearTimeout(w.timer)
      w.resolve('timeout')
    }
    this.#queue = []
  }
}
