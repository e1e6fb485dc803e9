/**
 * Help sessions (SPEC.md §Help session), both roles.
 *
 * Capacity is bytes/s first and requests/s second (SPEC.md §Capacity in bytes).
 *
 * Beneficiary (a struck site):
 *   struck → publish help-request {session, site, neededRps, neededBytesPerSec, manifest}, again
 *   every `requestIntervalMs` with a fresh manifest while shedding lasts; on each help-offer
 *   addressed to it (a first one, or a changed one), accept offers by size until the offered
 *   capacity covers `acceptHeadroom`·needed and publish help-accept naming the helpers and their
 *   weights; drop helpers whose load reports expire, who become struck, or who stay unreachable
 *   (connection closed, mirror not answering, silent) for `dropUnreachableMs`; normal → publish
 *   help-release.
 *
 * Helper (a site with spare capacity):
 *   on a help-request from another peer, while normal and with spare capacity, publish one
 *   help-offer, to the beneficiary alone when connected to it — at once when few members rank
 *   before this one for the session or those before it cannot cover the need, else after a
 *   hold-back, in widening waves, only while the need is not covered (SPEC.md §help-offer: a
 *   hundred members offering at once swamped the struck site); remember the request (site,
 *   siteUrl, manifest, beneficiary) so the mirror can serve the site at once; on a help-accept
 *   naming it, prefetch the manifest; while its uplink is saturated, lower its offers to what it
 *   can send (a new help-offer for the session); on help-release, keep serving what it holds for
 *   `releaseGraceMs`, then forget the site.
 */
import { randomBytes } from 'node:crypto'
import { selectHelpers } from '@reef/governance'
import type { Capacity } from '@reef/governance'
import {
  MAX_MANIFEST_ENTRIES,
  OFFER_AT_ONCE_MIN,
  OFFER_COVER_FACTOR,
  OFFER_HOLDBACK_JITTER_MS,
  OFFER_HOLDBACK_MS,
  helpTopic,
  offersAtOnce
} from '@reef/protocol'
import type { CrowdState, HelpAccept, HelpOffer, HelpRelease, HelpRequest, ManifestEntry, VerifiedRecord } from '@reef/protocol'
import type { Logger } from 'pino'
import type { ContentCache } from '../origin/content-cache.ts'
import type { PeerTable } from '../p2p/peer-table.ts'
import { sendOrPublish } from '../p2p/record-bus.ts'
import type { RecordChannel } from '../p2p/record-bus.ts'
import { siteBaseOnMirror } from '../load/shedder.ts'
import type { Helper, Shedder } from '../load/shedder.ts'
import { KeyedWaiters } from './keyed-waiters.ts'
import {
  ACCEPT_HEADROOM,
  DEFAULT_MEAN_OBJECT_BYTES,
  DROP_UNREACHABLE_MS,
  EARLIER_HELPER_LISTS,
  HELP_REQUEST_INTERVAL_MS,
  HELPER_LIST_WAIT_MS,
  MAX_HELPER_LIST_WAITERS,
  MAX_SESSION_WAITERS,
  OFFER_REFIT_MS,
  ONSET_HEADROOM,
  ONSET_MS,
  PREFETCH_CONCURRENCY,
  PROVISIONAL_MS,
  SILENT_BENEFICIARY_MS,
  STANDBY_ACCEPT_WAIT_MS
} from '../constants.ts'

/** Most help requests whose offers are held back at once (sessions of different struck sites). */
const MAX_HELD_REQUESTS = 64
/** A struck site asks again before its request interval when its need grew by this factor since it last asked… */
const REREQUEST_GROWTH = 1.25
/** …but not within this many ms of its last request. */
const REREQUEST_MIN_MS = 500

export interface HelpCoordinatorOptions {
  consortium: string
  selfId: string
  site: string
  siteUrl: string
  mirrorUrl: string
  releaseGraceMs: number
  requestIntervalMs?: number
  acceptHeadroom?: number
  prefetchConcurrency?: number
  /** A helped site whose node has sent no load report for this long is released. */
  silentBeneficiaryMs?: number
  /** An accepted helper unreachable this long is dropped from the session (others accepted instead). */
  dropUnreachableMs?: number
  /** How long a member that ranks late for a session holds its offer back (plus jitter), in ms. */
  offerHoldbackMs?: number
}

export interface HelpCoordinatorDeps {
  bus: RecordChannel
  peers: PeerTable
  shedder: Shedder
  cache: ContentCache
  log: Logger
  /** The manifest of the local site's hot content. */
  manifest: () => ManifestEntry[]
  /** What this node can offer others now (nothing when it is struck itself or its uplink is full). */
  spare: () => Capacity
  /** Fetch an object of a site this node helps into its cache (prefetch). */
  prefetch: (session: HelpingSession, entry: ManifestEntry) => Promise<void>
  /** Whether this node owns `path` in the session (fetches it from the struck site for the other helpers). */
  owns?: (session: HelpingSession, path: string) => boolean
  /** Accepted for a session: put what this node already holds for the site (its standby replica) into the mirror's cache. */
  seed?: (session: HelpingSession) => number
  /** Beneficiary side: bytes of this site's hot content `peer` holds already (a standby); preferred in accepts. */
  heldBy?: (peer: string) => number
  /**
   * Beneficiary side: this site's standbys that hold its hot content and report spare capacity
   * now, with what their load reports say they can take. Accepted at once when the site is
   * struck, before their offers arrive (SPEC.md §Warm standby).
   */
  readyStandbys?: () => Array<{ peer: string; mirrorUrl: string; spareRps: number; spareBytesPerSec: number }>
  /**
   * Helper side: the site and manifest of the standby replica this node holds for `beneficiary`
   * (undefined: none), so that an accept naming it before any offer can be served at once.
   */
  /** Whether this node stands by for `site` (holds a replica of it). */
  standsByFor?: (site: string) => boolean
  replicaOf?: (beneficiary: string) => { site: string; siteUrl: string; manifest: ManifestEntry[] } | undefined
  /** What to offer `beneficiary` of this node's spare capacity: the ledger's quota rule (default: all of it). */
  offerFor?: (beneficiary: string, spare: Capacity) => Capacity
  /** Mean body bytes of the site's hot objects: an r2 offer's bytes/s is its requests/s × this. */
  meanObjectBytes?: () => number
  /** Helper side: what this node's mirror serves for `site` now. */
  servedRate?: (site: string) => Capacity
  /**
   * Helper side: bytes/s this node may send for others in all now (its uplink target less its
   * own site's traffic); whether its uplink is saturated (at its target, or backing up); and
   * whether it backs up while sending less than its target (the real uplink is slower).
   */
  uplink?: () => { budgetBytesPerSec: number; saturated: boolean; slowerThanDeclared: boolean }
  /** Beneficiary side: how long `peer` has been unreachable, in ms (undefined: it is reachable). */
  unreachableMs?: (peer: string, now: number) => number | undefined
  /** What this node's mirror has served for `site` so far (cumulative), to baseline a session. */
  servedNow?: (site: string) => { requests: number; bytes: number }
  /** Whether to take offers from `peer` (false: this node caught it serving wrong content). */
  trusts?: (peer: string) => boolean
  /** Beneficiary side: the first help request of a session went out (the ledger watches who should offer). */
  onOwnRequest?: (session: string, needBytesPerSec: number) => void
}

