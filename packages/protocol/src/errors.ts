/**
 * Protocol errors. Every failure to decode or verify a Reef record is one of these classes;
 * callers and tests match on `code` (stable, listed in SPEC.md), never on message text.
 */
export class ProtocolError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
  }
}

export class EncodingError extends ProtocolError {
  constructor(message: string) {
    super('ERR_ENCODING', message)
    this.name = 'EncodingError'
  }
}

export class OversizeError extends ProtocolError {
  constructor(message: string) {
    super('ERR_OVERSIZE', message)
    this.name = 'OversizeError'
  }
}

export class SchemaError extends ProtocolError {
  constructor(message: string) {
    super('ERR_SCHEMA', message)
    this.name = 'SchemaError'
  }
}

export class UnknownTypeError extends ProtocolError {
  constructor(message: string) {
    super('ERR_UNKNOWN_TYPE', message)
    this.name = 'UnknownTypeError'
  }
}

export class UnknownVersionError extends ProtocolError {
  constructor(message: string) {
    super('ERR_UNKNOWN_VERSION', message)
    this.name = 'UnknownVersionError'
  }
}

export class BadSignatureError extends ProtocolError {
  constructor(message: string) {
    super('ERR_BAD_SIGNATURE', message)
    this.name = 'BadSignatureError'
  }
}

export class WrongDomainError extends ProtocolError {
  constructor(message: string) {
    super('ERR_WRONG_DOMAIN', message)
    this.name = 'WrongDomainError'
  }
}

export class ExpiredError extends ProtocolError {
  constructor(message: string) {
    super('ERR_EXPIRED', message)
    this.name = 'ExpiredError'
  }
}

export class FutureTimestampError extends ProtocolError {
  constructor(message: string) {
    super('ERR_FUTURE_TIMESTAMP', message)
    this.name = 'FutureTimestampError'
  }
}

export class ReplayError extends ProtocolError {
  constructor(message: string) {
    super('ERR_REPLAY', message)
    this.name = 'ReplayError'
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError
}

/** A gossip record on a topic that does not carry its type (or on a topic that is not Reef's). */
export class WrongTopicError extends ProtocolError {
  constructor(message: string) {
    super('ERR_WRONG_TOPIC', message)
    this.name = 'WrongTopicError'
  }
}

/** A gossip record whose `author` is not the gossipsub message's `from`. */
export class WrongAuthorError extends ProtocolError {
  constructor(message: string) {
    super('ERR_WRONG_AUTHOR', message)
    this.name = 'WrongAuthorError'
  }
}

/** Fetch stream: a length prefix that is not a valid varint, an empty body chunk, or a stream that ends inside a frame. */
export class FramingError extends ProtocolError {
  constructor(message: string) {
    super('ERR_FRAMING', message)
    this.name = 'FramingError'
  }
}

/** Fetch stream: a body longer or shorter than its head's `size`, or a `size` other than the manifest entry's. */
export class BodySizeError extends ProtocolError {
  constructor(message: string) {
    super('ERR_BODY_SIZE', message)
    this.name = 'BodySizeError'
  }
}

/** Fetch stream: a body whose SHA-256 is not the head's `sha256` or the manifest entry's. */
export class BodyHashError extends ProtocolError {
  constructor(message: string) {
    super('ERR_BODY_HASH', message)
    this.name = 'BodyHashError'
  }
}

/**
 * How a gossipsub validator answers a record that failed with `code` (SPEC.md §Gossip
 * verdicts): 'ignore' for failures an honest forwarder can cause (its clock differs from ours,
 * or it relayed a copy we hold already), 'reject' for everything else, so that gossipsub
 * penalises the forwarder.
 */
export function gossipVerdictFor(code: string): 'ignore' | 'reject' {
  return code === 'ERR_EXPIRED' || code === 'ERR_FUTURE_TIMESTAMP' || code === 'ERR_REPLAY' ? 'ignore' : 'reject'
}
