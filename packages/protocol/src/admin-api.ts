/**
 * The node's admin HTTP API, as one typed contract (not the peer-to-peer wire protocol): a zod
 * schema for every route's response, parameters and body. The node serializes every response
 * through its schema (fastify-type-provider-zod) and generates its OpenAPI document from them
 * (`GET /api/openapi.json`); the dashboard and the CLI read the same types. A field added to a
 * view is added here, or the node refuses to send it.
 *
 * Everything in these shapes may come from a peer (site labels, peer ids, summaries) and is
 * untrusted by whoever displays it. The schemas describe what a node sends; they do not
 * re-check the wire protocol's limits (those are checked when a record arrives).
 */
import { z } from 'zod'
import { LogAction, Member, Policy } from './charter.ts'
import { CrowdState, EvidenceItem } from './messages.ts'
import { SiteLabel } from './primitives.ts'

const int = z.number().int()
const count = z.number().int().min(0)
const num = z.number()
const epochMs = z.number().int().describe('epoch milliseconds')
const peerId = z.string().describe('a libp2p peer id (base58btc)')

/** A libp2p peer id in a route's path. */
export const PEER_ID_PATTERN = /^[1-9A-HJ-NP-Za-km-z]{40,128}$/
/** A proposal's id: the hash of its entry body. */
export const PROPOSAL_ID_PATTERN = /^[0-9a-f]{64}$/

// --- Errors and acknowledgements -----------------------------------------------------------

/** Every error: a stable `code` (the node's errors.ts catalogue) and a message for people. */
export const ErrorBody = z.object({ code: z.string(), message: z.string() }).meta({ id: 'Error' })
export type ErrorBody = z.infer<typeof ErrorBody>

export const Ok = z.object({ ok: z.literal(true) })
export type Ok = z.infer<typeof Ok>

// --- GET /api/status -----------------------------------------------------------------------

export const ReliefRung = z.enum(['micro-cache', 'helpers', 'external-mirror', 'refusing'])
export type ReliefRung = z.infer<typeof ReliefRung>

export const HelpEventKind = z.enum(['request', 'offer', 'accept', 'release', 'offered', 'accepted', 'released', 'helper-dropped'])

/** A LevelDB store's health: it refuses writes after a failed one until reopened on a volume with room. */
export const StorageHealth = z
  .object({
    writable: z.boolean(),
    since: epochMs.nullable().describe('when writes began to fail; null while writable'),
    error: z.string().nullable().describe('the failure that stopped writes (e.g. No space left on device)'),
    failures: count.describe('failed or refused writes since start'),
    recoveries: count.describe('times the store reopened and wrote again'),
    freeBytes: count.nullable().describe("free bytes on the store's volume, sampled every 10 s")
  })
  .meta({ id: 'StorageHealth' })
export type StorageHealth = z.infer<typeof StorageHealth>

export const LedgerStorageHealth = StorageHealth.extend({
  backlog: count.describe('verified ledger records held in memory until the store can write them'),
  dropped: count.describe('held records dropped (oldest first) because the backlog was full')
}).meta({ id: 'LedgerStorageHealth' })
export type LedgerStorageHealth = z.infer<typeof LedgerStorageHealth>

