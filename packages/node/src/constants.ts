/**
 * The node's tunables that are not configuration: numbers an operator should not need to touch,
 * each with its unit in its name and the reason for its value. What an operator may tune lives
 * in the config schema (config/config.ts) with its default; what peers must agree on lives in
 * @reef/protocol's constants.ts and SPEC.md's parameters table. Code cites these by name.
 */

// --- Control loop (load/control-loop.ts) ---------------------------------------------------

/** Bytes per object assumed before the site has served any (r2 offers, external mirror weight). */
export const DEFAULT_MEAN_OBJECT_BYTES = 50_000
/** The window every "now" rate is measured over, in ms. */
export const RATE_WINDOW_MS = 1_000
/** The window the request demand is measured over, in ms (shorter: a crowd's onset shows sooner). */
export const REQUEST_DEMAND_WINDOW_MS = 500
/** The uplink is backing up when the process held more than this many seconds of it unsent for a whole second. */
export const BACKLOG_SECONDS = 0.25
/** How long a visitor the site cannot take waits for a tick in progress before its strike (ms). */
export const STRIKE_WAIT_MS = 200
/** Standby transfers run only while the uplink sends less than this share of its target. */
export const STANDBY_CALM_SHARE = 0.5
/** Most of the uplink target a struck site holds back for what its helpers fetch from it. */
export const HELPER_FETCH_SHARE = 0.6
/** Share of the uplink target held back for helpers' fetches until they have fetched the hot set once. */
export const WARMING_SHARE = 0.85
/** The site keeps no new page load while its uplink needs longer than this to send what waits, in s. */
export const LOCAL_QUEUE_SECONDS = 0.5
/** A helper gets no new page loads while its reported queue takes longer than this to send, in s. */
export const HELPER_QUEUE_SECONDS = 1
/** How often the accepted helpers' health is checked (and their mirrors probed when due), in ms. */
export const HEALTH_TICK_MS = 25
/** How often helper health forgets peers that are neither live nor accepted, in ms. */
export const HEALTH_PRUNE_MS = 5_000
/** The most of the kept arrivals the micro-cache is counted as answering (the origin target's divisor stays ≥ 5 %). */
export const MAX_MICRO_CACHE_SHARE = 0.95
/** How much more than the need the external mirror is weighted for (the helpers' acceptance factor). */
export const EXTERNAL_MIRROR_COVER = 1.25
/** How often the relief state is logged at debug level while not normal, in ms. */
export const RELIEF_LOG_INTERVAL_MS = 1_000
/** Relief-rung changes kept in memory. */
export const RELIEF_HISTORY_MAX = 1_000
/** A load report is due this much before its interval ends (timer jitter), in ms. */
export const REPORT_EARLY_MS = 20
/** Sites listed in a load report's `helping`. */
export const MAX_REPORTED_HELPING = 64

// --- Governance (governance/accuser.ts) ----------------------------------------------------

/** How often ledger evidence and freeloading are scanned for accusations, at most, in ms. */
export const EVIDENCE_SCAN_MS = 2_000
/** An accusation that expired without a quorum is made again after this long, in ms. */
export const ACCUSE_AGAIN_MS = 60_000
/** Ledger evidence items read per scan. */
export const EVIDENCE_SCAN_ITEMS = 50
/** Signed records attached to one ledger accusation (a proposal must fit one gossip record). */
export const EVIDENCE_RECORDS_MAX = 4
/** The audit interval before a charter sets one, in ms. */
export const DEFAULT_AUDIT_INTERVAL_MS = 60_000

// --- Storage (storage/) ---------------------------------------------------------------------

/** Free bytes on a store's volume before a store that failed a write is reopened (LevelDB's reopen writes a table of up to its 4 MiB write buffer). */
export const STORAGE_RECOVER_FREE_BYTES = 8 * 1024 * 1024
/** How often a store that refuses writes looks for free space again, in ms. */
export const STORAGE_RECOVER_INTERVAL_MS = 2_000
/** How often a store samples its volume's free space, in ms. */
export const STORAGE_FREE_SAMPLE_MS = 10_000
/** Ledger records held in memory while the ledger cannot write (the oldest go first past it). */
export const LEDGER_BACKLOG_MAX = 10_000

// --- Admin API (http/admin/) ---------------------------------------------------------------

/** Items of each history the status view lists: crowd states, relief rungs, help events. */
export const STATUS_STATE_HISTORY = 50
export const STATUS_RELIEF_HISTORY = 100
export const STATUS_HELP_EVENTS = 100
/** Items the governance view lists: log entries, audits, events. */
export const GOVERNANCE_VIEW_LOG = 100
export const GOVERNANCE_VIEW_AUDITS = 20
export const GOVERNANCE_VIEW_EVENTS = 50
/** Ledger records `GET /api/ledger/:peer/records` returns by default, and at most. */
export const LEDGER_RECORDS_DEFAULT = 1_000
export const LEDGER_RECORDS_MAX = 10_000
// (The admin API's input limits — evidence per proposal, invitation lifetimes — are part of its
// contract: @reef/protocol admin-api.ts.)

// --- HTTP ------------------------------------------------------------------------------------

/** The longest an upgrade tunnel waits to connect to the origin, in ms (less when origin.timeoutMs is). */
export const UPGRADE_CONNECT_TIMEOUT_MS = 10_000
