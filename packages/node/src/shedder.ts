/**
 * Where shed requests go. Each path maps to one helper by weighted rendezvous hashing
 * (highest random weight with weights = offered requests/s): a path keeps its helper while the
 * helper set is stable, so each helper's cache stays hot, and helpers receive load in
 * proportion to the capacity they offered. When a helper leaves only its paths move.
 */
import { createHash } from 'node:crypto'

export interface Helper {
  peer: string
  weightRps: number
  /** The helper's mirror public URL, as it offered it. */
  mirrorUrl: string
  /** Base URL of this site on the helper's mirror: http(s)://<site>.<mirror host>[:port] */
  siteBase: string
  /** For targets that are not a Reef mirror (the external mirror rung): the URL for a path. */
  location?: ((path: string) => string | undefined) | undefined
}

/** The redirect target for `path` on `h`. */
export function locationOn (h: Helper, path: string): string | undefined {
  return h.location !== undefined ? h.location(path) : h.siteBase + path
}

function unitHash (peer: string, path: string): number {
  const d = createHash('sha1').update(peer).update('\n').update(path).digest()
  // 52 random bits → (0, 1)
  const hi = d.readUInt32BE(0) >>> 12
  const lo = d.readUInt32BE(4)
  return (hi * 4294967296 + lo + 1) / (2 ** 52 + 2)
}

export class Shedder {
  #helpers: Helper[] = []
  #fallback: Helper | undefined
  #targets: Helper[] = []
  /** Share of sheddable requests to redirect when the origin still has room (0..1). */
  share = 0

  /** The consortium helpers (the external mirror, when engaged, is `fallback`). */
  get helpers (): readonly Helper[] { return this.#helpers }
  get fallback (): Helper | undefined { return this.#fallback }

  setHelpers (helpers: Helper[]): void {
    this.#helpers = helpers.filter(h => h.weightRps > 0)
    this.#targets = this.#fallback === undefined ? this.#helpers : [...this.#helpers, this.#fallback]
  }

  /** Engage (or, with undefined, release) a target beyond the helpers, weighted like one. */
  setFallback (fallback: Helper | undefined): void {
    this.#fallback = fallback !== undefined && fallback.weightRps > 0 ? fallback : undefined
    this.setHelpers(this.#helpers)
  }

  get active (): boolean { return this.#targets.length > 0 }

  pick (path: string): Helper | undefined {
    let best: Helper | undefined
    let bestScore = -Infinity
    for (const h of this.#targets) {
      const score = -h.weightRps / Math.log(unitHash(h.peer, path))
      if (score > bestScore) { bestScore = score; best = h }
    }
    return best
  }

  /**
   * Adapt the share: aim for the origin to receive `targetRps` out of `arrivalRps` arrivals of
   * which `sheddableRps` could be redirected. Smoothed so one noisy sample does not swing it.
   */
  adapt (arrivalRps: number, sheddableRps: number, targetRps: number): number {
    const excess = arrivalRps - targetRps
    const wanted = excess <= 0 || sheddableRps <= 0 ? 0 : Math.min(1, excess / sheddableRps)
    this.share = wanted > this.share ? wanted : 0.5 * this.share + 0.5 * wanted
    if (this.share < 0.01) this.share = 0
    return this.share
  }
}

/** The base URL of `site` on a mirror whose public URL is `mirrorUrl`: Coral-style sub-domain. */
export function siteBaseOnMirror (mirrorUrl: string, site: string): string {
  const u = new URL(mirrorUrl)
  return `${u.protocol}//${site}.${u.host}`
}
