/**
 * The reciprocity ledger's rules (SPEC.md §Ledger). Pure: the same records give the same
 * balances on every member, so any member can check any balance from the records alone.
 *
 * Service is accounted per pair (beneficiary B, helper H, session S):
 *   - B signs `delegation` records: what it redirected to H in S, cumulative (requests and
 *     bytes of the redirected objects), with an increasing `round`. B knows every redirect it
 *     issued, so H cannot claim more; B signed it, so B cannot deny it.
 *   - H answers each with a `receipt` naming the delegation by hash and claiming at most what
 *     it says. The settled amount of the pair is its latest valid receipt.
 * Settled bytes count as given by H and taken by B. Records only ever increase: a decrease, or
 * two different records for the same round, is rejected and becomes evidence.
 */

export interface LedgerRecord {
  type: 'delegation' | 'receipt'
  author: string
  seq: number
  ts: number
  /** SHA-256 (hex) of the record's canonical bytes: how receipts name delegations. */
  hash: string
  body: DelegationBody | ReceiptBody
}

export interface DelegationBody {
  session: string
  helper: string
  round: number
  requests: number
  bytes: number
  final: boolean
}
export interface ReceiptBody {
  session: string
  beneficiary: string
  round: number
  delegation: string
  requests: number
  bytes: number
}

interface Amounts {
  round: number
  requests: number
  bytes: number
  hash: string
  ts: number
}

/** Everything the ledger keeps about one (beneficiary, helper, session). */
export interface PairState {
  beneficiary: string
  helper: string
  session: string
  /** Delegations by hash (the latest few: a receipt may name one that is a round behind). */
  delegations: Record<string, Amounts & { final: boolean }>
  latestDelegation: (Amounts & { final: boolean }) | undefined
  receipt: Amounts | undefined
}

export type EvidenceKind = 'decrease' | 'equivocation' | 'over-claim' | 'foreign-delegation'

export interface Evidence {
  kind: EvidenceKind
  /** The member the records incriminate. */
  accused: string
  pair: string
  /** Hashes of the records that together prove it (the earlier one first). */
  records: string[]
  at: number
}

export type Verdict =
  | { kind: 'applied'; delta: { requests: number; bytes: number } }
  | { kind: 'duplicate' }
  | { kind: 'pending' }
  | { kind: 'evidence'; evidence: Evidence }

/** How many delegations of one pair are remembered for receipts that lag behind. */
export const KEPT_DELEGATIONS = 8

export function pairKey(beneficiary: string, helper: string, session: string): string {
  return `${beneficiary}|${helper}|${session}`
}

/** The pair a ledger record belongs to. */
export function pairOf(r: LedgerRecord): { beneficiary: string; helper: string; session: string; key: string } {
  const beneficiary = r.type === 'delegation' ? r.author : (r.body as ReceiptBody).beneficiary
  const helper = r.type === 'delegation' ? (r.body as DelegationBody).helper : r.author
  const session = r.body.session
  return { beneficiary, helper, session, key: pairKey(beneficiary, helper, session) }
}

export function emptyPair(beneficiary: string, helper: string, session: string): PairState {
  return { beneficiary, helper, session, delegations: {}, latestDelegation: undefined, receipt: undefined }
}

/**
 * Apply one verified ledger record to its pair. Returns the new pair state (unchanged unless
 * the verdict is 'applied') and the verdict. A delegation never changes balances by itself;
 * a receipt changes them by how much it raises the pair's settled amount.
 */
