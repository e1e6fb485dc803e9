/**
 * The composition root: one Reef node is its components wired together — front, mirror and
 * admin listeners (http/), the origin gate, client and cache (origin/), the load monitor,
 * demand meter, control loop and relief ladder (load/), the libp2p host with the record bus
 * (p2p/), the help coordinator, mirror fill and warm standby (help/), the ledger (ledger/) and,
 * in a chartered consortium, governance (governance/) — plus start and stop. Each component
 * names the narrow interface it needs of the others; this file only connects them.
 */
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { govTopic, helpTopic, ledgerTopic, loadTopic } from '@reef/protocol'
import type { LoadReport } from '@reef/protocol'
import type { QuotaPolicy } from '@reef/governance'
import type { ReefConfig } from './config/config.ts'
import { DEFAULT_AUDIT_INTERVAL_MS } from './constants.ts'
import { applyPolicy } from './governance/enforcement.ts'
import { setUpGovernance } from './governance/setup.ts'
import type { Governance } from './governance/setup.ts'
import type { GovernanceStore } from './governance/store.ts'
import { Attester } from './help/attester.ts'
import { HelperHealth, MirrorProber } from './help/helper-health.ts'
import { HelperWatch } from './help/helper-watch.ts'
import { beneficiariesIn, offeredIn, serveFetchStreams, servingIn } from './help/sessions.ts'
import { setUpHelp } from './help/setup.ts'
import type { Help } from './help/setup.ts'
import { buildAdminApp } from './http/admin/routes.ts'
import { AdminViews } from './http/admin/views.ts'
import { buildListeners, tunnelUpgrades, urlOf } from './http/listeners.ts'
import { LedgerService } from './ledger/service.ts'
import type { LedgerStore } from './ledger/store.ts'
import { ControlLoop } from './control/control-loop.ts'
import { CrowdDetector } from './load/crowd-detector.ts'
import { DemandMeter } from './control/demand.ts'
import { ExternalMirror } from './load/external-mirror.ts'
import { LoadMonitor } from './load/monitor.ts'
import { LoadReporter } from './control/load-reporter.ts'
import { ReliefLadder } from './control/relief-ladder.ts'
import { Shedder } from './load/shedder.ts'
import { TrafficTimeline } from './load/traffic-timeline.ts'
import { UplinkMeter } from './load/uplink-meter.ts'
import { ContentCache } from './origin/content-cache.ts'
import { OriginClient } from './origin/client.ts'
import { OriginGate } from './origin/gate.ts'
import { HotSet } from './origin/hot-set.ts'
import { keepBootstrapped } from './p2p/host.ts'
import type { ReefLibp2p } from './p2p/host.ts'
import type { PeerGate } from './p2p/peer-gate.ts'
import { PeerTable } from './p2p/peer-table.ts'
import { RecordBus } from './p2p/record-bus.ts'
import { closeResources, openResources } from './resources.ts'
import type { NodeResources } from './resources.ts'

export interface ReefNodeOptions {
  logger?: Logger
}

export class ReefNode {
  readonly config: ReefConfig
  readonly log: Logger
  readonly peerId: string
  readonly libp2p: ReefLibp2p
  readonly peerGate: PeerGate
  readonly bus: RecordBus
  readonly peers: PeerTable
  readonly monitor = new LoadMonitor()
  readonly uplink: UplinkMeter
  readonly cache: ContentCache
  readonly hotSet = new HotSet()
  readonly gate: OriginGate<string | null>
  readonly origin: OriginClient
  readonly detector: CrowdDetector
  readonly shedder = new Shedder()
  readonly demand: DemandMeter
  readonly relief: ReliefLadder
  readonly externalMirror: ExternalMirror | undefined
  /** The site's traffic per second by destination, for the dashboard (`GET /api/timeline`). */
  readonly timeline: TrafficTimeline
  readonly helperHealth = new HelperHealth()
  readonly helpers: HelperWatch
  readonly help: Help['help']
  readonly standby: Help['standby']
  readonly fill: Help['fill']
  readonly ledgerStore: LedgerStore
  readonly ledger: LedgerService
  /** The quota the ledger enforces: the charter's policy when governed, else the config's. */
  readonly quota: QuotaPolicy
  /** Governance (a charter was configured): membership log, votes, audits, accusations. */
  readonly gov: Governance['gov']
  readonly govStore: GovernanceStore | undefined
  readonly auditor: Governance['auditor']
  readonly accuser: Governance['accuser']
  readonly control: ControlLoop
  readonly views: AdminViews
  readonly front: FastifyInstance
  readonly mirror: FastifyInstance
  readonly admin: FastifyInstance | undefined
  /** The parts every component is built from (and the fetch streams served with). */
  readonly #parts: Parameters<typeof serveFetchStreams>[1] & Record<string, unknown>
  #upgrades: ReturnType<typeof tunnelUpgrades> | undefined
  #stopBootstrap: (() => void) | undefined
  #started = false

