/**
 * Protocol errors. Every failure to decode or verify a Reef record is one of these classes;
 * callers and tests match on `code` (stable, listed in SPEC.md), never on message text.
 */
export class ProtocolError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
  }
}

export class EncodingError extends ProtocolError {
  constructor (message: string) { super('ERR_ENCODING', message); this.name = 'EncodingError' }
}

export class OversizeError extends ProtocolError {
  constructor (message: string) { super('ERR_OVERSIZE', message); this.name = 'OversizeError' }
}

export class SchemaError extends ProtocolError {
  constructor (message: string) { super('ERR_SCHEMA', message); this.name = 'SchemaError' }
}

export class UnknownTypeError extends ProtocolError {
  constructor (message: string) { super('ERR_UNKNOWN_TYPE', message); this.name = 'UnknownTypeError' }
}

export class UnknownVersionError extends ProtocolError {
  constructor (message: string) { super('ERR_UNKNOWN_VERSION', message); this.name = 'UnknownVersionError' }
}

export class BadSignatureError extends ProtocolError {
  constructor (message: string) { super('ERR_BAD_SIGNATURE', message); this.name = 'BadSignatureError' }
}

export class WrongDomainError extends ProtocolError {
  constructor (message: string) { super('ERR_WRONG_DOMAIN', message); this.name = 'WrongDomainError' }
}

export class ExpiredError extends ProtocolError {
  constructor (message: string) { super('ERR_EXPIRED', message); this.name = 'ExpiredError' }
}

export class FutureTimestampError extends ProtocolError {
  constructor (message: string) { super('ERR_FUTURE_TIMESTAMP', message); this.name = 'FutureTimestampError' }
}

export class ReplayError extends ProtocolError {
  constructor (message: string) { super('ERR_REPLAY', message); this.name = 'ReplayError' }
}

export function isProtocolError (err: unknown): err is ProtocolError {
  return err instanceof ProtocolError
}
