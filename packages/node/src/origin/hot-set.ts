/**
 * Which paths of the local site are hot and whether each may be shed. Counts decay by half
 * every `halfLifeMs`, so the manifest follows the crowd. A path is sheddable only after the
 * origin has answered it with a shareable response (cacheability.ts) and stops being so as soon
 * as a response says otherwise.
 */
import type { ManifestEntry } from '@reef/protocol'
import { HEADER_VALUE_RE, MAX_MANIFEST_ENTRIES, MAX_OBJECT_BYTES, MAX_RECORD_BYTES } from '@reef/protocol'
import type { ContentCache } from './content-cache.ts'

interface PathInfo {
  score: number
  stamp: number
  shareable: boolean
  /** Whether the origin has answered this path yet (shareable says how). */
  learned: boolean
}

export class HotSet {
  readonly #paths = new Map<string, PathInfo>()
  readonly #halfLifeMs: number
  readonly #maxPaths: number

  constructor(halfLifeMs = 10_000, maxPaths = 50_000) {
    this.#halfLifeMs = halfLifeMs
    this.#maxPaths = maxPaths
  }

  #decayed(info: PathInfo, now: number): number {
    return info.score * Math.pow(0.5, (now - info.stamp) / this.#halfLifeMs)
  }

  hit(path: string, now = Date.now()): void {
    const info = this.#paths.get(path)
    if (info === undefined) {
      if (this.#paths.size >= this.#maxPaths) this.#evictColdest(now)
      this.#paths.set(path, { score: 1, stamp: now, shareable: false, learned: false })
      return
    }
    info.score = this.#decayed(info, now) + 1
    info.stamp = now
  }

  /** Record what the origin said about a path. */
  learn(path: string, shareable: boolean, now = Date.now()): void {
    const info = this.#paths.get(path)
    if (info !== undefined) {
      info.shareable = shareable
      info.learned = true
      return
    }
    if (!shareable) return
    if (this.#paths.size >= this.#maxPaths) this.#evictColdest(now)
    this.#paths.set(path, { score: 0, stamp: now, shareable, learned: true })
  }

  isShareable(path: string): boolean {
    return this.#paths.get(path)?.shareable === true
  }

  /** The origin has answered this path with something that must not be shared. */
  isKnownUnshareable(path: string): boolean {
    const info = this.#paths.get(path)
    return info !== undefined && info.learned && !info.shareable
  }

  #evictColdest(now: number): void {
    let coldest: string | undefined
    let min = Infinity
    let seen = 0
    for (const [p, info] of this.#paths) {
      const s = this.#decayed(info, now)
      if (s < min) {
        min = s
        coldest = p
      }
      if (++seen > 256) break // approximate: look at the oldest-inserted few only
    }
    if (coldest !== undefined) this.#paths.delete(coldest)
  }

  /**
   * The hottest shareable paths whose bodies the cache holds, as manifest entries: at most
   * `limit` entries and at most `maxBytes` of encoded entries, so the help request that carries
   * them stays under MAX_RECORD_BYTES.
   */
  manifest(site: string, cache: ContentCache, limit = MAX_MANIFEST_ENTRIES, now = Date.now(), maxBytes = MAX_RECORD_BYTES - 16 * 1024): ManifestEntry[] {
    const ranked = [...this.#paths.entries()]
      .filter(([, info]) => info.shareable)
      .map(([path, info]) => ({ path, score: this.#decayed(info, now) }))
      .sort((a, b) => b.score - a.score)
    const out: ManifestEntry[] = []
    let bytes = 0
    for (const { path } of ranked) {
      if (out.length >= limit) break
      const obj = cache.peek(site, path)
      if (obj === undefined || obj.body.byteLength > MAX_OBJECT_BYTES) continue
      const entry = { path, size: obj.body.byteLength, type: manifestType(obj.headers['content-type']), sha256: obj.sha256 }
      bytes += JSON.stringify(entry).length + 1 // its exact encoded size (key order aside) and a comma
      if (bytes > maxBytes) break
      out.push(entry)
    }
    return out
  }
}

/**
 * A manifest entry's type: the Content-Type as an HTTP field value of at most 256 characters
 * (SPEC.md §help-request). One that does not fit (obs-text, or too long to cut without
 * changing its meaning) is sent as application/octet-stream rather than making the record invalid.
 */
export function manifestType(contentType: string | undefined): string {
  if (contentType === undefined) return 'application/octet-stream'
  return contentType.length <= 256 && HEADER_VALUE_RE.test(contentType) ? contentType : 'application/octet-stream'
}
