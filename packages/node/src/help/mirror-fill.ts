/**
 * How a helper gets the objects of a site it mirrors (SPEC.md §Fetch stream, Filling from
 * helpers). The struck site's uplink is what the crowd is filling, so each object should
 * cross it about once, not once per helper:
 *
 * - every object of the manifest has an *owner* among the session's accepted helpers
 *   (rendezvous hashing of path and peer id over the helper list of the latest help-accept,
 *   so every helper computes the same owner);
 * - any helper other than the owner fetches the object from the owner (one fill there for all
 *   who ask), and from the struck site only when the owner fails or is slow;
 * - helpers are accepted a few at a time in a crowd's first seconds, and each new helper list
 *   gives some objects a new owner, which the helpers accepted before it likely fetched already:
 *   the owner asks, before the struck site, helpers ranked below it for the object (a standby
 *   of the site; whoever owned it before this node was accepted, read from the accept, which
 *   lists helpers in the order the beneficiary first accepted them; owners under the earlier
 *   lists this node saw). None of them owns the object under a list that names the owner, so
 *   each answers from its cache or 503 at once: asks only go down the ranking and cannot loop.
 *   A non-owner's prefetch also asks the earlier owners;
 * - an object not in the manifest comes from the struck site (nothing else could vouch for it);
 * - every body is verified against the manifest entry the struck site signed (size, SHA-256),
 *   whoever sent it.
 *
 * One fill per object at a time (concurrent callers share it), and at most
 * MAX_FETCHES_PER_PEER fetch streams open to any one peer: they all share one connection,
 * whose sender's uplink is the bottleneck, so more at once only queue there — and a crowd of
 * streams waiting on a starved connection is what turned slow fills into refused ones. A helper
 * answering another helper fills only from its cache, helpers ranked below it, or the struck
 * site: requests are never passed on up the ranking, so they cannot loop. Only the object's
 * owner fills it for another helper (from helpers ranked below it, then the struck site; one
 * fill per object at a time, which its own joins); any other helper answers from its cache or 503 at once, so the
 * asker goes on to the owner. And the answer never waits on a fill of its own that is asking
 * the owner: an owner whose prefetch asked an earlier owner, while that earlier owner's fill
 * asked it back, held both until the owner time-out (4 s, then both fetched from the struck
 * site: 28 of 44 time-outs among eight members at 30 page loads/s).
 *
 * Visitors first: a fill a visitor waits for (a mirror miss, or another helper's request) goes
 * ahead of every prefetch waiting for the same peer, and a prefetch starts only while no such
 * fill is open or waiting there, with at most MAX_PREFETCHES_PER_PEER streams. The struck
 * site's connection to a helper is one TCP flow among the crowd's many on its uplink: a visitor's
 * image queued behind the rest of the hot set waited past the visitor's patience (namespace
 * testbed, 10 s). A prefetch a visitor comes to wait for is promoted.
 */
import { createHash } from 'node:crypto'
import type { Libp2p } from '@libp2p/interface'
import type { ManifestEntry } from '@reef/protocol'
import type { Logger } from 'pino'
import { pickMirroredHeaders } from '../origin/cacheability.ts'
import type { CachedObject, ContentCache } from '../origin/content-cache.ts'
import { FetchRefusedError } from '../errors.ts'
import { fetchFromPeer } from '../p2p/fetch-stream.ts'
import type { HelpingSession } from './help-coordinator.ts'
import {
  EARLIER_OWNERS_ASKED,
  HOLDERS_ASKED,
  MAX_FETCHES_PER_PEER,
  MAX_PREFETCHES_PER_PEER,
  OWNER_FETCH_TIMEOUT_MAX_MS,
  OWNER_FETCH_TIMEOUT_MS,
  WARMING_SHARE
} from '../constants.ts'

/** A fill's priority; a prefetch becomes a visitor's fill when a visitor comes to wait for it. */
interface Priority {
  demand: boolean
  promote?: (() => void) | undefined
}

/** A peer's rank score for `path`: SHA-1(peer ‖ "\n" ‖ path), compared as big-endian bytes. */
function scoreOf(peer: string, path: string): Buffer {
  return createHash('sha1').update(peer).update('\n').update(path).digest()
}

