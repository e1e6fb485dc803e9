/**
 * Frames of the fetch stream (FETCH_PROTOCOL). Each frame is canonical JSON carried in one
 * unsigned-varint length-prefixed message; the stream itself is authenticated by the libp2p
 * connection (Noise), so frames are not signed. Object bodies follow the response head as
 * raw length-prefixed chunks and are verified against the manifest's sha256.
 */
import { z } from 'zod'
import { canonicalBytes, parseCanonical } from './canonical.ts'
import { CharterBody, LogEntryBody } from './charter.ts'
import { MAX_FETCH_FRAME_BYTES, MAX_RECORD_BYTES, PROTOCOL_VERSION } from './constants.ts'
import { SchemaError, UnknownVersionError } from './errors.ts'
import { FetchRequest, FetchResponseHead, RecordBytes } from './messages.ts'
import { Signature } from './multisig.ts'
import { ConsortiumId } from './charter.ts'

function decodeFrame<S extends z.ZodType> (schema: S, name: string, bytes: Uint8Array, maxBytes = MAX_FETCH_FRAME_BYTES): z.infer<S> {
  const raw = parseCanonical(bytes, maxBytes)
  const v = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw.v : undefined
  if (typeof v === 'number' && v !== PROTOCOL_VERSION) throw new UnknownVersionError(`${name} frame version ${v} is not supported (this node speaks ${PROTOCOL_VERSION})`)
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new SchemaError(`${name} frame is invalid: ${issue === undefined ? 'unknown' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}`)
  }
  return parsed.data
}

function encodeFrame<S extends z.ZodType> (schema: S, name: string, value: z.infer<S>): Uint8Array {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new SchemaError(`${name} frame is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
  return canonicalBytes(parsed.data)
}

export function encodeFetchRequest (req: FetchRequest): Uint8Array { return encodeFrame(FetchRequest, 'fetch request', req) }
export function decodeFetchRequest (bytes: Uint8Array): FetchRequest { return decodeFrame(FetchRequest, 'fetch request', bytes) }
export function encodeFetchResponseHead (head: FetchResponseHead): Uint8Array { return encodeFrame(FetchResponseHead, 'fetch response head', head) }
export function decodeFetchResponseHead (bytes: Uint8Array): FetchResponseHead { return decodeFrame(FetchResponseHead, 'fetch response head', bytes) }

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

export function encodeGovRequest (req: GovRequest): Uint8Array { return encodeFrame(GovRequest, 'gov request', req) }
export function decodeGovRequest (bytes: Uint8Array): GovRequest { return decodeFrame(GovRequest, 'gov request', bytes, MAX_RECORD_BYTES) }
export function encodeGovResponse (res: GovResponse): Uint8Array { return encodeFrame(GovResponse, 'gov response', res) }
export function decodeGovResponse (bytes: Uint8Array): GovResponse { return decodeFrame(GovResponse, 'gov response', bytes, MAX_RECORD_BYTES) }
