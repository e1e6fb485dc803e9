/**
 * The composition root: one Reef node = front + mirror + admin listeners, the origin gate and
 * client, the cache, the libp2p host with the record bus, load gossip and help coordinator,
 * and the control loop that ties crowd detection to shedding.
 */
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { createHttpApp } from './http-app.ts'
import { adminAuth } from './admin-auth.ts'
import { registerMetrics } from './metrics.ts'
import { registerOpenApi } from './openapi.ts'
import type { PrivateKey } from '@libp2p/interface'
import { DASHBOARD_CSP, DASHBOARD_HTML } from '@reef/dashboard'
import { readFile } from 'node:fs/promises'
import { CharterBody, EvidenceItem as EvidenceItemSchema, LogAction as LogActionSchema, SERVING_REPORT_INTERVAL_MS, SiteLabel, canonicalBytes, decodeDocument, govTopic, helpTopic, ledgerTopic, loadTopic, signRecord, SequenceCounter } from '@reef/protocol'
import { checkProposal, evidenceHash, offerFor } from '@reef/governance'
import type { Capacity, MembershipState, QuotaPolicy } from '@reef/governance'
import type { CrowdState, EvidenceItem, LoadReport, LogAction, MultiSigned, Policy } from '@reef/protocol'
import { peerIdFromString } from '@libp2p/peer-id'
import { Auditor } from './auditor.ts'
import { attachUpgradeTunnel } from './upgrade-tunnel.ts'
import { ConfigError } from './errors.ts'
import { GovernanceService, describe as describeAction } from './governance-service.ts'
import { GovernanceStore } from './governance-store.ts'
import type { ReefConfig } from './config.ts'
import { ContentCache } from './content-cache.ts'
import type { CachedObject } from './content-cache.ts'
import { CrowdDetector } from './crowd-detector.ts'
import { fetchFromPeer, registerFetchServer } from './fetch-protocol.ts'
import { StandbyService } from './standby.ts'
import { buildFront } from './front.ts'
import { HelpCoordinator } from './help-coordinator.ts'
import { ExternalMirror } from './external-mirror.ts'
import { HelperHealth, MirrorProber } from './helper-health.ts'
import { HotSet } from './hot-set.ts'
import { MirrorFill } from './mirror-fill.ts'
import { PageWeigher } from './page-weight.ts'
import { LedgerService } from './ledger-service.ts'
import { LedgerStore } from './ledger-store.ts'
import { LoadMonitor } from './load-monitor.ts'
import { buildMirror } from './mirror.ts'
import { OriginClient } from './origin-client.ts'
import { OriginGate } from './origin-gate.ts'
import { createReefLibp2p, keepBootstrapped, loadOrCreateIdentity } from './p2p.ts'
import type { ReefLibp2p } from './p2p.ts'
import { PeerTable } from './peer-table.ts'
import { RecordBus } from './record-bus.ts'
import { Shedder } from './shedder.ts'
import { TrafficTimeline } from './traffic-timeline.ts'
import { UplinkMeter } from './uplink-meter.ts'

/** Bytes per object assumed before the site has served any (r2 offers, external mirror weight). */
const DEFAULT_MEAN_OBJECT_BYTES = 50_000
/** The uplink is backing up when the process held more than this many seconds of it unsent for a whole second. */
const BACKLOG_SECONDS = 0.25
/** How long a visitor the site cannot take waits for a tick in progress before its strike (ms). */
const STRIKE_WAIT_MS = 200
/** Standby transfers run only while the uplink sends less than this share of its target. */
const STANDBY_CALM_SHARE = 0.5
/** Most of the uplink target a struck site holds back for what its helpers fetch from it. */
const HELPER_FETCH_SHARE = 0.6
/** Share of the uplink target held back for helpers' fetches until they have fetched the hot set once. */
const WARMING_SHARE = 0.85
/** The site keeps no new page load while its uplink needs longer than this to send what waits, in s. */
const LOCAL_QUEUE_SECONDS = 0.5
/** A helper gets no new page loads while its reported queue takes longer than this to send, in s. */
const HELPER_QUEUE_SECONDS = 1
/** How often the accepted helpers' health is checked (and their mirrors probed when due), in ms. */
const HEALTH_TICK_MS = 25

export type ReliefRung = 'micro-cache' | 'helpers' | 'external-mirror' | 'refusing'

export interface LedgerMemberView {
  peer: string
  site: string | null
  given: number
  taken: number
  balance: number
  givenRequests: number
  takenRequests: number
  windowGiven: number
  windowTaken: number
  quota: number
  headroom: number
  overQuota: boolean
}

export interface ReefNodeOptions {
  logger?: Logger
}

export class ReefNode {
  readonly config: ReefConfig
  readonly log: Logger
  readonly monitor = new LoadMonitor()
  /** What this machine sends (front, mirror, fetch streams), against its declared uplink. */
  readonly uplink: UplinkMeter
  /** Whether each accepted helper can take clients now (heard from, connected, mirror answering). */
  readonly helperHealth = new HelperHealth()
  readonly #prober: MirrorProber
  #excluded = ''
  /** The helpers #checkHelpers saw last (to tell newly accepted ones). */
  #seenHelpers = new Set<string>()
  /** When the relief state was last logged (debug, once a second while not normal). */
  #reliefLoggedAt = 0
  #busyKey = ''
  #demandBps = 0
  /** What this node had sent on fetch streams when its current help session began. */
  #p2pAtSessionStart = 0
  #lastReportAt = 0
  #lastHealthPrune = 0
  readonly cache: ContentCache
  readonly hotSet = new HotSet()
  readonly shedder = new Shedder()
  readonly gate: OriginGate<string | null>
  readonly detector: CrowdDetector
  readonly peers: PeerTable
  readonly origin: OriginClient
  readonly libp2p: ReefLibp2p
  readonly bus: RecordBus
  readonly help: HelpCoordinator
  readonly standby: StandbyService
  readonly front: FastifyInstance
  readonly mirror: FastifyInstance
  readonly admin: FastifyInstance | undefined
  readonly ledgerStore: LedgerStore
  readonly externalMirror: ExternalMirror | undefined
  /** The site's traffic per second by destination, for the dashboard (`GET /api/timeline`). */
  readonly timeline: TrafficTimeline
  /** When each rung of the relief ladder engaged and released (helpers, external mirror, refusing). */
  readonly reliefHistory: Array<{ rung: ReliefRung, engaged: boolean, at: number }> = []
  readonly #rungs = new Map<ReliefRung, boolean>()
  /** Switches the front reads on every request. */
  readonly ladder = { microCache: false }
  #microCacheCalmSince: number | undefined
  readonly ledger: LedgerService
  #lastOwnSession: string | undefined
  /** How this node, as a helper, gets the objects of the sites it mirrors. */
  readonly fill: MirrorFill
  #timers: NodeJS.Timeout[] = []
  #stopBootstrap: (() => void) | undefined
  #ticking = false
  #demandRps = 0
  #started = false

  /** Governance (a charter was configured): membership log, votes, audits. */
  readonly gov: GovernanceService | undefined
  readonly govStore: GovernanceStore | undefined
  readonly auditor: Auditor | undefined
  /** Peers the operator blocked (a manual partition or a quarantine); the gater refuses them. */
  readonly blocked = new Set<string>()
  /** The quota the ledger enforces: the charter's policy when governed, else the config's. */
  readonly quota: QuotaPolicy
  readonly #attestations = new WeakMap<CachedObject, Promise<string>>()
  readonly #attested = new WeakMap<CachedObject, string>()
  readonly #key: PrivateKey
  readonly #attestSeq = new SequenceCounter()
  #lastEvidenceScan = 0
  #evidenceSeen = -1
  #evidenceReadAt = 0
  #upgrades: { readonly open: number, close: () => void } | undefined
  readonly #accused = new Map<string, { height: number, at: number }>()
  /** Helpers this node caught serving its site's content altered: their offers are refused. */
  readonly #distrusted = new Set<string>()

