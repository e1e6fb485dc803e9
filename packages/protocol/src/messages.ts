/**
 * Bodies of Reef records. Each record type has a zod schema with size limits; SPEC.md
 * describes each field and its unit. Bodies are open at every depth (SPEC.md §Versions and
 * unknown fields): an object of a body may carry fields this revision does not define, which
 * are ignored (dropped from the parsed value) for forward compatibility, while the signature
 * covers the whole body as received. Closed (strict) are the parts of multi-signed documents
 * (log entry bodies, member records, policies, signatures) and evidence items, which are
 * hashed into log entries and must be judged alike by every voter.
 */
import { z } from 'zod'
import {
  MAX_BYTES_PER_SEC,
  MAX_CALM_REPORT_INTERVAL_MS,
  MAX_EVIDENCE_ITEMS,
  MAX_HELPERS,
  MAX_INVITATION_ADDRS,
  MAX_MANIFEST_ENTRIES,
  MAX_OBJECT_BYTES,
  MAX_PATH_CHARS,
  MAX_RELAYED_VOTES,
  MAX_STANDBYS
} from './constants.ts'
import { ConsortiumId, LogEntryBody, Member } from './charter.ts'
import { Signature } from './multisig.ts'
import { BaseUrl, HEADER_VALUE_RE, PeerIdString, Sha256Hex, SiteLabel, UrlPath } from './primitives.ts'

export {
  SITE_LABEL_RE,
  SiteLabel,
  BaseUrl,
  MAX_BASE_URL_CHARS,
  isBaseUrl,
  canonicalBaseUrl,
  HEADER_VALUE_RE,
  UrlPath,
  PeerIdString,
  Sha256Hex
} from './primitives.ts'

const Rps = z.number().int().min(0).max(10_000_000)
/**
 * Bytes per second (r3). Optional on the wire so that r2 nodes, which do not send them, stay
 * readable: a receiver falls back as SPEC.md §Capacity in bytes says.
 */
const BytesPerSec = z.number().int().min(0).max(MAX_BYTES_PER_SEC)

export const CrowdState = z.enum(['normal', 'struck', 'recovering'])
export type CrowdState = z.infer<typeof CrowdState>

export const LoadReport = z.object({
  site: SiteLabel,
  siteUrl: BaseUrl,
  mirrorUrl: BaseUrl,
  state: CrowdState,
  capacityRps: Rps,
  demandRps: Rps,
  originRps: Rps,
  spareRps: Rps,
  helping: z.array(z.object({ site: SiteLabel, rps: Rps, bytesPerSec: BytesPerSec.optional() })).max(MAX_HELPERS),
  /** r3: the uplink the author declares, what it sends now, what it offers others, its site's demand. */
  uplinkBytesPerSec: BytesPerSec.optional(),
  sentBytesPerSec: BytesPerSec.optional(),
  spareBytesPerSec: BytesPerSec.optional(),
  demandBytesPerSec: BytesPerSec.optional(),
  /** r3: bytes the author's uplink owes now (queued to send, or awaited from fetches): its queue. */
  queuedBytes: BytesPerSec.optional(),
  /** r3 (warm standby): the replicas the author holds: site, the standby revision, verified bytes held of its manifest. */
  standingBy: z
    .array(
      z.object({
        site: SiteLabel,
        revision: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
        heldBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
      })
    )
    .max(MAX_HELPERS)
    .optional(),
  /**
   * r4 (calm cadence): the longest the author will wait before its next report, ms. A receiver
   * keeps the report REPORT_EXPIRY_FACTOR times this (at least its own expiry).
   */
  nextReportMs: z.number().int().min(100).max(MAX_CALM_REPORT_INTERVAL_MS).optional()
})
export type LoadReport = z.infer<typeof LoadReport>

export const ManifestEntry = z.object({
  path: UrlPath,
  size: z.number().int().min(0).max(MAX_OBJECT_BYTES),
  /** The Content-Type, as an HTTP field value: HTAB, SP and visible ASCII, at most 256. */
  type: z.string().max(256).regex(HEADER_VALUE_RE, 'a content type is printable ASCII'),
  sha256: Sha256Hex
})
export type ManifestEntry = z.infer<typeof ManifestEntry>

export const SessionId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'a session id is 8-64 url-safe characters')

export const HelpRequest = z.object({
  session: SessionId,
  site: SiteLabel,
  siteUrl: BaseUrl,
  neededRps: Rps,
  /** r3: bytes/s the site needs taken off its uplink. */
  neededBytesPerSec: BytesPerSec.optional(),
  manifest: z.array(ManifestEntry).max(MAX_MANIFEST_ENTRIES)
})
export type HelpRequest = z.infer<typeof HelpRequest>