/** The owner of `path` among `peers`: highest SHA-1(peer ‖ "\n" ‖ path), as every helper computes it. */
export function ownerOf(path: string, peers: readonly string[]): string | undefined {
  let best: string | undefined
  let bestScore: Buffer | undefined
  for (const peer of peers) {
    const score = scoreOf(peer, path)
    if (bestScore === undefined || Buffer.compare(score, bestScore) > 0) {
      best = peer
      bestScore = score
    }
  }
  return best
}

/**
 * Who owned `path` before `self` was accepted, latest first: with `order` the helpers in the
 * order the beneficiary first accepted them (help-accept, r7), the owners of `path` under each
 * of its prefixes that end before `self`, each once. The first held the object when `self` was
 * accepted, if anyone did; every one ranks below `self` when `self` owns `path`.
 */
export function ownersBefore(path: string, order: readonly string[], self: string): string[] {
  const k = order.indexOf(self)
  const chain: string[] = []
  let best: Buffer | undefined
  for (const peer of order.slice(0, k < 0 ? 0 : k)) {
    const score = scoreOf(peer, path)
    if (best !== undefined && Buffer.compare(score, best) <= 0) continue
    best = score
    chain.push(peer)
  }
  return chain.reverse()
}

/**
 * The `n` peers of `peers` that rank just below `self` for `path` (highest score first): each
 * owned `path` under a helper list without `self` and those above it, so whichever of them was
 * accepted before `self` likely fetched it already. None of them owns `path` under a list that
 * names `self`, so asked by `self` each answers from its cache or `503` at once, never asking a
 * helper on: asks only go down the ranking, so they cannot loop.
 */
export function rankedBelow(path: string, peers: readonly string[], self: string, n: number): string[] {
  const own = scoreOf(self, path)
  return peers
    .filter(p => p !== self)
    .map(peer => ({ peer, score: scoreOf(peer, path) }))
    .filter(x => Buffer.compare(x.score, own) < 0)
    .sort((a, b) => Buffer.compare(b.score, a.score))
    .slice(0, n)
    .map(x => x.peer)
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
  /** The uplink (bytes/s) `peer`'s latest load report declares, if any. */
  uplinkOf?: (peer: string) => number | undefined
}

/** Σ sizes of a manifest's entries, cached per manifest map (recomputed when its entry count changes). */
const manifestBytes = new WeakMap<Map<string, ManifestEntry>, { entries: number; bytes: number }>()

/**
 * How long to wait on another helper for an object of session `s` (see OWNER_FETCH_TIMEOUT_MS):
 * longer when the struck site's declared uplink needs longer to send its hot set.
 */
export function ownerTimeoutMs(s: Pick<HelpingSession, 'manifest'>, uplinkBytesPerSec: number | undefined): number {
  if (uplinkBytesPerSec === undefined || !(uplinkBytesPerSec > 0)) return OWNER_FETCH_TIMEOUT_MS
  let m = manifestBytes.get(s.manifest)
  if (m === undefined || m.entries !== s.manifest.size) {
    let bytes = 0
    for (const e of s.manifest.values()) bytes += e.size
    m = { entries: s.manifest.size, bytes }
    manifestBytes.set(s.manifest, m)
  }
  const crossMs = (1000 * m.bytes) / (WARMING_SHARE * uplinkBytesPerSec)
  return Math.round(Math.min(OWNER_FETCH_TIMEOUT_MAX_MS, Math.max(OWNER_FETCH_TIMEOUT_MS, 2 * crossMs)))
}

export class MirrorFill {
  readonly #d: MirrorFillDeps
  readonly #fills = new Map<string, { promise: Promise<CachedObject>; prio: Priority }>()
  /** Per object: the fetch from the struck site under way (every fill that reaches the site joins it). */
  readonly #fromSite = new Map<string, { promise: Promise<CachedObject>; prio: Priority }>()
  /** Per object this node owns: its fill (helpers ranked below, then the struck site), which every caller joins. */
  readonly #ownerFills = new Map<string, { promise: Promise<CachedObject>; prio: Priority }>()
  /** Per peer: fetch streams open (all, and visitors'), and the fetches waiting for one (FIFO each). */
  readonly #open = new Map<string, { all: number; demand: number }>()
  readonly #waiting = new Map<string, { demand: Array<(asDemand: boolean) => void>; prefetch: Array<(asDemand: boolean) => void> }>()
  /**
   * Objects filled, by where they came from, since start. Of `fromSite` (every object fetched
   * from the struck site): `siteForPeer` for another helper that owns it here, `siteAfterHelper`
   * after a helper asked first (standby, owner or earlier owner) failed or took too long,
   * `sitePrefetch` with no visitor waiting. `ownerFailed`: asks of the owner that failed.
   * `fromBelow`: objects this node owns, from a helper ranked below it (`#owned`).
   */
  readonly counts = {
    fromSite: 0,
    fromOwner: 0,
    ownerFailed: 0,
    fromStandby: 0,
    fromEarlierOwner: 0,
    fromBelow: 0,
    siteForPeer: 0,
    siteAfterHelper: 0,
    sitePrefetch: 0
  }

