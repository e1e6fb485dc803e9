/**
 * Governance as one node runs it (SPEC.md §Governance): in a chartered consortium, the
 * governance service (membership log, proposals, votes, admission), the auditor that checks
 * helpers' content and the accuser that proposes cheaters' expulsion; the record bus and the
 * connection gater follow the membership. In an open consortium there is only the accuser,
 * which distrusts a helper caught altering this site's content but accuses nobody.
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { QuotaPolicy } from '@reef/governance'
import type { Logger } from 'pino'
import type { ReefConfig } from '../config/config.ts'
import type { LedgerStore } from '../ledger/store.ts'
import type { ReefLibp2p } from '../p2p/host.ts'
import type { PeerGate } from '../p2p/peer-gate.ts'
import type { RecordBus } from '../p2p/record-bus.ts'
import { Accuser } from './accuser.ts'
import { Auditor } from './auditor.ts'
import { enforceMembership } from './enforcement.ts'
import { GovernanceService } from './service.ts'
import type { GovernanceStore } from './store.ts'

export interface GovernanceComponents {
  config: Pick<ReefConfig, 'consortium' | 'governance' | 'site' | 'mirror' | 'cache'>
  selfId: string
  key: PrivateKey
  libp2p: ReefLibp2p
  bus: Pick<RecordBus, 'publish' | 'sendOnly' | 'onRecord' | 'authorVerdict' | 'canPublish'>
  ledgerStore: LedgerStore
  /** Undefined: an open consortium. */
  govStore: GovernanceStore | undefined
  peerGate: Pick<PeerGate, 'expelledBy' | 'onRefused'>
  /** The quota the ledger enforces: changed in place to the charter's. */
  quota: QuotaPolicy
  peers: { remove: (peer: string) => void }
  /** Stop helping and being helped by `peer` (expelled, or caught altering content). */
  dropPeer: (peer: string) => void
  log: Logger
}

export interface Governance {
  gov: GovernanceService | undefined
  auditor: Auditor | undefined
  accuser: Accuser
}

export function setUpGovernance(c: GovernanceComponents): Governance {
  const { config, selfId, libp2p, bus, ledgerStore: store, govStore, peerGate, quota, log } = c
  const child = (component: string): Logger => log.child({ component })
  let auditor: Auditor | undefined
  const gov =
    govStore === undefined
      ? undefined
      : new GovernanceService(
          { consortium: config.consortium, selfId, autoVote: config.governance?.autoVote ?? true },
          {
            libp2p,
            key: c.key,
            bus,
            store: govStore,
            log: child('governance'),
            standing: peer => store.standing(peer, Date.now(), quota),
            observe: async url => auditor!.fetch(url),
            onChange: enforceMembership({
              selfId,
              quota,
              peers: c.peers,
              help: { dropPeer: c.dropPeer },
              hangUp: peer => {
                void libp2p.hangUp(peerIdFromString(peer)).catch(() => {})
              },
              log
            })
          }
        )
  const accuser = new Accuser({ selfId, site: config.site.label, gov, ledgerStore: store, quota, log: child('audit') })
  peerGate.onRefused(peer => {
    if (gov !== undefined) gov.counters.deniedConnections++
    log.debug({ peer }, 'connection refused by the gater')
  })
  if (gov !== undefined) {
    gov.selfMember = { peer: selfId, site: config.site.label, mirrorUrl: config.mirror.publicUrl }
    bus.authorVerdict = peer => (gov.isMemberPeer(peer) ? 'accept' : gov.isExpelled(peer) ? 'reject' : 'ignore')
    bus.canPublish = () => gov.isMember
    peerGate.expelledBy(peer => gov.isExpelled(peer))
    auditor = new Auditor({
      bus,
      log: child('audit'),
      selfId,
      maxObjectBytes: config.cache.maxObjectBytes,
      isMember: peer => gov.isMemberPeer(peer),
      accuse: async (helper, reason, evidence) => accuser.accuse(helper, reason, evidence),
      caught: (helper, site) => {
        if (accuser.caught(helper, site)) c.dropPeer(helper)
      }
    })
  }
  return { gov, auditor, accuser }
}
