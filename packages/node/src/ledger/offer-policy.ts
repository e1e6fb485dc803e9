/**
 * How much a helper offers a struck site (SPEC.md §Ledger, quotas): all of its spare capacity,
 * or the ledger's optimistic share of it for a member over quota; a member in debt to the
 * struck creditor helps it fully.
 */
import { offerFor } from '@reef/governance'
import type { Capacity, QuotaPolicy } from '@reef/governance'
import type { Logger } from 'pino'
import type { LedgerStore } from './store.ts'

export interface OfferPolicyComponents {
  selfId: string
  ledgerStore: Pick<LedgerStore, 'standing' | 'owed'>
  /** The quota in force (the charter's when governed). */
  quota: QuotaPolicy
  log: Logger
}

/** What to offer `beneficiary` out of `spare`, by the ledger. */
export function ledgerOffer(c: OfferPolicyComponents): (beneficiary: string, spare: Capacity) => Capacity {
  return (beneficiary, spare) => {
    const st = c.ledgerStore.standing(beneficiary, Date.now(), c.quota)
    const owed = c.ledgerStore.owed(c.selfId, beneficiary)
    const rps = offerFor(spare.rps, spare.rps, st, owed, c.quota)
    const bytes = offerFor(spare.bytesPerSec, spare.bytesPerSec, st, owed, c.quota)
    if (bytes.kind !== 'full') c.log.info({ beneficiary, decision: bytes }, 'help limited by the ledger')
    return { rps: rps.kind === 'decline' ? 0 : rps.amount, bytesPerSec: bytes.kind === 'decline' ? 0 : bytes.amount }
  }
}
