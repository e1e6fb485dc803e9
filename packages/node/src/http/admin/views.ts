/**
 * What the admin API shows of a node (`GET /api/status`, `/api/governance`, `/api/ledger`):
 * read-only views over its components, in the shapes the admin contract declares
 * (@reef/protocol admin-api.ts), which the dashboard and the CLI read.
 */
import type { Libp2p } from '@libp2p/interface'
import { checkProposal } from '@reef/governance'
import type { QuotaPolicy } from '@reef/governance'
import type { GovernanceView, LedgerView, LogAction, Policy, StatusView } from '@reef/protocol'
import type { ReefConfig } from '../../config/config.ts'
import {
  GOVERNANCE_VIEW_AUDITS,
  GOVERNANCE_VIEW_EVENTS,
  GOVERNANCE_VIEW_LOG,
  RATE_WINDOW_MS,
  STATUS_HELP_EVENTS,
  STATUS_RELIEF_HISTORY,
  STATUS_STATE_HISTORY
} from '../../constants.ts'
import type { Auditor } from '../../governance/auditor.ts'
import { describe as describeAction } from '../../governance/service.ts'
import type { GovernanceService } from '../../governance/service.ts'
import type { GovernanceStore } from '../../governance/store.ts'
import type { HelpCoordinator } from '../../help/help-coordinator.ts'
import type { HelperHealth } from '../../help/helper-health.ts'
import type { StandbyService } from '../../help/standby.ts'
import type { LedgerStore } from '../../ledger/store.ts'
import type { CrowdDetector } from '../../load/crowd-detector.ts'
import type { DemandMeter } from '../../control/demand.ts'
import type { ExternalMirror } from '../../load/external-mirror.ts'
import type { LoadMonitor } from '../../load/monitor.ts'
import type { ReliefLadder } from '../../control/relief-ladder.ts'
import type { Shedder } from '../../load/shedder.ts'
import type { UplinkMeter } from '../../load/uplink-meter.ts'
import type { ContentCache } from '../../origin/content-cache.ts'
import type { OriginGate } from '../../origin/gate.ts'
import type { PeerTable } from '../../p2p/peer-table.ts'
import type { RecordBus } from '../../p2p/record-bus.ts'

export interface AdminViewsComponents {
  config: Pick<ReefConfig, 'consortium' | 'site' | 'origin' | 'uplink'>
  selfId: string
  libp2p: Pick<Libp2p, 'getConnections'>
  monitor: Pick<LoadMonitor, 'arrivals' | 'originStarted' | 'shed' | 'originLatencyMs' | 'totals'>
  detector: Pick<CrowdDetector, 'state' | 'history'>
  demand: Pick<DemandMeter, 'last' | 'spare'>
  shedder: Pick<Shedder, 'share' | 'requestShare' | 'byteShare' | 'redirectBudget'>
  gate: Pick<OriginGate<string | null>, 'inFlight' | 'queued'>
  uplink: Pick<UplinkMeter, 'rate' | 'backlogBytes' | 'totals'>
  cache: Pick<ContentCache, 'bytes' | 'size' | 'hits' | 'misses'>
  help: Pick<HelpCoordinator, 'ownSession' | 'ownManifestBytes' | 'helpingSessions' | 'events'>
  /** Bytes sent to helpers in this site's current help session. */
  sentToHelpers: () => number
  helperHealth: Pick<HelperHealth, 'isDown'>
  standby: Pick<StandbyService, 'mine' | 'standbysView' | 'replicas' | 'totals'>
  peers: Pick<PeerTable, 'live'>
  relief: Pick<ReliefLadder, 'rungs' | 'history'>
  externalMirror: Pick<ExternalMirror, 'template'> | undefined
  bus: Pick<RecordBus, 'rejected' | 'ignored'>
  gov: Pick<GovernanceService, 'isMember' | 'isExpelled' | 'state' | 'proposals' | 'counters' | 'events'> | undefined
  govStore: Pick<GovernanceStore, 'charter' | 'entries' | 'health'> | undefined
  auditor: Pick<Auditor, 'results'> | undefined
  ledgerStore: Pick<LedgerStore, 'totals' | 'standing' | 'allTotals' | 'health'>
  /** The quota in force (the charter's when governed). */
  quota: QuotaPolicy
}

export class AdminViews {
  readonly #c: AdminViewsComponents

  constructor(components: AdminViewsComponents) {
    this.#c = components
  }

