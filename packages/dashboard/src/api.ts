/**
 * The node's admin JSON API as the dashboard reads it (types only). The dashboard knows the
 * node through these shapes and nothing else; fields it does not use are left out. Everything
 * in them may come from a peer (site labels, peer ids, summaries) and is untrusted.
 */

export type CrowdState = 'normal' | 'struck' | 'recovering'

/** `GET /api/status` */
export interface StatusView {
  peerId: string
  site: string
  state: CrowdState
  demandRps: number
  capacityRps: number
  arrivalsRps: number
  originRps: number
  shedRps: number
  spareRps: number
  totals: { refused: number, shed: number, shedExternal?: number, microCache: number, origin: number }
  session: null | { id: string, neededRps: number, helpers: Array<{ peer: string, weightRps: number, siteBase: string }> }
  helping: Array<{ site: string, beneficiary: string, accepted: boolean, released: boolean, offeredRps: number, manifest: number }>
  /** Warm standby (r3 nodes): who stands by for this site, and for whom this node does. */
  standby?: {
    revision: number | null, manifestBytes: number
    standbys: Array<{ peer: string, site?: string, revision?: number, heldBytes: number }>
    holding: Array<{ site: string, revision: number, heldBytes: number, manifestBytes: number, ageMs: number }>
  }
  peers: Array<{ peer: string, site: string, state: CrowdState, demandRps: number, capacityRps?: number, spareRps: number, helping: Array<{ site: string, rps: number }> }>
}

/** `GET /api/ledger` */
export interface LedgerView {
  self: string
  members: Array<{
    peer: string
    site: string | null
    given: number
    taken: number
    balance: number
    givenRequests: number
    takenRequests: number
    quota: number
    headroom: number
    overQuota: boolean
  }>
}

export type TrafficKind = 'origin' | 'microCache' | 'shedPeers' | 'shedExternal' | 'refused'

/** `GET /api/timeline`: requests/s of each kind over the interval ending at `t`. */
export interface TimelineView {
  capacityRps: number
  intervalMs: number
  points: Array<{ t: number } & Record<TrafficKind, number>>
}

export type GovernanceKind = 'admit' | 'readmit' | 'expel' | 'leave' | 'set-policy'

/**
 * `GET /api/governance` (404, or `enabled: false`, for an open consortium without a charter).
 * A node that holds an invitation but has not synced the charter yet answers `enabled: true`
 * with an empty view and without `self`, `member` and `audits`.
 */
export interface GovernanceView {
  enabled: boolean
  consortium: string
  name: string | null
  charterHash: string | null
  height: number
  headHash: string | null
  /** Set once two valid entries were seen at one height: no change is applied after it. */
  halted: null | { height: number, hashes: [string, string] }
  policy: Record<string, unknown> | null
  /** This node's peer id, and whether it is a member now. */
  self?: string
  member?: boolean
  members: Array<{ peer: string, site: string, mirrorUrl: string, self: boolean }>
  expelled: Array<{ peer: string, site: string | null }>
  /** Newest first. */
  log: Array<{ height: number, hash: string | null, kind: GovernanceKind, subject: string | null, summary: string, signers: number, proposedAt: number }>
  proposals: Array<{
    id: string
    height: number
    kind: GovernanceKind
    subject: string | null
    summary: string
    reason: string
    proposer: string
    votes: number
    /** Signatures the change needs; null when it no longer applies at the current head. */
    needed: number | null
    votedBySelf: boolean
    decision: 'pending' | 'auto-yes' | 'needs-operator' | 'rejected'
    /** Why this node decided so (e.g. what its evidence check found). */
    detail: string
    /** Kinds of the evidence attached. */
    evidence: string[]
  }>
  /** This node's last content audits of helpers' mirrors, oldest first. */
  audits?: Array<{ at: number, helper: string, url: string, ok: boolean, detail: string }>
  events: Array<{ at: number, kind: string, detail: string }>
}
