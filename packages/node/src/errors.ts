/**
 * The node's error catalogue: one class per failure, each with a stable `code` (tests and
 * scripts check the code, never the message), and one table, `ERRORS`, that gives every code
 * the HTTP status the admin API answers it with (fastify's `lib/errors.js` idea). Admin routes
 * map an error to a status through `httpStatusOf` only.
 *
 * Codes a node passes on from elsewhere keep their own: the protocol's (`@reef/protocol`, SPEC.md
 * §Error codes) and the governance rules' (`GovernanceError`, SPEC.md §Governance error codes):
 * a rule refusing what the operator asked for is a conflict with the consortium's state (409).
 */

/** Every code this package throws or answers with, and the admin API's status for it. */
export const ERRORS = {
  ERR_CONFIG: { status: 500, meaning: 'the configuration (or a file it names) is invalid' },
  ERR_JSONC_SYNTAX: { status: 500, meaning: 'a JSONC file does not parse (line and column given)' },
  ERR_CONFIG_EXISTS: { status: 500, meaning: '`reef init` would overwrite a config file without --force' },
  ERR_USAGE: { status: 400, meaning: 'a command line that cannot be run as given' },
  ERR_LISTEN: { status: 500, meaning: 'a listener could not be opened' },
  ERR_ORIGIN_UNAVAILABLE: { status: 503, meaning: 'the origin did not answer (the front answers 503, or 504 on a time-out, with Retry-After)' },
  ERR_FETCH_REFUSED: { status: 502, meaning: 'a peer refused a fetch stream request' },
  ERR_INTEGRITY: { status: 502, meaning: 'a body does not match its manifest hash' },
  ERR_TOO_LARGE: { status: 413, meaning: 'a body is over its size limit' },
  ERR_FETCH_INTERRUPTED: { status: 502, meaning: 'a fetch stream was cut (reset, or its connection closed) before the body ended' },
  ERR_ADMIN_UNREACHABLE: { status: 502, meaning: "nothing answers at a node's admin API" },
  ERR_ADMIN_STATUS: { status: 502, meaning: 'the admin API answered, but not as a Reef node does' },
  ERR_BAD_REQUEST: { status: 400, meaning: "an admin request's body, parameters or query are invalid" },
  ERR_BAD_PEER: { status: 400, meaning: 'a peer id in an admin route is not a base58btc peer id' },
  ERR_UNAUTHORIZED: { status: 401, meaning: 'a non-GET admin request without the operator token, or a wrong one' },
  ERR_NO_TOKEN_CONFIGURED: { status: 403, meaning: 'a non-GET admin request to a node with no operator token' },
  ERR_NO_SUCH_PROPOSAL: { status: 404, meaning: 'no pending proposal with that id' },
  ERR_GOVERNANCE_OFF: { status: 409, meaning: 'the node runs an open consortium (no governance section)' },
  ERR_NOT_MEMBER: { status: 409, meaning: 'only a member can do that' },
  ERR_ALREADY_VOTED: { status: 409, meaning: 'this node already signed another entry at that height' },
  ERR_OVERSIZE: { status: 409, meaning: 'a proposal with its evidence is too large to gossip' },
  ERR_NO_ADDRESS: { status: 409, meaning: 'the node has no listen address to put in an invitation' },
  ERR_WRONG_CHARTER: { status: 409, meaning: 'a peer holds another charter' },
  ERR_PROTOCOL: { status: 409, meaning: 'a peer answered a governance stream out of turn' },
  ERR_STORAGE_UNWRITABLE: {
    status: 503,
    meaning: "a store (the ledger's or the governance log's LevelDB) refuses writes: its volume is full or failing; it writes again once space returns"
  },
  ERR_INTERNAL: { status: 500, meaning: 'a failure without a code of its own' }
} as const satisfies Record<string, { status: number; meaning: string }>

export type ErrorCode = keyof typeof ERRORS

/**
 * The admin API's status for an error: its code's in `ERRORS`; a code from the governance rules
 * or a peer's refusal (`ERR_…` not in the table) is a conflict, 409; anything else is 500.
 */
export function httpStatusOf(err: unknown): number {
  const code = codeOf(err)
  if (Object.hasOwn(ERRORS, code)) return ERRORS[code as ErrorCode].status
  return code.startsWith('ERR_') ? 409 : 500
}

/** An error's stable code, `ERR_INTERNAL` when it has none. */
export function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'ERR_INTERNAL'
}

/** The body every admin error answers with. */
export function errorBody(err: unknown): { code: string; message: string } {
  return { code: codeOf(err), message: err instanceof Error ? err.message : String(err) }
}

export class ReefError extends Error {
  readonly code: string
  /** What the operator can do about it, when the failure knows better than its code. */
  readonly hint: string | undefined
  constructor(code: ErrorCode | (string & {}), message: string, options?: ErrorOptions & { hint?: string }) {
    super(message, options)
    this.name = 'ReefError'
    this.code = code
    this.hint = options?.hint
  }
}

/** Where in the configuration a ConfigError is: the field, or the line and column of a syntax error. */
export interface ConfigErrorLocation {
  file?: string
  field?: string
  line?: number
  column?: number
}

export class ConfigError extends ReefError {
  readonly location: ConfigErrorLocation
  constructor(message: string, location: ConfigErrorLocation & { hint?: string } = {}) {
    const { hint, ...where } = location
    super('ERR_CONFIG', message, hint === undefined ? {} : { hint })
    this.name = 'ConfigError'
    this.location = where
  }
}

