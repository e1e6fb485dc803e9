/**
 * Warm standby (SPEC.md §Warm standby): in calm times each member's hot content is kept by k
 * other members, so that when a crowd strikes, helpers that can serve at full speed already
 * exist and nothing has to cross the struck uplink first.
 *
 * As a site: every STANDBY_REFRESH_MS while calm, and whenever its hot set or its standbys
 * change, it publishes a signed `standby` record naming its standbys — the k live, calm peers
 * with the largest SHA-1(site ‖ "\n" ‖ peer id), a choice everyone can recompute — and its
 * manifest. It answers their fetch-stream requests (session = the record's id) only while it is
 * calm, and within a byte budget of `uplinkShare` × its uplink; otherwise 503.
 *
 * As a standby: for each record naming it, it keeps a replica: the manifest's objects, hottest
 * first, fetched one at a time and paced to `uplinkShare` × the site's declared uplink, never
 * while either side is busy, each verified against the manifest (size, SHA-256). A new revision
 * keeps every object whose hash is unchanged (the conditional fetch is by hash) and fetches the
 * rest. Replicas share `maxBytes` equally (the fair rule): each site's replica holds the hottest
 * prefix of its manifest that fits its share, trimmed from its coldest end when a new site
 * arrives. When the site is struck and accepts this node as a helper, the replica seeds the
 * mirror's cache: it serves at once.
 *
 * Standby transfers are not in the ledger: no delegation can vouch for them (SPEC.md).
 */
import { createHash, randomBytes } from 'node:crypto'
import { MAX_STANDBYS, STANDBY_REFRESH_MS } from '@reef/protocol'
import type { ManifestEntry, Standby, VerifiedRecord } from '@reef/protocol'
import type { Logger } from 'pino'
import { pickMirroredHeaders } from '../origin/cacheability.ts'
import type { CachedObject, ContentCache } from '../origin/content-cache.ts'
import { FetchRefusedError } from '../errors.ts'
import type { FetchedObject } from '../p2p/fetch-stream.ts'
import type { PeerTable } from '../p2p/peer-table.ts'
import type { RecordChannel } from '../p2p/record-bus.ts'
import { ByteBudget } from '../load/shedder.ts'
import { STANDBY_BACKOFF_MS, STANDBY_MIN_REPUBLISH_MS, STANDBY_PUMP_MS, STANDBY_STALE_REFRESHES } from '../constants.ts'

export interface StandbyOptions {
  selfId: string
  site: string
  siteUrl: string
  topic: string
  /** How many standbys this site names (k): a number, or read each time (a charter's policy may change it). */
  replicas: number | (() => number)
  /** Share of the site's uplink standby transfers may use (background rate). */
  uplinkShare: number
  /** Bytes all replicas held here may take together. */
  maxBytes: number
  refreshMs?: number
}

export interface StandbyDeps {
  bus: RecordChannel
  peers: PeerTable
  log: Logger
  /** This site's hot content now. */
  manifest: () => ManifestEntry[]
  /** Whether this node is calm: its site normal and its uplink not busy. */
  calm: () => boolean
  /** This node's declared uplink, bytes/s. */
  uplinkBytesPerSec: () => number
  /** An object of this site (cache or origin) for a standby's fetch. */
  load: (path: string) => Promise<CachedObject>
  /** Fetch an object from a site's node over the fetch stream, verified against `entry`. */
  fetch: (peer: string, id: string, entry: ManifestEntry) => Promise<FetchedObject>
  /** Told of every object a standby fetched (bytes received). */
  onFetched?: (site: string, bytes: number) => void
}

export interface ReplicaView {
  site: string
  beneficiary: string
  revision: number
  heldBytes: number
  manifestBytes: number
  objects: number
  manifestObjects: number
  updatedAt: number
  /** When the last object arrived (undefined: none yet). */
  fetchedAt: number | undefined
}

interface Replica {
  beneficiary: string
  site: string
  siteUrl: string
  id: string
  revision: number
  manifest: ManifestEntry[]
  /** How many standbys the site named: they share its background budget. */
  standbys: number
  objects: Map<string, CachedObject>
  bytes: number
  updatedAt: number
  fetchedAt: number | undefined
  /** Not before this time (back-off after a refusal, pacing after a fetch). */
  nextAt: number
}

