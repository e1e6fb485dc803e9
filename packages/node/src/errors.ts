/** Node error catalogue: one class per failure with a stable `code`. */
export class ReefError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ReefError'
    this.code = code
  }
}

export class ConfigError extends ReefError {
  constructor (message: string) { super('ERR_CONFIG', message); this.name = 'ConfigError' }
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

/** A non-GET admin request without the operator token, or with a wrong one (HTTP 401). */
export class UnauthorizedError extends ReefError {
  constructor (message: string) { super('ERR_UNAUTHORIZED', message); this.name = 'UnauthorizedError' }
}

/** A non-GET admin request to a node that has no operator token configured (HTTP 403). */
export class NoTokenConfiguredError extends ReefError {
  constructor (message: string) { super('ERR_NO_TOKEN_CONFIGURED', message); this.name = 'NoTokenConfiguredError' }
}