  constructor(deps: MirrorFillDeps) {
    this.#d = deps
  }

  /** Whether this node owns `path` in session `s` (fetches it from the struck site for the others). */
  owns(s: HelpingSession, path: string): boolean {
    return s.helpers.length === 0 || ownerOf(path, s.helpers) === this.#d.selfId
  }

  /**
   * The object at `path` of the site `s` helps, verified, into the cache. `forPeer`: asked by
   * another helper, so fetched from the struck site if this node owns it (else 503). `prefetch`: no visitor waits for it
   * (yet): it yields to those who do.
   */
  fill(s: HelpingSession, path: string, opts: { forPeer?: boolean; prefetch?: boolean } = {}): Promise<CachedObject> {
    const cached = this.#d.cache.peek(s.site, path)
    if (cached !== undefined) return Promise.resolve(cached)
    const key = `${s.site}\n${path}`
    const demand = opts.prefetch !== true
    const atSite = this.#fromSite.get(key)
    if (atSite !== undefined) return MirrorFill.#join(atSite, demand)
    // The owner, hashed once for this call and the fill it may start.
    const entry = s.manifest.get(path)
    const owner = ownerOf(path, s.helpers)
    const owns = owner === undefined || owner === this.#d.selfId
    if (opts.forPeer === true) {
      // Another helper asks. Only the owner fetches for others (a second fetcher would be a
      // second copy across the struck uplink), and only from helpers ranked below it, then the
      // struck site: never through a fill of its own that asks its owner (maybe the asker).
      if (!owns) return Promise.reject(new FetchRefusedError(503, `${path} is not held here: ask its owner`))
      return this.#owned(s, path, demand, true)
    }
    if (owns && entry !== undefined) return this.#owned(s, path, demand, false)
    const running = this.#fills.get(key)
    if (running !== undefined) return MirrorFill.#join(running, demand)
    const prio: Priority = { demand }
    const promise = this.#fill(s, path, prio, entry, entry === undefined ? undefined : owner).finally(() => this.#fills.delete(key))
    this.#fills.set(key, { promise, prio })
    return promise
  }

