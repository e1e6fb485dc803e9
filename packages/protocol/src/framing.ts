/**
 * Frames of the fetch stream (FETCH_PROTOCOL, SPEC.md §Fetch stream). Every message is one
 * unsigned-varint length-prefixed frame; the stream itself is authenticated by the libp2p
 * connection (Noise), so frames are not signed. The request and the response head are
 * canonical JSON; for status 200 the body follows as raw chunk frames of 1 to
 * FETCH_CHUNK_BYTES bytes, `size` bytes in all (prefixes not counted), and is verified against
 * the head's sha256 and the manifest entry (`FetchBodyReader`).
 *
 * Decoding a frame: size limit (ERR_OVERSIZE), canonical JSON (ERR_ENCODING), then a `v` that
 * is a number other than 1 (ERR_UNKNOWN_VERSION) before anything else about its shape, then
 * the schema (ERR_SCHEMA).
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { canonicalBytes, parseCanonical } from './canonical.ts'
import { CharterBody, LogEntryBody } from './charter.ts'
import { FETCH_CHUNK_BYTES, MAX_FETCH_FRAME_BYTES, MAX_RECORD_BYTES, PROTOCOL_VERSION } from './constants.ts'
import { BodyHashError, BodySizeError, FramingError, OversizeError, SchemaError, UnknownVersionError } from './errors.ts'
import { FetchRequest, FetchResponseHead, RecordBytes } from './messages.ts'
import { Signature } from './multisig.ts'
import { ConsortiumId } from './charter.ts'

function decodeFrame<S extends z.ZodType>(schema: S, name: string, bytes: Uint8Array, maxBytes = MAX_FETCH_FRAME_BYTES): z.infer<S> {
  const raw = parseCanonical(bytes, maxBytes)
  const v = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw.v : undefined
  if (typeof v === 'number' && v !== PROTOCOL_VERSION)
    throw new UnknownVersionError(`${name} frame version ${v} is not supported (this node speaks ${PROTOCOL_VERSION})`)
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new SchemaError(`${name} frame is invalid: ${issue === undefined ? 'unknown' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}`)
  }
  return parsed.data
}

function encodeFrame<S extends z.ZodType>(schema: S, name: string, value: z.infer<S>): Uint8Array {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new SchemaError(`${name} frame is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
  return canonicalBytes(parsed.data)
}

export function encodeFetchRequest(req: FetchRequest): Uint8Array {
  return encodeFrame(FetchRequest, 'fetch request', req)
}
export function decodeFetchRequest(bytes: Uint8Array): FetchRequest {
  return decodeFrame(FetchRequest, 'fetch request', bytes)
}
export function encodeFetchResponseHead(head: FetchResponseHead): Uint8Array {
  return encodeFrame(FetchResponseHead, 'fetch response head', head)
}
export function decodeFetchResponseHead(bytes: Uint8Array): FetchResponseHead {
  return decodeFrame(FetchResponseHead, 'fetch response head', bytes)
}

/** What a helper expects of a body: the manifest entry's size and hash, when the manifest lists the path. */
export interface ExpectedBody {
  size: number
  sha256: string
}

/**
 * Assembles and checks the body that follows a 200 response head, chunk by chunk, in the order
 * SPEC.md §Fetch stream gives: the head's size against the manifest's (ERR_BODY_SIZE), every
 * chunk 1 to FETCH_CHUNK_BYTES bytes (ERR_FRAMING, ERR_OVERSIZE) and never past `size`
 * (ERR_BODY_SIZE), then at the end of the stream the length (ERR_BODY_SIZE) and the SHA-256
 * against the head's and the manifest's (ERR_BODY_HASH).
 */
export class FetchBodyReader {
  readonly head: FetchResponseHead
  readonly #expected: ExpectedBody | undefined
  readonly #body: Buffer
  #received = 0

  constructor(head: FetchResponseHead, expected?: ExpectedBody) {
    if (head.status !== 200) throw new TypeError('only a 200 head has a body')
    if (expected !== undefined && expected.size !== head.size) throw new BodySizeError(`the head announces ${head.size} bytes, the manifest ${expected.size}`)
    this.head = head
    this.#expected = expected
    this.#body = Buffer.alloc(head.size)
  }

  get received(): number {
    return this.#received
  }
  get complete(): boolean {
    return this.#received === this.head.size
  }

