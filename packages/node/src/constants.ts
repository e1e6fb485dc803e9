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
/**
 * Most visitors waiting at once for help on its way (`crowd.helpWaitMs`); past it, 503 at once.
 * Each holds one connection, which the `http` limits bound as well.
 */
export const HELP_WAIT_MAX_WAITING = 2_048
/** Standby transfers run only while the uplink sends less than this share of its target. */
export const STANDBY_CALM_SHARE = 0.5
/** Most of the uplink target a struck site holds back for what its helpers fetch from it. */
export const HELPER_FETCH_SHARE = 0.6
/** Share of the uplink target held back for helpers' fetches until they have fetched the hot set once. */
export const WARMING_SHARE = 0.85
/**
 * The warming hold-back ends at the latest after this, or twice the time the hot set takes to
 * cross WARMING_SHARE of the uplink if longer, in ms (control-loop.ts warmingUp).
 */
export const WARMING_MIN_MS = 3_000
/** In a session's first moments helpers have not started fetching yet: held back meanwhile, in ms. */
export const WARMING_IDLE_GRACE_MS = 2_000
/** The site keeps no new page load while its uplink needs longer than this to send what waits, in s. */
export const LOCAL_QUEUE_SECONDS = 0.5
/** A helper gets no new page loads while its reported queue takes longer than this to send, in s. */
export const HELPER_QUEUE_SECONDS = 1
/**
 * Past the helpers' offers (the front's overflow), a new page load goes only to a helper whose
 * latest report shows it sending under this share of its uplink, with under OVERFLOW_QUEUE_SECONDS
 * of it queued: one with room the offers do not show yet (a crowd's onset), never one already
 * near its uplink (saturation, where every visit there would slow down and many time out).
 */
export const OVERFLOW_SENT_SHARE = 0.8
export const OVERFLOW_QUEUE_SECONDS = 0.25
/** How often the accepted helpers' health is checked (and their mirrors probed when due), in ms. */
export const HEALTH_TICK_MS = 25
/** A helper-watch check this long after the previous one follows a stall of this node's event loop: it does not judge silence. */
export const WATCH_STALL_MS = 4 * HEALTH_TICK_MS
/** How often an r3 peer (its load reports carry no `nextReportMs`) reports: the config's default `gossip.reportIntervalMs`, in ms. */
export const LEGACY_REPORT_INTERVAL_MS = 1_000
/** How often helper health forgets peers that are neither live nor accepted, in ms. */
export const HEALTH_PRUNE_MS = 5_000
/** The most of the kept arrivals the micro-cache is counted as answering (the origin target's divisor stays ≥ 5 %). */
export const MAX_MICRO_CACHE_SHARE = 0.95
/** Offers are accepted until they cover this many times the need (the margin over a need measured on lagging rates). */
export const ACCEPT_HEADROOM = 1.25
/** How much more than the need the external mirror is weighted for: the helpers' acceptance factor. */
export const EXTERNAL_MIRROR_COVER = ACCEPT_HEADROOM
/** How often the relief state is logged at debug level while not normal, in ms. */
export const RELIEF_LOG_INTERVAL_MS = 1_000
/** Relief-rung changes kept in memory. */
export const RELIEF_HISTORY_MAX = 1_000
/** A load report is due this much before its interval ends (timer jitter), in ms. */
export const REPORT_EARLY_MS = 20
/** A node reports at its configured interval for this long after its first report (r4 calm cadence: a newcomer is news). */
export const REPORT_WARMUP_MS = 10_000
/** Sites listed in a load report's `helping`. */
export const MAX_REPORTED_HELPING = 64

// --- Shedding (load/shedder.ts) ------------------------------------------------------------

/** The redirect budget's burst, in seconds of its rate. */
export const BUDGET_BURST_S = 0.25
/** Least share of its own sheddable traffic a struck site keeps answering itself. */
export const MIN_KEEP = 0.02
/** How strongly one sample corrects the byte keep-fraction (0..1; damped: rates lag a second). */
export const BYTE_GAIN = 0.35
/** With nothing sent in a sample, the keep-fraction grows by this factor (back to 1 within a few ticks). */
export const KEEP_RECOVERY = 1.25

// --- Help sessions (help/) ------------------------------------------------------------------

/** A struck site re-publishes its help request this often while it needs more than it has, in ms. */
export const HELP_REQUEST_INTERVAL_MS = 2_000
/**
 * A helper counts a co-helper (the owner it fills from) down after this long unheard: it hears
 * the owner's load report once a second (serving reports go to the beneficiary alone), so the
 * beneficiary's 500 ms would call a live owner down between two reports.
 */
