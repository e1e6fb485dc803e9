/**
 * Canonical JSON (RFC 8785, JCS): object keys sorted by UTF-16 code units, no white space,
 * strings and numbers serialised as ECMAScript's JSON.stringify does. The same value always
 * gives the same bytes, so a signature over the bytes is a signature over the value.
 *
 * Reef restricts numbers to safe integers (no fractions, no exponents): every quantity on the
 * wire has an integer unit (ms, bytes, requests/s, milli-units), which removes the one part of
 * JCS that is hard to get identical across languages.
 */
import { EncodingError, OversizeError } from './errors.ts'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function serialise(value: unknown, depth: number, out: string[]): void {
  if (depth > 32) throw new EncodingError('value nested deeper than 32 levels')
  if (value === null) {
    out.push('null')
    return
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false')
      return
    case 'number':
      if (!Number.isSafeInteger(value)) throw new EncodingError(`number ${value} is not a safe integer`)
      out.push(JSON.stringify(value))
      return
    case 'string':
      out.push(JSON.stringify(value))
      return
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[')
        value.forEach((v, i) => {
          if (i > 0) out.push(',')
          serialise(v, depth + 1, out)
        })
        out.push(']')
        return
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw new EncodingError('only plain objects can be encoded')
      const keys = Object.keys(value)
        .filter(k => (value as Record<string, unknown>)[k] !== undefined)
        .sort()
      out.push('{')
      keys.forEach((k, i) => {
        if (i > 0) out.push(',')
        out.push(JSON.stringify(k), ':')
        serialise((value as Record<string, unknown>)[k], depth + 1, out)
      })
      out.push('}')
      return
    }
    default:
      throw new EncodingError(`cannot encode a ${typeof value}`)
  }
}

/** Canonical string form of a JSON value (keys with `undefined` values are omitted). */
export function canonicalString(value: unknown): string {
  const out: string[] = []
  serialise(value, 0, out)
  return out.join('')
}

export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalString(value))
}

/**
 * Parse bytes that must be canonical JSON. Rejects oversize input before parsing, invalid
 * UTF-8, invalid JSON, and JSON that is not in canonical form (so that two encodings of one
 * record cannot both circulate).
 */
export function parseCanonical(bytes: Uint8Array, maxBytes: number): JsonValue {
  if (bytes.byteLength > maxBytes) throw new OversizeError(`record of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`)
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    throw new EncodingError('record is not valid UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new EncodingError('record is not valid JSON')
  }
  if (canonicalString(value) !== text) throw new EncodingError('record is not in canonical form (RFC 8785, integers only)')
  return value as JsonValue
}
