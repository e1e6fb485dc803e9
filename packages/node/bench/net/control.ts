/**
 * The control channel between the bench and a site process (Node IPC, JSON messages; the
 * channel's fd survives `ip netns exec`, which execs the node process in place).
 *
 *   child → parent   { kind: 'ready', … } once serving, or { kind: 'fatal', message } and exit
 *   parent → child   { kind: 'probe', id, full } → { kind: 'reply', id, value: NodeProbe }
 *                    { kind: 'stop', id }        → { kind: 'reply', id, value: null }, then exit
 *                    { kind: 'stop-origin', id } → the site's origin closes (connections too); { kind: 'reply', id, value: null }
 *                    { kind: 'ledger', id }      → { kind: 'reply', id, value: LedgerProbe }
 *                    { kind: 'memory', id }      → a full GC, then { kind: 'reply', id, value: MemoryProbe }
 *
 * A site process whose channel closes (the bench died) stops by itself.
 */

export type SiteRole = 'origin' | 'nginx' | 'reef' | 'bulk'

/** What a site process is told to run (passed as JSON in its argv). */
export interface SiteSpec {
  role: SiteRole
  label: string
  /** The namespace's address (libp2p listens on it). */
  address: string
  seed: number
  /** Bytes/s the namespace's uplink is shaped to: the site's declared uplink. */
  uplinkBytesPerSec: number
  /** Checkout whose packages/node/src/index.ts provides ReefNode and parseConfig (role reef). */
  reefRoot?: string
  /** libp2p multiaddrs of the sites started before this one (role reef). */
  bootstrap?: string[]
  /** The node's data directory (role reef). */
  dataDir?: string
  /** Warm standby replicas the node names (role reef; undefined: the code's default; ignored by code without standby). */
  standbyReplicas?: number
  /** The node's `standby.uplinkShare` (role reef; undefined: the code's default). */
  standbyUplinkShare?: number
  /** Requests/s the node's mirror offers others (role reef). */
  mirrorCapacityRps?: number
  /** Directory nginx may use (role nginx). */
  workDir?: string
}

export interface ReadyMessage {
  kind: 'ready'
  pid: number
  /** The demo origin's public pages, most popular first. */
  pages: string[]
  /** libp2p addresses (role reef). */
  multiaddrs: string[]
  /** Whether the loaded Reef code knew the `uplink` config section (role reef). */
  uplinkSection?: boolean
}

export interface FatalMessage {
  kind: 'fatal'
  message: string
}

export interface ReplyMessage {
  kind: 'reply'
  id: number
  value: unknown
  error?: string
}

export type ChildMessage = ReadyMessage | FatalMessage | ReplyMessage

export type ParentMessage =
  | { kind: 'probe'; id: number; full: boolean }
  | { kind: 'stop'; id: number }
  | { kind: 'stop-origin'; id: number }
  | { kind: 'ledger'; id: number }
  | { kind: 'memory'; id: number }

/** A site process's memory right after a full garbage collection (steadier than RSS at a random moment). */
export interface MemoryProbe {
  rssBytes: number
  heapUsedBytes: number
  externalBytes: number
  /** Bytes in the node's content cache (absent from older nodes). */
  cacheBytes?: number
}

/** One member's totals as a ledger holds them. */
export interface ProbedTotals {
  given: number
  taken: number
  givenRequests: number
  takenRequests: number
}

/** A Reef node's ledger: what it stores and what its records rebuild to (peer id → totals). */
export interface LedgerProbe {
  peerId?: string
  stored?: Record<string, ProbedTotals>
  rebuilt?: Record<string, ProbedTotals>
  records?: number
  error?: string
}

/** A Reef node's state as the bench reads it; every field optional (older or newer code). */
export interface NodeProbe {
  state?: string
  shedding?: boolean
  /** Epoch ms of the node's first redirect. */
  firstShedAt?: number
  /** Entries in status().peers. */
  peers?: number
  /** The front's 503s since start, by why (`LoadMonitor.refusedBy`; absent from older nodes). */
  refusedBy?: Record<string, number>
  /** Visitors that waited for help at a crowd's onset, by how it ended (`LoadMonitor.helpWaits`). */
  helpWaits?: Record<string, number>
  /** What the node's mirror filled, by where from (`MirrorFill.counts`; absent from older nodes). */
  fills?: Record<string, number>
  /** node.status(), when asked for in full. */
  status?: Record<string, unknown>
  error?: string
}
