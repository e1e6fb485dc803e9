/**
 * Prometheus metrics of one node, served at `GET /metrics` on the admin listener.
 *
 * Nothing on the request path is instrumented: every metric is read from the node's own state
 * (LoadMonitor totals and rates, the cache, the origin gate, the crowd detector, the peer table,
 * the ledger) in a `collect()` callback when Prometheus scrapes. Each node has its own Registry,
 * so several nodes in one process (tests, the demo) do not mix their figures.
 *
 * `reef_requests_total{outcome}` counts how requests were answered: `origin` (the origin
 * answered: front pass-through, micro-cache fills and helpers' fetches), `shed_peer` (307 to a
 * consortium helper), `shed_external` (307 to the external mirror), `micro_cache` (answered from
 * the front's cache), `refused` (503 with Retry-After) and `error` (the origin failed or timed out).
 */
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { z } from 'zod'
import { CrowdState } from '@reef/protocol'
import type { StorageHealth } from '@reef/protocol'
import type { Libp2p } from '@libp2p/interface'
import type { ReefConfig } from '../../config/config.ts'
import { RATE_WINDOW_MS } from '../../constants.ts'
import { connectionStats } from '../app.ts'
import type { ConnectionStats } from '../app.ts'
import type { Auditor } from '../../governance/auditor.ts'
import type { GovernanceService } from '../../governance/service.ts'
import type { GovernanceStore } from '../../governance/store.ts'
import type { LedgerStore } from '../../ledger/store.ts'
import type { CrowdDetector } from '../../load/crowd-detector.ts'
import type { DemandMeter } from '../../control/demand.ts'
import type { LoadMonitor } from '../../load/monitor.ts'
import { RELIEF_RUNGS } from '../../control/relief-ladder.ts'
import type { ReliefLadder } from '../../control/relief-ladder.ts'
import type { Shedder } from '../../load/shedder.ts'
import type { ContentCache } from '../../origin/content-cache.ts'
import type { OriginGate } from '../../origin/gate.ts'
import type { PeerTable } from '../../p2p/peer-table.ts'
import type { RecordBus } from '../../p2p/record-bus.ts'
import type { AdminViews } from './views.ts'

/** What the metrics read of a node (a ReefNode is one). */
export interface MetricsSource {
  config: Pick<ReefConfig, 'site' | 'consortium' | 'origin' | 'cache'>
  peerId: string
  monitor: Pick<LoadMonitor, 'totals' | 'arrivals' | 'shed' | 'originLatencyMs' | 'mirrorTotals' | 'refusedBy' | 'helpWaits'>
  cache: Pick<ContentCache, 'hits' | 'misses' | 'bytes' | 'size'>
  shedder: Pick<Shedder, 'share' | 'helpers'>
  gate: Pick<OriginGate<string | null>, 'inFlight' | 'queued'>
  detector: Pick<CrowdDetector, 'state'>
  demand: Pick<DemandMeter, 'demandRps'>
  peers: Pick<PeerTable, 'live'>
  libp2p: Pick<Libp2p, 'getConnections'>
  bus: Pick<RecordBus, 'rejected' | 'ignored'>
  ledgerStore: Pick<LedgerStore, 'recordCount' | 'health'>
  govStore?: Pick<GovernanceStore, 'health'> | undefined
  relief: Pick<ReliefLadder, 'history'>
  views: Pick<AdminViews, 'ledger'>
  gov?: Pick<GovernanceService, 'state' | 'isMember' | 'proposals' | 'counters'> | undefined
  auditor?: Pick<Auditor, 'counts'> | undefined
  /** The visitor-facing servers, for their connection figures (`connectionStats`). */
  front?: FastifyInstance | undefined
  mirror?: FastifyInstance | undefined
}

const OUTCOMES = ['origin', 'shed_peer', 'shed_external', 'micro_cache', 'refused', 'error'] as const

/** A counter whose value is a running total kept elsewhere. */
function totalCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  read: () => Array<[Partial<Record<L, string>>, number]>
): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset()
      for (const [labels, v] of read()) this.inc(labels, Math.max(0, v))
    }
  })
}