interface Mine {
  id: string
  revision: number
  standbys: string[]
  manifest: Map<string, ManifestEntry>
  key: string
  publishedAt: number
}

/** The k peers that stand by for `site`, by rendezvous hashing: the largest SHA-1(site ‖ "\n" ‖ peer). */
export function chooseStandbys(
  site: string,
  candidates: readonly string[],
  k: number,
  score: (peer: string) => Buffer = peer => standbyScore(site, peer)
): string[] {
  // Each score once (the comparator would hash both sides of every comparison).
  return candidates
    .map(peer => ({ peer, score: score(peer) }))
    .sort((a, b) => Buffer.compare(b.score, a.score) || (a.peer < b.peer ? -1 : 1))
    .slice(0, Math.max(0, k))
    .map(x => x.peer)
}

export function standbyScore(site: string, peer: string): Buffer {
  return createHash('sha1').update(`${site}\n${peer}`).digest()
}

export class StandbyService {
  readonly #opts: Required<StandbyOptions>
  readonly #deps: StandbyDeps
  readonly #budget = new ByteBudget()
  readonly #replicas = new Map<string, Replica>()
  /** Every site's latest standby record seen: its author and the standbys it names. */
  readonly #named = new Map<string, { author: string; standbys: readonly string[]; revision: number }>()
  #mine: Mine | undefined
  #timer: ReturnType<typeof setInterval> | undefined
  #unsubscribe: (() => void) | undefined
  #pumping = false
  /** Each live peer's rendezvous score for this site (a hash per peer, not per peer per tick). */
  readonly #scores = new Map<string, Buffer>()
  /** Bytes sent to standbys and received as one, since start. */
  readonly totals = { sent: 0, received: 0 }

  constructor(opts: StandbyOptions, deps: StandbyDeps) {
    this.#opts = { refreshMs: STANDBY_REFRESH_MS, ...opts }
    this.#deps = deps
  }

