/**
 * Where shed requests go, and how many (SPEC.md §HTTP behaviour, Shedding).
 *
 * Targets are the accepted helpers (and, when engaged, the external mirror), each weighted by
 * the bytes/s it offered. Requests are spread over the live targets by smooth weighted
 * round-robin, so each receives bytes in proportion to its weight over any short stretch.
 * Per-path stickiness (rendezvous hashing, which Reef used before r3) pinned every visit of the
 * hottest page — and so every byte of the images that page pulls from the same mirror host —
 * on one helper: with Zipf popularity that one helper's uplink carried a quarter or more of the
 * crowd while the others idled. Every accepted helper prefetches the whole manifest, so
 * spreading costs no cache hits.
 *
 * A target the node has not heard from recently is excluded at once (`setExcluded`) and its
 * share falls to the others; the help coordinator drops it for good when it stays silent.
 *
 * How many: `share` of new page loads are sent elsewhere — the larger of what keeps the
 * origin at its target request rate (`adapt`) and what keeps the site's uplink at its target
 * byte rate (`adaptBytes`). And nobody gets more bytes than it can send: a byte bucket for the
 * helpers (filled at Σ offered bytes/s) and one for the site itself (its uplink target) admit
 * each page load at the bytes it brings (a page with its images: page-weight.ts); a helper
 * whose reports say its queue is long (`setBusy`) gets none, nor does the site while its own
 * uplink has more queued than it drains quickly (`localOpen`). What nobody can take goes to the
 * external mirror when one is engaged, else gets 503 at once instead of piling onto full
 * uplinks, where every visit would slow down.
 */
import { BUDGET_BURST_S, BYTE_GAIN, KEEP_RECOVERY, MIN_KEEP } from '../constants.ts'

export interface Helper {
  peer: string
  /** Weight: the bytes/s the helper offered (r2 helpers: their requests/s × the site's mean object size). */
  weightBytesPerSec: number
  /** The requests/s it offered (a second limit, shown to operators). */
  weightRps: number
  /** The helper's mirror public URL, as it offered it. */
  mirrorUrl: string
  /** Base URL of this site on the helper's mirror: http(s)://<site>.<mirror host>[:port] */
  siteBase: string
  /** For targets that are not a Reef mirror (the external mirror rung): the URL for a path. */
  location?: ((path: string) => string | undefined) | undefined
}

/** The redirect target for `path` on `h`. */
export function locationOn(h: Helper, path: string): string | undefined {
  return h.location !== undefined ? h.location(path) : h.siteBase + path
}

/** A token bucket in bytes: a rate, a quarter second of burst, and a debt of one admission at most. */
export class ByteBudget {
  #rate: number | undefined
  #tokens = 0
  #at = 0

  /** Bytes/s admitted (undefined: no limit). */
  get rate(): number | undefined {
    return this.#rate
  }

  set(bytesPerSec: number | undefined, now = performance.now()): void {
    if (bytesPerSec !== undefined && this.#rate === undefined) {
      this.#tokens = bytesPerSec * BUDGET_BURST_S
      this.#at = now
    }
    this.#rate = bytesPerSec
  }

  /** Whether `bytes` fit now (spent if so). The bucket may go into debt by one admission, so a page heavier than the burst still passes. */
  admit(bytes: number, now = performance.now()): boolean {
    const rate = this.#rate
    if (rate === undefined) return true
    this.#tokens = Math.min(rate * BUDGET_BURST_S, this.#tokens + ((now - this.#at) * rate) / 1000)
    this.#at = now
    if (this.#tokens <= 0) return false
    this.#tokens -= bytes
    return true
  }
}

export class Shedder {
  #helpers: Helper[] = []
  #fallback: Helper | undefined
  #targets: Helper[] = []
  /** Smooth weighted round-robin: each target's current score, by index in #targets. */
  #current: number[] = []
  #excluded: ReadonlySet<string> = new Set()
  #live = 0
  /** Share of sheddable requests to redirect now (0..1): max of the request and byte shares. */
  share = 0
  #requestShare = 0
  /** Share of its sheddable bytes the site still answers itself (1: not shedding for bytes). */
  #keep = 1
  /** What the helpers' offers carry, and what the site's own uplink does. */
  readonly #helperBudget = new ByteBudget()
  readonly #localBudget = new ByteBudget()
  /** Helpers whose queue is long now: no new page loads for them. */
  #busy: ReadonlySet<string> = new Set()
  #roomy: ReadonlySet<string> = new Set()
  #overflowNext = 0
  /** Visitors waiting for a target (`whenActive`): each one's settle function. */
  readonly #waiters = new Set<(active: boolean) => void>()
  /**
   * Whether the site's own uplink takes a new page load now (what waits on it drains quickly):
   * when it does not, a new visit goes to a helper, the external mirror, or gets 503.
   */
  localOpen = true

