/**
 * Protocol identifiers and limits. Every number here is a row of the parameters table in
 * SPEC.md; code that enforces a limit cites the constant by name.
 */

/** Version of the record envelope and of every record type defined here. */
export const PROTOCOL_VERSION = 1

/** libp2p stream protocol through which an accepted helper pulls objects from a struck site. */
export const FETCH_PROTOCOL = '/reef/fetch/1.0.0'

/** Private kad-dht protocol id, so Reef peers never join the public IPFS DHT. */
export const DHT_PROTOCOL = '/reef/kad/1.0.0'

/** Gossipsub topic names for a consortium id. */
export function loadTopic(consortium: string): string {
  return `/reef/${consortium}/load/1`
}
export function helpTopic(consortium: string): string {
  return `/reef/${consortium}/help/1`
}
export function ledgerTopic(consortium: string): string {
  return `/reef/${consortium}/ledger/1`
}
export function govTopic(consortium: string): string {
  return `/reef/${consortium}/gov/1`
}

/** The record types each kind of gossipsub topic carries (SPEC.md §Protocol ids and topics). */
export const TOPIC_RECORD_TYPES: Readonly<Record<'load' | 'help' | 'ledger' | 'gov', readonly string[]>> = Object.freeze({
  load: Object.freeze(['load-report']),
  help: Object.freeze(['help-request', 'help-offer', 'help-accept', 'help-release', 'standby']),
  ledger: Object.freeze(['delegation', 'receipt']),
  gov: Object.freeze(['gov-proposal', 'gov-vote', 'gov-entry'])
})

/** The record types a Reef topic name carries; undefined for a name that is not a Reef topic. */
export function topicRecordTypes(topic: string): readonly string[] | undefined {
  const m = /^\/reef\/([a-z0-9][a-z0-9-]{0,62})\/(load|help|ledger|gov)\/1$/.exec(topic)
  return m === null ? undefined : TOPIC_RECORD_TYPES[m[2] as keyof typeof TOPIC_RECORD_TYPES]
}

/**
 * r4: libp2p stream protocol that carries one signed record to the one member it is for (a
 * help-offer to its beneficiary, a helper's serving report to it), instead of gossiping it to all.
 */
export const RECORD_PROTOCOL = '/reef/record/1.0.0'
/** r4: the record types a node accepts over RECORD_PROTOCOL. */
export const DIRECT_RECORD_TYPES: readonly string[] = ['help-offer', 'load-report']
/**
 * r5: RECORD_PROTOCOL's next version. It carries DIRECT_RECORD_TYPES and `gov-votes`, votes
 * relayed toward a proposal's proposer along the path its proposal came by (SPEC.md §Vote
 * relay). A node of r4 does not speak it, so stream negotiation fails at once and the sender
 * gossips its vote instead.
 */
export const RECORD_PROTOCOL_R5 = '/reef/record/1.1.0'
/** r5: record types that travel only over RECORD_PROTOCOL_R5, never on a topic (gossiped: ERR_WRONG_TOPIC). */
export const DIRECT_ONLY_RECORD_TYPES: readonly string[] = ['gov-votes']
/**
 * r5: a member that sent its vote up the relay path gossips it after this many ms (plus up to
 * VOTE_RELAY_FALLBACK_JITTER_MS) if the entry has not come by then: a relay that died or
 * dropped it costs the vote a few seconds, never the proposal.
 */
export const VOTE_RELAY_FALLBACK_MS = 8_000
export const VOTE_RELAY_FALLBACK_JITTER_MS = 4_000
/** r5: a relay holds votes from below this long so that those arriving together go up as one record, ms. */
export const VOTE_RELAY_BATCH_MS = 50
/** r5: most votes one gov-votes record carries. */
export const MAX_RELAYED_VOTES = 256
/** r4: how long a direct record's sender waits for the stream before it gossips the record instead, ms. */
export const DIRECT_SEND_TIMEOUT_MS = 3_000
/** libp2p stream protocol through which nodes sync the membership log and newcomers ask to join. */
export const GOV_PROTOCOL = '/reef/gov/1.0.0'
/** Most log entries one sync response carries; a longer log is fetched in several rounds. */
export const MAX_SYNC_ENTRIES = 512
/** Most evidence items one proposal carries. */
export const MAX_EVIDENCE_ITEMS = 8
/** Most addresses an invitation lists. */
export const MAX_INVITATION_ADDRS = 8
/** Response header in which a helper attaches its attestation to a mirrored response. */
export const ATTESTATION_HEADER = 'reef-attestation'