export const HelpOffer = z.object({
  session: SessionId,
  to: PeerIdString,
  offeredRps: Rps,
  /** r3: bytes/s the helper will send for this site. */
  offeredBytesPerSec: BytesPerSec.optional(),
  mirrorUrl: BaseUrl
})
export type HelpOffer = z.infer<typeof HelpOffer>

export const HelpAccept = z.object({
  session: SessionId,
  helpers: z.array(z.object({ peer: PeerIdString, weightRps: Rps, weightBytesPerSec: BytesPerSec.optional(), mirrorUrl: BaseUrl })).max(MAX_HELPERS)
})
export type HelpAccept = z.infer<typeof HelpAccept>

export const HelpRelease = z.object({
  session: SessionId,
  reason: z.enum(['crowd-over', 'shutdown', 'replaced'])
})
export type HelpRelease = z.infer<typeof HelpRelease>

/**
 * r3 (warm standby): in calm times a member names the peers that keep a copy of its hot
 * content (its standbys) and what that content is; each named standby may fetch the manifest's
 * objects from it over the fetch stream with `session` = `id`, at a background rate.
 */
export const Standby = z.object({
  id: SessionId,
  site: SiteLabel,
  siteUrl: BaseUrl,
  revision: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  standbys: z.array(PeerIdString).min(1).max(MAX_STANDBYS),
  manifest: z.array(ManifestEntry).max(MAX_MANIFEST_ENTRIES)
})
export type Standby = z.infer<typeof Standby>

const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

/**
 * Ledger: what a beneficiary delegated to one helper in one session, cumulative since the
 * session began (requests redirected to the helper and the bytes of the redirected objects).
 * Signed by the beneficiary, so it cannot later deny it; `round` increases with every
 * settlement of the pair.
 */
export const Delegation = z.object({
  session: SessionId,
  helper: PeerIdString,
  round: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  requests: Count,
  bytes: Count,
  final: z.boolean()
})
export type Delegation = z.infer<typeof Delegation>

/**
 * Ledger: a helper's receipt for a delegation: the service it claims, cumulative, never more
 * than the delegation it names (by the SHA-256 of that record's bytes) — so it cannot inflate.
 */
export const Receipt = z.object({
  session: SessionId,
  beneficiary: PeerIdString,
  round: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  delegation: Sha256Hex,
  requests: Count,
  bytes: Count
})
export type Receipt = z.infer<typeof Receipt>

/** A signed record's bytes, base64url without padding (evidence carries the accused's own records). */
export const RecordBytes = z
  .string()
  .min(1)
  .max(Math.ceil((256 * 1024 * 4) / 3))
  .regex(/^[A-Za-z0-9_-]+$/, 'record bytes are base64url without padding')

/**
 * Content integrity: a helper's signature over what it serves for a site (SPEC.md §Content
 * integrity), attached to every mirrored response in the `Reef-Attestation` header. The
 * envelope's `ts` is when the helper stored the object.
 */
export const Attestation = z.object({
  session: SessionId,
  site: SiteLabel,
  path: UrlPath,
  sha256: Sha256Hex
})
export type Attestation = z.infer<typeof Attestation>

/**
 * Evidence attached to an expulsion (SPEC.md §Evidence). `ledger`: the accused's own ledger
 * records that contradict each other or the records they answer; `content-signed`: the site's
 * signed manifest and the helper's attestation of a different hash for the same path;
 * `content-observed`: a mirrored URL whose body did not match its attestation or the manifest
 * (voters fetch it themselves); `freeloading`: the accused's standing as the ledger proves it;
 * `invitation` (for an admission, not an expulsion): a member's invitation and the newcomer's
 * signed join request.
 */
export const EvidenceItem = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ledger'), records: z.array(RecordBytes).min(1).max(4) }).strict(),
  z.object({ kind: z.literal('content-signed'), manifest: RecordBytes, attestation: RecordBytes }).strict(),
  z
    .object({
      kind: z.literal('content-observed'),
      manifest: RecordBytes,
      url: z.string().max(MAX_PATH_CHARS + 512),
      path: UrlPath,
      servedSha256: Sha256Hex,
      attestation: RecordBytes.optional()
    })
    .strict(),
  z.object({ kind: z.literal('freeloading'), taken: z.number().int().min(0), credit: z.number().int().min(0) }).strict(),
  z.object({ kind: z.literal('invitation'), invitation: RecordBytes, request: RecordBytes }).strict()
])
export type EvidenceItem = z.infer<typeof EvidenceItem>

/** A member proposes a membership or policy change: the entry to sign and the evidence for it. */
export const GovProposal = z.object({
  entry: LogEntryBody,
  evidence: z.array(EvidenceItem).max(MAX_EVIDENCE_ITEMS)
})
export type GovProposal = z.infer<typeof GovProposal>