  static #join(running: { promise: Promise<CachedObject>; prio: Priority }, demand: boolean): Promise<CachedObject> {
    if (demand && !running.prio.demand) {
      running.prio.demand = true
      running.prio.promote?.()
    }
    return running.promise
  }

  /** The object from the struck site: one fetch per object at a time, which later callers join. */
  #site(
    s: HelpingSession,
    path: string,
    prio: Priority,
    entry: ManifestEntry | undefined,
    why: { forPeer: boolean; afterHelper: boolean }
  ): Promise<CachedObject> {
    const key = `${s.site}\n${path}`
    const running = this.#fromSite.get(key)
    if (running !== undefined) return MirrorFill.#join(running, prio.demand)
    this.counts.fromSite++
    this.#d.log.debug(
      { site: s.site, path, forPeer: why.forPeer, afterHelper: why.afterHelper, demand: prio.demand, inManifest: entry !== undefined },
      'filling from the struck site'
    )
    if (why.forPeer) this.counts.siteForPeer++
    if (why.afterHelper) this.counts.siteAfterHelper++
    if (!prio.demand) this.counts.sitePrefetch++
    const promise = (async () => {
      const f = await this.#fetch(s.beneficiary, prio, () => fetchFromPeer(this.#d.libp2p, s.beneficiary, s.session, path, this.#d.maxObjectBytes, entry))
      return this.#store(s, path, f)
    })().finally(() => this.#fromSite.delete(key))
    this.#fromSite.set(key, { promise, prio })
    return promise
  }

  /**
   * An object this node owns, for itself or another helper: from the helpers ranked below it
   * for the path that may hold it (`#holdersBelow`: a standby of the site, whoever owned it
   * before this node was accepted), then the struck site. One such fill per object at a time,
   * which every caller joins. The helpers asked answer from their cache or 503 at once.
   */
  #owned(s: HelpingSession, path: string, demand: boolean, forPeer: boolean): Promise<CachedObject> {
    const key = `${s.site}\n${path}`
    const running = this.#ownerFills.get(key)
    if (running !== undefined) return MirrorFill.#join(running, demand)
    const prio: Priority = { demand }
    const entry = s.manifest.get(path)
    const promise = (async () => {
      let askedHelper = false
      for (const peer of entry === undefined ? [] : this.#holdersBelow(s, path)) {
        const got = await this.#fromHelper(s, path, entry!, peer, prio, 'fromBelow')
        if (got !== undefined) return got
        askedHelper = true
      }
      const held = this.#d.cache.peek(s.site, path)
      if (held !== undefined) return held
      return this.#site(s, path, prio, entry, { forPeer, afterHelper: askedHelper })
    })().finally(() => this.#ownerFills.delete(key))
    this.#ownerFills.set(key, { promise, prio })
    return promise
  }

  /**
   * The helpers an owner asks for `path` before the struck site, at most HOLDERS_ASKED: the
   * site's standby, the owners before this node was accepted (latest first, from the accept's
   * order), the owners under earlier lists (newest first); each in the latest list, up, and
   * ranked below this node (as any helper of that list other than its owner is). Without an
   * order that places this node (an r6 beneficiary's accept, or none yet), the helper ranked just
   * below it, which owned the object before this node was accepted if it was there then.
   */
  #holdersBelow(s: HelpingSession, path: string): string[] {
    const self = this.#d.selfId
    const up = (p: string): boolean => p !== self && s.helpers.includes(p) && this.#d.isDown?.(p) !== true
    const out: string[] = []
    const add = (p: string | undefined): void => {
      if (p !== undefined && up(p) && !out.includes(p) && out.length < HOLDERS_ASKED) out.push(p)
    }
    add(this.#d.standbysOf?.(s.site).find(up))
    const order = s.acceptOrder
    if (order !== undefined && order.includes(self)) for (const p of ownersBefore(path, order, self)) add(p)
    else for (const p of rankedBelow(path, s.helpers, self, 1)) add(p)
    for (const p of this.#earlierOwners(s, path, self)) add(p)
    return out
  }

  /** An object this node does not own (or outside the manifest: `entry` and `owner` undefined). */
  async #fill(s: HelpingSession, path: string, prio: Priority, entry: ManifestEntry | undefined, owner: string | undefined): Promise<CachedObject> {
    let askedHelper = false
    if (entry !== undefined) {
      // A standby of the site that is one of the session's helpers holds the hot content already.
      const standby = this.#d.standbysOf?.(s.site).find(p => p !== this.#d.selfId && s.helpers.includes(p) && this.#d.isDown?.(p) !== true)
      const got = standby === undefined ? undefined : await this.#fromHelper(s, path, entry, standby, prio, 'fromStandby')
      if (got !== undefined) return got
      askedHelper ||= standby !== undefined
      if (owner !== undefined && owner !== this.#d.selfId && this.#d.isDown?.(owner) !== true) {
        const got = await this.#fromHelper(s, path, entry, owner, prio, 'fromOwner')
        if (got !== undefined) return got
        askedHelper = true
      }
      // Whoever owned it under the session's earlier helper lists has likely fetched it already.
      // Only for a prefetch: a visitor's fill does not wait on more hops than the owner's.
      for (const earlier of prio.demand ? [] : this.#earlierOwners(s, path, owner)) {
        const got = await this.#fromHelper(s, path, entry, earlier, prio, 'fromEarlierOwner')
        if (got !== undefined) return got
        askedHelper = true
      }
    }
    // Meanwhile another helper's ask may have had this node (the owner) fetch it from the site.
    const held = this.#d.cache.peek(s.site, path)
    if (held !== undefined) return held
    return this.#site(s, path, prio, entry, { forPeer: false, afterHelper: askedHelper })
  }

  /**
   * The object from `peer`, another helper of the session (verified against `entry` like any
   * body), counted as `kind`; undefined when it refuses, fails or takes longer than
   * `ownerTimeoutMs` (the caller asks the next, the struck site last).
   */
  async #fromHelper(
    s: HelpingSession,
    path: string,
    entry: ManifestEntry,
    peer: string,
    prio: Priority,
    kind: 'fromStandby' | 'fromOwner' | 'fromEarlierOwner' | 'fromBelow'
  ): Promise<CachedObject | undefined> {
    try {
      const timeoutMs = ownerTimeoutMs(s, this.#d.uplinkOf?.(s.beneficiary))
      const f = await this.#fetch(peer, prio, () => fetchFromPeer(this.#d.libp2p, peer, s.session, path, this.#d.maxObjectBytes, entry, timeoutMs))
      this.counts[kind]++
      return this.#store(s, path, f)
    } catch (err) {
      if (kind === 'fromOwner') this.counts.ownerFailed++
      this.#d.log.debug({ site: s.site, path, peer, kind, err: (err as Error).message }, 'a helper could not fill: asking the next')
      return undefined
    }
  }

  /**
   * The owners of `path` under the session's earlier helper lists, newest first: up to
   * EARLIER_OWNERS_ASKED helpers still accepted and up, other than this node and `owner`.
   */
  #earlierOwners(s: HelpingSession, path: string, owner: string | undefined): string[] {
    const out: string[] = []
    for (const list of s.earlierHelpers ?? []) {
      const o = ownerOf(path, list)
      if (o === undefined || o === this.#d.selfId || o === owner || out.includes(o) || !s.helpers.includes(o) || this.#d.isDown?.(o) === true) continue
      out.push(o)
      if (out.length >= EARLIER_OWNERS_ASKED) break
    }
    return out
  }

  /** Run `fetch` once a stream to `peer` is free for it (see the class comment for the rules). */
  async #fetch<T>(peer: string, prio: Priority, fetch: () => Promise<T>): Promise<T> {
    let demand = prio.demand
    const asked = performance.now()
    if (this.#mayStart(peer, demand)) this.#take(peer, demand)
    else {
      let q = this.#waiting.get(peer)
      if (q === undefined) {
        q = { demand: [], prefetch: [] }
        this.#waiting.set(peer, q)
      }
      const queue = q
      // #next takes the stream for the waiter before waking it, as a visitor's fill or not.
      demand = await new Promise<boolean>(resolve => {
        if (prio.demand) {
          queue.demand.push(resolve)
          return
        }
        queue.prefetch.push(resolve)
        prio.promote = () => {
          const i = queue.prefetch.indexOf(resolve)
          if (i < 0) return
          queue.prefetch.splice(i, 1)
          queue.demand.push(resolve)
          this.#next(peer)
        }
      })
      prio.promote = undefined
    }
    const started = performance.now()
    try {
      return await fetch()
    } finally {
      const done = performance.now()
      if (done - asked > 1_000)
        this.#d.log.debug(
          { peer, demand, waitedMs: Math.round(started - asked), fetchMs: Math.round(done - started), open: this.#open.get(peer) },
          'slow fill fetch'
        )
      const open = this.#open.get(peer)
      if (open !== undefined) {
        open.all--
        if (demand) open.demand--
        if (open.all <= 0) this.#open.delete(peer)
      }
      this.#next(peer)
    }
  }

  #take(peer: string, demand: boolean): void {
    const open = this.#open.get(peer) ?? { all: 0, demand: 0 }
    open.all++
    if (demand) open.demand++
    this.#open.set(peer, open)
  }

  #mayStart(peer: string, demand: boolean): boolean {
    const open = this.#open.get(peer) ?? { all: 0, demand: 0 }
    if (open.all >= MAX_FETCHES_PER_PEER) return false
    if (demand) return true
    const q = this.#waiting.get(peer)
    return open.demand === 0 && (q === undefined || q.demand.length === 0) && open.all < MAX_PREFETCHES_PER_PEER
  }

  /** Start what may start now on `peer`: visitors' fills first, then prefetches. */
  #next(peer: string): void {
    const q = this.#waiting.get(peer)
    if (q === undefined) return
    while (q.demand.length > 0 && this.#mayStart(peer, true)) {
      this.#take(peer, true)
      q.demand.shift()!(true)
    }
    while (q.prefetch.length > 0 && this.#mayStart(peer, false)) {
      this.#take(peer, false)
      q.prefetch.shift()!(false)
    }
    if (q.demand.length === 0 && q.prefetch.length === 0) this.#waiting.delete(peer)
  }

  #store(s: HelpingSession, path: string, f: { headers: Record<string, string>; body: Buffer; sha256: string }): CachedObject {
    const obj: CachedObject = { site: s.site, path, headers: pickMirroredHeaders(f.headers), body: f.body, sha256: f.sha256, storedAt: Date.now() }
    this.#d.cache.put(obj)
    return obj
  }
}
