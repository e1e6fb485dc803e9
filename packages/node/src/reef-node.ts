/**
 * The composition root: one Reef node = front + mirror + admin listeners, the origin gate and
 * client, the cache, the libp2p host with the record bus, load gossip and help coordinator,
 * and the control loop that ties crowd detection to shedding.
 */
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { createHttpApp } from './http-app.ts'
import type { PrivateKey } from '@libp2p/interface'
import { DASHBOARD_HTML } from '@reef/dashboard'
import { helpTopic, ledgerTopic, loadTopic } from '@reef/protocol'
import { offerFor } from '@reef/governance'
import type { CrowdState, LoadReport } from '@reef/protocol'
import { pickMirroredHeaders } from './cacheability.ts'
import type { ReefConfig } from './config.ts'
import { ContentCache } from './content-cache.ts'
import type { CachedObject } from './content-cache.ts'
import { CrowdDetector } from './crowd-detector.ts'
import { fetchFromPeer, registerFetchServer } from './fetch-protocol.ts'
import { buildFront } from './front.ts'
import { HelpCoordinator } from './help-coordinator.ts'
import type { HelpingSession } from './help-coordinator.ts'
import { ExternalMirror } from './external-mirror.ts'
import { HotSet } from './hot-set.ts'
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
  readonly front: FastifyInstance
  readonly mirror: FastifyInstance
  readonly admin: FastifyInstance | undefined
  readonly ledgerStore: LedgerStore
  readonly externalMirror: ExternalMirror | undefined
  /** When each rung of the relief ladder engaged and released (helpers, external mirror, refusing). */
  readonly reliefHistory: Array<{ rung: ReliefRung, engaged: boolean, at: number }> = []
  readonly #rungs = new Map<ReliefRung, boolean>()
  /** Switches the front reads on every request. */
  readonly ladder = { microCache: false }
  #microCacheCalmSince: number | undefined
  readonly ledger: LedgerService
  #lastOwnSession: string | undefined
  readonly #fills = new Map<string, Promise<CachedObject>>()
  #timers: NodeJS.Timeout[] = []
  #stopBootstrap: (() => void) | undefined
  #ticking = false
  #demandRps = 0
  #started = false

  static async create (config: ReefConfig, opts: ReefNodeOptions = {}): Promise<ReefNode> {
    const key = await loadOrCreateIdentity(config.dataDir)
    const store = await LedgerStore.open(join(config.dataDir, 'ledger'))
    try {
      const libp2p = await createReefLibp2p(key, [...config.p2p.listen])
      const log = opts.logger ?? pino({ level: config.log.level, base: { site: config.site.label } })
      return new ReefNode(config, libp2p, key, log, store)
    } catch (err) {
      await store.close()
      throw err
    }
  }

  private constructor (config: ReefConfig, libp2p: ReefLibp2p, key: PrivateKey, log: Logger, store: LedgerStore) {
    this.config = config
    this.ledgerStore = store
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
      [helpTopic(config.consortium)]: ['help-request', 'help-offer', 'help-accept', 'help-release'],
      [ledgerTopic(config.consortium)]: ['delegation', 'receipt']
    }, this.log.child({ component: 'gossip' }))
    this.help = new HelpCoordinator({
      consortium: config.consortium, selfId, site: config.site.label, siteUrl: config.site.publicUrl,
      mirrorUrl: config.mirror.publicUrl, releaseGraceMs: config.mirror.releaseGraceMs
    }, {
      bus: this.bus, peers: this.peers, shedder: this.shedder, cache: this.cache, log: this.log.child({ component: 'help' }),
      manifest: () => this.hotSet.manifest(config.site.label, this.cache),
      spareRps: () => this.spareRps(),
      prefetch: async (s, entry) => { await this.fetchForMirror(s, entry.path) },
      offerFor: (beneficiary, spare, needed) => {
        const d = offerFor(spare, needed, store.standing(beneficiary, Date.now(), config.ledger.quota), store.owed(selfId, beneficiary), config.ledger.quota)
        if (d.kind !== 'full') this.log.info({ beneficiary, decision: d }, 'help limited by the ledger')
        return d.kind === 'decline' ? 0 : d.rps
      },
      servedNow
    })
    this.ledger = new LedgerService({ consortium: config.consortium, selfId, settleIntervalMs: config.ledger.settleIntervalMs, policy: config.ledger.quota }, {
      bus: this.bus, store, peers: this.peers, log: this.log.child({ component: 'ledger' }),
      helpingSessions: () => this.help.helpingSessions,
      servedNow
    })
    this.front = buildFront({
      site: config.site.label, queueTimeoutMs: config.front.queueTimeoutMs, retryAfterS: config.front.retryAfterS,
      maxBodyBytes: config.front.maxBodyBytes, originTimeoutMs: config.origin.timeoutMs
    }, {
      gate: this.gate, origin: this.origin, cache: this.cache, hotSet: this.hotSet, shedder: this.shedder, monitor: this.monitor, log: this.log.child({ component: 'front' }),
      ladder: this.ladder,
      onRedirect: (helper, bytes) => {
        const session = this.help.ownSessionId
        if (session !== undefined && helper.location === undefined) this.ledger.countRedirect(session, helper.peer, bytes)
      }
    })
    this.mirror = buildMirror({ publicUrl: config.mirror.publicUrl, selfId }, {
      cache: this.cache, monitor: this.monitor, log: this.log.child({ component: 'mirror' }),
      sessionForSite: site => this.help.sessionForSite(site),
      fetch: async (s, path) => this.fetchForMirror(s, path)
    })
    this.externalMirror = config.relief.externalMirror === undefined ? undefined : new ExternalMirror(config.relief.externalMirror.template, config.site.publicUrl)
    this.admin = config.admin === undefined ? undefined : this.#buildAdmin()
  }

  get peerId (): string { return this.libp2p.peerId.toString() }
  get state (): CrowdState { return this.detector.state }

  /** Requests/s this node offers other sites now: none while its own site sheds. */
  spareRps (): number {
    if (this.detector.state !== 'normal') return 0
    let committed = 0
    for (const s of this.help.helpingSessions) if (s.releasedAt === undefined) committed += s.offeredRps
    return Math.max(0, this.config.mirror.capacityRps - committed)
  }

  /** Fetch an object of a site this node helps from that site's node, verified, into the cache. */
  fetchForMirror (s: HelpingSession, path: string): Promise<CachedObject> {
    const cached = this.cache.peek(s.site, path)
    if (cached !== undefined) return Promise.resolve(cached)
    const key = `${s.site}\n${path}`
    let p = this.#fills.get(key)
    if (p === undefined) {
      p = fetchFromPeer(this.libp2p, s.beneficiary, s.session, path, this.config.cache.maxObjectBytes, s.manifest.get(path))
        .then(f => {
          const obj: CachedObject = { site: s.site, path, headers: pickMirroredHeaders(f.headers), body: f.body, sha256: f.sha256, storedAt: Date.now() }
          this.cache.put(obj)
          return obj
        })
        .finally(() => this.#fills.delete(key))
      this.#fills.set(key, p)
    }
    return p
  }

  /** Start everything; if any part fails (a port in use), stop what already started, then throw. */
  async start (): Promise<void> {
    try {
      await this.#start()
    } catch (err) {
      this.#started = true
      await this.stop().catch(() => {})
      throw err
    }
  }

  async #start (): Promise<void> {
    const c = this.config
    await this.libp2p.start()
    this.bus.start()
    this.bus.onRecord(r => {
      if (r.type === 'load-report') this.peers.update(r.author, r.body as LoadReport)
    })
    this.help.start()
    this.ledger.start()
    await registerFetchServer(this.libp2p, {
      log: this.log.child({ component: 'fetch' }),
      isAcceptedHelper: (session, peer) => this.help.isAcceptedHelper(session, peer),
      load: async path => this.origin.load(path)
    })
    await this.front.listen({ host: c.front.listen.host, port: c.front.listen.port })
    await this.mirror.listen({ host: c.mirror.listen.host, port: c.mirror.listen.port })
    if (this.admin !== undefined && c.admin !== undefined) await this.admin.listen({ host: c.admin.listen.host, port: c.admin.listen.port })
    this.#stopBootstrap = keepBootstrapped(this.libp2p, [...c.p2p.bootstrap])
    this.#timers.push(setInterval(() => { void this.#tick() }, c.crowd.tickMs))
    this.#timers.push(setInterval(() => { void this.#report() }, c.gossip.reportIntervalMs))
    this.#started = true
    this.log.info({ front: this.frontUrl, mirror: c.mirror.publicUrl, addrs: this.libp2p.getMultiaddrs().map(String) }, 'reef node started')
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    this.#stopBootstrap?.()
    this.gate.close()
    if (this.help.ownSession !== undefined) await this.help.tick('normal', 0).catch(() => {})
    if (this.#lastOwnSession !== undefined) await this.ledger.settle(this.#lastOwnSession)
    await this.ledger.stop()
    this.help.stop()
    this.bus.stop()
    await Promise.allSettled([this.front.close(), this.mirror.close(), this.admin?.close()])
    await this.origin.close().catch(() => {})
    await this.libp2p.stop()
    await this.ledgerStore.close()
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
   * The demand on this site in requests/s: what reached the front and was not shed, plus what
   * its helpers serve for it. With a bytes/s capacity, byte demand (origin bytes plus the bytes
   * of shed objects) counts too, scaled to the same share of capacity.
   */
  demandRps (): number {
    const m = this.monitor
    const c = this.config.origin
    const bytesDemand = c.bytesPerSec === undefined ? 0 : (m.bytesOut.rate(1_000) + m.shedBytes.rate(1_000)) / c.bytesPerSec * c.capacityRps
    return Math.max(bytesDemand, this.#requestDemand())
  }

  #requestDemand (): number {
    const m = this.monitor
    const arrivals = m.arrivals.rate(500)
    if (!this.shedder.active) return arrivals
    let helperServed = 0
    for (const h of this.shedder.helpers) {
      helperServed += this.peers.get(h.peer)?.report.helping.find(x => x.site === this.config.site.label)?.rps ?? 0
    }
    return Math.max(arrivals, arrivals - m.shed.rate(1_000) + helperServed)
  }

  async #tick (): Promise<void> {
    if (this.#ticking) return
    this.#ticking = true
    try {
      const c = this.config
      const now = Date.now()
      const demand = this.demandRps()
      this.#demandRps = demand
      const change = this.detector.sample(demand, now, this.gate.queued >= c.origin.maxConcurrent)
      if (change !== undefined) this.log.info({ from: change.from, to: change.to, demandRps: Math.round(demand) }, 'crowd state changed')
      const target = c.crowd.targetShare * c.origin.capacityRps
      const state = this.detector.state
      if (state === 'normal') this.shedder.share = 0
      else this.shedder.adapt(this.monitor.arrivals.rate(1_000), this.monitor.sheddable.rate(1_000), target)
      if (this.shedder.active) this.gate.divert(tag => tag !== null && this.hotSet.isShareable(tag))
      await this.help.tick(state, Math.max(0, demand - target), now)
      const session = this.help.ownSessionId
      if (this.#lastOwnSession !== undefined && session !== this.#lastOwnSession) void this.ledger.settle(this.#lastOwnSession)
      this.#lastOwnSession = session
      this.ledger.checkUnsigned(now)
      this.#engageMicroCache(state, demand, now)
      this.#engageExternalMirror(state, demand, target)
      this.#trackRungs(now)
    } catch (err) {
      this.log.error({ err }, 'control tick failed')
    } finally {
      this.#ticking = false
    }
  }

  /**
   * The external mirror takes, while the crowd lasts, what the accepted helpers' capacity does
   * not cover (all of it for a site alone): it joins the shedder as one more weighted target.
   */
  #engageExternalMirror (state: CrowdState, demand: number, target: number): void {
    const ext = this.externalMirror
    if (ext === undefined) return
    const helperRps = this.shedder.helpers.reduce((a, h) => a + h.weightRps, 0)
    const weight = state === 'normal' ? 0 : Math.round(Math.max(0, demand - target) * 1.25 - helperRps)
    if (weight <= 0) { if (this.shedder.fallback !== undefined) this.shedder.setFallback(undefined); return }
    this.shedder.setFallback({ peer: 'external-mirror', weightRps: weight, mirrorUrl: ext.template, siteBase: '', location: path => ext.location(path) })
  }

  /** Rung 1 engages as demand passes its share of capacity and is the last to be released. */
  #engageMicroCache (state: CrowdState, demand: number, now: number): void {
    const mc = this.config.relief.microCache
    if (!mc.enabled) return
    const engageAt = mc.engageShare * this.config.origin.capacityRps
    if (demand >= engageAt || state !== 'normal') {
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

  async #report (): Promise<void> {
    const c = this.config
    const m = this.monitor
    const body: LoadReport = {
      site: c.site.label,
      siteUrl: c.site.publicUrl,
      mirrorUrl: c.mirror.publicUrl,
      state: this.detector.state,
      capacityRps: Math.round(c.origin.capacityRps),
      demandRps: Math.round(this.#demandRps),
      originRps: Math.round(m.originStarted.rate(1_000)),
      spareRps: Math.round(this.spareRps()),
      helping: m.helpingRates().slice(0, 64)
    }
    await this.bus.publish(loadTopic(c.consortium), 'load-report', body)
  }

  /** Everything an operator (or a test) wants to know about this node now. */
  status (): Record<string, unknown> {
    const m = this.monitor
    const own = this.help.ownSession
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
      spareRps: this.spareRps(),
      totals: { ...m.totals },
      cache: { bytes: this.cache.bytes, objects: this.cache.size, hits: this.cache.hits, misses: this.cache.misses },
      session: own === undefined ? null : { id: own.session, neededRps: Math.round(own.neededRps), offers: own.offers, helpers: own.helpers.map(h => ({ peer: h.peer, weightRps: h.weightRps, siteBase: h.siteBase })) },
      helping: this.help.helpingSessions.map(s => ({ site: s.site, beneficiary: s.beneficiary, accepted: s.accepted, released: s.releasedAt !== undefined, offeredRps: s.offeredRps, manifest: s.manifest.size })),
      peers: this.peers.live().map(e => ({ peer: e.peer, site: e.report.site, state: e.report.state, demandRps: e.report.demandRps, spareRps: e.report.spareRps, helping: e.report.helping })),
      connections: this.libp2p.getConnections().length,
      stateHistory: this.detector.history.slice(-50),
      relief: { rungs: Object.fromEntries(this.#rungs), history: this.reliefHistory.slice(-100), externalMirror: this.externalMirror?.template ?? null },
      helpEvents: this.help.events.slice(-100),
      gossipRejected: this.bus.rejected
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
        const st = store.standing(peer, now, this.config.ledger.quota)
        return {
          peer, site: sites.get(peer) ?? null,
          given: t.given, taken: t.taken, balance: t.given - t.taken, givenRequests: t.givenRequests, takenRequests: t.takenRequests,
          windowGiven: st.given, windowTaken: st.taken, quota: st.credit, headroom: st.headroom, overQuota: st.overQuota
        }
      }).sort((a, b) => b.balance - a.balance || a.peer.localeCompare(b.peer))
    }
  }

  #buildAdmin (): FastifyInstance {
    const app = createHttpApp(this.log.child({ component: 'admin' }))
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
    app.get('/healthz', async () => ({ ok: true }))
    app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(DASHBOARD_HTML))
    return app
  }
}