export function applyLedgerRecord(prev: PairState | undefined, r: LedgerRecord): { pair: PairState; verdict: Verdict } {
  const p = pairOf(r)
  const pair: PairState = prev ?? emptyPair(p.beneficiary, p.helper, p.session)
  const ev = (kind: EvidenceKind, accused: string, records: string[]): { pair: PairState; verdict: Verdict } => ({
    pair,
    verdict: { kind: 'evidence', evidence: { kind, accused, pair: p.key, records, at: r.ts } }
  })

  if (p.beneficiary === p.helper) return ev('foreign-delegation', r.author, [r.hash])

  if (r.type === 'delegation') {
    const d = r.body as DelegationBody
    if (pair.delegations[r.hash] !== undefined) return { pair, verdict: { kind: 'duplicate' } }
    // Consistent with every kept round, highest round first: same round = equivocation;
    // cumulative amounts never fall with the round; nothing has a higher round than a final
    // delegation — "after" is by round, not by arrival, so a final round arriving before an
    // earlier round is fine, and a final round below one already seen is an equivocation.
    for (const x of Object.values(pair.delegations).sort((a, b) => b.round - a.round)) {
      if (x.round === d.round) return ev('equivocation', r.author, [x.hash, r.hash])
      if (x.round < d.round && (d.requests < x.requests || d.bytes < x.bytes)) return ev('decrease', r.author, [x.hash, r.hash])
      if (x.round > d.round && (d.requests > x.requests || d.bytes > x.bytes)) return ev('decrease', r.author, [r.hash, x.hash])
      if (x.round < d.round && x.final) return ev('equivocation', r.author, [x.hash, r.hash])
      if (x.round > d.round && d.final) return ev('equivocation', r.author, [r.hash, x.hash])
    }
    const kept = Object.values(pair.delegations)
    if (kept.length >= KEPT_DELEGATIONS && kept.every(x => x.round > d.round)) {
      // Older than everything kept (a late or repeated copy): consistent, and it changes nothing.
      return { pair, verdict: { kind: 'duplicate' } }
    }
    const last = pair.latestDelegation
    const entry = { round: d.round, requests: d.requests, bytes: d.bytes, hash: r.hash, ts: r.ts, final: d.final }
    const delegations = { ...pair.delegations, [r.hash]: entry }
    const newest = Object.values(delegations)
      .sort((a, b) => b.round - a.round)
      .slice(0, KEPT_DELEGATIONS)
    const next: PairState = {
      ...pair,
      delegations: Object.fromEntries(newest.map(k => [k.hash, k])),
      latestDelegation: last === undefined || d.round > last.round ? entry : last
    }
    return { pair: next, verdict: { kind: 'applied', delta: { requests: 0, bytes: 0 } } }
  }

  // A receipt: (1) against the delegation it names, when known (over-claim); (2) a round not
  // above the settled receipt's is judged against that receipt, known delegation or not — a
  // late receipt is no evidence unless it contradicts the settled one; (3) an unknown
  // delegation leaves it pending; (4) otherwise it must not fall below the settled receipt.
  const c = r.body as ReceiptBody
  const named = pair.delegations[c.delegation]
  if (named === undefined) {
    // Not yet arrived, or older than the delegations kept: judge it against the settled receipt.
    const last = pair.receipt
    if (last !== undefined && c.round <= last.round) {
      if (last.hash === r.hash) return { pair, verdict: { kind: 'duplicate' } }
      if (c.round === last.round) return ev('equivocation', r.author, [last.hash, r.hash])
      if (c.requests > last.requests || c.bytes > last.bytes) return ev('decrease', r.author, [r.hash, last.hash])
      return { pair, verdict: { kind: 'duplicate' } }
    }
    return { pair, verdict: { kind: 'pending' } }
  }
  if (c.round !== named.round) return ev('over-claim', r.author, [named.hash, r.hash])
  if (c.requests > named.requests || c.bytes > named.bytes) return ev('over-claim', r.author, [named.hash, r.hash])
  const last = pair.receipt
  if (last !== undefined) {
    if (last.hash === r.hash) return { pair, verdict: { kind: 'duplicate' } }
    if (c.round === last.round) return ev('equivocation', r.author, [last.hash, r.hash])
    if (c.round < last.round) {
      if (c.requests > last.requests || c.bytes > last.bytes) return ev('decrease', r.author, [r.hash, last.hash])
      return { pair, verdict: { kind: 'duplicate' } }
    }
    if (c.requests < last.requests || c.bytes < last.bytes) return ev('decrease', r.author, [last.hash, r.hash])
  }
  const delta = { requests: c.requests - (last?.requests ?? 0), bytes: c.bytes - (last?.bytes ?? 0) }
  return { pair: { ...pair, receipt: { round: c.round, requests: c.requests, bytes: c.bytes, hash: r.hash, ts: r.ts } }, verdict: { kind: 'applied', delta } }
}

/**
 * A member's totals over the settled pairs (SPEC.md §Ledger, Totals): bytes and requests of the
 * settled receipts where it is the helper (given) and where it is the beneficiary (taken).
 */
export interface MemberTotals {
  given: number
  taken: number
  givenRequests: number
  takenRequests: number
}

/**
 * Balances from records alone, in any order of arrival: records are applied by round, each
 * round's delegation before its receipt (rounds are per pair, and pairs are independent), which
 * is the order an honest exchange produces. Returns the totals per member, the evidence found
 * and the pair states.
 */
export function recomputeBalances(records: Iterable<LedgerRecord>): { totals: Map<string, MemberTotals>; evidence: Evidence[]; pairs: Map<string, PairState> } {
  const all = [...records].sort((a, b) => a.body.round - b.body.round || (a.type === b.type ? 0 : a.type === 'delegation' ? -1 : 1) || a.seq - b.seq)
  const pairs = new Map<string, PairState>()
  const totals = new Map<string, MemberTotals>()
  const evidence: Evidence[] = []
  for (const r of all) {
    const key = pairOf(r).key
    const { pair, verdict } = applyLedgerRecord(pairs.get(key), r)
    if (verdict.kind === 'evidence') {
      evidence.push(verdict.evidence)
      continue
    }
    pairs.set(key, pair)
    if (verdict.kind === 'applied' && verdict.delta.bytes + verdict.delta.requests > 0) {
      addTotals(totals, pair.helper, { given: verdict.delta.bytes, givenRequests: verdict.delta.requests })
      addTotals(totals, pair.beneficiary, { taken: verdict.delta.bytes, takenRequests: verdict.delta.requests })
    }
  }
  return { totals, evidence, pairs }
}

export function addTotals(totals: Map<string, MemberTotals>, member: string, d: Partial<MemberTotals>): MemberTotals {
  const t = totals.get(member) ?? { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }
  t.given += d.given ?? 0
  t.taken += d.taken ?? 0
  t.givenRequests += d.givenRequests ?? 0
  t.takenRequests += d.takenRequests ?? 0
  totals.set(member, t)
  return t
}
