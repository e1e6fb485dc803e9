/** Node error catalogue: one class per failure with a stable `code`. */
export class ReefError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ReefError'
    this.code = code
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
  constructor (message: string, location: ConfigErrorLocation = {}) { super('ERR_CONFIG', message); this.name = 'ConfigError'; this.location = location }
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