  static async create(config: ReefConfig, opts: ReefNodeOptions = {}): Promise<ReefNode> {
    const opened = await openResources(config, opts.logger)
    try {
      const node = new ReefNode(config, opened)
      if (node.gov !== undefined) {
        await node.gov.open(opened.charter)
        applyPolicy(node.quota, node.gov.state)
      }
      return node
    } catch (err) {
      await closeResources(opened)
      throw err
    }
  }

  /**
   * Every component gets the node's parts as one object and reads only what its own interface
   * names (js-libp2p's components): `base` first, then each part as it is built.
   */
  private constructor(config: ReefConfig, { key, libp2p, log: rootLog, store, govStore, peerGate }: NodeResources) {
    const c = config
    const selfId = libp2p.peerId.toString()
    const log = rootLog.child({ peer: selfId.slice(-8) })
    const child = (component: string): Logger => log.child({ component })
    this.config = config
    this.log = log
    this.peerId = selfId
    this.libp2p = libp2p
    this.peerGate = peerGate
    this.ledgerStore = store
    this.govStore = govStore
    const quota = (this.quota = { ...c.ledger.quota })
    const uplink = (this.uplink = new UplinkMeter({ bytesPerSec: c.uplink.bytesPerSec }))
    const { monitor, hotSet, shedder, helperHealth } = this
    const cache = (this.cache = new ContentCache(c.cache.maxBytes, c.cache.maxObjectBytes))
    const { capacityRps, maxConcurrent } = c.origin
    const gate = (this.gate = new OriginGate({ capacityRps, maxConcurrent, queueLimit: c.front.queueLimit, bytesPerSec: c.origin.bytesPerSec }))
    const detector = (this.detector = new CrowdDetector({ capacityRps: c.origin.capacityRps, ...c.crowd }))
    const peers = (this.peers = new PeerTable(c.gossip.peerExpiryMs))
    const originOptions = { url: c.origin.url, site: c.site.label, maxConcurrent: c.origin.maxConcurrent, timeoutMs: c.origin.timeoutMs }
    const origin = (this.origin = new OriginClient(originOptions, gate, cache, hotSet, monitor, child('origin')))
    const topics = [loadTopic(c.consortium), helpTopic(c.consortium), ledgerTopic(c.consortium), ...(govStore === undefined ? [] : [govTopic(c.consortium)])]
    const bus = (this.bus = new RecordBus(libp2p.services.pubsub, key, selfId, topics, child('gossip')))
    const node = { config, log, selfId, key, libp2p, peerGate, ledgerStore: store, govStore, quota, bus }
    const base = { ...node, uplink, monitor, hotSet, shedder, helperHealth, cache, gate, detector, peers, origin }
    /** What this node's mirror has served for a site so far (a copy: callers keep baselines). */
    const servedNow = (site: string): { requests: number; bytes: number } => ({ ...(monitor.mirrorTotals.get(site) ?? { requests: 0, bytes: 0 }) })
    const sessions = (): Help['help']['helpingSessions'] => this.help.helpingSessions
    const serving = (): boolean => servingIn(sessions())
    const demand = (this.demand = new DemandMeter({ ...base, state: () => detector.state, offered: () => offeredIn(sessions()), serving }))
    const { gov, auditor, accuser } = setUpGovernance({ ...base, dropPeer: (peer: string) => this.help.dropPeer(peer) })
    this.gov = gov
    this.auditor = auditor
    this.accuser = accuser
    const charterReplicas = (): number | undefined => gov?.state?.policy.standbyReplicas
    const onOwnRequest = (session: string, need: number): void => this.ledger.watchOwnRequest(session, need)
    const { help, fill, standby } = setUpHelp({ ...base, demand, accuser, servedNow, charterReplicas, onOwnRequest })
    this.help = help
    this.fill = fill
    this.standby = standby
    // Governed: the charter's settlement interval, so that every member settles alike.
    const settleInterval = (): number => gov?.state?.policy.settleIntervalMs ?? c.ledger.settleIntervalMs
    const ledgerOptions = { consortium: c.consortium, selfId, settleIntervalMs: c.ledger.settleIntervalMs, policy: quota, settleInterval }
    const ledger = (this.ledger = new LedgerService(ledgerOptions, { bus, store, peers, log: child('ledger'), helpingSessions: sessions, servedNow }))
    const externalMirror = (this.externalMirror =
      c.relief.externalMirror === undefined ? undefined : new ExternalMirror(c.relief.externalMirror.template, c.site.publicUrl))
    const relief = (this.relief = new ReliefLadder({ ...base, externalMirror }))
    const helpers = (this.helpers = new HelperWatch({ ...base, prober: new MirrorProber(helperHealth, child('probe')) }))
    const reporter = new LoadReporter({ ...base, demand, standby, servingFor: () => beneficiariesIn(sessions()) })
    const parts = (this.#parts = { ...base, demand, help, standby, ledger, relief, helpers, reporter, fill, gov, govStore, auditor, externalMirror })
    const control = (this.control = new ControlLoop({ ...parts, scanForCheaters: async (now: number) => accuser.scan(now), fillCounts: () => fill.counts }))
    const attester = new Attester(key, selfId)
    // Help can come from any member not struck itself: the spare its last report showed may be
    // stale (calm members report every few seconds to minutes), and a visitor waits at most
    // crowd.helpWaitMs for it where 503 would lose it for sure (the short soak: a 503 with no wait
    // because every other member's last report showed no spare while they helped another site).
    const helpMayCome = (): boolean => externalMirror !== undefined || peers.live().some(e => e.peer !== selfId && e.report.state !== 'struck')
    const { front, mirror } = buildListeners({ ...parts, control, helpMayCome, attest: async (s, obj) => attester.attest(s.session, obj) })
    this.front = front
    this.mirror = mirror
    this.timeline = TrafficTimeline.of(monitor, c.origin.capacityRps)
    this.views = new AdminViews({ ...parts, sentToHelpers: () => control.sentToHelpers })
    const addrs = (): string[] => libp2p.getMultiaddrs().map(String)
    this.admin =
      c.admin === undefined ? undefined : buildAdminApp({ ...parts, log: child('admin'), views: this.views, timeline: this.timeline, addrs, metrics: this })
  }

  /**
   * Start everything; if any part fails (a port in use), stop what already started, then throw.
   * `beforeFrontListens` runs right before the front takes its port (`reef start` hands the port
   * over from the pass-through that answered while the node loaded).
   */
  async start(opts: { beforeFrontListens?: () => Promise<void> | void } = {}): Promise<void> {
    try {
      await this.#start(opts.beforeFrontListens)
    } catch (err) {
      this.#started = true
      await this.stop().catch(() => {})
      throw err
    }
  }

  async #start(beforeFrontListens?: () => Promise<void> | void): Promise<void> {
    const c = this.config
    await this.libp2p.start()
    this.bus.start()
    await this.bus.serveDirect(this.libp2p)
    this.bus.onRecord(r => {
      this.helperHealth.heardRecord(r.author, r.ts)
      if (r.type === 'load-report') this.peers.update(r.author, r.body as LoadReport)
    })
    this.libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
    this.libp2p.addEventListener('peer:connect', this.#onConnect)
    this.help.start()
    this.standby.start()
    this.ledger.start()
    if (this.gov !== undefined) {
      await this.gov.start()
      this.auditor?.start(() => this.gov?.state?.policy.auditIntervalMs ?? DEFAULT_AUDIT_INTERVAL_MS)
    }
    await serveFetchStreams(this.libp2p, { ...this.#parts, log: this.log.child({ component: 'fetch' }) })
    this.#upgrades = tunnelUpgrades(this.front, c, this.log)
    await beforeFrontListens?.()
    await this.front.listen({ host: c.front.listen.host, port: c.front.listen.port })
    await this.mirror.listen({ host: c.mirror.listen.host, port: c.mirror.listen.port })
    if (this.admin !== undefined && c.admin !== undefined) await this.admin.listen({ host: c.admin.listen.host, port: c.admin.listen.port })
    this.#stopBootstrap = keepBootstrapped(this.libp2p, [...c.p2p.bootstrap])
    this.uplink.start()
    this.control.start()
    this.timeline.start()
    this.#started = true
    this.log.info({ front: this.frontUrl, mirror: c.mirror.publicUrl, addrs: this.libp2p.getMultiaddrs().map(String) }, 'reef node started')
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.control.stop()
    this.uplink.stop()
    this.libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    this.libp2p.removeEventListener('peer:connect', this.#onConnect)
    await this.helpers.close()
    this.timeline.stop()
    this.#stopBootstrap?.()
    this.gate.close()
    await this.control.release()
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

  get frontUrl(): string {
    return urlOf(this.front, this.config.front.listen.host) ?? ''
  }
  get adminUrl(): string | undefined {
    return urlOf(this.admin, this.config.admin?.listen.host ?? '127.0.0.1')
  }

  readonly #onDisconnect = (evt: CustomEvent<{ toString: () => string }>): void => this.helpers.disconnected(evt.detail.toString())
  readonly #onConnect = (evt: CustomEvent<{ toString: () => string }>): void => this.helpers.connected(evt.detail.toString())
}