  static async create (config: ReefConfig, opts: ReefNodeOptions = {}): Promise<ReefNode> {
    const key = await loadOrCreateIdentity(config.dataDir)
    const store = await LedgerStore.open(join(config.dataDir, 'ledger'))
    let govStore: GovernanceStore | undefined
    try {
      let charter: MultiSigned<CharterBody> | undefined
      if (config.governance?.charter !== undefined) charter = await readCharterFile(config.governance.charter)
      if (config.governance !== undefined) govStore = await GovernanceStore.open(join(config.dataDir, 'governance'))
      const log = opts.logger ?? pino({ level: config.log.level, base: { site: config.site.label } })
      const holder: { node?: ReefNode } = {}
      const libp2p = await createReefLibp2p(key, [...config.p2p.listen], {
        deny: peer => holder.node?.isDenied(peer) ?? false,
        onDenied: peer => { if (holder.node?.gov !== undefined) holder.node.gov.counters.deniedConnections++; holder.node?.log.debug({ peer }, 'connection refused by the gater') }
      })
      const node = new ReefNode(config, libp2p, key, log, store, govStore)
      holder.node = node
      if (node.gov !== undefined) {
        try { await node.gov.open(charter) } catch (err) { await libp2p.stop(); throw err }
        node.#applyPolicy(node.gov.state)
      }
      return node
    } catch (err) {
      await store.close()
      await govStore?.close()
      throw err
    }
  }