function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  read: () => Array<[Partial<Record<L, string>>, number]>
): void {
  new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset()
      for (const [labels, v] of read()) this.set(labels, v)
    }
  })
}

/** A registry with every metric of `node`, read at scrape time. */
export function createNodeMetrics(node: MetricsSource, opts: { processMetrics?: boolean } = {}): Registry {
  const r = new Registry()
  const m = node.monitor
  const t = (): typeof m.totals => m.totals
  const one = (v: number): Array<[Record<never, string>, number]> => [[{}, v]]

  gauge(r, 'reef_info', 'This node: its peer id, site and consortium (always 1)', ['peer', 'site', 'consortium'], () => [
    [{ peer: node.peerId, site: node.config.site.label, consortium: node.config.consortium }, 1]
  ])
  totalCounter(
    r,
    'reef_requests_total',
    'Requests by how they were answered (origin, shed_peer, shed_external, micro_cache, refused, error)',
    ['outcome'],
    () => {
      const x = t()
      const values: Record<(typeof OUTCOMES)[number], number> = {
        origin: x.origin - x.originErrors,
        shed_peer: x.shed - x.shedExternal,
        shed_external: x.shedExternal,
        micro_cache: x.microCache,
        refused: x.refused,
        error: x.originErrors
      }
      return OUTCOMES.map(o => [{ outcome: o }, values[o]])
    }
  )
  totalCounter(
    r,
    'reef_refused_total',
    'Requests answered 503 by why: no_room (shedding, and neither the helpers nor the uplink could take a new page load), no_helper (no target could take it yet, after any wait for help), origin_busy (the origin queue was full or its wait ran out)',
    ['reason'],
    () => Object.entries(m.refusedBy).map(([reason, v]): [{ reason: string }, number] => [{ reason }, v])
  )
  totalCounter(
    r,
    'reef_help_waits_total',
    "Visitors that waited for help at a crowd's onset (crowd.helpWaitMs), by how it ended: redirected, kept (the site took it after all), refused",
    ['outcome'],
    () => Object.entries(m.helpWaits).map(([outcome, v]): [{ outcome: string }, number] => [{ outcome }, v])
  )
  const servers = (): Array<[string, ConnectionStats]> =>
    (
      [
        ['front', node.front],
        ['mirror', node.mirror]
      ] as const
    ).flatMap(([name, app]) => {
      const st = app === undefined ? undefined : connectionStats(app)
      return st === undefined ? [] : [[name, st] as [string, ConnectionStats]]
    })
  gauge(r, 'reef_http_connections_open', 'Connections open now, per server (front, mirror)', ['server'], () =>
    servers().map(([server, st]) => [{ server }, st.open])
  )
  totalCounter(
    r,
    'reef_http_connections_refused_total',
    'Connections closed on arrival, per server and limit (per_address: http.maxConnectionsPerIp, max: http.maxConnections)',
    ['server', 'limit'],
    () =>
      servers().flatMap(([server, st]) => [
        [{ server, limit: 'per_address' }, st.refusedPerAddress],
        [{ server, limit: 'max' }, st.refusedMax]
      ])
  )
  gauge(r, 'reef_http_connections_per_address_peak', 'The most connections one client address has held at once since start, per server', ['server'], () =>
    servers().map(([server, st]) => [{ server }, st.peakPerAddress])
  )
  totalCounter(r, 'reef_front_requests_total', 'Requests that reached the front', [], () => one(t().arrivals))
  gauge(r, 'reef_shed_ratio', "Share of the front's requests redirected (to helpers or the external mirror) over the last second", [], () => {
    const arrivals = m.arrivals.rate(RATE_WINDOW_MS)
    return one(arrivals > 0 ? Math.min(1, m.shed.rate(RATE_WINDOW_MS) / arrivals) : 0)
  })
  gauge(r, 'reef_shed_share_target', 'The share of shareable requests the shedder aims to redirect now', [], () => one(node.shedder.share))
  gauge(r, 'reef_demand_rps', 'Demand on this site, requests/s (front arrivals not shed plus what helpers serve for it)', [], () =>
    one(node.demand.demandRps())
  )
  gauge(r, 'reef_origin_capacity_rps', "The origin's configured capacity, requests/s", [], () => one(node.config.origin.capacityRps))
  gauge(r, 'reef_origin_in_flight', 'Requests the origin is working on now', [], () => one(node.gate.inFlight))
  gauge(r, 'reef_origin_queued', 'Requests waiting for the origin gate now', [], () => one(node.gate.queued))
  gauge(r, 'reef_origin_latency_seconds', 'Origin response time (exponentially weighted mean)', [], () => one(m.originLatencyMs / 1000))
  totalCounter(r, 'reef_cache_hits_total', 'Content cache lookups that found the object', [], () => one(node.cache.hits))
  totalCounter(r, 'reef_cache_misses_total', 'Content cache lookups that did not', [], () => one(node.cache.misses))
  gauge(r, 'reef_cache_bytes', 'Bytes held in the content cache', [], () => one(node.cache.bytes))
  gauge(r, 'reef_cache_max_bytes', "The content cache's size limit", [], () => one(node.config.cache.maxBytes))
  gauge(r, 'reef_cache_objects', 'Objects held in the content cache', [], () => one(node.cache.size))
  gauge(r, 'reef_crowd_state', 'The crowd state: 1 for the current one', ['state'], () =>
    CrowdState.options.map(s => [{ state: s }, node.detector.state === s ? 1 : 0])
  )
  gauge(r, 'reef_relief_rung_engaged', 'Relief ladder rungs: 1 while engaged', ['rung'], () =>
    RELIEF_RUNGS.map(rung => [{ rung }, node.relief.history.findLast(e => e.rung === rung)?.engaged === true ? 1 : 0])
  )
  gauge(r, 'reef_helpers', 'Consortium helpers accepted by this site now', [], () => one(node.shedder.helpers.length))
  gauge(r, 'reef_peers', 'Consortium members with a live load report', [], () => one(node.peers.live().length))
  gauge(r, 'reef_connections', 'Open libp2p connections', [], () => one(node.libp2p.getConnections().length))
  totalCounter(
    r,
    'reef_gossip_rejected_total',
    'Gossip records answered Reject (invalid: bad signature, schema, size, wrong topic or author, expelled author)',
    [],
    () => one(node.bus.rejected)
  )
  totalCounter(r, 'reef_gossip_ignored_total', 'Gossip records answered Ignore (stale, future-dated, replayed, author not a member yet)', [], () =>
    one(node.bus.ignored)
  )
  totalCounter(r, 'reef_mirror_requests_total', "Requests this node's mirror served, per site it helps", ['site'], () =>
    [...m.mirrorTotals].map(([site, x]) => [{ site }, x.requests])
  )
  totalCounter(r, 'reef_mirror_misses_total', 'Mirror requests for objects not in the cache', [], () => one(t().mirrorMisses))
  totalCounter(r, 'reef_integrity_failures_total', 'Objects from peers whose body did not match its hash', [], () => one(t().integrityFailures))
  const stores = (): Array<[string, StorageHealth]> => [
    ['ledger', node.ledgerStore.health()],
    ...(node.govStore === undefined ? [] : [['governance', node.govStore.health()] as [string, StorageHealth]])
  ]
  gauge(
    r,
    'reef_storage_writable',
    'Per store (ledger, governance): 1 while it writes, 0 once a write failed (full or failing volume) until it reopens with room',
    ['store'],
    () => stores().map(([store, h]) => [{ store }, h.writable ? 1 : 0])
  )
  totalCounter(r, 'reef_storage_write_failures_total', 'Per store: writes that failed or were refused while it could not write', ['store'], () =>
    stores().map(([store, h]) => [{ store }, h.failures])
  )
  gauge(r, 'reef_storage_free_bytes', 'Per store: free bytes on its volume (sampled every 10 s)', ['store'], () =>
    stores().flatMap(([store, h]) => (h.freeBytes === null ? [] : [[{ store }, h.freeBytes] as [Record<string, string>, number]]))
  )
  gauge(r, 'reef_ledger_backlog_records', 'Verified ledger records held in memory until the ledger can write them', [], () =>
    one(node.ledgerStore.health().backlog)
  )
  totalCounter(r, 'reef_ledger_dropped_records_total', 'Held ledger records dropped because the backlog was full', [], () =>
    one(node.ledgerStore.health().dropped)
  )
  gauge(r, 'reef_ledger_records', 'Signed ledger records stored', [], () => one(node.ledgerStore.recordCount))
  const members = (): ReturnType<AdminViews['ledger']>['members'] => node.views.ledger().members
  gauge(r, 'reef_ledger_balance_bytes', "Per member: bytes given minus bytes taken, from this node's ledger", ['peer', 'site'], () =>
    members().map(x => [{ peer: x.peer, site: x.site ?? '' }, x.balance])
  )
  gauge(r, 'reef_ledger_headroom_bytes', 'Per member: quota (credit) minus bytes taken over the window', ['peer', 'site'], () =>
    members().map(x => [{ peer: x.peer, site: x.site ?? '' }, x.headroom])
  )
  // Governance (a chartered consortium): alert on reef_governance_halted and on being expelled.
  const gov = (): NonNullable<MetricsSource['gov']> | undefined => node.gov
  gauge(r, 'reef_governance_log_height', 'Height of the membership log this node holds (0: the charter only)', [], () =>
    gov() === undefined ? [] : one(gov()!.state?.height ?? 0)
  )
  gauge(r, 'reef_governance_members', 'Members of the consortium, by the log', [], () => (gov() === undefined ? [] : one(gov()!.state?.members.size ?? 0)))
  gauge(r, 'reef_governance_expelled', 'Peers expelled, by the log', [], () => (gov() === undefined ? [] : one(gov()!.state?.expelled.size ?? 0)))
  gauge(r, 'reef_governance_member', '1 while this node is a member', [], () => (gov() === undefined ? [] : one(gov()!.isMember ? 1 : 0)))
  gauge(r, 'reef_governance_halted', '1 when two valid log entries were seen at one height: no change is accepted until operators resolve it', [], () =>
    gov() === undefined ? [] : one(gov()!.state?.halted === undefined ? 0 : 1)
  )
  gauge(r, 'reef_governance_proposals_open', 'Open proposals, by what this node decided of them', ['decision'], () => {
    const g = gov()
    if (g === undefined) return []
    const by = new Map<string, number>([
      ['pending', 0],
      ['auto-yes', 0],
      ['needs-operator', 0],
      ['rejected', 0]
    ])
    for (const p of g.proposals.values()) by.set(p.decision, (by.get(p.decision) ?? 0) + 1)
    return [...by].map(([decision, v]) => [{ decision }, v])
  })
  totalCounter(
    r,
    'reef_governance_rejected_total',
    'Governance input rejected: forged votes, invalid entries and proposals, connections refused by the gater',
    ['kind'],
    () => {
      const g = gov()
      if (g === undefined) return []
      const c = g.counters
      return [
        [{ kind: 'vote' }, c.rejectedVotes],
        [{ kind: 'entry' }, c.rejectedEntries],
        [{ kind: 'proposal' }, c.rejectedProposals],
        [{ kind: 'connection' }, c.deniedConnections]
      ]
    }
  )
  totalCounter(r, 'reef_audits_total', 'Content audits of helpers by this node, by result', ['result'], () => {
    const a = node.auditor
    if (a === undefined) return []
    return [
      [{ result: 'ok' }, a.counts.ok],
      [{ result: 'mismatch' }, a.counts.mismatch]
    ]
  })
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: r })
  return r
}

/** Serve `node`'s metrics at `GET /metrics` on `app` (the admin listener). */
export function registerMetrics(app: FastifyInstance, node: MetricsSource): Registry {
  const registry = createNodeMetrics(node)
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (text exposition format 0.0.4), names prefixed `reef_`',
        response: { 200: { description: 'the metrics', content: { 'text/plain; version=0.0.4': { schema: z.string() } } } }
      }
    },
    async (_req, reply) =>
      reply
        .type(registry.contentType)
        .header('cache-control', 'no-store')
        .send(await registry.metrics())
  )
  return registry
}