export const StatusView = z
  .object({
    peerId,
    site: z.string(),
    state: CrowdState,
    demandRps: num,
    capacityRps: num,
    arrivalsRps: num,
    originRps: num,
    shedRps: num,
    shedShare: num.describe('the share of shareable requests the shedder aims to redirect (0..1)'),
    originInFlight: count,
    originQueued: count,
    originLatencyMs: num,
    spareRps: num,
    demandBytesPerSec: num,
    spareBytesPerSec: num,
    uplink: z.object({
      bytesPerSec: num,
      targetShare: num,
      sentBytesPerSec: num,
      frontBytesPerSec: num,
      mirrorBytesPerSec: num,
      p2pBytesPerSec: num,
      backlogBytes: num,
      sent: z.object({ front: num, mirror: num, p2p: num })
    }),
    shed: z.object({ requestShare: num, byteShare: num, redirectBudgetBytesPerSec: num.nullable() }),
    totals: z
      .object({
        arrivals: count,
        ofKeptPages: count,
        shed: count,
        shedExternal: count,
        origin: count,
        refused: count,
        originErrors: count,
        mirrorServed: count,
        mirrorMisses: count,
        integrityFailures: count,
        microCache: count
      })
      .describe('cumulative counts since start'),
    cache: z.object({ bytes: count, objects: count, hits: count, misses: count }),
    session: z
      .object({
        id: z.string(),
        neededRps: num,
        neededBytesPerSec: num,
        offers: count,
        manifestBytes: count,
        sentToHelpers: num,
        helpers: z.array(z.object({ peer: z.string(), weightRps: num, weightBytesPerSec: num, siteBase: z.string(), down: z.boolean() }))
      })
      .nullable()
      .describe("this site's help session while it is struck"),
    helping: z.array(
      z.object({
        site: z.string(),
        beneficiary: peerId,
        accepted: z.boolean(),
        released: z.boolean(),
        offeredRps: num,
        offeredBytesPerSec: num,
        manifest: count
      })
    ),
    standby: z
      .object({
        revision: int.nullable(),
        publishedAt: epochMs.nullable(),
        manifestBytes: count,
        standbys: z.array(z.object({ peer: peerId, site: z.string().optional(), revision: int.optional(), heldBytes: count })),
        holding: z.array(
          z.object({
            site: z.string(),
            beneficiary: peerId,
            revision: int,
            heldBytes: count,
            manifestBytes: count,
            objects: count,
            manifestObjects: count,
            updatedAt: epochMs,
            fetchedAt: epochMs.optional(),
            ageMs: num
          })
        ),
        sentBytes: count,
        receivedBytes: count
      })
      .describe('warm standby: who stands by for this site, and for whom this node does'),
    peers: z.array(
      z.object({
        peer: peerId,
        site: z.string(),
        state: CrowdState,
        demandRps: num,
        capacityRps: num,
        spareRps: num,
        helping: z.array(z.object({ site: z.string(), rps: num, bytesPerSec: num.optional() })),
        uplinkBytesPerSec: num.nullable(),
        sentBytesPerSec: num.nullable(),
        spareBytesPerSec: num.nullable(),
        demandBytesPerSec: num.nullable()
      })
    ),
    connections: count,
    stateHistory: z.array(z.object({ from: CrowdState, to: CrowdState, at: epochMs, demandRps: num })),
    relief: z.object({
      rungs: z.partialRecord(ReliefRung, z.boolean()).describe('engaged now? (rungs that never changed are left out)'),
      history: z.array(z.object({ rung: ReliefRung, engaged: z.boolean(), at: epochMs })),
      externalMirror: z.string().nullable()
    }),
    helpEvents: z.array(z.object({ at: epochMs, kind: HelpEventKind, session: z.string(), peer: z.string().optional(), site: z.string().optional() })),
    gossipRejected: count,
    gossipIgnored: count,
    storage: z
      .object({ ledger: LedgerStorageHealth, governance: StorageHealth.nullable() })
      .describe("the node's LevelDB stores: a full volume stops their writes, never the serving"),
    governance: z
      .object({
        member: z.boolean(),
        expelled: z.boolean(),
        height: count,
        halted: z.object({ height: count, hashes: z.tuple([z.string(), z.string()]) }).nullable(),
        members: count,
        pending: count,
        rejectedVotes: count,
        rejectedEntries: count,
        rejectedProposals: count,
        syncs: count,
        deniedConnections: count
      })
      .nullable()
  })
  .meta({ id: 'Status' })
export type StatusView = z.infer<typeof StatusView>

// --- GET /api/timeline ---------------------------------------------------------------------

export const TrafficKind = z.enum(['origin', 'microCache', 'shedPeers', 'shedExternal', 'refused'])
export type TrafficKind = z.infer<typeof TrafficKind>

export const TimelineQuery = z.object({
  since: z
    .string()
    .regex(/^\d{1,16}$/)
    .optional()
    .describe('only the points after this time (epoch ms)')
})