/** A session in which this node helps another site. */
export interface HelpingSession {
  session: string
  beneficiary: string
  site: string
  siteUrl: string
  manifest: Map<string, ManifestEntry>
  /** The session's accepted helpers (this node among them), from the latest help-accept, sorted. */
  helpers: string[]
  /**
   * The helper lists of earlier help-accepts, newest first (at most EARLIER_HELPER_LISTS): whoever
   * owned an object under one of them may hold it already (mirror-fill.ts).
   */
  earlierHelpers?: string[][]
  /**
   * The latest help-accept's helpers in its order: the order the beneficiary first accepted them
   * in (r7; an r6 beneficiary's order says nothing).
   */
  acceptOrder?: string[]
  offeredRps: number
  offeredBytesPerSec: number
  /** When this node last published an offer for the session. */
  offerSentAt: number
  accepted: boolean
  releasedAt: number | undefined
  /** Released because a later help-accept left it out (it may offer again on the next request). */
  dropped?: boolean
  offeredAt: number
  acceptedAt: number | undefined
  /**
   * The `seq` of the latest help-request of the session this node had: a request of another
   * session with a higher seq ends it. Seq, not ts: an author's seq always grows, and two of its
   * records can share a millisecond (a session released and the next asked for in one tick).
   */
  requestSeq?: number | undefined
  /** Since when the beneficiary's load reports, received after the offer, have said `normal` (undefined: they do not). */
  normalSince?: number | undefined
  /** The mirror's cumulative service for the site when the session began. */
  servedBaseline: { requests: number; bytes: number }
}

/** A help request whose offer this node holds back (SPEC.md §help-offer, hold-back). */
interface HeldRequest {
  beneficiary: string
  /** The latest request of the session, and its record's `seq`. */
  req: HelpRequest
  seq: number
  heardAt: number
  /** Bytes/s the beneficiary's latest help-accept for the session names (undefined: none seen yet). */
  acceptedBytesPerSec: number | undefined
  /** Ends the hold (undefined once it ended covered: the next request decides). */
  timer: NodeJS.Timeout | undefined
  /** Holds that ended uncovered: each doubles the circle of members that offer. */
  wave: number
  /** The members that could help, as the load view showed them at the session's first request. */
  rivals: ReadonlyArray<{ peer: string; spareBytesPerSec: number }>
}

interface OwnSession {
  session: string
  startedAt: number
  needed: Capacity
  offers: Map<string, HelpOffer>
  accepted: Map<string, Helper>
  lastRequestAt: number
  /** The need (bytes/s) the last help request stated. */
  requestedBytesPerSec: number
  /** Every manifest entry published in the session: path → size. */
  published: Map<string, number>
  publishedBytes: number
  /**
   * Paths a helper fetched from this node that no published manifest listed (the crowd's first
   * seconds, before the cache held them); `unlisted`: some since the last request. Each helper
   * fetches such an object from here itself (nothing else vouches for it), so the next request,
   * which lists it, goes out sooner.
   */
  unlistedSeen: Set<string>
  unlisted: boolean
  /** Accepted helpers down at the last tick (comma-joined), to re-accept when that changes. */
  downKey?: string
  /** Standbys accepted on their load reports before they offered, since when (dropped if no offer follows). */
  provisional: Map<string, number>
}

export interface HelpEvent {
  at: number
  kind: 'request' | 'offer' | 'accept' | 'release' | 'offered' | 'accepted' | 'released' | 'helper-dropped'
  session: string
  peer?: string
  site?: string
}

export class HelpCoordinator {
  readonly #opts: Required<HelpCoordinatorOptions>
  readonly #deps: HelpCoordinatorDeps
  readonly #topic: string
  #own: OwnSession | undefined
  readonly #helping = new Map<string, HelpingSession>() // by site label
  readonly events: HelpEvent[] = []
  #unsubscribe: (() => void) | undefined
  #acceptTimer: NodeJS.Timeout | undefined
  /** Help requests this node holds its offer back for, by session. */
  readonly #held = new Map<string, HeldRequest>()
  /**
   * Bytes/s the latest help-accept of each recent session names, by session: an accept can
   * arrive before the request it answers (another gossip path), and a hold that started after
   * it must still know the need is covered.
   */
  readonly #accepted = new Map<string, { beneficiary: string; bytesPerSec: number }>()