export const CO_HELPER_SILENCE_MS = 3_000
/** Objects of a hot set a helper prefetches at once (the owner's share). */
export const PREFETCH_CONCURRENCY = 4
/** A helper releases a session whose beneficiary has been silent (no load report) this long, in ms. */
export const SILENT_BENEFICIARY_MS = 10_000
/** A helper whose mirror cannot be reached is dropped from the session after this long, in ms. */
export const DROP_UNREACHABLE_MS = 1_000
/**
 * A session's first ONSET_MS: the need is measured on rates (over the last second) that lag a
 * crowd's onset, so offers are accepted until they cover ONSET_HEADROOM × it rather than
 * ACCEPT_HEADROOM; helpers accepted then stay (the accept rule keeps current helpers first).
 */
export const ONSET_MS = 2_000
export const ONSET_HEADROOM = 2
/** How long a standby accepted before it offered has to send its offer before it is dropped, in ms. */
export const PROVISIONAL_MS = 2_000
/**
 * A standby's mirror holds a visitor this long for the session of a site it stands by for: the
 * site accepts its ready standbys and redirects at once, and a visitor can arrive before the
 * accept does (a gossip hop).
 */
export const STANDBY_ACCEPT_WAIT_MS = 1_500
/** At most this many visitors wait so at once (beyond, they get the 404 a stranger gets). */
export const MAX_SESSION_WAITERS = 1_024
/**
 * A helper asked for an object by a peer its latest help-accept does not name yet waits this
 * long for a newer accept that names it before it answers 403: accepts reach helpers at
 * different times, and a newly accepted helper asks owners that have not seen its accept.
 * Answered 403, it fetched the object from the struck site again.
 */
export const HELPER_LIST_WAIT_MS = 1_000
/** At most this many such requests wait at once (beyond, 403 at once). */
export const MAX_HELPER_LIST_WAITERS = 256
/** Least time between two lowered offers for one session, in ms. */
export const OFFER_REFIT_MS = 500
/**
 * How long a helper waits on the owner before it asks the struck site itself, in ms: at least
 * this; longer on a slow struck uplink, where the owner's own fetches queue behind the hot set
 * (twice the time the manifest takes to cross WARMING_SHARE of that uplink, at most
 * OWNER_FETCH_TIMEOUT_MAX_MS). Asking the site again then only adds a copy to the queue every
 * fetch waits in: with 1 MB/s uplinks and a fixed 4 s, 4 members sent 2.2–2.4× the hot set over
 * it, 8 members 5.5–5.6× (1.65× and 3.3× with this rule).
 */
export const OWNER_FETCH_TIMEOUT_MS = 4_000
export const OWNER_FETCH_TIMEOUT_MAX_MS = 15_000
/**
 * Helper lists of a session's earlier help-accepts a helper remembers: in a crowd's first seconds
 * helpers are accepted a few at a time, and each new list gives most objects a new owner, while
 * their earlier owners already fetched them (nine members: 1.51× the hot set crossed the struck
 * uplink).
 */
export const EARLIER_HELPER_LISTS = 4
/** Earlier owners a helper asks for an object before the struck site. */
export const EARLIER_OWNERS_ASKED = 2
/**
 * Helpers an object's owner asks for it before the struck site (a standby, the owners before it
 * was accepted, earlier owners): they answer from their cache or 503 at once.
 */
export const HOLDERS_ASKED = 2
/** Most fetch streams a helper keeps open to one peer at a time; the rest wait their turn. */
export const MAX_FETCHES_PER_PEER = 16
/** Most of those a prefetch may take, and only while no visitor's fill is open to the peer. */
export const MAX_PREFETCHES_PER_PEER = 6
/** Least time between two standby records of a site whose standbys did not change (a hot set moves all the time), in ms. */
export const STANDBY_MIN_REPUBLISH_MS = 5_000
/** After a refusal or failure, how long a standby waits before asking the site again, in ms. */
export const STANDBY_BACKOFF_MS = 2_000
/** How often the replica pump looks for work, in ms. */
export const STANDBY_PUMP_MS = 200
/** A replica whose site has not re-published its record for this many refresh periods is dropped. */
export const STANDBY_STALE_REFRESHES = 3

// --- Fetch streams (p2p/fetch-stream.ts) -----------------------------------------------------