/** Requests/s of each kind over the interval ending at `t`, oldest first. */
export const TimelineView = z
  .object({
    capacityRps: num,
    intervalMs: count,
    points: z.array(z.object({ t: epochMs, origin: num, microCache: num, shedPeers: num, shedExternal: num, refused: num }))
  })
  .meta({ id: 'Timeline' })
export type TimelineView = z.infer<typeof TimelineView>

// --- The ledger ----------------------------------------------------------------------------

export const MemberTotals = z.object({ given: count, taken: count, givenRequests: count, takenRequests: count }).meta({ id: 'MemberTotals' })

export const LedgerMember = z
  .object({
    peer: peerId,
    site: z.string().nullable(),
    given: count.describe('bytes this member served for others'),
    taken: count.describe('bytes others served for this member'),
    balance: int.describe('given - taken, bytes'),
    givenRequests: count,
    takenRequests: count,
    windowGiven: count,
    windowTaken: count,
    quota: num.describe('credit: newcomer grant + multiple × given over the window'),
    headroom: num,
    overQuota: z.boolean()
  })
  .meta({ id: 'LedgerMember' })
export type LedgerMember = z.infer<typeof LedgerMember>

/** `GET /api/ledger` */
export const LedgerView = z.object({ self: peerId, members: z.array(LedgerMember) }).meta({ id: 'LedgerView' })
export type LedgerView = z.infer<typeof LedgerView>

export const LedgerRecordsQuery = z.object({ limit: z.string().optional().describe('at most this many records (1..10000, default 1000)') })

export const StoredRecordView = z
  .object({
    type: z.enum(['delegation', 'receipt']),
    author: peerId,
    seq: count,
    ts: epochMs,
    hash: z.string().describe('SHA-256 (hex) of the canonical bytes'),
    body: z.union([
      z.object({ session: z.string(), helper: z.string(), round: count, requests: count, bytes: count, final: z.boolean() }),
      z.object({ session: z.string(), beneficiary: z.string(), round: count, delegation: z.string(), requests: count, bytes: count })
    ]),
    bytes: z.string().describe('the signed record (base64), to re-verify')
  })
  .meta({ id: 'StoredRecord' })

/** `GET /api/ledger/:peer/records` */
export const LedgerRecordsView = z.object({ peer: peerId, totals: MemberTotals, records: z.array(StoredRecordView) })
export type LedgerRecordsView = z.infer<typeof LedgerRecordsView>

export const EvidenceView = z
  .object({ kind: z.string(), accused: peerId, pair: z.string(), records: z.array(z.string()), at: epochMs, recordBytes: z.string() })
  .meta({ id: 'Evidence' })
export const SignalView = z
  .object({
    kind: z.enum(['over-quota', 'declined-with-spare', 'unsigned-delegation']),
    accused: peerId,
    at: epochMs,
    detail: z.record(z.string(), z.unknown())
  })
  .meta({ id: 'Signal' })

/** `GET /api/ledger/evidence`, newest first. */
export const LedgerEvidenceView = z.object({ evidence: z.array(EvidenceView), signals: z.array(SignalView) })
export type LedgerEvidenceView = z.infer<typeof LedgerEvidenceView>

/** `GET /api/ledger/check` */
export const LedgerCheckView = z.object({ consistent: z.boolean(), records: count, mismatches: z.array(peerId) })
export type LedgerCheckView = z.infer<typeof LedgerCheckView>

// --- Governance ----------------------------------------------------------------------------

export const GovernanceKind = z.enum(['admit', 'readmit', 'expel', 'leave', 'set-policy'])
export type GovernanceKind = z.infer<typeof GovernanceKind>
export const ProposalDecision = z.enum(['pending', 'auto-yes', 'needs-operator', 'rejected'])

export const ProposalView = z
  .object({
    id: z.string(),
    height: count,
    kind: GovernanceKind,
    subject: z.string().nullable(),
    summary: z.string(),
    policy: Policy.optional().describe('set-policy only: the proposed policy (summary lists what changes)'),
    reason: z.string(),
    proposer: peerId,
    votes: count,
    needed: count.nullable().describe('signatures the change needs; null when it no longer applies at the current head'),
    votedBySelf: z.boolean(),
    decision: ProposalDecision,
    detail: z.string().describe('why this node decided so'),
    evidence: z.array(z.string()).describe('kinds of the evidence attached')
  })
  .meta({ id: 'Proposal' })