/** A member's vote: its signature (domain `/reef/log-entry/1`) over the proposed entry's body. */
export const GovVote = z.object({
  consortium: ConsortiumId,
  proposal: Sha256Hex,
  height: z.number().int().min(1),
  sig: Signature.shape.sig
})
export type GovVote = z.infer<typeof GovVote>

/**
 * r5: votes relayed toward a proposal's proposer (SPEC.md §Vote relay), each exactly as its
 * voter signed it; sent over RECORD_PROTOCOL_R5 to one peer, never gossiped. The record's author
 * is the relay, not the voters: each vote is checked on its own signature.
 */
export const GovVotes = z.object({
  consortium: ConsortiumId,
  proposal: Sha256Hex,
  height: z.number().int().min(1),
  votes: z.array(Signature).min(1).max(MAX_RELAYED_VOTES)
})
export type GovVotes = z.infer<typeof GovVotes>

/** A log entry that reached its quorum, announced to everyone. */
export const GovEntry = z.object({
  entry: z.object({ body: LogEntryBody, sigs: z.array(Signature).max(256) })
})
export type GovEntry = z.infer<typeof GovEntry>

/** An invitation to join a consortium, signed by the inviting member (carried as a token). */
export const Invitation = z.object({
  consortium: ConsortiumId,
  /** SHA-256 of the charter body: the newcomer checks the charter it syncs against it. */
  charter: Sha256Hex,
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  expiresAt: z.number().int().min(0),
  /** Where the inviter's node listens (multiaddrs ending in /p2p/<inviter>). */
  addrs: z.array(z.string().min(1).max(256)).min(1).max(MAX_INVITATION_ADDRS),
  /** The site label the newcomer is invited under, if the inviter fixed one. */
  site: SiteLabel.optional()
})
export type Invitation = z.infer<typeof Invitation>

/** The newcomer's request to be admitted under an invitation (its node signs it). */
export const JoinRequest = z.object({
  consortium: ConsortiumId,
  /** SHA-256 of the invitation record's bytes. */
  invitation: Sha256Hex,
  member: Member
})
export type JoinRequest = z.infer<typeof JoinRequest>

/** Record types and their body schemas. */
export const RECORD_BODIES = {
  'load-report': LoadReport,
  'help-request': HelpRequest,
  'help-offer': HelpOffer,
  'help-accept': HelpAccept,
  'help-release': HelpRelease,
  standby: Standby,
  delegation: Delegation,
  receipt: Receipt,
  attestation: Attestation,
  'gov-proposal': GovProposal,
  'gov-vote': GovVote,
  'gov-entry': GovEntry,
  invitation: Invitation,
  'join-request': JoinRequest,
  'gov-votes': GovVotes
} as const
export type RecordType = keyof typeof RECORD_BODIES
export type RecordBody<T extends RecordType> = z.infer<(typeof RECORD_BODIES)[T]>
export const RECORD_TYPES = Object.keys(RECORD_BODIES) as RecordType[]

/**
 * Rules that tie a body to its record's author, checked with the body schema (SPEC.md
 * §Verification step 6, ERR_SCHEMA): a record contradicting its own author is malformed.
 * Each returns what is wrong, or undefined.
 */
export const AUTHOR_RULES: Partial<Record<RecordType, (author: string, body: never) => string | undefined>> = {
  invitation: (author: string, body: Invitation) =>
    body.addrs.every(a => a.endsWith(`/p2p/${author}`)) ? undefined : 'every invitation address ends in /p2p/<inviter>',
  'join-request': (author: string, body: JoinRequest) => (body.member.peer === author ? undefined : "a join request's member.peer is its author")
}

/** Fetch stream: the helper's request frame. */
export const FetchRequest = z
  .object({
    v: z.literal(1),
    session: SessionId,
    path: UrlPath
  })
  .strict()
export type FetchRequest = z.infer<typeof FetchRequest>

/** Fetch stream: the struck site's response head; `size` body bytes follow when status is 200. */
export const FetchResponseHead = z
  .object({
    v: z.literal(1),
    status: z.number().int().min(100).max(599),
    headers: z
      .record(z.string().regex(/^[a-z0-9-]{1,64}$/), z.string().max(1024).regex(HEADER_VALUE_RE, 'header values are printable ASCII'))
      .refine(h => Object.keys(h).length <= 16, 'at most 16 headers'),
    size: z.number().int().min(0).max(MAX_OBJECT_BYTES),
    sha256: Sha256Hex.optional()
  })
  .strict()
  // A 200 announces the body's hash; any other status carries no body.
  .refine(h => h.status !== 200 || h.sha256 !== undefined, { message: 'a 200 head carries sha256', path: ['sha256'] })
  .refine(h => h.status === 200 || (h.size === 0 && h.sha256 === undefined), { message: 'a head other than 200 has size 0 and no sha256', path: ['size'] })
export type FetchResponseHead = z.infer<typeof FetchResponseHead>