  start(): void {
    this.#unsubscribe = this.#deps.bus.onRecord(r => {
      this.#onRecord(r)
    })
    this.#timer = setInterval(() => {
      void this.#pump()
    }, STANDBY_PUMP_MS)
    this.#timer.unref?.()
  }

  stop(): void {
    this.#unsubscribe?.()
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }

  // ── as a site ───────────────────────────────────────────────────────────────

  /** Called on every control tick: (re)publish this site's standby record while calm. */
  async tick(now = Date.now()): Promise<void> {
    const k = typeof this.#opts.replicas === 'function' ? this.#opts.replicas() : this.#opts.replicas
    if (k <= 0 || !this.#deps.calm()) return
    const manifest = this.#deps.manifest()
    if (manifest.length === 0) return
    const live = this.#deps.peers.live(now)
    const candidates = live.filter(e => e.peer !== this.#opts.selfId && e.report.state === 'normal').map(e => e.peer)
    if (this.#scores.size > 2 * live.length + 16) {
      const keep = new Set(candidates)
      for (const peer of this.#scores.keys()) if (!keep.has(peer)) this.#scores.delete(peer)
    }
    const standbys = chooseStandbys(this.#opts.site, candidates, Math.min(k, MAX_STANDBYS), peer => {
      let sc = this.#scores.get(peer)
      if (sc === undefined) this.#scores.set(peer, (sc = standbyScore(this.#opts.site, peer)))
      return sc
    })
    if (standbys.length === 0) return
    // Which objects, not their order: popularity reorders the hot set all the time.
    const key = `${standbys.join(',')}|${manifest
      .map(e => `${e.path} ${e.sha256}`)
      .sort()
      .join('|')}`
    const mine = this.#mine
    if (mine !== undefined) {
      const since = now - mine.publishedAt
      if (mine.key === key ? since < this.#opts.refreshMs : since < STANDBY_MIN_REPUBLISH_MS && mine.standbys.join(',') === standbys.join(',')) return
    }
    const next: Mine = {
      id: mine?.id ?? randomBytes(12).toString('base64url'),
      revision: mine === undefined ? 1 : mine.key === key ? mine.revision : mine.revision + 1,
      standbys,
      manifest: new Map(manifest.map(e => [e.path, e])),
      key,
      publishedAt: now
    }
    this.#mine = next
    const body: Standby = { id: next.id, site: this.#opts.site, siteUrl: this.#opts.siteUrl, revision: next.revision, standbys, manifest }
    await this.#deps.bus.publish(this.#opts.topic, 'standby', body)
  }

  /** This site's current standby record (undefined: none published). */
  get mine(): { id: string; revision: number; standbys: readonly string[]; manifestBytes: number; publishedAt: number } | undefined {
    const m = this.#mine
    if (m === undefined) return undefined
    let bytes = 0
    for (const e of m.manifest.values()) bytes += e.size
    return { id: m.id, revision: m.revision, standbys: m.standbys, manifestBytes: bytes, publishedAt: m.publishedAt }
  }

  /** Whether `peer` is one of this site's standbys now. */
  isStandby(peer: string): boolean {
    return this.#mine?.standbys.includes(peer) === true
  }

  /**
   * A standby's fetch-stream request: the object, when `session` is this site's standby id, the
   * peer one of its standbys and the path in its manifest (undefined: 403); refused with 503
   * while the site is busy or over its background budget.
   */
  serve(session: string, peer: string, path: string): Promise<CachedObject> | undefined {
    const m = this.#mine
    if (m === undefined || m.id !== session || !m.standbys.includes(peer)) return undefined
    const entry = m.manifest.get(path)
    if (entry === undefined) return undefined
    if (!this.#deps.calm()) return Promise.reject(new FetchRefusedError(503, 'the site is busy: standby transfers wait for calm'))
    this.#budget.set(this.#opts.uplinkShare * this.#deps.uplinkBytesPerSec())
    if (!this.#budget.admit(entry.size)) return Promise.reject(new FetchRefusedError(503, 'standby transfers are over their share of the uplink'))
    this.totals.sent += entry.size
    return this.#deps.load(path)
  }

  // ── as a standby ────────────────────────────────────────────────────────────

  #onRecord(r: VerifiedRecord): void {
    if (r.type !== 'standby' || r.author === this.#opts.selfId) return
    const body = r.body as Standby
    // Who stands by for whom, for every site (helpers fill from standbys first).
    if (this.#deps.peers.get(r.author)?.report.site === body.site) {
      const seen = this.#named.get(body.site)
      if (seen === undefined || seen.author !== r.author || body.revision >= seen.revision)
        this.#named.set(body.site, { author: r.author, standbys: body.standbys, revision: body.revision })
    }
    const existing = this.#replicas.get(body.site)
    if (!body.standbys.includes(this.#opts.selfId)) {
      // No longer named: the replica goes.
      if (existing !== undefined && existing.beneficiary === r.author) this.#drop(body.site, 'no longer a standby')
      return
    }
    // The site label must be the author's own (as its load reports say).
    const reported = this.#deps.peers.get(r.author)?.report.site
    if (reported !== body.site) {
      this.#deps.log.warn({ author: r.author, site: body.site, reported }, 'standby record for a site label its author does not report: ignored')
      return
    }
    if (existing !== undefined && existing.beneficiary !== r.author) {
      this.#deps.log.warn({ site: body.site, author: r.author, holder: existing.beneficiary }, 'standby record for a site label another peer holds: ignored')
      return
    }
    const now = Date.now()
    if (existing !== undefined && existing.id === body.id && body.revision < existing.revision) return
    const replica: Replica = existing ?? {
      beneficiary: r.author,
      site: body.site,
      siteUrl: body.siteUrl,
      id: body.id,
      revision: body.revision,
      manifest: [],
      standbys: 1,
      objects: new Map(),
      bytes: 0,
      updatedAt: now,
      fetchedAt: undefined,
      nextAt: 0
    }
    replica.id = body.id
    replica.siteUrl = body.siteUrl
    replica.standbys = body.standbys.length
    replica.revision = body.revision
    replica.manifest = body.manifest
    replica.updatedAt = now
    // Conditional by hash: keep what is unchanged, forget what changed or left the manifest.
    const wanted = new Map(body.manifest.map(e => [e.path, e.sha256]))
    for (const [path, obj] of replica.objects) {
      if (wanted.get(path) !== obj.sha256) {
        replica.objects.delete(path)
        replica.bytes -= obj.body.byteLength
      }
    }
    if (existing === undefined) {
      this.#replicas.set(body.site, replica)
      this.#deps.log.info({ site: body.site, revision: body.revision, objects: body.manifest.length }, 'standing by for a site')
    }
    this.#trim()
  }

  #drop(site: string, why: string): void {
    if (this.#replicas.delete(site)) this.#deps.log.info({ site, why }, 'replica dropped')
  }

  /** Each replica's share of maxBytes (the fair rule: equal shares). */
  #share(): number {
    return this.#replicas.size === 0 ? this.#opts.maxBytes : Math.floor(this.#opts.maxBytes / this.#replicas.size)
  }

  /** Trim every replica to the hottest prefix of its manifest that fits its share. */
  #trim(): void {
    const share = this.#share()
    for (const r of this.#replicas.values()) {
      let used = 0
      for (const e of r.manifest) {
        const obj = r.objects.get(e.path)
        if (obj === undefined) continue
        if (used + obj.body.byteLength > share) {
          r.objects.delete(e.path)
          r.bytes -= obj.body.byteLength
        } else used += obj.body.byteLength
      }
    }
  }

  /** The next object a replica should fetch: the hottest missing one within its share. */
  #next(r: Replica): ManifestEntry | undefined {
    const share = this.#share()
    let used = 0
    for (const e of r.manifest) {
      if (r.objects.has(e.path)) {
        used += e.size
        continue
      }
      if (used + e.size > share) return undefined
      return e
    }
    return undefined
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return
    this.#pumping = true
    try {
      const now = Date.now()
      for (const [site, r] of this.#replicas) {
        if (now - r.updatedAt > STANDBY_STALE_REFRESHES * this.#opts.refreshMs) this.#drop(site, 'its site stopped re-publishing')
      }
      if (!this.#deps.calm()) return
      // The replica furthest from complete goes first (fair), among those not waiting.
      const due = [...this.#replicas.values()]
        .filter(r => r.nextAt <= now && this.#next(r) !== undefined)
        .sort((a, b) => a.bytes / Math.max(1, total(a)) - b.bytes / Math.max(1, total(b)))
      const r = due[0]
      if (r === undefined) return
      const site = this.#deps.peers.get(r.beneficiary, now)
      if (site === undefined || site.report.state !== 'normal') {
        r.nextAt = now + STANDBY_BACKOFF_MS
        return
      }
      const entry = this.#next(r)!
      try {
        const f = await this.#deps.fetch(r.beneficiary, r.id, entry)
        // The manifest may have moved on while the object was in flight.
        if (this.#replicas.get(r.site) !== r || !r.manifest.some(e => e.path === entry.path && e.sha256 === f.sha256)) return
        const obj: CachedObject = {
          site: r.site,
          path: entry.path,
          headers: pickMirroredHeaders(f.headers),
          body: f.body,
          sha256: f.sha256,
          storedAt: Date.now()
        }
        const old = r.objects.get(entry.path)
        if (old !== undefined) r.bytes -= old.body.byteLength
        r.objects.set(entry.path, obj)
        r.bytes += f.body.byteLength
        r.fetchedAt = obj.storedAt
        this.totals.received += f.body.byteLength
        this.#deps.onFetched?.(r.site, f.body.byteLength)
        // Paced to this standby's part of the site's background share: this object's bytes at that rate.
        const rate = (this.#opts.uplinkShare * (site.report.uplinkBytesPerSec ?? this.#deps.uplinkBytesPerSec())) / r.standbys
        r.nextAt = Date.now() + (rate > 0 ? (1000 * f.body.byteLength) / rate : STANDBY_BACKOFF_MS)
      } catch (err) {
        this.#deps.log.debug({ err, site: r.site, path: entry.path }, 'standby fetch failed')
        r.nextAt = Date.now() + STANDBY_BACKOFF_MS
      }
    } finally {
      this.#pumping = false
    }
  }

  /**
   * A session this node was accepted for: put the replica's objects that match the session's
   * manifest into the mirror's cache, so it serves them at once. Returns the bytes seeded.
   */
  seed(site: string, manifest: ReadonlyMap<string, ManifestEntry>, cache: ContentCache): number {
    const r = this.#replicas.get(site)
    if (r === undefined) return 0
    let bytes = 0
    for (const [path, obj] of r.objects) {
      if (manifest.get(path)?.sha256 !== obj.sha256 || cache.peek(site, path) !== undefined) continue
      if (cache.put({ ...obj, storedAt: Date.now() })) bytes += obj.body.byteLength
    }
    if (bytes > 0) this.#deps.log.info({ site, bytes }, 'replica seeded the mirror')
    return bytes
  }

  /** The standbys `site`'s latest standby record names (none known: empty). */
  standbysOf(site: string): readonly string[] {
    return this.#named.get(site)?.standbys ?? []
  }

  /** The replica this node holds for `beneficiary`'s site (undefined: none). */
  replicaOf(beneficiary: string): { site: string; siteUrl: string; manifest: ManifestEntry[] } | undefined {
    for (const r of this.#replicas.values()) if (r.beneficiary === beneficiary && r.bytes > 0) return { site: r.site, siteUrl: r.siteUrl, manifest: r.manifest }
    return undefined
  }

  /** Whether this node holds a replica of `site` (some of its content). */
  holds(site: string): boolean {
    return (this.#replicas.get(site)?.bytes ?? 0) > 0
  }

  /** This site's standbys that hold some of its content and report spare capacity now, as its accept needs them. */
  ready(now = Date.now()): Array<{ peer: string; mirrorUrl: string; spareRps: number; spareBytesPerSec: number }> {
    const out: Array<{ peer: string; mirrorUrl: string; spareRps: number; spareBytesPerSec: number }> = []
    for (const peer of this.#mine?.standbys ?? []) {
      const e = this.#deps.peers.get(peer, now)
      const spareBytes = e?.report.spareBytesPerSec ?? 0
      if (e === undefined || e.report.state !== 'normal' || spareBytes <= 0 || e.report.spareRps <= 0 || this.heldBy(peer) <= 0) continue
      out.push({ peer, mirrorUrl: e.report.mirrorUrl, spareRps: e.report.spareRps, spareBytesPerSec: spareBytes })
    }
    return out
  }

  /** For load reports: the replicas held here. */
  standingBy(): Array<{ site: string; revision: number; heldBytes: number }> {
    return [...this.#replicas.values()].slice(0, 64).map(r => ({ site: r.site, revision: r.revision, heldBytes: r.bytes }))
  }

  /**
   * Verified bytes `peer` reports holding of this site's content (0: none). A replica of an
   * earlier revision still counts: it keeps every object whose hash did not change.
   */
  heldBy(peer: string): number {
    if (this.#mine === undefined) return 0
    return this.#deps.peers.get(peer)?.report.standingBy?.find(e => e.site === this.#opts.site)?.heldBytes ?? 0
  }

  /** What this site's standbys report holding: who, which revision, how much, as last reported. */
  standbysView(): Array<{ peer: string; site: string | undefined; revision: number | undefined; heldBytes: number }> {
    const m = this.#mine
    if (m === undefined) return []
    return m.standbys.map(peer => {
      const e = this.#deps.peers.get(peer)
      const x = e?.report.standingBy?.find(s => s.site === this.#opts.site)
      return { peer, site: e?.report.site, revision: x?.revision, heldBytes: x?.heldBytes ?? 0 }
    })
  }

  replicas(): ReplicaView[] {
    return [...this.#replicas.values()].map(r => ({
      site: r.site,
      beneficiary: r.beneficiary,
      revision: r.revision,
      heldBytes: r.bytes,
      manifestBytes: total(r),
      objects: r.objects.size,
      manifestObjects: r.manifest.length,
      updatedAt: r.updatedAt,
      fetchedAt: r.fetchedAt
    }))
  }
}

function total(r: Replica): number {
  let bytes = 0
  for (const e of r.manifest) bytes += e.size
  return bytes
}
