/**
 * The signed envelope every Reef record travels in.
 *
 *   record  = canonical-json({ payload, sig })
 *   payload = { type, v, author, seq, ts, body }
 *   sig     = base64url(Ed25519-sign(author key, utf8(domain(type)) || 0x00 || canonical-json(payload)))
 *
 * The author is a libp2p peer id of an Ed25519 key, so the public key needed to verify travels
 * inside the id. The domain prefix keeps a signature made for one record type from being
 * replayed as another. Verification order (SPEC.md §Verification): size, encoding, envelope
 * shape, type (and, on gossip, the topic), version, author (on gossip, = the message's `from`)
 * and signature, body schema, freshness, replay.
 */
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import { canonicalBytes, parseCanonical } from './canonical.ts'
import { ed25519Key, verifyEd25519 } from './ed25519.ts'
import { MAX_CLOCK_SKEW_MS, MAX_RECORD_AGE_MS, MAX_RECORD_BYTES, PROTOCOL_VERSION, signingDomain, topicRecordTypes } from './constants.ts'
import {
  BadSignatureError,
  ExpiredError,
  FutureTimestampError,
  OversizeError,
  ReplayError,
  SchemaError,
  UnknownTypeError,
  UnknownVersionError,
  WrongAuthorError,
  WrongDomainError,
  WrongTopicError
} from './errors.ts'
import { AUTHOR_RULES, PeerIdString, RECORD_BODIES } from './messages.ts'
import type { RecordBody, RecordType } from './messages.ts'

const encoder = new TextEncoder()

export interface RecordPayload<T extends RecordType = RecordType> {
  type: T
  v: number
  author: string
  seq: number
  ts: number
  body: RecordBody<T>
}

export interface VerifiedRecord<T extends RecordType = RecordType> extends RecordPayload<T> {
  /** The canonical bytes of the whole record as received (for storage as evidence). */
  bytes: Uint8Array
}

const Envelope = z
  .object({
    payload: z
      .object({
        type: z.string().max(64),
        v: z.number().int(),
        author: PeerIdString,
        seq: z.number().int().min(0),
        ts: z.number().int().min(0),
        body: z.record(z.string(), z.unknown())
      })
      .strict(),
    sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature is 64 bytes, base64url without padding')
  })
  .strict()

/** What is signed: utf8(domain(type)) || 0x00 || canonical(payload). */
export function signingInput(type: string, payload: unknown): Uint8Array {
  const domain = encoder.encode(signingDomain(type))
  const body = canonicalBytes(payload)
  const out = new Uint8Array(domain.length + 1 + body.length)
  out.set(domain, 0)
  out[domain.length] = 0
  out.set(body, domain.length + 1)
  return out
}