export class OriginUnavailableError extends ReefError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_ORIGIN_UNAVAILABLE', message, options)
    this.name = 'OriginUnavailableError'
  }
}

export class FetchRefusedError extends ReefError {
  readonly status: number
  constructor(status: number, message: string) {
    super('ERR_FETCH_REFUSED', message)
    this.name = 'FetchRefusedError'
    this.status = status
  }
}

export class IntegrityError extends ReefError {
  constructor(message: string) {
    super('ERR_INTEGRITY', message)
    this.name = 'IntegrityError'
  }
}

/** A fetch stream cut under the reader (reset, or its connection closed): a failed transfer, not a bad body. */
export class FetchInterruptedError extends ReefError {
  constructor(message: string) {
    super('ERR_FETCH_INTERRUPTED', message)
    this.name = 'FetchInterruptedError'
  }
}

export class TooLargeError extends ReefError {
  constructor(message: string) {
    super('ERR_TOO_LARGE', message)
    this.name = 'TooLargeError'
  }
}

/** A command line that cannot be run as given (unknown command or option, missing value). */
export class UsageError extends ReefError {
  /** The command whose usage applies, if known. */
  readonly command: string | undefined
  constructor(message: string, options: { command?: string; hint?: string } = {}) {
    super('ERR_USAGE', message, options.hint === undefined ? {} : { hint: options.hint })
    this.name = 'UsageError'
    this.command = options.command
  }
}

/** `reef init` would overwrite a config file; it only does with --force. */
export class ConfigExistsError extends ReefError {
  constructor(message: string, options: { hint?: string } = {}) {
    super('ERR_CONFIG_EXISTS', message, options)
    this.name = 'ConfigExistsError'
  }
}

/** Nothing answers at a node's admin API (not running, or admin.listen elsewhere). */
export class AdminUnreachableError extends ReefError {
  constructor(message: string, options: ErrorOptions & { hint?: string } = {}) {
    super('ERR_ADMIN_UNREACHABLE', message, options)
    this.name = 'AdminUnreachableError'
  }
}

/** The admin API answered, but not with what a Reef node answers. */
export class AdminResponseError extends ReefError {
  readonly status: number
  constructor(status: number, message: string, options: { hint?: string } = {}) {
    super('ERR_ADMIN_STATUS', message, options)
    this.name = 'AdminResponseError'
    this.status = status
  }
}

/** A listener could not be opened (port in use, privileged port, address not on this machine). */
export class ListenError extends ReefError {
  /** The config field of the listener: front.listen, mirror.listen, admin.listen or p2p.listen. */
  readonly field: string
  constructor(field: string, message: string, options: ErrorOptions & { hint?: string } = {}) {
    super('ERR_LISTEN', message, options)
    this.name = 'ListenError'
    this.field = field
  }
}

/** A non-GET admin request without the operator token, or with a wrong one (HTTP 401). */
export class UnauthorizedError extends ReefError {
  constructor(message: string) {
    super('ERR_UNAUTHORIZED', message)
    this.name = 'UnauthorizedError'
  }
}

/** A non-GET admin request to a node that has no operator token configured (HTTP 403). */
export class NoTokenConfiguredError extends ReefError {
  constructor(message: string) {
    super('ERR_NO_TOKEN_CONFIGURED', message)
    this.name = 'NoTokenConfiguredError'
  }
}

/** An admin request whose body, parameters or query are invalid (HTTP 400). */
export class BadRequestError extends ReefError {
  constructor(message: string) {
    super('ERR_BAD_REQUEST', message)
    this.name = 'BadRequestError'
  }
}

/** A peer id in an admin route that is not a base58btc peer id (HTTP 400). */
export class BadPeerError extends ReefError {
  constructor(message = 'peer must be a base58btc peer id') {
    super('ERR_BAD_PEER', message)
    this.name = 'BadPeerError'
  }
}

/** A governance admin request to a node that runs an open consortium (HTTP 409). */
export class GovernanceOffError extends ReefError {
  constructor(message = 'this node runs an open consortium (no governance section in its config)') {
    super('ERR_GOVERNANCE_OFF', message)
    this.name = 'GovernanceOffError'
  }
}

/** Something only a member may do, asked of a node that is not one (HTTP 409). */
export class NotMemberError extends ReefError {
  constructor(message: string) {
    super('ERR_NOT_MEMBER', message)
    this.name = 'NotMemberError'
  }
}

/** A vote on a proposal this node does not hold (HTTP 404). */
export class NoSuchProposalError extends ReefError {
  constructor(message: string) {
    super('ERR_NO_SUCH_PROPOSAL', message)
    this.name = 'NoSuchProposalError'
  }
}

/**
 * A LevelDB store refuses writes after one failed (full disk, I/O error): nothing more is
 * written until it has been reopened on a volume with room again (storage/durable-level.ts).
 */
export class StorageUnwritableError extends ReefError {
  /** Which store: `ledger` or `governance`. */
  readonly store: string
  constructor(store: string, message: string, options?: ErrorOptions) {
    super('ERR_STORAGE_UNWRITABLE', message, {
      ...options,
      hint: 'free space on the volume that holds dataDir: the node writes again by itself once there is room'
    })
    this.name = 'StorageUnwritableError'
    this.store = store
  }
}
