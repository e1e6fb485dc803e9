/**
 * Frames of the fetch stream (FETCH_PROTOCOL). Each frame is canonical JSON carried in one
 * unsigned-varint length-prefixed message; the stream itself is authenticated by the libp2p
 * connection (Noise), so frames are not signed. Object bodies follow the response head as
 * raw length-prefixed chunks and are verified against the manifest's sha256.
 */
import type { z } from 'zod'
import { canonicalBytes, parseCanonical } from './canonical.ts'
import { MAX_FETCH_FRAME_BYTES, PROTOCOL_VERSION } from './constants.ts'
import { SchemaError, UnknownVersionError } from './errors.ts'
import { FetchRequest, FetchResponseHead } from './messages.ts'

function decodeFrame<S extends z.ZodType> (schema: S, name: string, bytes: Uint8Array): z.infer<S> {
  const raw = parseCanonical(bytes, MAX_FETCH_FRAME_BYTES)
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
