/**
 * Bodies of Reef records. Each record type has a zod schema with size limits; SPEC.md
 * describes each field and its unit. Bodies are parsed leniently (unknown fields are ignored,
 * for forward compatibility within a protocol version) but the signature always covers the
 * whole body as received.
 */
import { z } from 'zod'
import { MAX_HELPERS, MAX_MANIFEST_ENTRIES, MAX_OBJECT_BYTES, MAX_PATH_CHARS } from './constants.ts'

/** A site label: one DNS label, used as the sub-domain of a mirror host. */
export const SITE_LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
export const SiteLabel = z.string().regex(SITE_LABEL_RE, 'a site label is one lower-case DNS label (a-z, 0-9, -)')

/** An absolute http(s) URL with no credentials, query or fragment: a base under which paths are appended. */
export const BaseUrl = z.string().max(512).refine(s => {
  try {
    const u = new URL(s)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' &&
      u.search === '' && u.hash === '' && (u.pathname === '/' || u.pathname === '')
  } catch { return false }
}, 'must be an http(s) origin URL without path, credentials, query or fragment')

/** A request target: absolute path with optional query, no fragment, printable ASCII only. */
export const UrlPath = z.string().min(1).max(MAX_PATH_CHARS).regex(/^\/[\x21-\x7e]*$/, 'a path starts with / and holds printable ASCII only')
  .refine(p => !p.includes('#') && !p.startsWith('//'), 'a path has no fragment and does not start with //')

export const PeerIdString = z.string().min(40).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a peer id is base58btc')

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest is 64 lower-case hex digits')

const Rps = z.number().int().min(0).max(10_000_000)

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
  helping: z.array(z.object({ site: SiteLabel, rps: Rps })).max(MAX_HELPERS)
})
export type LoadReport = z.infer<typeof LoadReport>

export const ManifestEntry = z.object({
  path: UrlPath,
  size: z.number().int().min(0).max(MAX_OBJECT_BYTES),
  type: z.string().max(256),
  sha256: Sha256Hex
})
export type ManifestEntry = z.infer<typeof ManifestEntry>

export const SessionId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'a session id is 8-64 url-safe characters')

export const HelpRequest = z.object({
  session: SessionId,
  site: SiteLabel,
  siteUrl: BaseUrl,
  neededRps: Rps,
  manifest: z.array(ManifestEntry).max(MAX_MANIFEST_ENTRIES)
})
export type HelpRequest = z.infer<typeof HelpRequest>

export const HelpOffer = z.object({
  session: SessionId,
  to: PeerIdString,
  offeredRps: Rps,
  mirrorUrl: BaseUrl
})
export type HelpOffer = z.infer<typeof HelpOffer>

export const HelpAccept = z.object({
  session: SessionId,
  helpers: z.array(z.object({ peer: PeerIdString, weightRps: Rps, mirrorUrl: BaseUrl })).max(MAX_HELPERS)
})
export type HelpAccept = z.infer<typeof HelpAccept>

export const HelpRelease = z.object({
  session: SessionId,
  reason: z.enum(['crowd-over', 'shutdown', 'replaced'])
})
export type HelpRelease = z.infer<typeof HelpRelease>

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

/** Record types and their body schemas. */
export const RECORD_BODIES = {
  'load-report': LoadReport,
  'help-request': HelpRequest,
  'help-offer': HelpOffer,
  'help-accept': HelpAccept,
  'help-release': HelpRelease,
  delegation: Delegation,
  receipt: Receipt
} as const
export type RecordType = keyof typeof RECORD_BODIES
export type RecordBody<T extends RecordType> = z.infer<(typeof RECORD_BODIES)[T]>
export const RECORD_TYPES = Object.keys(RECORD_BODIES) as RecordType[]

/** Fetch stream: the helper's request frame. */
export const FetchRequest = z.object({
  v: z.literal(1),
  session: SessionId,
  path: UrlPath
}).strict()
export type FetchRequest = z.infer<typeof FetchRequest>

/** Fetch stream: the struck site's response head; `size` body bytes follow when status is 200. */
export const FetchResponseHead = z.object({
  v: z.literal(1),
  status: z.number().int().min(100).max(599),
  headers: z.record(z.string().regex(/^[a-z0-9-]{1,64}$/), z.string().max(1024).regex(/^[\t\x20-\x7e]*$/, 'header values are printable ASCII')).refine(h => Object.keys(h).length <= 16, 'at most 16 headers'),
  size: z.number().int().min(0).max(MAX_OBJECT_BYTES),
  sha256: Sha256Hex.optional()
}).strict()
export type FetchResponseHead = z.infer<typeof FetchResponseHead>