  private constructor (config: ReefConfig, libp2p: ReefLibp2p, key: PrivateKey, log: Logger, store: LedgerStore, govStore: GovernanceStore | undefined) {
    this.config = config
    this.uplink = new UplinkMeter({ bytesPerSec: config.uplink.bytesPerSec })
    this.#key = key
    this.quota = { ...config.ledger.quota }
    this.ledgerStore = store
    this.govStore = govStore
    this.libp2p = libp2p
    this.log = log.child({ peer: libp2p.peerId.toString().slice(-8) })
    this.cache = new ContentCache(config.cache.maxBytes, config.cache.maxObjectBytes)
    this.gate = new OriginGate({ capacityRps: config.origin.capacityRps, maxConcurrent: config.origin.maxConcurrent, queueLimit: config.front.queueLimit, bytesPerSec: config.origin.bytesPerSec })
    this.detector = new CrowdDetector({ capacityRps: config.origin.capacityRps, ...config.crowd })
    this.peers = new PeerTable(config.gossip.peerExpiryMs)
    this.origin = new OriginClient({ url: config.origin.url, site: config.site.label, maxConcurrent: config.origin.maxConcurrent, timeoutMs: config.origin.timeoutMs },
      this.gate, this.cache, this.hotSet, this.monitor, this.log.child({ component: 'origin' }))
    const selfId = libp2p.peerId.toString()
    /** What this node's mirror has served for a site so far (a copy: callers keep baselines). */
    const servedNow = (site: string): { requests: number, bytes: number } => ({ ...(this.monitor.mirrorTotals.get(site) ?? { requests: 0, bytes: 0 }) })
    this.bus = new RecordBus(libp2p.services.pubsub, key, selfId, {
      [loadTopic(config.consortium)]: ['load-report'],
      [helpTopic(config.consortium)]: ['help-request', 'help-offer', 'help-accept', 'help-release', 'standby'],
      [ledgerTopic(config.consortium)]: ['delegation', 'receipt'],
      ...(govStore === undefined ? {} : { [govTopic(config.consortium)]: ['gov-proposal', 'gov-vote', 'gov-entry'] as const })
    }, this.log.child({ component: 'gossip' }))
    if (govStore !== undefined) {
      const gov = new GovernanceService({ consortium: config.consortium, selfId, autoVote: config.governance?.autoVote ?? true }, {
        libp2p, key, bus: this.bus, store: govStore, log: this.log.child({ component: 'governance' }),
        standing: peer => store.standing(peer, Date.now(), this.quota),
        observe: async url => this.auditor!.fetch(url),
        onChange: (state, action) => { this.#onMembership(state, action) }
      })
      gov.selfMember = { peer: selfId, site: config.site.label, mirrorUrl: config.mirror.publicUrl }
      this.gov = gov
      this.bus.authorVerdict = peer => gov.isMemberPeer(peer) ? 'accept' : gov.isExpelled(peer) ? 'reject' : 'ignore'
      this.bus.canPublish = () => gov.isMember
      this.auditor = new Auditor({
        bus: this.bus, log: this.log.child({ component: 'audit' }), selfId, maxObjectBytes: config.cache.maxObjectBytes,
        isMember: peer => gov.isMemberPeer(peer),
        accuse: async (helper, reason, evidence) => this.#accuse(helper, reason, evidence),
        // Our own site's content, wrong under our eyes: stop sending our clients there now;
        // the vote that expels the helper everywhere follows.
        caught: (helper, site) => {
          if (site !== config.site.label || this.#distrusted.has(helper)) return
          this.#distrusted.add(helper)
          this.help.dropPeer(helper)
          this.log.warn({ helper }, 'helper caught serving altered content of this site: no more clients sent to it')
        }
      })
    }
    this.#prober = new MirrorProber(this.helperHealth, this.log.child({ component: 'probe' }))
    this.fill = new MirrorFill({
      libp2p, cache: this.cache, selfId, maxObjectBytes: config.cache.maxObjectBytes, log: this.log.child({ component: 'fill' }),
      isDown: peer => this.helperHealth.isDown(peer),
      standbysOf: site => this.standby.standbysOf(site)
    })
    this.standby = new StandbyService({
      selfId, site: config.site.label, siteUrl: config.site.publicUrl, topic: helpTopic(config.consortium),
      // The charter's policy, when it sets one, else this node's config.
      replicas: () => this.gov?.state?.policy.standbyReplicas ?? config.standby.replicas,
      uplinkShare: config.standby.uplinkShare, maxBytes: config.standby.maxBytes
    }, {
      bus: this.bus, peers: this.peers, log: this.log.child({ component: 'standby' }),
      manifest: () => this.hotSet.manifest(config.site.label, this.cache),
      calm: () => this.#calm(),
      uplinkBytesPerSec: () => config.uplink.bytesPerSec,
      load: async path => this.origin.load(path),
      fetch: async (peer, id, entry) => fetchFromPeer(libp2p, peer, id, entry.path, config.cache.maxObjectBytes, entry)
    })
    this.help = new HelpCoordinator({
      consortium: config.consortium, selfId, site: config.site.label, siteUrl: config.site.publicUrl,
      mirrorUrl: config.mirror.publicUrl, releaseGraceMs: config.mirror.releaseGraceMs
    }, {
      bus: this.bus, peers: this.peers, shedder: this.shedder, cache: this.cache, log: this.log.child({ component: 'help' }),
      manifest: () => this.hotSet.manifest(config.site.label, this.cache),
      spare: () => this.spare(),
      prefetch: async (s, entry) => { await this.fill.fill(s, entry.path, { prefetch: true }) },
      owns: (s, path) => this.fill.owns(s, path),
      seed: s => this.standby.seed(s.site, s.manifest, this.cache),
      heldBy: peer => this.standby.heldBy(peer),
      readyStandbys: () => this.standby.ready(),
      replicaOf: beneficiary => this.standby.replicaOf(beneficiary),
      standsByFor: site => this.standby.holds(site),
      offerFor: (beneficiary, spare) => {
        const st = store.standing(beneficiary, Date.now(), this.quota)
        const owed = store.owed(selfId, beneficiary)
        // All of the spare capacity, or the ledger's optimistic share of it.
        const rps = offerFor(spare.rps, spare.rps, st, owed, this.quota)
        const bytes = offerFor(spare.bytesPerSec, spare.bytesPerSec, st, owed, this.quota)
        if (bytes.kind !== 'full') this.log.info({ beneficiary, decision: bytes }, 'help limited by the ledger')
        return { rps: rps.kind === 'decline' ? 0 : rps.amount, bytesPerSec: bytes.kind === 'decline' ? 0 : bytes.amount }
      },
      meanObjectBytes: () => this.meanObjectBytes(),
      servedRate: site => this.monitor.servedRate(site),
      uplink: () => this.#uplinkState(),
      unreachableMs: (peer, now) => {
        const since = this.helperHealth.downSince(peer, now)
        return since === undefined ? undefined : now - since
      },
      servedNow,
      trusts: peer => !this.#distrusted.has(peer)
    })
    this.ledger = new LedgerService({
      consortium: config.consortium, selfId, settleIntervalMs: config.ledger.settleIntervalMs, policy: this.quota,
      // Governed: the charter's settlement interval, so that every member settles alike.
      settleInterval: () => this.gov?.state?.policy.settleIntervalMs ?? config.ledger.settleIntervalMs
    }, {
      bus: this.bus, store, peers: this.peers, log: this.log.child({ component: 'ledger' }),
      helpingSessions: () => this.help.helpingSessions,
      servedNow
    })
    const weigher = new PageWeigher(this.cache, config.site.label)
    this.front = buildFront({
      site: config.site.label, queueTimeoutMs: config.front.queueTimeoutMs, retryAfterS: config.front.retryAfterS,
      maxBodyBytes: config.front.maxBodyBytes, originTimeoutMs: config.origin.timeoutMs, trustedProxies: config.front.trustedProxies, limits: config.http
    }, {
      gate: this.gate, origin: this.origin, cache: this.cache, hotSet: this.hotSet, shedder: this.shedder, monitor: this.monitor, log: this.log.child({ component: 'front' }),
      ladder: this.ladder,
      weigh: obj => weigher.weigh(obj, this.meanObjectBytes()),
      // A refusal while calm: the site is full now (its uplink or its origin), not in a tick.
      onRefused: () => { if (this.detector.state === 'normal' && this.#started) void this.#tick() },
      // Every visitor refused meanwhile waits for the same strike.
      strikeNow: async () => {
        if (this.shedder.helping) return true
        if (this.#striking !== undefined) return this.#striking
        if (this.detector.state !== 'normal' || !this.#started || this.standby.ready().length === 0) return false
        this.#striking = (async () => {
          this.#forceStrike = true
          const deadline = Date.now() + STRIKE_WAIT_MS
          while (this.#ticking && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 1))
          await this.#tick()
          return this.shedder.helping
        })().finally(() => { this.#striking = undefined })
        return this.#striking
      },
      onRedirect: (helper, bytes) => {
        const session = this.help.ownSessionId
        if (session !== undefined && helper.location === undefined) this.ledger.countRedirect(session, helper.peer, bytes)
      }
    })
    this.mirror = buildMirror({ publicUrl: config.mirror.publicUrl, selfId, limits: config.http, trustedProxies: config.front.trustedProxies }, {
      cache: this.cache, monitor: this.monitor, log: this.log.child({ component: 'mirror' }),
      sessionForSite: site => this.help.sessionForSite(site) ?? (this.standby.holds(site) ? this.help.awaitSession(site) : undefined),
      fetch: async (s, path) => this.fill.fill(s, path),
      attest: async (s, obj) => this.#attest(s.session, obj)
    })
    this.uplink.watch(this.front.server, 'front')
    this.uplink.watch(this.mirror.server, 'mirror')
    this.externalMirror = config.relief.externalMirror === undefined ? undefined : new ExternalMirror(config.relief.externalMirror.template, config.site.publicUrl)
    this.timeline = new TrafficTimeline({ capacityRps: config.origin.capacityRps }, () => {
      const t = this.monitor.totals
      return { origin: t.origin, shedPeers: t.shed - t.shedExternal, shedExternal: t.shedExternal, refused: t.refused, microCache: t.microCache }
    })
    this.admin = config.admin === undefined ? undefined : this.#buildAdmin()
  }

  get peerId (): string { return this.libp2p.peerId.toString() }

  /** Whether the connection gater refuses `peer`: blocked by the operator, or expelled. */
  isDenied (peer: string): boolean { return this.blocked.has(peer) || (this.gov?.isExpelled(peer) ?? false) }

  /** Refuse a peer (operator action; also how tests partition a consortium) and close its connections. */
  async blockPeer (peer: string): Promise<void> {
    this.blocked.add(peer)
    await this.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
  }

  unblockPeer (peer: string): void { this.blocked.delete(peer) }

  /** A helper's attestation of what it serves for a site: signed once per cached copy. */
  #attest (session: string, obj: CachedObject): string | Promise<string> {
    const done = this.#attested.get(obj)
    if (done !== undefined) return done // the hit path: no await once signed
    let p = this.#attestations.get(obj)
    if (p === undefined) {
      p = signRecord(this.#key, this.peerId, 'attestation', { session, site: obj.site, path: obj.path, sha256: obj.sha256 }, { seq: this.#attestSeq.next(), ts: obj.storedAt })
        .then(bytes => {
          const header = Buffer.from(bytes).toString('base64url')
          this.#attested.set(obj, header)
          return header
        })
      this.#attestations.set(obj, p)
    }
    return p
  }

  /** The charter's quota and intervals, whenever the policy changes. */
  #applyPolicy (state: MembershipState | undefined): void {
    if (state === undefined) return
    const p = state.policy
    Object.assign(this.quota, { newcomerGrantBytes: p.newcomerGrantBytes, takeMultiple: p.takeMultiple, windowMs: p.windowMs, optimisticShare: p.optimisticSharePct / 100 })
  }

  /** Enforce the membership after every accepted log entry. */
  #onMembership (state: MembershipState, action: LogAction | undefined): void {
    this.#applyPolicy(state)
    for (const peer of state.expelled) {
      if (peer === this.peerId) continue
      this.peers.remove(peer)
      this.help.dropPeer(peer)
      void this.libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
    }
    if (action?.kind === 'expel') {
      if (action.peer === this.peerId) this.log.error({ reason: action.reason }, 'THIS NODE WAS EXPELLED from the consortium: it no longer gives or receives help')
      else this.log.warn({ peer: action.peer, reason: action.reason }, 'member expelled: connections closed, no more help to or from it')
    }
  }

  /** Propose an expulsion once per accused member and head (the voters check the evidence). */
  async #accuse (peer: string, reason: string, evidence: EvidenceItem[]): Promise<void> {
    const gov = this.gov
    if (gov === undefined || !gov.isMember || !gov.isMemberPeer(peer)) return
    const height = gov.state?.height ?? 0
    if (!this.#mayAccuse(peer, height)) return
    this.#accused.set(peer, { height, at: Date.now() })
    try {
      await gov.proposeExpel(peer, reason, evidence)
    } catch (err) {
      this.#accused.delete(peer)
      this.log.warn({ peer, err: (err as Error).message }, 'expulsion could not be proposed')
    }
  }

  /** Once per accused, head and minute: a proposal that expired without a quorum is made again. */
  #mayAccuse (peer: string, height: number, now = Date.now()): boolean {
    const last = this.#accused.get(peer)
    return last === undefined || last.height !== height || now - last.at >= 60_000
  }

  /** Ledger evidence and freeloading past the charter's limit become expulsion proposals. */
  async #scanForCheaters (now: number): Promise<void> {
    const gov = this.gov
    const state = gov?.state
    if (gov === undefined || state === undefined || !gov.isMember || now - this.#lastEvidenceScan < 2_000) return
    this.#lastEvidenceScan = now
    // The stored evidence is read again only when some was written, or once a minute (an
    // accusation that expired without a quorum is made again).
    const evidenceChanged = this.ledgerStore.evidenceWritten !== this.#evidenceSeen || now - this.#evidenceReadAt >= 60_000
    this.#evidenceSeen = this.ledgerStore.evidenceWritten
    if (evidenceChanged) this.#evidenceReadAt = now
    for (const e of evidenceChanged ? await this.ledgerStore.evidence(50) : []) {
      if (e.accused === this.peerId || !state.members.has(e.accused) || !this.#mayAccuse(e.accused, state.height, now)) continue
      const hashes = [...e.records]
      const records: string[] = []
      for (const h of hashes) {
        const r = await this.ledgerStore.record(h)
        if (r === undefined) continue
        if (r.type === 'receipt') {
          const named = await this.ledgerStore.record((r.body as { delegation: string }).delegation)
          if (named !== undefined && !hashes.includes(named.hash)) records.unshift(Buffer.from(named.bytes, 'base64').toString('base64url'))
        }
        records.push(Buffer.from(r.bytes, 'base64').toString('base64url'))
      }
      if (records.length === 0) continue
      await this.#accuse(e.accused, `ledger: ${e.kind}`, [{ kind: 'ledger', records: records.slice(0, 4) }])
    }
    const pct = state.policy.freeloadExpelPct
    if (pct === 0) return
    for (const peer of state.members.keys()) {
      if (peer === this.peerId) continue
      const st = this.ledgerStore.standing(peer, now, this.quota)
      if (st.taken > st.credit * pct / 100) await this.#accuse(peer, 'freeloading', [{ kind: 'freeloading', taken: st.taken, credit: st.credit }])
    }
  }
  get state (): CrowdState { return this.detector.state }

  /**
   * What this node offers other sites now: none while its own site sheds; in bytes/s, what is
   * left of its uplink target after its own site's traffic and the offers it has made, and
   * nothing while its uplink is saturated; in requests/s, its mirror's capacity less its offers.
   */
  spare (): Capacity {
    if (this.detector.state !== 'normal') return { rps: 0, bytesPerSec: 0 }
    let rps = 0
    let bytes = 0
    for (const s of this.help.helpingSessions) {
      if (s.releasedAt !== undefined) continue
      rps += s.offeredRps
      bytes += s.offeredBytesPerSec
    }
    const up = this.#uplinkState()
    return {
      rps: Math.max(0, Math.round(this.config.mirror.capacityRps - rps)),
      bytesPerSec: up.saturated ? 0 : Math.max(0, Math.round(up.budgetBytesPerSec - bytes))
    }
  }

  /** Requests/s this node offers other sites now (see `spare`). */
  spareRps (): number { return this.spare().rps }

  /**
   * Calm enough for standby transfers: its site normal, helping no one, its uplink under
   * STANDBY_CALM_SHARE of its target and not backed up.
   */
  #calm (): boolean {
    if (this.detector.state !== 'normal') return false
    if (this.help.helpingSessions.some(s => s.accepted && s.releasedAt === undefined)) return false
    const up = this.config.uplink
    return this.uplink.rate(1_000) < STANDBY_CALM_SHARE * up.targetShare * up.bytesPerSec && this.uplink.backlogBytes < BACKLOG_SECONDS * up.bytesPerSec
  }

  /** Who stands by for this site, and for whom this node stands by, with how much each holds. */
  #standbyView (now: number): Record<string, unknown> {
    const mine = this.standby.mine
    return {
      revision: mine?.revision ?? null,
      publishedAt: mine?.publishedAt ?? null,
      manifestBytes: mine?.manifestBytes ?? 0,
      standbys: this.standby.standbysView(),
      holding: this.standby.replicas().map(r => ({ ...r, ageMs: now - (r.fetchedAt ?? r.updatedAt) })),
      sentBytes: this.standby.totals.sent,
      receivedBytes: this.standby.totals.received
    }
  }

  /**
   * The uplink as a helper sees it: the bytes/s it may send for others in all (its target less
   * its own site's traffic), and whether it is saturated — sending at its target, or holding
   * more than BACKLOG_SECONDS of it in sockets the kernel will not take for a whole second;
   * backed up while sending below its target, the uplink is slower than declared.
   */
  #uplinkState (): { budgetBytesPerSec: number, saturated: boolean, slowerThanDeclared: boolean } {
    const up = this.config.uplink
    const target = up.targetShare * up.bytesPerSec
    const sent = this.uplink.rate(1_000)
    const backlogged = this.uplink.persistentBacklogBytes > BACKLOG_SECONDS * up.bytesPerSec
    return {
      budgetBytesPerSec: Math.max(0, target - this.uplink.rate(1_000, 'front')),
      saturated: backlogged || sent >= target,
      slowerThanDeclared: backlogged && sent < target
    }
  }

  /**
   * What this node's uplink owes now: bytes queued to send. Not the mirrored objects clients
   * wait for while it fetches them: they wait on the struck site's uplink (SPEC.md, Queues).
   */
  queuedBytes (): number {
    return this.uplink.queuedBytes
  }

  /** Mean bytes of a request of this site over the last seconds (its cached sizes). */
  meanObjectBytes (): number {
    return this.monitor.meanArrivalBytes() ?? DEFAULT_MEAN_OBJECT_BYTES
  }


  /**
   * Start everything; if any part fails (a port in use), stop what already started, then throw.
   * `beforeFrontListens` runs right before the front takes its port (`reef start` hands the port
   * over from the pass-through that answered while the node loaded).
   */
  async start (opts: { beforeFrontListens?: () => Promise<void> | void } = {}): Promise<void> {
    try {
      await this.#start(opts.beforeFrontListens)
    } catch (err) {
      this.#started = true
      await this.stop().catch(() => {})
      throw err
    }
  }

  async #start (beforeFrontListens?: () => Promise<void> | void): Promise<void> {
    const c = this.config
    await this.libp2p.start()
    this.bus.start()
    this.bus.onRecord(r => {
      this.helperHealth.heard(r.author)
      if (r.type === 'load-report') this.peers.update(r.author, r.body as LoadReport)
    })
    this.libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.libp2p.addEventListener('peer:connect', this.#onConnect)
    this.help.start()
    this.standby.start()
    this.ledger.start()
    if (this.gov !== undefined) {
      await this.gov.start()
      this.auditor?.start(() => this.gov?.state?.policy.auditIntervalMs ?? 60_000)
    }
    await registerFetchServer(this.libp2p, {
      log: this.log.child({ component: 'fetch' }),
      isAcceptedHelper: (session, peer) => this.help.isAcceptedHelper(session, peer),
      load: async path => this.origin.load(path),
      // Another helper of a session this node serves asks for an object of the manifest; or
      // one of this site's standbys, in calm times.
      forHelper: (session, peer, path) => {
        const s = this.help.helpingSessions.find(x => x.session === session && x.releasedAt === undefined)
        if (s === undefined || !s.helpers.includes(peer) || !s.manifest.has(path)) return this.standby.serve(session, peer, path)
        return this.fill.fill(s, path, { forPeer: true })
      },
      onSent: bytes => { this.uplink.add('p2p', bytes) },
      onPending: bytes => { this.uplink.pendingP2pBytes += bytes }
    })
    this.#upgrades = attachUpgradeTunnel(this.front.server, {
      originUrl: c.origin.url, maxConnections: c.front.maxUpgrades, trustedProxies: c.front.trustedProxies, connectTimeoutMs: Math.min(c.origin.timeoutMs, 10_000),
      log: this.log.child({ component: 'upgrade' })
    })
    await beforeFrontListens?.()
    await this.front.listen({ host: c.front.listen.host, port: c.front.listen.port })
    await this.mirror.listen({ host: c.mirror.listen.host, port: c.mirror.listen.port })
    if (this.admin !== undefined && c.admin !== undefined) await this.admin.listen({ host: c.admin.listen.host, port: c.admin.listen.port })
    this.#stopBootstrap = keepBootstrapped(this.libp2p, [...c.p2p.bootstrap])
    this.uplink.start()
    this.#timers.push(setInterval(() => { void this.#tick() }, c.crowd.tickMs))
    this.#timers.push(setInterval(() => { void this.#maybeReport() }, Math.min(SERVING_REPORT_INTERVAL_MS, c.gossip.reportIntervalMs)))
    this.#timers.push(setInterval(() => { this.#checkHelpers() }, HEALTH_TICK_MS))
    this.timeline.start()
    this.#started = true
    this.log.info({ front: this.frontUrl, mirror: c.mirror.publicUrl, addrs: this.libp2p.getMultiaddrs().map(String) }, 'reef node started')
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    this.uplink.stop()
    this.libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.libp2p.removeEventListener('peer:connect', this.#onConnect)
    await this.#prober.close()
    this.timeline.stop()
    this.#stopBootstrap?.()
    this.gate.close()
    if (this.help.ownSession !== undefined) await this.help.tick('normal', { rps: 0, bytesPerSec: 0 }).catch(() => {})
    if (this.#lastOwnSession !== undefined) await this.ledger.settle(this.#lastOwnSession)
    await this.ledger.stop()
    this.help.stop()
    this.standby.stop()
    await this.gov?.stop()
    await this.auditor?.stop()
    this.bus.stop()
    this.#upgrades?.close()
    await Promise.allSettled([this.front.close(), this.mirror.close(), this.admin?.close()])
    await this.origin.close().catch(() => {})
    await this.libp2p.stop()
    await this.ledgerStore.close()
    await this.govStore?.close()
    this.log.info('reef node stopped')
  }

  get frontUrl (): string {
    const a = this.front.server.address()
    return typeof a === 'object' && a !== null ? `http://${this.config.front.listen.host}:${a.port}` : ''
  }

  get adminUrl (): string | undefined {
    const a = this.admin?.server.address()
    return typeof a === 'object' && a !== null && a !== undefined ? `http://${this.config.admin?.listen.host ?? '127.0.0.1'}:${a.port}` : undefined
  }

  /**
   * The demand on this site as a share of its capacity, in the origin's requests/s: the larger
   * of the request demand (what reached the front and was not shed, plus what its helpers serve
   * for it), the byte demand on its uplink (`demandBytesPerSec`) scaled to the same share of
   * capacity, and, with an `origin.bytesPerSec`, the origin's own byte demand likewise.
   */
  demandRps (): number {
    const m = this.monitor
    const c = this.config.origin
    const originBytes = c.bytesPerSec === undefined ? 0 : (m.bytesOut.rate(1_000) + m.shedBytes.rate(1_000)) / c.bytesPerSec * c.capacityRps
    const uplinkBytes = this.demandBytesPerSec() / this.config.uplink.bytesPerSec * c.capacityRps
    return Math.max(originBytes, uplinkBytes, this.#requestDemand())
  }

  /**
   * Bytes/s the site's visitors ask of its uplink: what the front would send if it answered
   * every arrival (their cached sizes) — or, while helpers take a share, what the front sends
   * plus what the helpers report serving for the site (a redirected page takes its images with
   * it), whichever is larger.
   */
  demandBytesPerSec (): number {
    const arrivals = this.monitor.arrivalBytesPerSec(this.meanObjectBytes())
    const front = this.uplink.rate(1_000, 'front')
    if (!this.shedder.active) return Math.max(arrivals, front)
    return Math.max(arrivals, front + this.#helpersServe().bytesPerSec)
  }

  /**
   * The request rate to aim the origin at, counted in arrivals that are not redirected: the
   * micro-cache answers a share of those (they cost the origin nothing), so only the rest must
   * stay under the origin's target.
   */
  #originTarget (target: number): number {
    const m = this.monitor
    const kept = Math.max(1, m.arrivals.rate(1_000) - m.shed.rate(1_000))
    const cached = Math.min(0.95, m.microCache.rate(1_000) / kept)
    return target / (1 - cached)
  }


  /** What the accepted helpers report serving for this site now. */
  #helpersServe (): Capacity {
    let rps = 0
    let bytes = 0
    for (const h of this.shedder.helpers) {
      const x = this.peers.get(h.peer)?.report.helping.find(e => e.site === this.config.site.label)
      rps += x?.rps ?? 0
      bytes += x?.bytesPerSec ?? 0
    }
    return { rps, bytesPerSec: bytes }
  }

  #requestDemand (): number {
    const m = this.monitor
    const arrivals = m.arrivals.rate(500)
    if (!this.shedder.active) return arrivals
    return Math.max(arrivals, arrivals - m.shed.rate(1_000) + this.#helpersServe().rps)
  }

  /** The front is about to refuse a visitor that ready standbys could take: strike in this tick. */
  #forceStrike = false
  #striking: Promise<boolean> | undefined

  async #tick (): Promise<void> {
    if (this.#ticking) return
    this.#ticking = true
    try {
      const c = this.config
      const now = Date.now()
      const demandBps = this.demandBytesPerSec()
      this.#demandBps = demandBps
      const demand = this.demandRps()
      this.#demandRps = demand
      // Struck without waiting for strikeHoldMs: the origin's queue is full (with demand over the
      // strike share).
      // Struck at once, too, when the front is about to refuse a visitor that ready standbys can
      // take (strikeNow). Without standbys a refusal does not skip the hold: struck on its first
      // refusal, a site asks for help with a need and a hot set it has barely measured.
      const refusing = this.#forceStrike
      this.#forceStrike = false
      const change = this.detector.sample(demand, now, this.gate.queued >= c.origin.maxConcurrent, refusing)
      if (change !== undefined) this.log.info({ from: change.from, to: change.to, demandRps: Math.round(demand), demandBytesPerSec: Math.round(demandBps) }, 'crowd state changed')
      const target = c.crowd.targetShare * c.origin.capacityRps
      const targetBps = c.uplink.targetShare * c.uplink.bytesPerSec
      const state = this.detector.state
      // Everything this machine sends competes for the uplink: the fetch streams to helpers too.
      // And what helpers fetch goes first: until they hold the hot content they cannot serve the
      // crowd, while what the site keeps for itself competes with their fetches for its uplink
      // (one libp2p connection each against a crowd of HTTP ones). So the site keeps little
      // until its helpers have fetched every manifest object once (each object crosses its
      // uplink about once: mirror-fill.ts), and after that it still makes room for the bodies
      // they wait for.
      // Standbys that already hold the hot content need none of it (SPEC.md §Warm standby).
      let held = 0
      for (const h of this.shedder.helpers) held = Math.max(held, this.standby.heldBy(h.peer))
      const warming = this.shedder.helping && this.help.ownManifestBytes > this.uplink.totals.p2p - this.#p2pAtSessionStart + held
      const waited = warming ? WARMING_SHARE * targetBps : Math.min(HELPER_FETCH_SHARE * targetBps, this.uplink.pendingP2pBytes)
      if (state === 'normal') {
        this.shedder.reset()
      } else {
        this.shedder.adapt(this.monitor.arrivals.rate(1_000), this.monitor.sheddable.rate(1_000), this.#originTarget(target))
        this.shedder.adaptBytes(this.uplink.rate(1_000) + Math.max(0, waited - this.uplink.rate(1_000, 'p2p')), targetBps, demandBps)
        // No more bytes to helpers than they offered.
        this.shedder.setRedirectBudget(this.shedder.helping ? this.shedder.liveHelperBytesPerSec() : undefined)
      }
      // New page loads the site keeps for itself, always — also in the second a crowd arrives,
      // before it is struck: what its uplink can send, less what its helpers' fetches need. A page
      // load commits its images too, so its weight counts when it is admitted, before its bytes
      // reach any queue.
      this.shedder.setLocalBudget(Math.max(0, targetBps - waited))
      const helping = this.help.helpingSessions.some(x => x.accepted && x.releasedAt === undefined)
      if ((state !== 'normal' || helping) && now - this.#reliefLoggedAt >= 1_000 && this.log.isLevelEnabled('debug')) {
        this.#reliefLoggedAt = now
        if (helping) {
          this.log.debug({
            sentBps: Math.round(this.uplink.rate(1_000)), mirrorBps: Math.round(this.uplink.rate(1_000, 'mirror')), queued: Math.round(this.uplink.queuedBytes),
            fillWait: this.monitor.fillWaitBytes, fills: this.fill.counts
          }, 'helping')
        }
        if (state !== 'normal') this.log.debug({
          state, demandBps: Math.round(demandBps), sentBps: Math.round(this.uplink.rate(1_000)), p2pBps: Math.round(this.uplink.rate(1_000, 'p2p')),
          pendingP2p: this.uplink.pendingP2pBytes, queued: Math.round(this.uplink.queuedBytes), warming, waited: Math.round(waited),
          share: Number(this.shedder.share.toFixed(2)), localOpen: this.shedder.localOpen, excluded: this.#excluded, busy: this.#busyKey
        }, 'relief')
      }
      if (this.shedder.active) this.gate.divert(tag => tag !== null && this.hotSet.isShareable(tag))
      const need = this.#need(demand, target, demandBps, targetBps)
      await this.help.tick(state, need, now)
      await this.standby.tick(now)
      if (now - this.#lastHealthPrune > 5_000) {
        this.#lastHealthPrune = now
        this.helperHealth.retain(new Set([...this.peers.live(now).map(e => e.peer), ...this.shedder.helpers.map(h => h.peer)]))
      }
      const session = this.help.ownSessionId
      if (session !== undefined && session !== this.#lastOwnSession) this.#p2pAtSessionStart = this.uplink.totals.p2p
      if (this.#lastOwnSession !== undefined && session !== this.#lastOwnSession) void this.ledger.settle(this.#lastOwnSession)
      this.#lastOwnSession = session
      this.ledger.checkUnsigned(now)
      await this.#scanForCheaters(now)
      this.#engageMicroCache(state, demand, now)
      this.#engageExternalMirror(state, need)
      this.#trackRungs(now)
    } catch (err) {
      this.log.error({ err }, 'control tick failed')
    } finally {
      this.#ticking = false
    }
  }

  /**
   * What the site needs taken off it: requests/s over the origin's target, bytes/s over the
   * uplink's — each at least the other converted at the site's mean object size, so that a
   * site struck by requests asks for the bytes they carry, and r2 helpers, which offer
   * requests/s only, offer enough for a site struck by bytes.
   */
  #need (demand: number, target: number, demandBps: number, targetBps: number): Capacity {
    const mean = this.meanObjectBytes()
    const rps = Math.max(0, demand - target)
    const bytesPerSec = Math.max(0, demandBps - targetBps)
    return { rps: Math.max(rps, bytesPerSec / mean), bytesPerSec: Math.max(bytesPerSec, rps * mean) }
  }

  /**
   * The external mirror takes, while the crowd lasts, what the accepted helpers' capacity does
   * not cover (all of it for a site alone): it joins the shedder as one more target, weighted
   * in bytes/s like a helper.
   */
  #engageExternalMirror (state: CrowdState, need: Capacity): void {
    const ext = this.externalMirror
    if (ext === undefined) return
    const mean = this.meanObjectBytes()
    const weight = state === 'normal' ? 0 : Math.round(need.bytesPerSec * 1.25 - this.shedder.liveHelperBytesPerSec())
    if (weight <= 0) { if (this.shedder.fallback !== undefined) this.shedder.setFallback(undefined); return }
    this.shedder.setFallback({
      peer: 'external-mirror', weightBytesPerSec: weight, weightRps: Math.round(weight / mean), mirrorUrl: ext.template, siteBase: '', location: path => ext.location(path)
    })
  }

  /**
   * Exclude accepted helpers that are down (not heard from, connection closed, mirror not
   * answering) from the redirect targets, and probe the mirrors that are due.
   */
  #checkHelpers (now = Date.now()): void {
    // New page loads are kept here only while what waits on the uplink drains quickly.
    this.shedder.localOpen = this.uplink.drainSeconds < LOCAL_QUEUE_SECONDS
    const helpers = this.shedder.helpers
    for (const h of helpers) if (!this.#seenHelpers.has(h.peer)) this.helperHealth.accepted(h.peer, now)
    this.#seenHelpers = new Set(helpers.map(h => h.peer))
    const down: string[] = []
    for (const h of helpers) if (this.helperHealth.isDown(h.peer, now)) down.push(h.peer)
    // A helper that reports more queued than it sends in HELPER_QUEUE_SECONDS gets no new page
    // loads until it drains (it is up: it stays accepted and keeps the visits it has).
    const busy = new Set<string>()
    for (const h of helpers) {
      const r = this.peers.get(h.peer, now)?.report
      if (r?.queuedBytes !== undefined && r.uplinkBytesPerSec !== undefined && r.queuedBytes > HELPER_QUEUE_SECONDS * r.uplinkBytesPerSec) busy.add(h.peer)
    }
    const busyKey = [...busy].join(',')
    if (busyKey !== this.#busyKey) { this.#busyKey = busyKey; this.shedder.setBusy(busy) }
    const key = down.join(',')
    if (key !== this.#excluded) {
      const was = new Set(this.#excluded === '' ? [] : this.#excluded.split(','))
      this.#excluded = key
      this.shedder.setExcluded(new Set(down))
      for (const peer of down) if (!was.has(peer)) this.log.warn({ helper: peer }, 'helper unreachable: no more clients sent to it')
      for (const peer of was) if (!down.includes(peer) && helpers.some(h => h.peer === peer)) this.log.info({ helper: peer }, 'helper reachable again')
    }
    if (helpers.length > 0) this.#prober.probe(helpers, now)
  }

  readonly #onDisconnect = (evt: CustomEvent<{ toString: () => string }>): void => {
    this.helperHealth.disconnected(evt.detail.toString())
    this.#checkHelpers()
  }

  readonly #onConnect = (evt: CustomEvent<{ toString: () => string }>): void => {
    this.helperHealth.connected(evt.detail.toString())
  }

  /** Rung 1 engages as demand passes its share of capacity and is the last to be released. */
  #engageMicroCache (state: CrowdState, demand: number, now: number): void {
    const mc = this.config.relief.microCache
    if (!mc.enabled) return
    const engageAt = mc.engageShare * this.config.origin.capacityRps
    if (demand >= engageAt || state !== 'normal') {
      // What already waits for the origin and the micro-cache can answer is answered from it.
      if (!this.ladder.microCache) this.gate.divert(tag => tag !== null)
      this.ladder.microCache = true
      this.#microCacheCalmSince = undefined
    } else if (this.ladder.microCache && demand < engageAt / 2) {
      this.#microCacheCalmSince ??= now
      if (now - this.#microCacheCalmSince >= this.config.crowd.calmMs) this.ladder.microCache = false
    } else {
      this.#microCacheCalmSince = undefined
    }
  }

  #trackRungs (now: number): void {
    const engaged: Array<[ReliefRung, boolean]> = [
      ['micro-cache', this.ladder.microCache],
      ['helpers', this.shedder.helpers.length > 0],
      ['external-mirror', this.shedder.fallback !== undefined],
      ['refusing', this.monitor.refused.sum(1_000) > 0]
    ]
    for (const [rung, on] of engaged) {
      if ((this.#rungs.get(rung) ?? false) === on) continue
      this.#rungs.set(rung, on)
      this.reliefHistory.push({ rung, engaged: on, at: now })
      if (this.reliefHistory.length > 1000) this.reliefHistory.shift()
      this.log.info({ rung, engaged: on }, on ? 'relief rung engaged' : 'relief rung released')
    }
  }

  /**
   * Publish the load report every report interval, and every SERVING_REPORT_INTERVAL_MS while
   * this node serves a help session (the beneficiary stops sending clients to a helper it has
   * not heard from for HELPER_SILENCE_MS).
   */
  async #maybeReport (now = Date.now()): Promise<void> {
    const serving = this.help.helpingSessions.some(s => s.accepted && s.releasedAt === undefined)
    const interval = serving ? Math.min(SERVING_REPORT_INTERVAL_MS, this.config.gossip.reportIntervalMs) : this.config.gossip.reportIntervalMs
    if (now - this.#lastReportAt < interval - 20) return
    this.#lastReportAt = now
    await this.#report()
  }

  async #report (): Promise<void> {
    const c = this.config
    const m = this.monitor
    const spare = this.spare()
    const body: LoadReport = {
      site: c.site.label,
      siteUrl: c.site.publicUrl,
      mirrorUrl: c.mirror.publicUrl,
      state: this.detector.state,
      capacityRps: Math.round(c.origin.capacityRps),
      demandRps: Math.round(this.#demandRps),
      originRps: Math.round(m.originStarted.rate(1_000)),
      spareRps: spare.rps,
      helping: m.helpingRates().slice(0, 64),
      uplinkBytesPerSec: c.uplink.bytesPerSec,
      sentBytesPerSec: Math.round(this.uplink.rate(1_000)),
      spareBytesPerSec: spare.bytesPerSec,
      demandBytesPerSec: Math.round(this.#demandBps),
      queuedBytes: Math.round(this.queuedBytes()),
      standingBy: this.standby.standingBy()
    }
    await this.bus.publish(loadTopic(c.consortium), 'load-report', body)
  }

  /** Everything an operator (or a test) wants to know about this node now. */
  status (): Record<string, unknown> {
    const m = this.monitor
    const own = this.help.ownSession
    const spare = this.spare()
    const up = this.config.uplink
    const now = Date.now()
    return {
      peerId: this.peerId,
      site: this.config.site.label,
      state: this.detector.state,
      demandRps: Math.round(this.#demandRps),
      capacityRps: this.config.origin.capacityRps,
      arrivalsRps: Math.round(m.arrivals.rate(1_000)),
      originRps: Math.round(m.originStarted.rate(1_000)),
      shedRps: Math.round(m.shed.rate(1_000)),
      shedShare: this.shedder.share,
      originInFlight: this.gate.inFlight,
      originQueued: this.gate.queued,
      originLatencyMs: Math.round(m.originLatencyMs),
      spareRps: spare.rps,
      demandBytesPerSec: Math.round(this.#demandBps),
      spareBytesPerSec: spare.bytesPerSec,
      uplink: {
        bytesPerSec: up.bytesPerSec, targetShare: up.targetShare, sentBytesPerSec: Math.round(this.uplink.rate(1_000)),
        frontBytesPerSec: Math.round(this.uplink.rate(1_000, 'front')), mirrorBytesPerSec: Math.round(this.uplink.rate(1_000, 'mirror')),
        p2pBytesPerSec: Math.round(this.uplink.rate(1_000, 'p2p')), backlogBytes: this.uplink.backlogBytes, sent: { ...this.uplink.totals }
      },
      shed: {
        requestShare: this.shedder.requestShare, byteShare: this.shedder.byteShare,
        redirectBudgetBytesPerSec: this.shedder.redirectBudget === undefined ? null : Math.round(this.shedder.redirectBudget)
      },
      totals: { ...m.totals },
      cache: { bytes: this.cache.bytes, objects: this.cache.size, hits: this.cache.hits, misses: this.cache.misses },
      session: own === undefined
        ? null
        : {
            id: own.session, neededRps: Math.round(own.neededRps), neededBytesPerSec: Math.round(own.neededBytesPerSec), offers: own.offers,
            manifestBytes: this.help.ownManifestBytes, sentToHelpers: this.uplink.totals.p2p - this.#p2pAtSessionStart,
            helpers: own.helpers.map(h => ({ peer: h.peer, weightRps: h.weightRps, weightBytesPerSec: h.weightBytesPerSec, siteBase: h.siteBase, down: this.helperHealth.isDown(h.peer, now) }))
          },
      helping: this.help.helpingSessions.map(s => ({ site: s.site, beneficiary: s.beneficiary, accepted: s.accepted, released: s.releasedAt !== undefined, offeredRps: s.offeredRps, offeredBytesPerSec: s.offeredBytesPerSec, manifest: s.manifest.size })),
      standby: this.#standbyView(now),
      peers: this.peers.live().map(e => ({
        peer: e.peer, site: e.report.site, state: e.report.state, demandRps: e.report.demandRps, capacityRps: e.report.capacityRps, spareRps: e.report.spareRps, helping: e.report.helping,
        uplinkBytesPerSec: e.report.uplinkBytesPerSec ?? null, sentBytesPerSec: e.report.sentBytesPerSec ?? null, spareBytesPerSec: e.report.spareBytesPerSec ?? null, demandBytesPerSec: e.report.demandBytesPerSec ?? null
      })),
      connections: this.libp2p.getConnections().length,
      stateHistory: this.detector.history.slice(-50),
      relief: { rungs: Object.fromEntries(this.#rungs), history: this.reliefHistory.slice(-100), externalMirror: this.externalMirror?.template ?? null },
      helpEvents: this.help.events.slice(-100),
      gossipRejected: this.bus.rejected,
      gossipIgnored: this.bus.ignored,
      governance: this.gov === undefined
        ? null
        : { member: this.gov.isMember, expelled: this.gov.isExpelled(this.peerId), height: this.gov.state?.height ?? 0, halted: this.gov.state?.halted ?? null, members: this.gov.state?.members.size ?? 0, pending: this.gov.proposals.size, ...this.gov.counters }
    }
  }

  /** The membership, the log and pending proposals, for operators and the dashboard. */
  async governanceView (): Promise<Record<string, unknown>> {
    const gov = this.gov
    const s = gov?.state
    if (gov === undefined || s === undefined) {
      return { enabled: gov !== undefined, consortium: this.config.consortium, name: null, charterHash: null, height: 0, headHash: null, halted: null, policy: null, self: this.peerId, member: false, members: [], expelled: [], log: [], proposals: [], audits: [], events: gov?.events ?? [] }
    }
    const charter = await this.govStore!.charter()
    const entries = await this.govStore!.entries()
    const sites = new Map<string, string>()
    for (const f of charter?.body.founders ?? []) sites.set(f.peer, f.site)
    for (const e of entries) if (e.body.action.kind === 'admit' || e.body.action.kind === 'readmit') sites.set(e.body.action.member.peer, e.body.action.member.site)
    const subject = (a: LogAction): string | null => a.kind === 'expel' || a.kind === 'leave' ? a.peer : a.kind === 'admit' || a.kind === 'readmit' ? a.member.peer : null
    // A policy change reads as what it changes, against the policy in force before it.
    let policy = charter?.body.policy ?? s.policy
    const summarize = (a: LogAction, before: Policy): string => a.kind === 'set-policy' ? `change the policy: ${policyChanges(before, a.policy)}` : describeAction(a)
    const logView = entries.map(e => {
      const summary = summarize(e.body.action, policy)
      if (e.body.action.kind === 'set-policy') policy = e.body.action.policy
      return { height: e.body.height, hash: s.history[e.body.height]?.hash ?? null, kind: e.body.action.kind, subject: subject(e.body.action), summary, signers: e.sigs.length, proposedAt: e.body.proposedAt }
    })
    return {
      enabled: true,
      consortium: s.consortium,
      name: charter?.body.name ?? null,
      charterHash: s.history[0]!.hash,
      height: s.height,
      headHash: s.history[s.height]!.hash,
      halted: s.halted ?? null,
      policy: s.policy,
      self: this.peerId,
      member: gov.isMember,
      members: [...s.members.values()].map(m => ({ ...m, self: m.peer === this.peerId })),
      expelled: [...s.expelled].map(peer => ({ peer, site: sites.get(peer) ?? null })),
      log: logView.slice(-100).reverse(),
      proposals: [...gov.proposals.values()].map(p => {
        let needed: number | null = null
        try { needed = checkProposal(s, p.body).needed } catch {}
        return {
          id: p.id, height: p.body.height, kind: p.body.action.kind, subject: subject(p.body.action), summary: summarize(p.body.action, s.policy),
          ...(p.body.action.kind === 'set-policy' ? { policy: p.body.action.policy } : {}),
          reason: p.body.action.kind === 'expel' ? p.body.action.reason : '', proposer: p.proposer, votes: p.sigs.size, needed,
          votedBySelf: p.sigs.has(this.peerId), decision: p.decision, detail: p.detail, evidence: p.evidence.map(e => e.kind)
        }
      }),
      audits: this.auditor?.results.slice(-20) ?? [],
      events: gov.events.slice(-50)
    }
  }

  /** Per member: given, taken, balance, quota (credit) and headroom, from this node's ledger. */
  ledgerView (now = Date.now()): { self: string, members: LedgerMemberView[] } {
    const store = this.ledgerStore
    const sites = new Map<string, string>([[this.peerId, this.config.site.label]])
    for (const e of this.peers.live(now)) sites.set(e.peer, e.report.site)
    const members = new Set<string>([this.peerId, ...sites.keys(), ...store.allTotals().keys()])
    return {
      self: this.peerId,
      members: [...members].map(peer => {
        const t = store.totals(peer)
        const st = store.standing(peer, now, this.quota)
        return {
          peer, site: sites.get(peer) ?? null,
          given: t.given, taken: t.taken, balance: t.given - t.taken, givenRequests: t.givenRequests, takenRequests: t.takenRequests,
          windowGiven: st.given, windowTaken: st.taken, quota: st.credit, headroom: st.headroom, overQuota: st.overQuota
        }
      }).sort((a, b) => b.balance - a.balance || a.peer.localeCompare(b.peer))
    }
  }

  /** Governance admin routes; every POST needs the operator token (admin auth). */
  #governanceRoutes (app: FastifyInstance): void {
    const fail = (reply: FastifyReply, err: unknown): FastifyReply => {
      const code = (err as { code?: string }).code ?? 'ERR_INTERNAL'
      const status = code === 'ERR_NO_SUCH_PROPOSAL' ? 404 : code === 'ERR_GOVERNANCE_OFF' ? 409 : code.startsWith('ERR_') && code !== 'ERR_INTERNAL' ? 409 : 500
      return reply.code(status).send({ code, message: (err as Error).message })
    }
    const needGov = (): GovernanceService => {
      if (this.gov === undefined) throw Object.assign(new Error('this node runs an open consortium (no governance section in its config)'), { code: 'ERR_GOVERNANCE_OFF' })
      return this.gov
    }
    app.get('/api/governance', async () => this.governanceView())
    app.post('/api/governance/propose', async (req, reply) => {
      const parsed = ProposeBody.safeParse(req.body)
      if (!parsed.success) return reply.code(400).send({ code: 'ERR_BAD_REQUEST', message: `body: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? 'invalid'}` })
      const evidence = parsed.data.evidence as EvidenceItem[]
      let action = parsed.data.action as LogAction
      // An expulsion proposed with evidence names it by hash; fill the hashes in if left out.
      if (action.kind === 'expel' && action.evidence.length === 0 && evidence.length > 0) action = { ...action, evidence: evidence.map(evidenceHash) }
      try { return { id: await needGov().propose(action, evidence) } } catch (err) { return fail(reply, err) }
    })
    app.post<{ Params: { id: string } }>('/api/governance/proposals/:id/vote', async (req, reply) => {
      if (!/^[0-9a-f]{64}$/.test(req.params.id)) return reply.code(400).send({ code: 'ERR_BAD_REQUEST', message: 'a proposal id is 64 hex digits' })
      try { await needGov().vote(req.params.id); return { ok: true } } catch (err) { return fail(reply, err) }
    })
    app.post('/api/invitations', async (req, reply) => {
      const parsed = InviteBody.safeParse(req.body ?? {})
      if (!parsed.success) return reply.code(400).send({ code: 'ERR_BAD_REQUEST', message: `body: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? 'invalid'}` })
      const addrs = this.libp2p.getMultiaddrs().map(String)
      try {
        return { token: await needGov().invite({ addrs, ttlMs: parsed.data.ttlHours * 3_600_000, ...(parsed.data.site === undefined ? {} : { site: parsed.data.site }) }) }
      } catch (err) { return fail(reply, err) }
    })
    app.post<{ Params: { peer: string } }>('/api/peers/:peer/block', async (req, reply) => {
      if (!/^[1-9A-HJ-NP-Za-km-z]{40,128}$/.test(req.params.peer)) return reply.code(400).send({ code: 'ERR_BAD_PEER', message: 'peer must be a base58btc peer id' })
      await this.blockPeer(req.params.peer)
      return { ok: true, blocked: [...this.blocked] }
    })
    app.post<{ Params: { peer: string } }>('/api/peers/:peer/unblock', async (req, reply) => {
      if (!/^[1-9A-HJ-NP-Za-km-z]{40,128}$/.test(req.params.peer)) return reply.code(400).send({ code: 'ERR_BAD_PEER', message: 'peer must be a base58btc peer id' })
      this.unblockPeer(req.params.peer)
      return { ok: true, blocked: [...this.blocked] }
    })
  }

  #buildAdmin (): FastifyInstance {
    const app = createHttpApp(this.log.child({ component: 'admin' }))
    registerOpenApi(app) // first: it checks every route registered after it against the document
    adminAuth(app, this.config.admin ?? {})
    registerMetrics(app, this)
    app.get('/api/ledger', async () => this.ledgerView())
    app.get<{ Params: { peer: string }, Querystring: { limit?: string } }>('/api/ledger/:peer/records', async (req, reply) => {
      if (!/^[1-9A-HJ-NP-Za-km-z]{40,128}$/.test(req.params.peer)) return reply.code(400).send({ code: 'ERR_BAD_PEER', message: 'peer must be a base58btc peer id' })
      const limit = Math.min(10_000, Math.max(1, Number(req.query.limit ?? 1000) || 1000))
      return { peer: req.params.peer, totals: this.ledgerStore.totals(req.params.peer), records: await this.ledgerStore.recordsOf(req.params.peer, limit) }
    })
    app.get('/api/ledger/evidence', async () => ({ evidence: await this.ledgerStore.evidence(), signals: await this.ledgerStore.signals() }))
    app.get('/api/ledger/check', async () => {
      // Rebuild balances from the stored records alone and compare with what the store holds.
      const rebuilt = await this.ledgerStore.recompute()
      const stored = this.ledgerStore.allTotals()
      const members = new Set([...stored.keys(), ...rebuilt.totals.keys()])
      const zero = { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }
      const mismatches = [...members].filter(m => JSON.stringify(stored.get(m) ?? zero) !== JSON.stringify(rebuilt.totals.get(m) ?? zero))
      return { consistent: mismatches.length === 0, records: this.ledgerStore.recordCount, mismatches }
    })
    app.get('/api/status', async () => this.status())
    this.#governanceRoutes(app)
    app.get<{ Querystring: { since?: string } }>('/api/timeline', async (req, reply) => {
      const since = req.query.since
      if (since !== undefined && !/^\d{1,16}$/.test(since)) return reply.code(400).send({ code: 'ERR_BAD_REQUEST', message: 'since must be epoch milliseconds' })
      return this.timeline.view(since === undefined ? undefined : Number(since))
    })
    app.get('/healthz', async () => ({ ok: true }))
    app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', DASHBOARD_CSP).send(DASHBOARD_HTML))
    return app
  }
}

const ProposeBody = z.object({ action: LogActionSchema, evidence: z.array(EvidenceItemSchema).max(8).default([]) }).strict()
const InviteBody = z.object({ site: SiteLabel.optional(), ttlHours: z.number().positive().max(24 * 90).default(168) }).strict()

/** Read and verify the shape of a charter file (signatures are checked when the node opens it). */
export async function readCharterFile (file: string): Promise<MultiSigned<CharterBody>> {
  let text: string
  try { text = await readFile(file, 'utf8') } catch (err) {
    throw new ConfigError(`governance.charter: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try {
    return decodeDocument(canonicalBytes(JSON.parse(text)), CharterBody)
  } catch (err) {
    throw new ConfigError(`governance.charter: ${file} is not a charter: ${(err as Error).message}`)
  }
}

/** `key old → new` for every parameter that differs. */
export function policyChanges (before: Policy, after: Policy): string {
  const changed = (Object.keys(after) as Array<keyof Policy>).filter(k => before[k] !== after[k]).map(k => `${k} ${before[k]} → ${after[k]}`)
  return changed.length === 0 ? 'no change' : changed.join(', ')
}