  /** The consortium helpers (the external mirror, when engaged, is `fallback`). */
  get helpers(): readonly Helper[] {
    return this.#helpers
  }
  get fallback(): Helper | undefined {
    return this.#fallback
  }
  get requestShare(): number {
    return this.#requestShare
  }
  get byteShare(): number {
    return 1 - this.#keep
  }

  setHelpers(helpers: Helper[]): void {
    this.#helpers = helpers.filter(h => h.weightBytesPerSec > 0)
    this.#targets = this.#fallback === undefined ? this.#helpers : [...this.#helpers, this.#fallback]
    this.#current = this.#targets.map(() => 0)
    this.#countLive()
  }

  /** Engage (or, with undefined, release) a target beyond the helpers, weighted like one. */
  setFallback(fallback: Helper | undefined): void {
    this.#fallback = fallback !== undefined && fallback.weightBytesPerSec > 0 ? fallback : undefined
    this.setHelpers(this.#helpers)
  }

  /** Peers not to send anyone to now (not heard from, connection lost, mirror not answering). */
  setExcluded(peers: ReadonlySet<string>): void {
    this.#excluded = peers
    this.#countLive()
  }

  /** Helpers whose reported queue is long now: up, but no new page loads for them until it drains. */
  setBusy(peers: ReadonlySet<string>): void {
    this.#busy = peers
    this.#countLive()
  }

  isBusy(peer: string): boolean {
    return this.#busy.has(peer)
  }

  /** Helpers whose reports show room past their offers: sending well under their uplink, little queued. */
  setRoomy(peers: ReadonlySet<string>): void {
    this.#roomy = peers
  }

  /**
   * A consortium helper to take a page load past the offers (the overflow), or undefined: live,
   * not busy, and with room (`setRoomy`); taken in turn.
   */
  pickOverflow(): Helper | undefined {
    const hs = this.#helpers
    for (let k = 0; k < hs.length; k++) {
      const h = hs[(this.#overflowNext + k) % hs.length]!
      if (this.#excluded.has(h.peer) || this.#busy.has(h.peer) || !this.#roomy.has(h.peer)) continue
      this.#overflowNext = (this.#overflowNext + k + 1) % hs.length
      return h
    }
    return undefined
  }

  #countLive(): void {
    this.#live = 0
    for (const t of this.#targets) if (!this.#excluded.has(t.peer) && !this.#busy.has(t.peer)) this.#live++
    if (this.#live > 0 && this.#waiters.size > 0) for (const w of this.#waiters) w(true) // each deletes itself: a Set iterates on safely
  }

  /** How many wait in `whenActive` now. */
  get waiting(): number {
    return this.#waiters.size
  }

  /**
   * Resolves true as soon as a target can take a redirect (at once if one can now), false after
   * `timeoutMs`, when `signal` aborts, or at once when `maxWaiting` already wait.
   */
  async whenActive(timeoutMs: number, maxWaiting: number, signal?: AbortSignal): Promise<boolean> {
    if (this.active) return true
    if (timeoutMs <= 0 || this.#waiters.size >= maxWaiting || signal?.aborted === true) return false
    return new Promise(resolve => {
      const settle = (active: boolean): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#waiters.delete(settle)
        resolve(active)
      }
      const onAbort = (): void => {
        settle(false)
      }
      const timer = setTimeout(() => {
        settle(false)
      }, timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.add(settle)
    })
  }

  /** Whether `peer` is excluded now (not heard from, connection lost, mirror not answering). */
  isExcluded(peer: string): boolean {
    return this.#excluded.has(peer)
  }

  /** Whether any target can take a redirect now. */
  get active(): boolean {
    return this.#live > 0
  }

  /** Whether a consortium helper (not only the external mirror) can take a redirect now. */
  get helping(): boolean {
    for (const h of this.#helpers) if (!this.#excluded.has(h.peer)) return true
    return false
  }

  /** Σ weights of the live helpers (bytes/s they offered). */
  liveHelperBytesPerSec(): number {
    let sum = 0
    for (const h of this.#helpers) if (!this.#excluded.has(h.peer)) sum += h.weightBytesPerSec
    return sum
  }

  /** The next live target, by smooth weighted round-robin over the bytes/s weights. */
  pick(): Helper | undefined {
    const targets = this.#targets
    const current = this.#current
    let best = -1
    let total = 0
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!
      if (this.#excluded.has(t.peer) || this.#busy.has(t.peer)) continue
      current[i]! += t.weightBytesPerSec
      total += t.weightBytesPerSec
      if (best < 0 || current[i]! > current[best]!) best = i
    }
    if (best < 0) return undefined
    current[best]! -= total
    return targets[best]
  }

  /**
   * Adapt the request share: aim for the origin to receive `targetRps` out of `arrivalRps`
   * arrivals of which `sheddableRps` could be redirected. Smoothed so one noisy sample does not
   * swing it.
   */
  adapt(arrivalRps: number, sheddableRps: number, targetRps: number): number {
    const excess = arrivalRps - targetRps
    const wanted = excess <= 0 || sheddableRps <= 0 ? 0 : Math.min(1, excess / sheddableRps)
    this.#requestShare = wanted > this.#requestShare ? wanted : 0.5 * this.#requestShare + 0.5 * wanted
    if (this.#requestShare < 0.01) this.#requestShare = 0
    this.share = Math.max(this.#requestShare, 1 - this.#keep)
    return this.share
  }

  /**
   * Adapt the byte share from what the site's uplink sends (`sentBps`, measured) against
   * `targetBps`. A redirected page takes its subresources with it to the mirror host, so the
   * bytes a site keeps do not fall in proportion to the share it sheds: rather than predict
   * them, the keep-fraction follows the measured rate multiplicatively (a damped step towards
   * target/sent). At the onset it starts from target / `demandBps`, the estimate of what the
   * site would send if it answered everyone.
   */
  adaptBytes(sentBps: number, targetBps: number, demandBps: number): number {
    if (this.#keep >= 1 && demandBps > targetBps && sentBps > 0) {
      this.#keep = Math.max(MIN_KEEP, targetBps / demandBps)
    } else if (sentBps > 0) {
      this.#keep = Math.min(1, Math.max(MIN_KEEP, this.#keep * Math.pow(targetBps / sentBps, BYTE_GAIN)))
    } else {
      this.#keep = Math.min(1, this.#keep * KEEP_RECOVERY)
    }
    if (this.#keep > 0.99) this.#keep = 1
    this.share = Math.max(this.#requestShare, 1 - this.#keep)
    return 1 - this.#keep
  }

  /** Bytes/s of page loads the helpers' offers carry (undefined: no limit). */
  get redirectBudget(): number | undefined {
    return this.#helperBudget.rate
  }
  setRedirectBudget(bytesPerSec: number | undefined, now = performance.now()): void {
    this.#helperBudget.set(bytesPerSec, now)
  }

  /** Whether a page load that brings a helper `bytes` fits the helpers' budget now (spent if so). */
  admit(bytes: number, now = performance.now()): boolean {
    return this.#helperBudget.admit(bytes, now)
  }

  /** Bytes/s of new page loads the site keeps for itself (undefined: no limit). */
  get localBudget(): number | undefined {
    return this.#localBudget.rate
  }
  setLocalBudget(bytesPerSec: number | undefined, now = performance.now()): void {
    this.#localBudget.set(bytesPerSec, now)
  }

  /** Whether the site keeps a new page load that brings `bytes`: its uplink drains quickly and its budget has room (spent if so). */
  admitLocal(bytes: number, now = performance.now()): boolean {
    return this.localOpen && this.#localBudget.admit(bytes, now)
  }

  /** The site is normal again: nothing shed. */
  reset(): void {
    this.share = 0
    this.#requestShare = 0
    this.#keep = 1
    this.#helperBudget.set(undefined)
    this.#localBudget.set(undefined)
  }
}

/** The base URL of `site` on a mirror whose public URL is `mirrorUrl`: Coral-style sub-domain. */
export function siteBaseOnMirror(mirrorUrl: string, site: string): string {
  const u = new URL(mirrorUrl)
  return `${u.protocol}//${site}.${u.host}`
}
