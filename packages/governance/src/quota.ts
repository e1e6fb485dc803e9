/**
 * Quotas (SPEC.md §Quotas): a member may take at most its credit — a grant for newcomers plus
 * a multiple of what it has given — over a rolling window. Helpers give a member over quota
 * only a small optimistic share of what they would otherwise offer (BitTorrent's optimistic
 * unchoke, so newcomers and unlucky members can earn standing). A member in debt to a struck
 * site is expected to help it: it offers what the creditor needs, up to its spare capacity,
 * whatever the creditor's own standing.
 */
import { DEFAULT_POLICY } from '@reef/protocol'
import type { Policy } from '@reef/protocol'

export interface QuotaPolicy {
  /** Bytes any member may take before it has given anything. */
  newcomerGrantBytes: number
  /** Credit earned per byte given. */
  takeMultiple: number
  /** Rolling window over which given and taken are counted, in ms. */
  windowMs: number
  /** Share of its normal offer a helper still offers a member over quota (0..1). */
  optimisticShare: number
}

/**
 * Defaults (justified in SPEC.md): 1 GiB lets a newcomer ride out one moderate crowd
 * (~20 req/s of 50 KB for 15 min ≈ 0.9 GB) before it has helped anyone; taking up to twice what
 * one gave fits crowds that are rare and bursty while any steady net taker runs dry; 30 days
 * spans several crowds; 10% optimistic help keeps a member over quota from falling over
 * entirely while it cannot freeload on it.
 */
export const DEFAULT_QUOTA_POLICY: Readonly<QuotaPolicy> = Object.freeze(quotaOf(DEFAULT_POLICY))

/** The quota a charter's policy sets (its optimistic share is in per cent). */
export function quotaOf(policy: Pick<Policy, 'newcomerGrantBytes' | 'takeMultiple' | 'windowMs' | 'optimisticSharePct'>): QuotaPolicy {
  return {
    newcomerGrantBytes: policy.newcomerGrantBytes,
    takeMultiple: policy.takeMultiple,
    windowMs: policy.windowMs,
    optimisticShare: policy.optimisticSharePct / 100
  }
}

export interface Standing {
  given: number
  taken: number
  /** newcomerGrant + takeMultiple × given */
  credit: number
  /** credit − taken (negative: over quota) */
  headroom: number
  overQuota: boolean
}

/** A member's standing from what it gave and took within the window (bytes). */
export function standing(givenInWindow: number, takenInWindow: number, policy: QuotaPolicy = DEFAULT_QUOTA_POLICY): Standing {
  const credit = policy.newcomerGrantBytes + policy.takeMultiple * givenInWindow
  const headroom = credit - takenInWindow
  return { given: givenInWindow, taken: takenInWindow, credit, headroom, overQuota: headroom < 0 }
}

export type OfferDecision =
  | { kind: 'full'; amount: number; reason: 'within-quota' | 'creditor-struck' }
  | { kind: 'limited'; amount: number; reason: 'over-quota-optimistic' }
  | { kind: 'decline'; reason: 'no-spare' }

/**
 * How much of a capacity a helper with `spare` of it offers beneficiary B that needs `needed`
 * of it: one unit at a time (requests/s, bytes/s), the same rule for each. `owedToBeneficiary`
 * is what the helper has taken from B minus what it gave B (pairwise, bytes): positive means B
 * is its creditor.
 */
export function offerFor(spare: number, needed: number, b: Standing, owedToBeneficiary: number, policy: QuotaPolicy = DEFAULT_QUOTA_POLICY): OfferDecision {
  if (spare <= 0) return { kind: 'decline', reason: 'no-spare' }
  const wanted = Math.min(spare, Math.max(1, needed))
  if (owedToBeneficiary > 0) return { kind: 'full', amount: Math.min(spare, Math.max(wanted, needed)), reason: 'creditor-struck' }
  if (!b.overQuota) return { kind: 'full', amount: wanted, reason: 'within-quota' }
  return { kind: 'limited', amount: Math.max(1, Math.floor(wanted * policy.optimisticShare)), reason: 'over-quota-optimistic' }
}
