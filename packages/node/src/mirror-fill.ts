/**
 * How a helper gets the objects of a site it mirrors (SPEC.md §Fetch stream, Filling from
 * helpers). The struck site's uplink is what the crowd is filling, so each object should
 * cross it about once, not once per helper:
 *
 * - every object of the manifest has an *owner* among the session's accepted helpers
 *   (rendezvous hashing of path and peer id over the helper list of the latest help-accept,
 *   so every helper computes the same owner);
 * - the owner fetches the object from the struck site; any other helper fetches it from the
 *   owner (which fetches it from the struck site first if it has not yet, one fetch for all
 *   who ask), and from the struck site only when the owner fails or is slow;
 * - an object not in the manifest comes from the struck site (nothing else could vouch for it);
 * - every body is verified against the manifest entry the struck site signed (size, SHA-256),
 *   whoever sent it.
 *
 * One fill per object at a time (concurrent callers share it), and at most
 * MAX_FETCHES_PER_PEER fetch streams open to any one peer: they all share one connection,
 * whose sender's uplink is the bottleneck, so more at once only queue there — and a crowd of
 * streams waiting on a starved connection is what turned slow fills into refused ones. A helper
 * answering another helper fills only from its cache or the struck site: requests are never
 * passed on, so they cannot loop.
 */
import { createHash } from 'node:crypto'
import type { Libp2p } from '@libp2p/interface'
import type { Logger } from 'pino'
import { pickMirroredHeaders } from './cacheability.ts'
import type { CachedObject, ContentCache } from './content-cache.ts'
import { fetchFromPeer } from './fetch-protocol.ts'
import type { HelpingSession } from './help-coordinator.ts'

/** How long a helper waits on the owner before it asks the struck site itself, in ms. */
export const OWNER_FETCH_TIMEOUT_MS = 4_000
/** Most fetch streams a helper keeps open to one peer at a time; the rest wait their turn. */
export const MAX_FETCHES_PER_PEER = 6

/** The owner of `path` among `peers`: highest SHA-1(peer ‖ "\n" ‖ path), as every helper computes it. */
export function ownerOf (path: string, peers: readonly string[]): string | undefined {
  let best: string | undefined
  let bestScore: Buffer | undefined
  for (const peer of peers) {
    const score = createHash('sha1').update(peer).update('\n').update(path).digest()
    if (bestScore === undefined || Buffer.compare(score, bestScore) > 0) { best = peer; bestScore = score }
  }
  return best
}

export interface MirrorFillDeps {
  libp2p: Libp2p
  cache: ContentCache
  selfId: string
  maxObjectBytes: number
  log: Logger
  /** Whether `peer` is known to be down now (not asked then). */
  isDown?: (peer: string) => boolean
  /** The standbys a site's latest standby record names (they hold its hot content: asked first). */
  standbysOf?: (site: string) => readonly string[]
}

export class MirrorFill {
  readonly #d: MirrorFillDeps
  readonly #fills = new Map<string, Promise<CachedObject>>()
  /** Per peer: fetch streams open, and the fetches waiting for one (FIFO). */
  readonly #open = new Map<string, number>()
  readonly #waiting = new Map<string, Array<() => void>>()
  /** Objects filled, by where they came from, since start. */
  readonly counts = { fromSite: 0, fromOwner: 0, ownerFailed: 0, fromStandby: 0 }

  constructor (deps: MirrorFillDeps) { this.#d = deps }

  /** Whether this node owns `path` in session `s` (fetches it from the struck site for the others). */
  owns (s: HelpingSession, path: string): boolean {
    return s.helpers.length === 0 || ownerOf(path, s.helpers) === this.#d.selfId
  }

  /**
   * The object at `path` of the site `s` helps, verified, into the cache. `forPeer`: asked by
   * another helper, so filled only from the struck site.
   */
  fill (s: HelpingSession, path: string, opts: { forPeer?: boolean } = {}): Promise<CachedObject> {
    const cached = this.#d.cache.peek(s.site, path)
    if (cached !== undefined) return Promise.resolve(cached)
    const key = `${s.site}\n${path}`
    let p = this.#fills.get(key)
    if (p === undefined) {
      p = this.#fill(s, path, opts.forPeer === true).finally(() => this.#fills.delete(key))
      this.#fills.set(key, p)
    }
    return p
  }

  async #fill (s: HelpingSession, path: string, forPeer: boolean): Promise<CachedObject> {
    const entry = s.manifest.get(path)
    // A standby of the site that is one of the session's helpers holds the hot content already.
    const standby = entry === undefined || forPeer
      ? undefined
      : this.#d.standbysOf?.(s.site).find(p => p !== this.#d.selfId && s.helpers.includes(p) && this.#d.isDown?.(p) !== true)
    if (standby !== undefined) {
      try {
        const f = await this.#fetch(standby, () => fetchFromPeer(this.#d.libp2p, standby, s.session, path, this.#d.maxObjectBytes, entry, OWNER_FETCH_TIMEOUT_MS))
        this.counts.fromStandby++
        return this.#store(s, path, f)
      } catch (err) {
        this.#d.log.debug({ site: s.site, path, standby, err: (err as Error).message }, 'standby could not fill: asking the owner')
      }
    }
    const owner = entry === undefined || forPeer ? undefined : ownerOf(path, s.helpers)
    if (owner !== undefined && owner !== this.#d.selfId && this.#d.isDown?.(owner) !== true) {
      try {
        const f = await this.#fetch(owner, () => fetchFromPeer(this.#d.libp2p, owner, s.session, path, this.#d.maxObjectBytes, entry, OWNER_FETCH_TIMEOUT_MS))
        this.counts.fromOwner++
        return this.#store(s, path, f)
      } catch (err) {
        this.counts.ownerFailed++
        this.#d.log.debug({ site: s.site, path, owner, err: (err as Error).message }, 'owner could not fill: asking the struck site')
      }
    }
    const f = await this.#fetch(s.beneficiary, () => fetchFromPeer(this.#d.libp2p, s.beneficiary, s.session, path, this.#d.maxObjectBytes, entry))
    this.counts.fromSite++
    return this.#store(s, path, f)
  }

  /** Run `fetch` once fewer than MAX_FETCHES_PER_PEER fetches to `peer` are open. */
  async #fetch<T> (peer: string, fetch: () => Promise<T>): Promise<T> {
    if ((this.#open.get(peer) ?? 0) >= MAX_FETCHES_PER_PEER) {
      await new Promise<void>(resolve => {
        let q = this.#waiting.get(peer)
        if (q === undefined) { q = []; this.#waiting.set(peer, q) }
        q.push(resolve)
      })
    }
    this.#open.set(peer, (this.#open.get(peer) ?? 0) + 1)
    try {
      return await fetch()
    } finally {
      const next = this.#waiting.get(peer)?.shift()
      if (this.#waiting.get(peer)?.length === 0) this.#waiting.delete(peer)
      const n = (this.#open.get(peer) ?? 1) - 1
      if (n <= 0) this.#open.delete(peer)
      else this.#open.set(peer, n)
      next?.()
    }
  }

  #store (s: HelpingSession, path: string, f: { headers: Record<string, string>, body: Buffer, sha256: string }): CachedObject {
    const obj: CachedObject = { site: s.site, path, headers: pickMirroredHeaders(f.headers), body: f.body, sha256: f.sha256, storedAt: Date.now() }
    this.#d.cache.put(obj)
    return obj
  }
}