function describe(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map(i => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ')
}

export interface SignOptions {
  seq: number
  ts?: number
}

/** Sign a record body with the author's Ed25519 key; returns the record's canonical bytes. */
export async function signRecord<T extends RecordType>(
  key: PrivateKey,
  authorId: string,
  type: T,
  body: RecordBody<T>,
  opts: SignOptions
): Promise<Uint8Array> {
  if (key.type !== 'Ed25519') throw new BadSignatureError('Reef records are signed with Ed25519 keys only')
  const parsed = RECORD_BODIES[type].safeParse(body)
  if (!parsed.success) throw new SchemaError(`${type} body is invalid: ${describe(parsed.error)}`)
  const authorProblem = AUTHOR_RULES[type]?.(authorId, parsed.data as never)
  if (authorProblem !== undefined) throw new SchemaError(`${type} body is invalid: ${authorProblem}`)
  const payload = { type, v: PROTOCOL_VERSION, author: authorId, seq: opts.seq, ts: opts.ts ?? Date.now(), body }
  const sig = await key.sign(signingInput(type, payload))
  const record = canonicalBytes({ payload, sig: Buffer.from(sig).toString('base64url') })
  // Never emit what every receiver must reject.
  if (record.byteLength > MAX_RECORD_BYTES) throw new OversizeError(`${type} record of ${record.byteLength} bytes exceeds the limit of ${MAX_RECORD_BYTES}`)
  return record
}

export interface VerifyOptions {
  /** When set, the record must be of this type (else ERR_WRONG_DOMAIN). */
  expectType?: RecordType
  now?: number
  maxBytes?: number
  /** Replay protection; omit to skip the sequence check (e.g. when re-verifying stored evidence). */
  replay?: ReplayGuard
  /** Skip the freshness check (for stored evidence verified later). */
  ignoreTime?: boolean
  /** The gossipsub topic the record arrived on: its type must be one the topic carries (else ERR_WRONG_TOPIC). */
  topic?: string
  /** The gossipsub message's `from`: it must be the record's author (else ERR_WRONG_AUTHOR). */
  from?: string
}

/** Decode and verify a record. Throws a ProtocolError subclass on any failure. */
export async function verifyRecord<T extends RecordType = RecordType>(
  bytes: Uint8Array,
  opts: VerifyOptions & { expectType?: T } = {}
): Promise<VerifiedRecord<T>> {
  const raw = parseCanonical(bytes, opts.maxBytes ?? MAX_RECORD_BYTES)
  const env = Envelope.safeParse(raw)
  if (!env.success) throw new SchemaError(`record envelope is invalid: ${describe(env.error)}`)
  const { payload, sig } = env.data
  if (!Object.hasOwn(RECORD_BODIES, payload.type)) throw new UnknownTypeError(`unknown record type "${payload.type}"`)
  const type = payload.type as RecordType
  if (opts.expectType !== undefined && type !== opts.expectType) {
    throw new WrongDomainError(`expected a ${opts.expectType} record, got ${type}`)
  }
  if (opts.topic !== undefined && !(topicRecordTypes(opts.topic)?.includes(type) ?? false)) {
    throw new WrongTopicError(`a ${type} record does not belong on ${opts.topic.slice(0, 100)}`)
  }
  if (payload.v !== PROTOCOL_VERSION) throw new UnknownVersionError(`record version ${payload.v} is not supported (this node speaks ${PROTOCOL_VERSION})`)

  const publicKey = ed25519Key(payload.author)
  if (publicKey === undefined) throw new SchemaError('author is not the peer id of an Ed25519 key')
  if (opts.from !== undefined && opts.from !== payload.author)
    throw new WrongAuthorError(`record author ${payload.author} is not the gossip author ${opts.from}`)
  const sigBytes = Buffer.from(sig, 'base64url')
  // base64url's last character carries spare bits: accept one spelling only, so evidence bytes are unique.
  if (sigBytes.byteLength !== 64 || sigBytes.toString('base64url') !== sig) throw new SchemaError('signature is not canonical base64url of 64 bytes')
  const ok = verifyEd25519(publicKey, signingInput(type, payload), sigBytes)
  if (!ok) throw new BadSignatureError(`signature of ${type} record by ${payload.author} does not verify`)

  const body = RECORD_BODIES[type].safeParse(payload.body)
  if (!body.success) throw new SchemaError(`${type} body is invalid: ${describe(body.error)}`)
  const authorProblem = AUTHOR_RULES[type]?.(payload.author, body.data as never)
  if (authorProblem !== undefined) throw new SchemaError(`${type} body is invalid: ${authorProblem}`)

  if (opts.ignoreTime !== true) {
    const now = opts.now ?? Date.now()
    if (payload.ts > now + MAX_CLOCK_SKEW_MS) throw new FutureTimestampError(`${type} record is dated ${payload.ts - now} ms in the future`)
    const maxAge = MAX_RECORD_AGE_MS[type] ?? 0
    if (now - payload.ts > maxAge) throw new ExpiredError(`${type} record is ${now - payload.ts} ms old (limit ${maxAge} ms)`)
  }
  opts.replay?.check(payload.author, type, payload.seq)

  return { type: type as T, v: payload.v, author: payload.author, seq: payload.seq, ts: payload.ts, body: body.data as RecordBody<T>, bytes }
}

/**
 * Remembers the highest sequence number seen per (author, type) and rejects anything at or
 * below it. Bounded: the least recently updated authors are forgotten past `maxAuthors`.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, number>()
  readonly #maxAuthors: number
  constructor(maxAuthors = 10_000) {
    this.#maxAuthors = maxAuthors
  }

  check(author: string, type: string, seq: number): void {
    const key = `${author}/${type}`
    const last = this.#seen.get(key)
    if (last !== undefined && seq <= last) throw new ReplayError(`${type} record seq ${seq} from ${author} is not above ${last}`)
    this.#seen.delete(key)
    this.#seen.set(key, seq)
    if (this.#seen.size > this.#maxAuthors) {
      const oldest = this.#seen.keys().next().value
      if (oldest !== undefined) this.#seen.delete(oldest)
    }
  }
}

/** Monotonic sequence numbers that survive restarts without storage: microseconds since epoch. */
export class SequenceCounter {
  #last = 0
  next(): number {
    const candidate = Date.now() * 1000
    this.#last = candidate > this.#last ? candidate : this.#last + 1
    return this.#last
  }
}
