/**
 * Enforcing the membership (SPEC.md §Enforcement) after every accepted log entry: the charter's
 * quota applies to the ledger, and expelled members are dropped from the peer table and the
 * help sessions and disconnected (the connection gater refuses them from then on).
 */
import { quotaOf } from '@reef/governance'
import type { MembershipState, QuotaPolicy } from '@reef/governance'
import type { LogAction } from '@reef/protocol'
import type { Logger } from 'pino'

export interface EnforcementComponents {
  selfId: string
  /** The quota the ledger enforces: changed in place to the charter's. */
  quota: QuotaPolicy
  peers: { remove: (peer: string) => void }
  help: { dropPeer: (peer: string) => void }
  hangUp: (peer: string) => void
  log: Logger
}

/** The charter's quota and intervals, whenever the policy changes. */
export function applyPolicy(quota: QuotaPolicy, state: MembershipState | undefined): void {
  if (state !== undefined) Object.assign(quota, quotaOf(state.policy))
}

/** What to do after every accepted log entry (and once at start). */
export function enforceMembership(c: EnforcementComponents): (state: MembershipState, action: LogAction | undefined) => void {
  return (state, action) => {
    applyPolicy(c.quota, state)
    for (const peer of state.expelled) {
      if (peer === c.selfId) continue
      c.peers.remove(peer)
      c.help.dropPeer(peer)
      c.hangUp(peer)
    }
    if (action?.kind === 'expel') {
      if (action.peer === c.selfId) c.log.error({ reason: action.reason }, 'THIS NODE WAS EXPELLED from the consortium: it no longer gives or receives help')
      else c.log.warn({ peer: action.peer, reason: action.reason }, 'member expelled: connections closed, no more help to or from it')
    }
  }
}