export type ProposalView = z.infer<typeof ProposalView>

/**
 * `GET /api/governance` (`enabled: false` for an open consortium without a charter). A node
 * that holds an invitation but has not synced the charter yet answers `enabled: true` with an
 * empty view.
 */
export const GovernanceView = z
  .object({
    enabled: z.boolean(),
    consortium: z.string(),
    name: z.string().nullable(),
    charterHash: z.string().nullable().describe('SHA-256 of the charter body'),
    height: count,
    headHash: z.string().nullable(),
    halted: z
      .object({ height: count, hashes: z.tuple([z.string(), z.string()]) })
      .nullable()
      .describe('set once two valid entries were seen at one height: no change is applied after it'),
    policy: Policy.nullable().describe('the charter policy in force (SPEC.md §Charter)'),
    self: peerId,
    member: z.boolean().describe('whether this node is a member now'),
    members: z.array(Member.extend({ self: z.boolean() })),
    expelled: z.array(z.object({ peer: peerId, site: z.string().nullable() })),
    log: z
      .array(
        z.object({
          height: count,
          hash: z.string().nullable(),
          kind: GovernanceKind,
          subject: z.string().nullable(),
          summary: z.string(),
          signers: count,
          proposedAt: epochMs
        })
      )
      .describe('newest first, the last 100'),
    proposals: z.array(ProposalView),
    audits: z
      .array(z.object({ at: epochMs, helper: peerId, url: z.string(), ok: z.boolean(), detail: z.string() }))
      .describe("this node's latest content audits of helpers, oldest first"),
    events: z.array(z.object({ at: epochMs, kind: z.string(), detail: z.string() })).describe('recent governance events on this node')
  })
  .meta({ id: 'Governance' })
export type GovernanceView = z.infer<typeof GovernanceView>

/** Evidence items a proposal may carry through the admin API. */
export const ADMIN_PROPOSAL_EVIDENCE_MAX = 8
/** An invitation's lifetime by default, and at most, in hours. */
export const INVITATION_TTL_HOURS_DEFAULT = 168
export const INVITATION_TTL_HOURS_MAX = 24 * 90

/**
 * `POST /api/governance/propose`: a log action (SPEC.md §Membership log entry) and the evidence
 * for it (SPEC.md §Evidence). An expulsion's evidence hashes may be left out: the node fills
 * them in from the evidence given.
 */
export const ProposeInput = z.object({ action: LogAction, evidence: z.array(EvidenceItem).max(ADMIN_PROPOSAL_EVIDENCE_MAX).default([]) }).strict()
export type ProposeInput = z.input<typeof ProposeInput>
export const ProposeResult = z.object({ id: z.string().describe("the proposal's id") })
export type ProposeResult = z.infer<typeof ProposeResult>

export const ProposalIdParams = z.object({ id: z.string().describe("the proposal's id (64 hex digits)") })

/** `POST /api/invitations` (an empty body takes the defaults). */
export const InviteInput = z
  .object({
    site: SiteLabel.optional().describe('the site label the newcomer must use'),
    ttlHours: z.number().positive().max(INVITATION_TTL_HOURS_MAX).default(INVITATION_TTL_HOURS_DEFAULT).describe('validity in hours')
  })
  .strict()
export type InviteInput = z.input<typeof InviteInput>
export const InvitationView = z.object({ token: z.string().describe('give it to the newcomer: reef join <token>') })
export type InvitationView = z.infer<typeof InvitationView>

// --- Operations ----------------------------------------------------------------------------

export const PeerParams = z.object({ peer: z.string().describe('a libp2p peer id (base58btc)') })
/** `POST /api/peers/:peer/block` and `/unblock`: the peers blocked now. */
export const BlockedView = z.object({ ok: z.literal(true), blocked: z.array(peerId) })
export type BlockedView = z.infer<typeof BlockedView>

/** The OpenAPI document itself (`GET /api/openapi.json`). */
export const OpenApiDocument = z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) })
