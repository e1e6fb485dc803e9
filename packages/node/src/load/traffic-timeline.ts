/**
 * The local site's traffic over the last minutes, split by where each request went: to the
 * origin, to consortium peers (307), to the external mirror (307), refused (503), or answered
 * from the front's micro-cache. Once per interval it reads the node's cumulative counters and
 * keeps the per-second rates since the previous reading in a ring of at most `maxPoints`
 * points, so the dashboard can draw them against the origin's capacity.
 *
 * Rates come from counter differences over the measured elapsed time, not from a fixed
 * interval, so a late timer (a busy event loop during a crowd) neither loses nor doubles
 * requests. The first reading only sets the baseline.
 */

/** Cumulative request counts since the node started. */
export interface TrafficCounters {
  /** Requests started against the origin (front pass-through, micro-cache fills, helper fetches). */
  origin: number
  /** Redirects to consortium helpers. */
  shedPeers: number
  /** Redirects to the external mirror. */
  shedExternal: number
  /** 503s: what neither the origin nor anyone else could take. */
  refused: number
  /** Answers from the front's micro-cache. */
  microCache: number
}

/** Requests/s of each kind over the interval ending at `t` (epoch ms). */
export interface TrafficPoint extends TrafficCounters {
  t: number
}

export interface TrafficTimelineView {
  capacityRps: number
  intervalMs: number
  points: TrafficPoint[]
}

export interface TrafficTimelineInit {
  /** The origin's capacity, drawn as a line against the traffic. */
  capacityRps: number
  /** Default 1000. */
  intervalMs?: number
  /** Points kept (the newest); default 300 (five minutes at one a second). */
  maxPoints?: number
  now?: () => number
}

export const TIMELINE_INTERVAL_MS = 1_000
export const TIMELINE_MAX_POINTS = 300

const KINDS = ['origin', 'shedPeers', 'shedExternal', 'refused', 'microCache'] as const

export class TrafficTimeline {
  readonly capacityRps: number
  readonly intervalMs: number
  readonly maxPoints: number
  readonly #read: () => TrafficCounters
  readonly #now: () => number
  readonly #points: TrafficPoint[] = []
  #last: { at: number; counters: TrafficCounters } | undefined
  #timer: NodeJS.Timeout | undefined

  constructor(init: TrafficTimelineInit, read: () => TrafficCounters) {
    this.capacityRps = init.capacityRps
    this.intervalMs = init.intervalMs ?? TIMELINE_INTERVAL_MS
    this.maxPoints = init.maxPoints ?? TIMELINE_MAX_POINTS
    this.#read = read
    this.#now = init.now ?? Date.now
  }

  /** The timeline of a node's front, read from its load monitor's totals. */
  static of(
    monitor: { readonly totals: { origin: number; shed: number; shedExternal: number; refused: number; microCache: number } },
    capacityRps: number
  ): TrafficTimeline {
    return new TrafficTimeline({ capacityRps }, () => {
      const t = monitor.totals
      return { origin: t.origin, shedPeers: t.shed - t.shedExternal, shedExternal: t.shedExternal, refused: t.refused, microCache: t.microCache }
    })
  }

  start(): void {
    if (this.#timer !== undefined) return
    this.sample()
    this.#timer = setInterval(() => {
      this.sample()
    }, this.intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Read the counters; returns the new point (none for the baseline or a zero-length interval). */
  sample(): TrafficPoint | undefined {
    const at = this.#now()
    const counters = { ...this.#read() }
    const last = this.#last
    if (last !== undefined && at <= last.at) return undefined
    this.#last = { at, counters }
    if (last === undefined) return undefined
    const perSecond = 1000 / (at - last.at)
    const point: TrafficPoint = { t: at, origin: 0, shedPeers: 0, shedExternal: 0, refused: 0, microCache: 0 }
    // Counters only grow; a negative difference would mean a reset, which counts as nothing.
    for (const k of KINDS) point[k] = Math.round(Math.max(0, counters[k] - last.counters[k]) * perSecond * 10) / 10
    this.#points.push(point)
    if (this.#points.length > this.maxPoints) this.#points.splice(0, this.#points.length - this.maxPoints)
    return point
  }

  /** The points, or only those after `since` (epoch ms) for a client that holds the rest. */
  view(since?: number): TrafficTimelineView {
    const points = since === undefined ? this.#points : this.#points.filter(p => p.t > since)
    return { capacityRps: this.capacityRps, intervalMs: this.intervalMs, points: points.map(p => ({ ...p })) }
  }
}
