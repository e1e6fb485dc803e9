/**
 * A byte-bounded LRU of shareable objects, keyed by (site label, path). Holds the origin's own
 * hot objects on a struck node (to answer helpers' fetches without touching the origin) and
 * mirrored objects on a helper. Map insertion order is the recency order.
 */
import { createHash } from 'node:crypto'

export interface CachedObject {
  site: string
  path: string
  headers: Readonly<Record<string, string>>
  body: Buffer
  sha256: string
  storedAt: number
}

export function sha256Hex(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex')
}

export class ContentCache {
  readonly #maxBytes: number
  readonly #maxObjectBytes: number
  readonly #entries = new Map<string, CachedObject>()
  #bytes = 0
  hits = 0
  misses = 0

  constructor(maxBytes: number, maxObjectBytes: number) {
    this.#maxBytes = maxBytes
    this.#maxObjectBytes = maxObjectBytes
  }

  get bytes(): number {
    return this.#bytes
  }
  get size(): number {
    return this.#entries.size
  }
  get maxObjectBytes(): number {
    return this.#maxObjectBytes
  }

  static key(site: string, path: string): string {
    return `${site}\n${path}`
  }

  get(site: string, path: string): CachedObject | undefined {
    const k = ContentCache.key(site, path)
    const e = this.#entries.get(k)
    if (e === undefined) {
      this.misses++
      return undefined
    }
    this.#entries.delete(k)
    this.#entries.set(k, e)
    this.hits++
    return e
  }

  peek(site: string, path: string): CachedObject | undefined {
    return this.#entries.get(ContentCache.key(site, path))
  }

  /** Store an object; returns false when it is larger than the per-object limit. */
  put(obj: CachedObject): boolean {
    const size = obj.body.byteLength
    if (size > this.#maxObjectBytes || size > this.#maxBytes) return false
    const k = ContentCache.key(obj.site, obj.path)
    this.delete(obj.site, obj.path)
    this.#entries.set(k, obj)
    this.#bytes += size
    for (const [key, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break
      this.#entries.delete(key)
      this.#bytes -= e.body.byteLength
    }
    return true
  }

  delete(site: string, path: string): void {
    const k = ContentCache.key(site, path)
    const old = this.#entries.get(k)
    if (old !== undefined) {
      this.#entries.delete(k)
      this.#bytes -= old.body.byteLength
    }
  }

  /** Drop every object of a site (when a help session ends and its grace period is over). */
  dropSite(site: string): void {
    for (const e of this.#entries.values()) if (e.site === site) this.delete(e.site, e.path)
  }
}
