/**
 * Node error catalogue: one class per failure with a stable `code`. The HTTP layer maps codes
 * to statuses in one place (`httpStatusFor`).
 */
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

export class OverloadedError extends ReefError {
  constructor (message: string) { super('ERR_OVERLOADED', message); this.name = 'OverloadedError' }
}

export class NotCacheableError extends ReefError {
  constructor (message: string) { super('ERR_NOT_CACHEABLE', message); this.name = 'NotCacheableError' }
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

const STATUS: Record<string, number> = {
  ERR_ORIGIN_UNAVAILABLE: 502,
  ERR_OVERLOADED: 503,
  ERR_NOT_CACHEABLE: 502,
  ERR_FETCH_REFUSED: 502,
  ERR_INTEGRITY: 502,
  ERR_TOO_LARGE: 413
}

export function httpStatusFor (err: unknown): number {
  if (err instanceof ReefError) return STATUS[err.code] ?? 500
  return 500
}