/** Largest signed record accepted from the network, in bytes (after canonical encoding). */
export const MAX_RECORD_BYTES = 256 * 1024
/** Largest manifest: number of hot objects a help request may list. */
export const MAX_MANIFEST_ENTRIES = 512
/** Largest number of helpers a help-accept may name. */
export const MAX_HELPERS = 64
/** Most standbys one member names (warm standby; the charter's standbyReplicas is at most this). */
export const MAX_STANDBYS = 8
/** How often a member re-publishes its standby record in calm times (also when its hot set or standbys change). */
export const STANDBY_REFRESH_MS = 60_000
/** Largest frame on the fetch stream (request and response head), in bytes. */
export const MAX_FETCH_FRAME_BYTES = 16 * 1024
/** Largest body chunk on the fetch stream: each chunk is one length-prefixed frame of 1 to this many bytes. */
export const FETCH_CHUNK_BYTES = 64 * 1024
/** Largest object body that may cross the fetch stream, in bytes. */
export const MAX_OBJECT_BYTES = 16 * 1024 * 1024
/** Largest bytes/s figure a record may carry (1 TB/s). */
export const MAX_BYTES_PER_SEC = 1_000_000_000_000
/**
 * A beneficiary never redirects a client to a helper it has not heard from (a record, or an
 * answer of its mirror) within this many ms; a helper serving a session reports at least every
 * SERVING_REPORT_INTERVAL_MS so that it is heard.
 */
export const HELPER_SILENCE_MS = 500
/**
 * r4 (calm cadence): the load reports the whole consortium sends per second in calm times, at
 * most. A calm member that has nothing new to say reports every members ÷ this seconds (never
 * more often than its configured interval, never less often than MAX_CALM_REPORT_INTERVAL_MS),
 * so each member's gossip cost stays flat as the consortium grows.
 */
export const CALM_REPORTS_PER_SEC = 1
/** r4: gossipsub mesh degree (target, low and high water marks; the library's are 6, 4, 12). */
export const GOSSIP_D = 4
export const GOSSIP_D_LOW = 3
export const GOSSIP_D_HIGH = 8
/**
 * r4 (offer hold-back, SPEC.md §help-offer): a member offers at once when fewer than
 * OFFER_AT_ONCE_MIN of the members its load view shows with spare capacity rank before it for
 * the session (offerRankKey), or when those before it can spare less than OFFER_COVER_FACTOR ×
 * the need between them. Otherwise it holds its offer back OFFER_HOLDBACK_MS plus up to
 * OFFER_HOLDBACK_JITTER_MS, and then offers only if the beneficiary's latest help-accept does not
 * cover the need. Fifty members offering at once to a struck site of a hundred-member consortium
 * delayed its first accept by seconds (pnpm bench scale).
 */
export const OFFER_AT_ONCE_MIN = 4
export const OFFER_COVER_FACTOR = 3
export const OFFER_HOLDBACK_MS = 1_000
export const OFFER_HOLDBACK_JITTER_MS = 500
/** r4: the longest a member stays silent in calm times, in ms. */
export const MAX_CALM_REPORT_INTERVAL_MS = 120_000
/** r4: a receiver keeps a report this many times its `nextReportMs` (at least its own expiry). */
export const REPORT_EXPIRY_FACTOR = 3
/** r4: a report whose state changed, or whose spare bytes/s moved by more than this share, goes out at once. */
export const REPORT_CHANGE_SHARE = 0.25
/** Load report interval of a node while it serves a help session (at most), in ms. */
export const SERVING_REPORT_INTERVAL_MS = 200
/** Path on every mirror host that answers 204 while the mirror runs (liveness probes). */
export const MIRROR_ALIVE_PATH = '/.well-known/reef/alive'
/**
 * r6: `GET MIRROR_ALIVE_PATH?pulse=MS` asks the mirror for a pulse: a `200` whose body is one byte
 * every MS (MIRROR_PULSE_MIN_MS–MIRROR_PULSE_MAX_MS) for MIRROR_PULSE_DURATION_MS. A mirror with
 * MIRROR_PULSE_MAX_STREAMS open answers `204` instead, as does an r5 one.
 */
export const MIRROR_PULSE_MIN_MS = 10
export const MIRROR_PULSE_MAX_MS = 1_000
export const MIRROR_PULSE_DURATION_MS = 30_000
export const MIRROR_PULSE_MAX_STREAMS = 64

/** Largest URL path (with query) in a manifest entry or fetch request, in characters. */
export const MAX_PATH_CHARS = 2048

/** How old a record may be when it arrives, per record type, in milliseconds. */
export const MAX_RECORD_AGE_MS: Readonly<Record<string, number>> = Object.freeze({
  'load-report': 15_000,
  'help-request': 60_000,
  'help-offer': 30_000,
  'help-accept': 60_000,
  'help-release': 60_000,
  // Re-published every STANDBY_REFRESH_MS while it holds.
  standby: 180_000,
  delegation: 300_000,
  receipt: 300_000,
  // Attestations live as long as a cached copy may; invitations also carry their own expiresAt.
  attestation: 30 * 86_400_000,
  invitation: 30 * 86_400_000,
  'gov-proposal': 60_000,
  'gov-vote': 60_000,
  'gov-votes': 60_000,
  'gov-entry': 300_000,
  'join-request': 300_000
})
/** How far in the future a record's timestamp may be (clock skew allowance), in milliseconds. */
export const MAX_CLOCK_SKEW_MS = 30_000

/** Domain-separation prefix signed before every record of the given type. */
export function signingDomain(type: string): string {
  return `/reef/record/${type}/1`
}
