/** Node error catalogue: one class per failure with a stable `code`. */
export class ReefError extends Error {
  readonly code: string
  /** What the operator can do about it, when the failure knows better than its code. */
  readonly hint: string | undefined
  constructor (code: string, message: string, options?: ErrorOptions & { hint?: string }) {
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
  constructor (message: string, location: ConfigErrorLocation & { hint?: string } = {}) {
    const { hint, ...where } = location
    super('ERR_CONFIG', message, hint === undefined ? {} : { hint })
    this.name = 'ConfigError'
    this.location = where
  }
}

export class OriginUnavailableError extends ReefError {
  constructor (message: string, options?: ErrorOptions) { super('ERR_ORIGIN_UNAVAILABLE', message, options); this.name = 'OriginUnavailableError' }
}

export class FetchRefusedError extends ReefError {
  readonly status: number
  constructor (status: number, message: string) { super('ERR_FETCH_REFUSED', message); this.name = 'FetchRefusedError'; this.status = status }
}

export class IntegrityError extends ReefError {
  constructor (message: string) { super('ERR_INTEGRITY', message); this.name = 'IntegrityError' }
}

export class TooLargeError extends ReefError {
  constructor (message: string) { super('ERR_TOO_LARGE', message); this.name = 'TooLargeError' }
}

/** A command line that cannot be run as given (unknown command or option, missing value). */
export class UsageError extends ReefError {
  /** The command whose usage applies, if known. */
  readonly command: string | undefined
  constructor (message: string, options: { command?: string, hint?: string } = {}) {
    super('ERR_USAGE', message, options.hint === undefined ? {} : { hint: options.hint })
    this.name = 'UsageError'
    this.command = options.command
  }
}

/** `reef init` would overwrite a config file; it only does with --force. */
export class ConfigExistsError extends ReefError {
  constructor (message: string, options: { hint?: string } = {}) { super('ERR_CONFIG_EXISTS', message, options); this.name = 'ConfigExistsError' }
}

/** Nothing answers at a node's admin API (not running, or admin.listen elsewhere). */
export class AdminUnreachableError extends ReefError {
  constructor (message: string, options: ErrorOptions & { hint?: string } = {}) { super('ERR_ADMIN_UNREACHABLE', message, options); this.name = 'AdminUnreachableError' }
}

/** The admin API answered, but not with what a Reef node answers. */
export class AdminResponseError extends ReefError {
  readonly status: number
  constructor (status: number, message: string, options: { hint?: string } = {}) { super('ERR_ADMIN_STATUS', message, options); this.name = 'AdminResponseError'; this.status = status }
}

/** A listener could not be opened (port in use, privileged port, address not on this machine). */
export class ListenError extends ReefError {
  /** The config field of the listener: front.listen, mirror.listen, admin.listen or p2p.listen. */
  readonly field: string
  constructor (field: string, message: string, options: ErrorOptions & { hint?: string } = {}) { super('ERR_LISTEN', message, options); this.name = 'ListenError'; this.field = field }
}

/** A non-GET admin request without the operator token, or with a wrong one (HTTP 401). */
export class UnauthorizedError extends ReefError {
  constructor (message: string) { super('ERR_UNAUTHORIZED', message); this.name = 'UnauthorizedError' }
}

/** A non-GET admin request to a node that has no operator token configured (HTTP 403). */
export class NoTokenConfiguredError extends ReefError {
  constructor (message: string) { super('ERR_NO_TOKEN_CONFIGURED', message); this.name = 'NoTokenConfiguredError' }
}