  constructor(opts: HelpCoordinatorOptions, deps: HelpCoordinatorDeps) {
    this.#opts = {
      requestIntervalMs: HELP_REQUEST_INTERVAL_MS,
      acceptHeadroom: ACCEPT_HEADROOM,
      prefetchConcurrency: PREFETCH_CONCURRENCY,
      silentBeneficiaryMs: SILENT_BENEFICIARY_MS,
      dropUnreachableMs: DROP_UNREACHABLE_MS,
      offerHoldbackMs: OFFER_HOLDBACK_MS,
      ...opts
    }
    this.#deps = deps
    this.#topic = helpTopic(opts.consortium)
  }

  start(): void {
    this.#unsubscribe = this.#deps.bus.onRecord(r => {
      this.#onRecord(r)
    })
  }

  stop(): void {
    this.#unsubscribe?.()
    clearTimeout(this.#acceptTimer)
    for (const h of this.#held.values()) clearTimeout(h.timer)
    this.#held.clear()
    this.#sessionWaiters.wakeAll(undefined)
    this.#helperWaiters.wakeAll(undefined)
  }

  /** Requests of other helpers waiting for an accept that names them, by session (detail: the peer). */
  readonly #helperWaiters = new KeyedWaiters<HelpingSession, string>(MAX_HELPER_LIST_WAITERS)

  /** The unreleased session `session` this node serves, when its latest accept names `peer` among the helpers. */
  #servingWith(session: string, peer: string): HelpingSession | undefined {
    for (const s of this.#helping.values()) if (s.session === session && s.releasedAt === undefined && s.helpers.includes(peer)) return s
    return undefined
  }

  /**
   * The session `session` as this node serves it, once its latest help-accept names `peer` as a
   * helper: now, or when an accept that does arrives within `timeoutMs`; else undefined. Only
   * for a session this node serves (unreleased).
   */
  async awaitHelper(session: string, peer: string, timeoutMs = HELPER_LIST_WAIT_MS): Promise<HelpingSession | undefined> {
    const now = this.#servingWith(session, peer)
    if (now !== undefined) return now
    if (![...this.#helping.values()].some(s => s.session === session && s.releasedAt === undefined)) return undefined
    return await this.#helperWaiters.wait(session, timeoutMs, peer)
  }

  /** Visitors at this node's mirror waiting for the session of a site it stands by for, by site. */
  readonly #sessionWaiters = new KeyedWaiters<HelpingSession>(MAX_SESSION_WAITERS)

  /**
   * The session in which this node serves `site` (sessionForSite); when there is none yet (with
   * `fresh`, none that is not released) but this node stands by for the site, the one that opens
   * or is accepted again within `timeoutMs` (the site's accept on its way), else undefined.
   */
  async awaitSession(site: string, timeoutMs = STANDBY_ACCEPT_WAIT_MS, fresh = false): Promise<HelpingSession | undefined> {
    const current = this.sessionForSite(site)
    const now = fresh && current?.releasedAt !== undefined ? undefined : current
    if (now !== undefined || this.#deps.standsByFor?.(site) !== true) return now
    return await this.#sessionWaiters.wait(site, timeoutMs, undefined)
  }

  #event(e: Omit<HelpEvent, 'at'>): void {
    this.events.push({ at: Date.now(), ...e })
    if (this.events.length > 500) this.events.shift()
  }

  get ownSession(): { session: string; neededRps: number; neededBytesPerSec: number; helpers: Helper[]; offers: number } | undefined {
    const s = this.#own
    return s === undefined
      ? undefined
      : { session: s.session, neededRps: s.needed.rps, neededBytesPerSec: s.needed.bytesPerSec, helpers: [...s.accepted.values()], offers: s.offers.size }
  }

  /** Help requests this node holds its offer back for: `holding` while the hold runs (after it, the next request decides). */
  get heldRequests(): Array<{
    session: string
    site: string
    beneficiary: string
    holding: boolean
    wave: number
    needBytesPerSec: number
    acceptedBytesPerSec: number | undefined
  }> {
    return [...this.#held.values()].map(h => ({
      session: h.req.session,
      site: h.req.site,
      beneficiary: h.beneficiary,
      holding: h.timer !== undefined,
      wave: h.wave,
      needBytesPerSec: this.#needBytes(h.req),
      acceptedBytesPerSec: h.acceptedBytesPerSec
    }))
  }

  get helpingSessions(): HelpingSession[] {
    return [...this.#helping.values()]
  }

  /** Bytes of every object the current own session's manifests listed (what helpers will fetch once). */
  get ownManifestBytes(): number {
    return this.#own?.publishedBytes ?? 0
  }

  /** When the current own session began (cheap: for the control tick). */
  get ownSessionStartedAt(): number | undefined {
    return this.#own?.startedAt
  }

  /** The current own session's id (cheap: for the redirect path). */
  get ownSessionId(): string | undefined {
    return this.#own?.session
  }

  /** The session (offered or accepted, or released within grace) in which this node serves `site`. */
  sessionForSite(site: string, now = Date.now()): HelpingSession | undefined {
    const s = this.#helping.get(site)
    if (s === undefined) return undefined
    if (s.releasedAt !== undefined && now - s.releasedAt > this.#opts.releaseGraceMs) {
      this.#helping.delete(site)
      this.#deps.cache.dropSite(site)
      return undefined
    }
    return s
  }

  /**
   * Cut `peer` out of every session at once (it was expelled): its offer and place as a helper
   * of our session, and every session in which we help it (its cached objects are dropped).
   */
  dropPeer(peer: string): void {
    const own = this.#own
    if (own !== undefined && (own.offers.delete(peer) || own.accepted.has(peer))) {
      this.#event({ kind: 'helper-dropped', session: own.session, peer })
      this.#scheduleAccept()
    }
    for (const [site, s] of this.#helping) {
      if (s.beneficiary !== peer) continue
      this.#helping.delete(site)
      this.#deps.cache.dropSite(site)
      this.#event({ kind: 'released', session: s.session, peer, site })
    }
  }

  /**
   * An accepted helper of the current session fetched `path` from this node: one no manifest of
   * the session listed yet has the next help request, which lists it, go out within
   * REREQUEST_MIN_MS instead of the request interval.
   */
  noteFetched(session: string, path: string): void {
    const own = this.#own
    if (own === undefined || own.session !== session || own.published.has(path) || own.unlistedSeen.has(path)) return
    if (own.unlistedSeen.size >= MAX_MANIFEST_ENTRIES) return
    own.unlistedSeen.add(path)
    own.unlisted = true
  }

  /** Whether `peer` is an accepted helper of this node's current session `session`. */
  isAcceptedHelper(session: string, peer: string): boolean {
    return this.#own !== undefined && this.#own.session === session && this.#own.accepted.has(peer)
  }

  /** Called on every control tick with the site's state and what it needs taken off it. */
  async tick(state: CrowdState, need: Capacity, now = Date.now()): Promise<void> {
    const shedding = state !== 'normal'
    this.#fitOffers(now)
    if (shedding && this.#own === undefined) {
      this.#own = {
        session: randomBytes(12).toString('base64url'),
        startedAt: now,
        needed: { ...need },
        offers: new Map(),
        accepted: new Map(),
        lastRequestAt: 0,
        requestedBytesPerSec: 0,
        published: new Map(),
        publishedBytes: 0,
        unlistedSeen: new Set(),
        unlisted: false,
        provisional: new Map()
      }
      this.#deps.log.info(
        { session: this.#own.session, neededRps: need.rps, neededBytesPerSec: need.bytesPerSec },
        'site struck: asking the consortium for help'
      )
    }
    if (!shedding && this.#own !== undefined) {
      const session = this.#own.session
      this.#own = undefined
      this.#deps.shedder.setHelpers([])
      this.#event({ kind: 'release', session })
      this.#deps.log.info({ session }, 'crowd over: releasing helpers')
      await this.#deps.bus.publish(this.#topic, 'help-release', { session, reason: 'crowd-over' } satisfies HelpRelease)
      return
    }
    this.#expireHelping(now)
    const own = this.#own
    if (own === undefined) return
    const grew = need.bytesPerSec > own.needed.bytesPerSec * 1.1 || need.rps > own.needed.rps * 1.1
    own.needed = { rps: Math.max(own.needed.rps, need.rps), bytesPerSec: Math.max(own.needed.bytesPerSec, need.bytesPerSec) }
    if (grew && own.accepted.size > 0) this.#scheduleAccept() // more offers may be needed now
    this.#dropGoneHelpers(now)
    // Again every request interval, and sooner when the need grew by a quarter since the last
    // request: members that held their offers back (they ranked late for the need then) offer now.
    const needGrew = own.requestedBytesPerSec > 0 && own.needed.bytesPerSec > own.requestedBytesPerSec * REREQUEST_GROWTH
    // So too when helpers fetched objects the last manifest did not list.
    const soon = needGrew || own.unlisted
    const due = now - own.lastRequestAt >= (soon ? Math.min(REREQUEST_MIN_MS, this.#opts.requestIntervalMs) : this.#opts.requestIntervalMs)
    if (state === 'struck' && due) {
      own.lastRequestAt = now
      own.requestedBytesPerSec = own.needed.bytesPerSec
      own.unlisted = false
      const manifest = this.#deps.manifest()
      for (const e of manifest) {
        if (own.published.has(e.path)) continue
        own.published.set(e.path, e.size)
        own.publishedBytes += e.size
      }
      const body: HelpRequest = {
        session: own.session,
        site: this.#opts.site,
        siteUrl: this.#opts.siteUrl,
        neededRps: Math.round(own.needed.rps),
        neededBytesPerSec: Math.round(own.needed.bytesPerSec),
        manifest
      }
      this.#event({ kind: 'request', session: own.session })
      await this.#deps.bus.publish(this.#topic, 'help-request', body)
      this.#deps.log.debug({ session: own.session, publishMs: Date.now() - now, offers: own.offers.size }, 'help request published')
      this.#deps.onOwnRequest?.(own.session, body.neededBytesPerSec ?? 0)
      if (own.offers.size === 0) await this.#acceptStandbys(own, now)
    }
    // A standby accepted on its load report that never offered is dropped.
    for (const [peer, since] of own.provisional) {
      if (now - since < PROVISIONAL_MS) continue
      own.provisional.delete(peer)
      own.offers.delete(peer)
      this.#event({ kind: 'helper-dropped', session: own.session, peer })
      this.#scheduleAccept()
    }
  }

  /**
   * Warm standby: the site's standbys that hold its hot content and report spare capacity are
   * accepted at once, weighted by what their load reports offer, right after the first help
   * request: they serve without fetching, and waiting for their offers would cost a round trip
   * in the crowd's first second. Their offers, when they come, replace these weights.
   */
  async #acceptStandbys(own: OwnSession, now: number): Promise<void> {
    const ready = this.#deps.readyStandbys?.() ?? []
    if (ready.length === 0) return
    for (const r of ready) {
      if (own.offers.has(r.peer)) continue
      own.offers.set(r.peer, {
        session: own.session,
        to: this.#opts.selfId,
        offeredRps: r.spareRps,
        offeredBytesPerSec: r.spareBytesPerSec,
        mirrorUrl: r.mirrorUrl
      })
      own.provisional.set(r.peer, now)
    }
    await this.#accept()
  }

  #dropGoneHelpers(now: number): void {
    const own = this.#own
    if (own === undefined) return
    // A helper that is down now no longer counts toward the need (#accept): the offers held from
    // others cover for it at once, before it is dropped; it stays accepted until then, in case
    // it was only slow.
    const down = [...own.accepted.keys()].filter(peer => this.#deps.unreachableMs?.(peer, now) !== undefined).join(',')
    if (down !== own.downKey) {
      own.downKey = down
      this.#scheduleAccept()
    }
    let changed = false
    for (const peer of own.accepted.keys()) {
      const entry = this.#deps.peers.get(peer, now)
      const unreachable = this.#deps.unreachableMs?.(peer, now)
      if (entry === undefined || entry.report.state === 'struck' || (unreachable !== undefined && unreachable >= this.#opts.dropUnreachableMs)) {
        // Forget its offer; #accept then publishes the new helper set and updates the shedder.
        own.offers.delete(peer)
        this.#event({ kind: 'helper-dropped', session: own.session, peer })
        changed = true
      }
    }
    if (changed) this.#scheduleAccept()
  }

  /** Forget sessions past their grace period; release those whose beneficiary went silent. */
  #expireHelping(now: number): void {
    for (const [session, h] of this.#held) if (now - h.heardAt > this.#opts.silentBeneficiaryMs) this.#unhold(session)
    for (const [site, s] of this.#helping) {
      if (s.releasedAt === undefined) {
        const entry = this.#deps.peers.get(s.beneficiary, now)
        // A beneficiary reports `normal` only after it released its sessions: one that has said so
        // for silentBeneficiaryMs lost its help-release, or never sent it (killed mid-crowd and
        // restarted within seconds: its reports never stopped, and the new process knows no session).
        if (entry !== undefined && entry.report.state === 'normal' && entry.receivedAt > s.offeredAt) s.normalSince ??= entry.receivedAt
        else s.normalSince = undefined
        const silent = entry === undefined && now - s.offeredAt > this.#opts.silentBeneficiaryMs
        const calm = s.normalSince !== undefined && now - s.normalSince > this.#opts.silentBeneficiaryMs
        if (silent || calm) this.#release(s, now, silent ? 'beneficiary went silent: session released' : 'beneficiary calm without releasing: session released')
      }
      this.sessionForSite(site, now)
    }
  }

  #onRecord(r: VerifiedRecord): void {
    switch (r.type) {
      case 'help-request':
        this.#onRequest(r.author, r.body as HelpRequest, r.seq)
        break
      case 'help-offer':
        this.#onOffer(r.author, r.body as HelpOffer)
        break
      case 'help-accept':
        this.#onAccept(r.author, r.body as HelpAccept, r.ts)
        break
      case 'help-release':
        this.#onRelease(r.author, r.body as HelpRelease)
        break
      default:
        break
    }
  }

  // ── helper role ─────────────────────────────────────────────────────────────

  #onRequest(author: string, req: HelpRequest, seq: number): void {
    if (author === this.#opts.selfId || req.site === this.#opts.site) return
    let existing = this.#helping.get(req.site)
    if (existing !== undefined && existing.beneficiary === author && existing.session !== req.session) {
      // A beneficiary has one session at a time: a newer one ends the old, whose help-release was
      // lost or never sent (its node was killed and restarted mid-crowd, and the new process knows
      // nothing of it). Held on to, the old session kept this node's spare committed: the
      // restarted site got no offer and answered its crowd 503 (test/system/site-killed.test.ts).
      // A late copy of an older session's request changes nothing.
      if (seq <= (existing.requestSeq ?? -Infinity)) return
      if (existing.releasedAt === undefined) this.#release(existing, Date.now(), 'beneficiary asks in a new session: the old one released')
      existing = undefined
    }
    if (existing !== undefined && existing.session === req.session && existing.beneficiary === author) {
      existing.requestSeq = Math.max(existing.requestSeq ?? seq, seq)
      existing.manifest = new Map(req.manifest.map(e => [e.path, e]))
      if (existing.accepted) this.#prefetch(existing)
      const spare = this.#deps.spare()
      if (spare.bytesPerSec <= 0 || spare.rps <= 0) return
      if (existing.dropped === true) {
        // Left out of an accept (unreachable for a while, or not needed then): offer afresh.
        const fresh = this.#offer(author, spare)
        if (fresh.rps <= 0 || fresh.bytesPerSec <= 0) return
        existing.dropped = false
        existing.releasedAt = undefined
        existing.offeredRps = fresh.rps
        existing.offeredBytesPerSec = fresh.bytesPerSec
        this.#sendOffer(existing, Date.now())
        return
      }
      // Still asked, and this node has room beyond its offers now (its own site calmed down, a
      // session ended): offer that too.
      if (existing.releasedAt !== undefined) return
      const more = this.#offer(author, { rps: existing.offeredRps + spare.rps, bytesPerSec: existing.offeredBytesPerSec + spare.bytesPerSec })
      if (more.rps <= existing.offeredRps && more.bytesPerSec <= existing.offeredBytesPerSec) return
      existing.offeredRps = Math.max(existing.offeredRps, more.rps)
      existing.offeredBytesPerSec = Math.max(existing.offeredBytesPerSec, more.bytesPerSec)
      this.#sendOffer(existing, Date.now())
      return
    }
    if (existing !== undefined && existing.beneficiary !== author) {
      this.#deps.log.warn({ site: req.site, author, holder: existing.beneficiary }, 'help request for a site label another peer holds: ignored')
      return
    }
    this.#offerOrHold(author, req, seq)
  }

  /**
   * A help request this node has no session for yet: offer at once when it ranks early for the
   * session (SPEC.md §help-offer, hold-back), else hold the offer back. When a hold ends and the
   * beneficiary's latest accept does not cover its latest need, the circle of members that offer
   * doubles (wave 1: twice OFFER_AT_ONCE_MIN and twice OFFER_COVER_FACTOR × the need, wave 2 four
   * times…) and the member offers if it is inside, else holds again: an overloaded beneficiary
   * that has not answered yet gets a few more offers each round, not the whole consortium's at
   * once. A covered need ends the waves until a later request (the need grew) ranks it again.
   */
  #offerOrHold(author: string, req: HelpRequest, seq: number, now = Date.now()): void {
    let held = this.#held.get(req.session)
    if (held !== undefined && held.beneficiary !== author) return
    const rivals = held?.rivals ?? this.#rivals(author, req, now)
    if (this.#ranksEarly(author, req, rivals, held?.wave ?? 0)) {
      this.#unhold(req.session)
      this.#openSession(author, req.session, req.site, req.siteUrl, req.manifest, seq)
      return
    }
    if (held === undefined) {
      if (this.#held.size >= MAX_HELD_REQUESTS) this.#unhold(this.#held.keys().next().value!)
      const seen = this.#accepted.get(req.session)
      const acceptedBytesPerSec = seen?.beneficiary === author ? seen.bytesPerSec : undefined
      held = { beneficiary: author, req, seq, heardAt: now, acceptedBytesPerSec, timer: undefined, wave: 0, rivals }
      this.#held.set(req.session, held)
      this.#deps.log.debug({ site: req.site, session: req.session }, 'offer held back: others rank first for this session')
    }
    held.req = req
    held.seq = Math.max(held.seq, seq)
    held.heardAt = now
    if (held.timer === undefined) this.#startHold(held)
  }

  #startHold(h: HeldRequest): void {
    h.timer = setTimeout(
      () => {
        h.timer = undefined
        if (this.#held.get(h.req.session) !== h || this.#covered(h)) return // covered: the next request decides again
        h.wave++
        if (!this.#ranksEarly(h.beneficiary, h.req, h.rivals, h.wave)) {
          this.#startHold(h)
          return
        }
        this.#unhold(h.req.session)
        // A live session for the site opened meanwhile (the beneficiary accepted this node as its
        // standby); one released, in its grace, gives way.
        const current = this.#helping.get(h.req.site)
        if (current !== undefined && current.releasedAt === undefined) return
        this.#openSession(h.beneficiary, h.req.session, h.req.site, h.req.siteUrl, h.req.manifest, h.seq)
      },
      this.#opts.offerHoldbackMs + Math.random() * OFFER_HOLDBACK_JITTER_MS
    )
    h.timer.unref?.()
  }

  #unhold(session: string): void {
    const h = this.#held.get(session)
    if (h === undefined) return
    clearTimeout(h.timer)
    this.#held.delete(session)
  }

  /** Mean body bytes of the site's hot objects: turns an r2 peer's requests/s into bytes/s. */
  #meanBytes(): number {
    return this.#deps.meanObjectBytes?.() ?? DEFAULT_MEAN_OBJECT_BYTES
  }

  /** Bytes/s the request needs taken off the site (an r2 request: its requests/s × a mean object). */
  #needBytes(req: HelpRequest): number {
    return req.neededBytesPerSec ?? req.neededRps * this.#meanBytes()
  }

  /** Whether the beneficiary's latest help-accept for a held session covers its latest need. */
  #covered(h: HeldRequest): boolean {
    return h.acceptedBytesPerSec !== undefined && h.acceptedBytesPerSec >= this.#needBytes(h.req)
  }

  /**
   * The members this node's load view shows able to help `author` now: normal, with spare
   * requests/s and bytes/s (an r2 report: its requests/s × a mean object). A member with bytes to
   * spare but no requests/s offers nothing (#openSession): ranked, it held back members that can
   * (100 members, 10 of them with room: the first offer came after a hold, 1.6 s). Taken once per
   * session, at its first request: a member that offers reports its spare as committed at once,
   * and a later request ranked without it would call the next ones early (four more offered at
   * each request).
   */
  #rivals(author: string, req: HelpRequest, now: number): Array<{ peer: string; spareBytesPerSec: number }> {
    const meanBytes = this.#meanBytes()
    const others: Array<{ peer: string; spareBytesPerSec: number }> = []
    for (const e of this.#deps.peers.live(now)) {
      if (e.peer === author || e.peer === this.#opts.selfId || e.report.state !== 'normal' || e.report.site === req.site || !(e.report.spareRps > 0)) continue
      others.push({ peer: e.peer, spareBytesPerSec: e.report.spareBytesPerSec ?? e.report.spareRps * meanBytes })
    }
    return others
  }

  /**
   * Whether this node offers for `req` at once: it stands by for the site (it holds the content),
   * or fewer than OFFER_AT_ONCE_MIN of the members its load view shows with spare capacity rank
   * before it, or those before it spare less than OFFER_COVER_FACTOR × the need between them
   * (both × 2^wave after `wave` uncovered holds).
   */
  #ranksEarly(author: string, req: HelpRequest, others: ReadonlyArray<{ peer: string; spareBytesPerSec: number }>, wave = 0): boolean {
    if (this.#deps.standsByFor?.(req.site) === true) return true
    const mine = this.#offer(author, this.#deps.spare()).bytesPerSec
    if (mine <= 0) return true // #openSession offers nothing
    const widen = 2 ** Math.min(wave, 20)
    return offersAtOnce(
      req.session,
      { peer: this.#opts.selfId, spareBytesPerSec: mine },
      others,
      this.#needBytes(req),
      OFFER_AT_ONCE_MIN * widen,
      OFFER_COVER_FACTOR * widen
    )
  }

  /** Offer what this node can spare to `author` for `site` and open the helping session (nothing when it can spare nothing). */
  #openSession(author: string, session: string, site: string, siteUrl: string, manifest: readonly ManifestEntry[], requestSeq: number): void {
    const spare = this.#deps.spare()
    if (spare.rps <= 0 || spare.bytesPerSec <= 0) return
    const offered = this.#offer(author, spare)
    if (offered.rps <= 0 || offered.bytesPerSec <= 0) return
    const now = Date.now()
    const s: HelpingSession = {
      session,
      beneficiary: author,
      site,
      siteUrl,
      manifest: new Map(manifest.map(e => [e.path, e])),
      helpers: [],
      offeredRps: offered.rps,
      offeredBytesPerSec: offered.bytesPerSec,
      offerSentAt: now,
      accepted: false,
      releasedAt: undefined,
      offeredAt: now,
      acceptedAt: undefined,
      requestSeq,
      servedBaseline: this.#deps.servedNow?.(site) ?? { requests: 0, bytes: 0 }
    }
    this.#helping.set(site, s)
    this.#event({ kind: 'offered', session, peer: author, site })
    this.#sendOffer(s, now)
    this.#sessionWaiters.wake(site, () => s)
  }

  /**
   * What to offer: all this node can spare, or the part of it the ledger allows (the optimistic
   * share for a member over quota). Not the request's need: the beneficiary accepts only what
   * it needs, and a need measured in the first second of a crowd is far too low to size an
   * offer by (offers sized so left helpers at a fraction of their uplinks while the crowd grew).
   */
  #offer(beneficiary: string, spare: Capacity): Capacity {
    const o = this.#deps.offerFor?.(beneficiary, spare) ?? spare
    return { rps: Math.round(o.rps), bytesPerSec: Math.round(o.bytesPerSec) }
  }

  #sendOffer(s: HelpingSession, now: number): void {
    s.offerSentAt = now
    const offer: HelpOffer = {
      session: s.session,
      to: s.beneficiary,
      offeredRps: s.offeredRps,
      offeredBytesPerSec: s.offeredBytesPerSec,
      mirrorUrl: this.#opts.mirrorUrl
    }
    // To the beneficiary alone (others ignore it), gossiped only if it cannot be reached.
    void sendOrPublish(this.#deps.bus, s.beneficiary, this.#topic, 'help-offer', offer)
  }

  /**
   * While this node's uplink is saturated, its offers must fit what it can send for the
   * sessions it serves: its budget (its own site took more of the uplink since it offered), or,
   * when it backs up while sending less than its target, what it does send for them (its
   * uplink is slower than declared). Over that, every offer is scaled down alike; a lower offer
   * goes out at once (at most every OFFER_REFIT_MS per session) and the beneficiary re-weights
   * on it. A helper merely busy at its offer changes nothing: the beneficiary sends no more than
   * offers carry.
   */
  #fitOffers(now: number): void {
    const up = this.#deps.uplink?.()
    if (up === undefined || !up.saturated) return
    const active = [...this.#helping.values()].filter(s => s.accepted && s.releasedAt === undefined)
    if (active.length === 0) return
    const offered = active.reduce((a, s) => a + s.offeredBytesPerSec, 0)
    const served = active.reduce((a, s) => a + (this.#deps.servedRate?.(s.site)?.bytesPerSec ?? 0), 0)
    const deliverable = up.slowerThanDeclared ? 0.9 * served : up.budgetBytesPerSec
    if (offered <= 0 || offered <= deliverable * 1.05) return
    const factor = deliverable / offered
    for (const s of active) {
      const fit = Math.max(1, Math.round(s.offeredBytesPerSec * factor))
      if (fit >= s.offeredBytesPerSec * 0.9 || now - s.offerSentAt < OFFER_REFIT_MS) continue
      this.#deps.log.info({ site: s.site, from: s.offeredBytesPerSec, to: fit }, 'uplink saturated: offer lowered')
      s.offeredBytesPerSec = fit
      this.#sendOffer(s, now)
    }
  }

  #onAccept(author: string, acc: HelpAccept, ts: number): void {
    const meanBytes = this.#meanBytes()
    const bytesPerSec = acc.helpers.reduce((a, h) => a + (h.weightBytesPerSec ?? h.weightRps * meanBytes), 0)
    this.#accepted.delete(acc.session)
    this.#accepted.set(acc.session, { beneficiary: author, bytesPerSec })
    if (this.#accepted.size > MAX_HELD_REQUESTS) this.#accepted.delete(this.#accepted.keys().next().value!)
    const held = this.#held.get(acc.session)
    if (held !== undefined && held.beneficiary === author) {
      held.acceptedBytesPerSec = bytesPerSec
      if (acc.helpers.some(h => h.peer === this.#opts.selfId)) this.#unhold(acc.session)
    }
    if (acc.helpers.some(h => h.peer === this.#opts.selfId) && ![...this.#helping.values()].some(s => s.session === acc.session && s.beneficiary === author)) {
      this.#standbyAccepted(author, acc, ts)
    }
    for (const s of this.#helping.values()) {
      if (s.session !== acc.session || s.beneficiary !== author) continue
      const mine = acc.helpers.some(h => h.peer === this.#opts.selfId)
      const helpers = acc.helpers.map(h => h.peer).sort()
      if (s.helpers.length > 0 && s.helpers.join(',') !== helpers.join(','))
        s.earlierHelpers = [s.helpers, ...(s.earlierHelpers ?? [])].slice(0, EARLIER_HELPER_LISTS)
      s.helpers = helpers
      s.acceptOrder = acc.helpers.map(h => h.peer)
      if (mine && !s.accepted) {
        s.accepted = true
        s.acceptedAt ??= Date.now()
        s.releasedAt = undefined
        this.#sessionWaiters.wake(s.site, () => s)
        this.#event({ kind: 'accepted', session: s.session, peer: author, site: s.site })
        this.#deps.log.info({ site: s.site, beneficiary: author }, 'accepted as helper: mirroring site')
        this.#prefetch(s)
      } else if (!mine && s.accepted) {
        s.accepted = false
        s.releasedAt = Date.now()
        s.dropped = true
      }
    }
    this.#helperWaiters.wake(acc.session, peer => this.#servingWith(acc.session, peer))
  }

  /**
   * Named in an accept before this node offered (or saw the request): as the standby of that
   * site it holds the content, so it takes the session now — with what it can offer, which its
   * offer then tells the beneficiary — unless it has nothing to spare for it.
   */
  #standbyAccepted(author: string, acc: HelpAccept, ts: number): void {
    const replica = this.#deps.replicaOf?.(author)
    if (replica === undefined) return
    const existing = this.#helping.get(replica.site)
    if (existing !== undefined && existing.beneficiary !== author) return
    this.#openSession(author, acc.session, replica.site, replica.siteUrl, replica.manifest, ts)
  }

  #onRelease(author: string, rel: HelpRelease): void {
    if (this.#held.get(rel.session)?.beneficiary === author) this.#unhold(rel.session)
    if (this.#accepted.get(rel.session)?.beneficiary === author) this.#accepted.delete(rel.session)
    for (const s of this.#helping.values())
      if (s.session === rel.session && s.beneficiary === author && s.releasedAt === undefined) this.#release(s, Date.now(), 'released by beneficiary')
  }

  /** End this node's service in `s` (its grace period starts: clients already sent finish). */
  #release(s: HelpingSession, now: number, why: string): void {
    s.accepted = false
    s.releasedAt = now
    this.#event({ kind: 'released', session: s.session, peer: s.beneficiary, site: s.site })
    this.#deps.log.info({ site: s.site, session: s.session }, why)
  }

  #prefetching = new Set<string>()
  /**
   * Prefetch the manifest, hottest first, the objects this node owns before the others: the
   * other helpers wait on the owners for theirs (mirror-fill.ts).
   */
  #prefetch(s: HelpingSession): void {
    // What a standby replica holds is served at once and needs no fetch.
    this.#deps.seed?.(s)
    const missing = [...s.manifest.values()].filter(e => this.#deps.cache.peek(s.site, e.path) === undefined && !this.#prefetching.has(`${s.site}\n${e.path}`))
    const owned = this.#deps.owns === undefined ? missing : missing.filter(e => this.#deps.owns!(s, e.path))
    const todo = owned.length === missing.length ? missing : [...owned, ...missing.filter(e => !owned.includes(e))]
    let i = 0
    const worker = async (): Promise<void> => {
      while (i < todo.length && s.accepted) {
        const entry = todo[i++]!
        const key = `${s.site}\n${entry.path}`
        this.#prefetching.add(key)
        try {
          await this.#deps.prefetch(s, entry)
        } catch (err) {
          this.#deps.log.debug({ err, path: entry.path }, 'prefetch failed')
        } finally {
          this.#prefetching.delete(key)
        }
      }
    }
    for (let k = 0; k < this.#opts.prefetchConcurrency; k++) void worker()
  }

  // ── beneficiary role ────────────────────────────────────────────────────────

  #onOffer(author: string, offer: HelpOffer): void {
    const own = this.#own
    if (own === undefined || offer.to !== this.#opts.selfId || offer.session !== own.session) return
    if (this.#deps.trusts?.(author) === false) return
    const before = own.offers.get(author)
    own.offers.set(author, offer)
    own.provisional.delete(author)
    if (before === undefined) {
      this.#event({ kind: 'offer', session: own.session, peer: author })
      this.#deps.log.debug(
        { session: own.session, peer: author, offeredBytesPerSec: offer.offeredBytesPerSec, afterMs: Date.now() - own.startedAt },
        'offer received'
      )
    }
    // The first offer of a session with no helper yet is accepted at once: every visitor until
    // then is the site's own or a 503. Later ones are batched.
    if (own.accepted.size === 0) this.#acceptNow()
    else this.#scheduleAccept()
  }

  #scheduleAccept(): void {
    if (this.#acceptTimer !== undefined) return
    // Offers arrive within milliseconds of each other: batch them into one accept.
    this.#acceptTimer = setTimeout(() => this.#acceptNow(), 50)
  }

  /** The batched accept, now (a pending one is dropped: this one sees every offer so far). */
  #acceptNow(): void {
    clearTimeout(this.#acceptTimer)
    this.#acceptTimer = undefined
    void this.#accept()
  }

  async #accept(): Promise<void> {
    const own = this.#own
    if (own === undefined) return
    // An r2 offer names requests/s only: its bytes/s is estimated from the site's mean object.
    const meanBytes = this.#meanBytes()
    const offers = [...own.offers.entries()].map(([peer, o]) => ({
      peer,
      offeredRps: o.offeredRps,
      offeredBytesPerSec: o.offeredBytesPerSec ?? Math.round(o.offeredRps * meanBytes),
      peerState: this.#deps.peers.get(peer)?.report.state,
      heldBytes: this.#deps.heldBy?.(peer) ?? 0
    }))
    const now = Date.now()
    const isDown = (peer: string): boolean => own.accepted.has(peer) && this.#deps.unreachableMs?.(peer, now) !== undefined
    const chosen = new Map<string, Helper>()
    let total = 0
    const add = (o: { peer: string; offeredRps: number; offeredBytesPerSec: number }): void => {
      const offer = own.offers.get(o.peer)!
      chosen.set(o.peer, {
        peer: o.peer,
        weightRps: o.offeredRps,
        weightBytesPerSec: o.offeredBytesPerSec,
        siteBase: siteBaseOnMirror(offer.mirrorUrl, this.#opts.site),
        mirrorUrl: offer.mirrorUrl
      })
      total += o.offeredBytesPerSec
    }
    // The need is covered by helpers that are up; one that is down keeps its place until it is
    // dropped (the shedder sends it no one meanwhile).
    // In a session's first seconds the need is measured on rates that still lag the onset: more headroom then.
    const onset = now - own.startedAt < ONSET_MS
    const headroom = onset ? Math.max(ONSET_HEADROOM, this.#opts.acceptHeadroom) : this.#opts.acceptHeadroom
    for (const o of selectHelpers(
      offers.filter(o => !isDown(o.peer)),
      own.needed,
      headroom,
      new Set(own.accepted.keys())
    ))
      add(o)
    // In the onset every standby that holds the hot content is taken: it costs the struck uplink
    // nothing, and the need measured so far is a fraction of the crowd's (the first accepted
    // standby alone got every redirect of the first second, p99 3.2 s on its mirror).
    if (onset)
      for (const o of offers) if (o.heldBytes > 0 && !isDown(o.peer) && !chosen.has(o.peer) && o.peerState !== 'struck' && o.offeredBytesPerSec > 0) add(o)
    for (const o of offers) if (isDown(o.peer) && !chosen.has(o.peer)) add(o)
    const same =
      chosen.size === own.accepted.size &&
      [...chosen.values()].every(h => {
        const was = own.accepted.get(h.peer)
        return was?.weightRps === h.weightRps && was.weightBytesPerSec === h.weightBytesPerSec
      })
    if (same) return
    // In the order they were first accepted (SPEC help-accept, r7): the longest serving first, so
    // each helper knows who owned an object before it was accepted (mirror-fill.ts).
    const ordered = new Map<string, Helper>()
    for (const peer of own.accepted.keys()) {
      const h = chosen.get(peer)
      if (h !== undefined) ordered.set(peer, h)
    }
    for (const [peer, h] of chosen) if (!ordered.has(peer)) ordered.set(peer, h)
    const fresh = [...ordered.keys()].filter(p => !own.accepted.has(p))
    own.accepted = ordered
    for (const peer of fresh) this.#event({ kind: 'accept', session: own.session, peer })
    this.#deps.log.info({ session: own.session, helpers: [...ordered.keys()], offeredBytesPerSec: total }, 'helpers accepted')
    const body: HelpAccept = {
      session: own.session,
      helpers: [...ordered.values()].map(h => ({ peer: h.peer, weightRps: h.weightRps, weightBytesPerSec: h.weightBytesPerSec, mirrorUrl: h.mirrorUrl }))
    }
    // Accept on the wire first, so helpers know they serve before clients arrive.
    await this.#deps.bus.publish(this.#topic, 'help-accept', body)
    if (this.#own === own) this.#deps.shedder.setHelpers([...ordered.values()])
  }
}