  /** Everything an operator (or a test) wants to know about this node now. */
  status(): StatusView {
    const { config, monitor: m, help, shedder, uplink, gov } = this.#c
    const own = help.ownSession
    const spare = this.#c.demand.spare()
    const up = config.uplink
    const now = Date.now()
    const rate = (use?: 'front' | 'mirror' | 'p2p'): number => Math.round(uplink.rate(RATE_WINDOW_MS, use))
    return {
      peerId: this.#c.selfId,
      site: config.site.label,
      state: this.#c.detector.state,
      demandRps: Math.round(this.#c.demand.last.rps),
      capacityRps: config.origin.capacityRps,
      arrivalsRps: Math.round(m.arrivals.rate(RATE_WINDOW_MS)),
      originRps: Math.round(m.originStarted.rate(RATE_WINDOW_MS)),
      shedRps: Math.round(m.shed.rate(RATE_WINDOW_MS)),
      shedShare: shedder.share,
      originInFlight: this.#c.gate.inFlight,
      originQueued: this.#c.gate.queued,
      originLatencyMs: Math.round(m.originLatencyMs),
      spareRps: spare.rps,
      demandBytesPerSec: Math.round(this.#c.demand.last.bytesPerSec),
      spareBytesPerSec: spare.bytesPerSec,
      uplink: {
        bytesPerSec: up.bytesPerSec,
        targetShare: up.targetShare,
        sentBytesPerSec: rate(),
        frontBytesPerSec: rate('front'),
        mirrorBytesPerSec: rate('mirror'),
        p2pBytesPerSec: rate('p2p'),
        backlogBytes: uplink.backlogBytes,
        sent: { ...uplink.totals }
      },
      shed: {
        requestShare: shedder.requestShare,
        byteShare: shedder.byteShare,
        redirectBudgetBytesPerSec: shedder.redirectBudget === undefined ? null : Math.round(shedder.redirectBudget)
      },
      totals: { ...m.totals },
      cache: { bytes: this.#c.cache.bytes, objects: this.#c.cache.size, hits: this.#c.cache.hits, misses: this.#c.cache.misses },
      session:
        own === undefined
          ? null
          : {
              id: own.session,
              neededRps: Math.round(own.neededRps),
              neededBytesPerSec: Math.round(own.neededBytesPerSec),
              offers: own.offers,
              manifestBytes: help.ownManifestBytes,
              sentToHelpers: this.#c.sentToHelpers(),
              helpers: own.helpers.map(h => ({
                peer: h.peer,
                weightRps: h.weightRps,
                weightBytesPerSec: h.weightBytesPerSec,
                siteBase: h.siteBase,
                down: this.#c.helperHealth.isDown(h.peer, now)
              }))
            },
      helping: help.helpingSessions.map(s => ({
        site: s.site,
        beneficiary: s.beneficiary,
        accepted: s.accepted,
        released: s.releasedAt !== undefined,
        offeredRps: s.offeredRps,
        offeredBytesPerSec: s.offeredBytesPerSec,
        manifest: s.manifest.size
      })),
      standby: this.standbyView(now),
      peers: this.#c.peers.live().map(e => ({
        peer: e.peer,
        site: e.report.site,
        state: e.report.state,
        demandRps: e.report.demandRps,
        capacityRps: e.report.capacityRps,
        spareRps: e.report.spareRps,
        helping: e.report.helping,
        uplinkBytesPerSec: e.report.uplinkBytesPerSec ?? null,
        sentBytesPerSec: e.report.sentBytesPerSec ?? null,
        spareBytesPerSec: e.report.spareBytesPerSec ?? null,
        demandBytesPerSec: e.report.demandBytesPerSec ?? null
      })),
      connections: this.#c.libp2p.getConnections().length,
      stateHistory: this.#c.detector.history.slice(-STATUS_STATE_HISTORY),
      relief: {
        rungs: this.#c.relief.rungs(),
        history: this.#c.relief.history.slice(-STATUS_RELIEF_HISTORY),
        externalMirror: this.#c.externalMirror?.template ?? null
      },
      helpEvents: help.events.slice(-STATUS_HELP_EVENTS),
      gossipRejected: this.#c.bus.rejected,
      gossipIgnored: this.#c.bus.ignored,
      storage: { ledger: this.#c.ledgerStore.health(), governance: this.#c.govStore?.health() ?? null },
      governance:
        gov === undefined
          ? null
          : {
              member: gov.isMember,
              expelled: gov.isExpelled(this.#c.selfId),
              height: gov.state?.height ?? 0,
              halted: gov.state?.halted ?? null,
              members: gov.state?.members.size ?? 0,
              pending: gov.proposals.size,
              ...gov.counters
            }
    }
  }

  /** Who stands by for this site, and for whom this node stands by, with how much each holds. */
  standbyView(now = Date.now()): StatusView['standby'] {
    const standby = this.#c.standby
    const mine = standby.mine
    return {
      revision: mine?.revision ?? null,
      publishedAt: mine?.publishedAt ?? null,
      manifestBytes: mine?.manifestBytes ?? 0,
      standbys: standby.standbysView(),
      holding: standby.replicas().map(r => ({ ...r, ageMs: now - (r.fetchedAt ?? r.updatedAt) })),
      sentBytes: standby.totals.sent,
      receivedBytes: standby.totals.received
    }
  }

  /** The membership, the log and pending proposals, for operators and the dashboard. */
  async governance(): Promise<GovernanceView> {
    const { gov, config } = this.#c
    const self = this.#c.selfId
    const s = gov?.state
    if (gov === undefined || s === undefined) {
      return {
        enabled: gov !== undefined,
        consortium: config.consortium,
        name: null,
        charterHash: null,
        height: 0,
        headHash: null,
        halted: null,
        policy: null,
        self,
        member: false,
        members: [],
        expelled: [],
        log: [],
        proposals: [],
        audits: [],
        events: gov?.events ?? []
      }
    }
    const charter = await this.#c.govStore!.charter()
    const entries = await this.#c.govStore!.entries()
    const sites = new Map<string, string>()
    for (const f of charter?.body.founders ?? []) sites.set(f.peer, f.site)
    for (const e of entries)
      if (e.body.action.kind === 'admit' || e.body.action.kind === 'readmit') sites.set(e.body.action.member.peer, e.body.action.member.site)
    const subject = (a: LogAction): string | null =>
      a.kind === 'expel' || a.kind === 'leave' ? a.peer : a.kind === 'admit' || a.kind === 'readmit' ? a.member.peer : null
    // A policy change reads as what it changes, against the policy in force before it.
    let policy = charter?.body.policy ?? s.policy
    const summarize = (a: LogAction, before: Policy): string =>
      a.kind === 'set-policy' ? `change the policy: ${policyChanges(before, a.policy)}` : describeAction(a)
    const logView = entries.map(e => {
      const summary = summarize(e.body.action, policy)
      if (e.body.action.kind === 'set-policy') policy = e.body.action.policy
      return {
        height: e.body.height,
        hash: s.history[e.body.height]?.hash ?? null,
        kind: e.body.action.kind,
        subject: subject(e.body.action),
        summary,
        signers: e.sigs.length,
        proposedAt: e.body.proposedAt
      }
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
      self,
      member: gov.isMember,
      members: [...s.members.values()].map(m => ({ ...m, self: m.peer === self })),
      expelled: [...s.expelled].map(peer => ({ peer, site: sites.get(peer) ?? null })),
      log: logView.slice(-GOVERNANCE_VIEW_LOG).reverse(),
      proposals: [...gov.proposals.values()].map(p => {
        let needed: number | null = null
        try {
          needed = checkProposal(s, p.body).needed
        } catch {}
        return {
          id: p.id,
          height: p.body.height,
          kind: p.body.action.kind,
          subject: subject(p.body.action),
          summary: summarize(p.body.action, s.policy),
          ...(p.body.action.kind === 'set-policy' ? { policy: p.body.action.policy } : {}),
          reason: p.body.action.kind === 'expel' ? p.body.action.reason : '',
          proposer: p.proposer,
          votes: p.sigs.size,
          needed,
          votedBySelf: p.sigs.has(self),
          decision: p.decision,
          detail: p.detail,
          evidence: p.evidence.map(e => e.kind)
        }
      }),
      audits: this.#c.auditor?.results.slice(-GOVERNANCE_VIEW_AUDITS) ?? [],
      events: gov.events.slice(-GOVERNANCE_VIEW_EVENTS)
    }
  }

  /** Per member: given, taken, balance, quota (credit) and headroom, from this node's ledger. */
  ledger(now = Date.now()): LedgerView {
    const store = this.#c.ledgerStore
    const self = this.#c.selfId
    const sites = new Map<string, string>([[self, this.#c.config.site.label]])
    for (const e of this.#c.peers.live(now)) sites.set(e.peer, e.report.site)
    const members = new Set<string>([self, ...sites.keys(), ...store.allTotals().keys()])
    return {
      self,
      members: [...members]
        .map(peer => {
          const t = store.totals(peer)
          const st = store.standing(peer, now, this.#c.quota)
          return {
            peer,
            site: sites.get(peer) ?? null,
            given: t.given,
            taken: t.taken,
            balance: t.given - t.taken,
            givenRequests: t.givenRequests,
            takenRequests: t.takenRequests,
            windowGiven: st.given,
            windowTaken: st.taken,
            quota: st.credit,
            headroom: st.headroom,
            overQuota: st.overQuota
          }
        })
        .sort((a, b) => b.balance - a.balance || a.peer.localeCompare(b.peer))
    }
  }
}

/** `key old → new` for every parameter that differs. */
export function policyChanges(before: Policy, after: Policy): string {
  const changed = (Object.keys(after) as Array<keyof Policy>).filter(k => before[k] !== after[k]).map(k => `${k} ${before[k]} → ${after[k]}`)
  return changed.length === 0 ? 'no change' : changed.join(', ')
}
