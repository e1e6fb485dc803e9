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
  /** Share of sheddable requests to redirect when the origin still has room (0..1). */
  share = 0

  get helpers (): readonly Helper[] { return this.#helpers }

  setHelpers (helpers: Helper[]): void {
    this.#helpers = helpers.filter(h => h.weightRps > 0)
  }

  get active (): boolean { return this.#helpers.length > 0 }

  pick (path: string): Helper | undefined {
    let best: Helper | undefined
    let bestScore = -Infinity
    for (const h of this.#helpers) {
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
