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

/** `GET /api/governance` (404, or `enabled: false`, for an open consortium without a charter). */
export interface GovernanceView {
  enabled: boolean
  consortium: string
  name: string | null
  charterHash: string | null
  height: number
  headHash: string | null
  halted: null | { height: number, hashes: [string, string] }
  policy: Record<string, unknown> | null
  members: Array<{ peer: string, site: string, mirrorUrl: string, self: boolean }>
  expelled: Array<{ peer: string, site: string | null }>
  log: Array<{ height: number, hash: string, kind: GovernanceKind, subject: string | null, summary: string, signers: number }>
  proposals: Array<{
    id: string
    height: number
    kind: GovernanceKind
    subject: string | null
    summary: string
    reason: string
    proposer: string
    votes: number
    needed: number
    votedBySelf: boolean
    decision: 'pending' | 'auto-yes' | 'needs-operator'
  }>
}