/** A whole fetch (request, head, every body frame) must finish within this, in ms. */
export const FETCH_TIMEOUT_MS = 15_000

// --- Ledger (ledger/service.ts) --------------------------------------------------------------

/** How long a struck member's request may go without an offer from a peer with spare capacity, in ms. */
export const OFFER_WINDOW_MS = 3_000
/** Sessions whose offers and requests the ledger tracks for signals (cleared past it). */
export const LEDGER_TRACKED_SESSIONS_MAX = 10_000
/** A beneficiary that was served and signed no delegation within this many settlement rounds (plus the grace) is signalled. */
export const UNSIGNED_AFTER_ROUNDS = 3
export const UNSIGNED_GRACE_MS = 2_000

// --- Governance (governance/service.ts, governance/auditor.ts) -------------------------------

/** A vote waits this long for a concurrent proposal at the same height before it is cast, in ms. */
export const VOTE_SETTLE_MS = 1_000
/** How often a member asks a peer for log entries it lacks, in ms (at least: see LOG_SYNC_SPACING_MS). */
export const LOG_SYNC_INTERVAL_MS = 3_000
/**
 * The periodic sync is a safety net (entries are gossiped; a sync also follows every new
 * connection and every proposal beyond the head), and each one sends the charter — 30 KB at a
 * hundred founders. So the interval grows with the membership: members × this, at least
 * LOG_SYNC_INTERVAL_MS (30 s at 100 members): each member answers one sync per interval on average.
 */
export const LOG_SYNC_SPACING_MS = 300
/** A new connection to a member starts a log sync at most this often, in ms. */
export const ON_CONNECT_SYNC_GAP_MS = 2_000
/** Most sync rounds in a row while the peer's log is ahead (MAX_SYNC_ENTRIES entries each). */
export const MAX_SYNC_ROUNDS = 64
/** How often an open proposal and its votes are re-broadcast in its first REBROADCAST_FAST_MS, in ms; REBROADCAST_SLOWDOWN × that after. */
export const REBROADCAST_MS = 2_000
export const REBROADCAST_FAST_MS = 60_000
export const REBROADCAST_SLOWDOWN = 10
/** The rebroadcast interval is at least members × this, in ms (10 s at 100 members). */
export const REBROADCAST_SPACING_MS = 100
/** A member other than the proposer that assembled an entry publishes it after a random delay in this range, ms, unless a copy came first. */
export const ENTRY_RELAY_DELAY_MS: readonly [number, number] = [500, 2_000]
/** An open proposal without a quorum expires after this, in ms. */
export const PROPOSAL_TTL_MS = 10 * 60_000
/** Room left in a gossip record for a proposal's envelope around its entry and evidence, in bytes. */
export const PROPOSAL_ENVELOPE_BYTES = 1_024
/** One frame of a governance stream (sync, join) must arrive within this, in ms. */
export const FRAME_TIMEOUT_MS = 10_000
/** A governance dial (to an invitation's address, for log sync) gives up after this, in ms. */
export const GOVERNANCE_DIAL_TIMEOUT_MS = 5_000
/** A newcomer not admitted yet sends its join request again after this, in ms. */
export const JOIN_RESEND_MS = 15_000
/** An audit's fetch of a helper's copy gives up after this, in ms. */
export const AUDIT_FETCH_TIMEOUT_MS = 5_000
/** Help sessions the auditor has not seen for this long are forgotten, in ms. */
export const AUDIT_SESSION_EXPIRY_MS = 120_000

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

/** `reef start`'s pass-through (before the node takes the port): a request head within, a whole request within, idle keep-alive, the origin's answer within; in ms. */
export const PASS_THROUGH_HEADERS_TIMEOUT_MS = 10_000
export const PASS_THROUGH_REQUEST_TIMEOUT_MS = 60_000
export const PASS_THROUGH_KEEP_ALIVE_MS = 1_000
export const PASS_THROUGH_ORIGIN_TIMEOUT_MS = 15_000
/** Idle connections to the origin are kept this long, in ms. */
export const ORIGIN_KEEP_ALIVE_MS = 10_000
/** Origin failures are logged at most once per this, with the count since the last line, in ms. */
export const ORIGIN_FAILURE_WARN_MS = 1_000
/** A mirror fill slower than this is logged (debug), in ms. */
export const SLOW_FILL_LOG_MS = 2_000

/** The longest an upgrade tunnel waits to connect to the origin, in ms (less when origin.timeoutMs is). */
export const UPGRADE_CONNECT_TIMEOUT_MS = 10_000