  /** One body chunk frame (its payload, without the length prefix). */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) throw new FramingError('an empty body chunk')
    if (chunk.byteLength > FETCH_CHUNK_BYTES) throw new OversizeError(`a body chunk of ${chunk.byteLength} bytes exceeds the limit of ${FETCH_CHUNK_BYTES}`)
    if (this.#received + chunk.byteLength > this.head.size) throw new BodySizeError(`the body runs past the announced ${this.head.size} bytes`)
    this.#body.set(chunk, this.#received)
    this.#received += chunk.byteLength
  }

  /** The stream ended: the body, once its length and hash check out. */
  end(): { body: Buffer; sha256: string } {
    if (this.#received !== this.head.size) throw new BodySizeError(`the body ended after ${this.#received} of ${this.head.size} bytes`)
    const sha256 = createHash('sha256').update(this.#body).digest('hex')
    if (this.head.sha256 !== undefined && this.head.sha256 !== sha256) throw new BodyHashError("the body does not match the head's sha256")
    if (this.#expected !== undefined && this.#expected.sha256 !== sha256) throw new BodyHashError("the body does not match the manifest's sha256")
    return { body: this.#body, sha256 }
  }
}

/**
 * Split a byte stream into unsigned-varint length-prefixed frames, lazily. A prefix whose value
 * passes the limit the caller gives for that frame is ERR_OVERSIZE (before its payload is
 * read); a stream ending inside a prefix or a payload, or a prefix longer than 9 bytes, is
 * ERR_FRAMING.
 */
export function* splitFrames(bytes: Uint8Array, limitFor: (index: number) => number): Generator<Uint8Array> {
  let off = 0
  for (let index = 0; off < bytes.byteLength; index++) {
    let len = 0
    let shift = 1
    let i = 0
    for (;;) {
      if (off + i >= bytes.byteLength) throw new FramingError('the stream ends inside a length prefix')
      if (i >= 9) throw new FramingError('a length prefix longer than 9 bytes')
      const b = bytes[off + i]!
      len += (b & 0x7f) * shift
      shift *= 128
      i++
      if (len > limitFor(index)) throw new OversizeError(`a frame of ${len} bytes or more exceeds the limit of ${limitFor(index)}`)
      if ((b & 0x80) === 0) break
    }
    off += i
    if (off + len > bytes.byteLength) throw new FramingError('the stream ends inside a frame')
    yield bytes.subarray(off, off + len)
    off += len
  }
}

/**
 * Decode what a responder sent on one fetch stream — the response head and the body chunks,
 * each with its varint length prefix — as a requester must (SPEC.md §Fetch stream). For a
 * status other than 200 the body is empty and any byte after the head is ERR_BODY_SIZE.
 */
export function decodeFetchResponse(bytes: Uint8Array, expected?: ExpectedBody): { head: FetchResponseHead; body: Buffer } {
  const frames = splitFrames(bytes, i => (i === 0 ? MAX_FETCH_FRAME_BYTES : FETCH_CHUNK_BYTES))
  const first = frames.next()
  if (first.done === true) throw new FramingError('the stream ends before the response head')
  const head = decodeFetchResponseHead(first.value)
  if (head.status !== 200) {
    if (!(frames.next().done ?? false)) throw new BodySizeError(`bytes after a ${head.status} head`)
    return { head, body: Buffer.alloc(0) }
  }
  const reader = new FetchBodyReader(head, expected)
  for (const chunk of frames) reader.push(chunk)
  return { head, body: reader.end().body }
}

/** One frame with its unsigned-varint length prefix (as the fetch and governance streams carry it). */
export function lengthPrefixed(payload: Uint8Array): Uint8Array {
  const prefix: number[] = []
  let n = payload.byteLength
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    prefix.push(b)
  } while (n > 0)
  const out = new Uint8Array(prefix.length + payload.byteLength)
  out.set(prefix, 0)
  out.set(payload, prefix.length)
  return out
}

/**
 * Frames of the governance stream (GOV_PROTOCOL, SPEC.md §Log sync). A `sync` request asks
 * for the charter and the log from a height; the answer is the charter, up to
 * MAX_SYNC_ENTRIES entries and an `end` frame with the responder's height. A `join` request
 * carries a newcomer's invitation and signed join request; the answer is one `join-result`.
 */
const Doc = <B extends z.ZodType>(body: B) => z.object({ body, sigs: z.array(Signature).max(256) }).strict()

export const GovRequest = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), kind: z.literal('sync'), consortium: ConsortiumId, from: z.number().int().min(0) }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('join'), invitation: RecordBytes, request: RecordBytes }).strict()
])
export type GovRequest = z.infer<typeof GovRequest>

export const GovResponse = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), kind: z.literal('charter'), charter: Doc(CharterBody) }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('entry'), entry: Doc(LogEntryBody) }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('end'), height: z.number().int().min(0) }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('join-result'), ok: z.boolean(), code: z.string().max(64), message: z.string().max(512) }).strict()
])
export type GovResponse = z.infer<typeof GovResponse>

export function encodeGovRequest(req: GovRequest): Uint8Array {
  return encodeFrame(GovRequest, 'gov request', req)
}
export function decodeGovRequest(bytes: Uint8Array): GovRequest {
  return decodeFrame(GovRequest, 'gov request', bytes, MAX_RECORD_BYTES)
}
export function encodeGovResponse(res: GovResponse): Uint8Array {
  return encodeFrame(GovResponse, 'gov response', res)
}
export function decodeGovResponse(bytes: Uint8Array): GovResponse {
  return decodeFrame(GovResponse, 'gov response', bytes, MAX_RECORD_BYTES)
}
