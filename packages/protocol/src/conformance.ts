/**
 * Conformance: the operations a Reef protocol implementation must offer to be checked against
 * the vectors, the in-process implementation of them, and `checkVectors`, which runs a vector
 * set against any implementation and lists every mismatch.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { canonicalBytes, parseCanonical } from './canonical.ts'
import { signRecord, verifyRecord } from './envelope.ts'
import { isProtocolError } from './errors.ts'
import { decodeFetchRequest, decodeFetchResponseHead } from './framing.ts'
import type { RecordType } from './messages.ts'
import type { VectorSet } from './vectors.ts'

export type Outcome<T extends object = object> = ({ ok: true } & T) | { ok: false, code: string }

export interface ProtocolImpl {
  sign (req: { seedHex: string, type: RecordType, body: unknown, seq: number, ts: number }): Promise<Outcome<{ recordHex: string }>>
  verify (req: { recordHex: string, now: number, expectType?: RecordType | undefined }): Promise<Outcome<{ type: string, author: string, seq: number, ts: number, body: unknown }>>
  canonical (req: { value: unknown }): Promise<Outcome<{ hex: string }>>
  parse (req: { inputHex: string, maxBytes: number }): Promise<Outcome<{ value: unknown }>>
  frame (req: { frame: 'fetch-request' | 'fetch-response-head', hex: string }): Promise<Outcome<{ value: unknown }>>
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))

async function attempt<T extends object> (fn: () => Promise<T> | T): Promise<Outcome<T>> {
  try {
    return { ok: true, ...(await fn()) }
  } catch (err) {
    return { ok: false, code: isProtocolError(err) ? err.code : 'ERR_INTERNAL' }
  }
}

/** This package as a ProtocolImpl. */
export const localImpl: ProtocolImpl = {
  sign: async req => attempt(async () => {
    const key = await generateKeyPairFromSeed('Ed25519', bytes(req.seedHex))
    const record = await signRecord(key, peerIdFromPrivateKey(key).toString(), req.type, req.body as never, { seq: req.seq, ts: req.ts })
    return { recordHex: hex(record) }
  }),
  verify: async req => attempt(async () => {
    const r = await verifyRecord(bytes(req.recordHex), { now: req.now, ...(req.expectType !== undefined ? { expectType: req.expectType } : {}) })
    return { type: r.type, author: r.author, seq: r.seq, ts: r.ts, body: r.body }
  }),
  canonical: async req => attempt(() => ({ hex: hex(canonicalBytes(req.value)) })),
  parse: async req => attempt(() => ({ value: parseCanonical(bytes(req.inputHex), req.maxBytes) })),
  frame: async req => attempt(() => ({ value: req.frame === 'fetch-request' ? decodeFetchRequest(bytes(req.hex)) : decodeFetchResponseHead(bytes(req.hex)) }))
}

export interface VectorFailure { vector: string, expected: string, got: string }

function same (a: unknown, b: unknown): boolean {
  return hex(canonicalBytes(a)) === hex(canonicalBytes(b))
}

function show (o: Outcome): string {
  return o.ok ? 'ok' : o.code
}

/** Run every vector against `impl`; returns the mismatches (empty: conformant). */
export async function checkVectors (impl: ProtocolImpl, v: VectorSet): Promise<{ checked: number, failures: VectorFailure[] }> {
  const failures: VectorFailure[] = []
  let checked = 0
  const fail = (vector: string, expected: string, got: string): void => { failures.push({ vector, expected, got }) }
  const seeds = new Map(v.keys.map(k => [k.name, k]))

  for (const r of v.records.valid) {
    checked++
    const key = seeds.get(r.key)
    if (key === undefined) { fail(r.description, `key ${r.key}`, 'missing'); continue }
    if (r.description.startsWith('a valid ')) {
      const signed = await impl.sign({ seedHex: key.seedHex, type: r.type, body: r.body, seq: r.seq, ts: r.ts })
      if (!signed.ok || signed.recordHex !== r.recordHex) fail(`sign: ${r.description}`, r.recordHex, signed.ok ? signed.recordHex : signed.code)
    }
    const verified = await impl.verify({ recordHex: r.recordHex, now: v.now })
    if (!verified.ok) { fail(`verify: ${r.description}`, 'ok', verified.code); continue }
    if (verified.type !== r.type || verified.author !== key.peerId || verified.seq !== r.seq || verified.ts !== r.ts) {
      fail(`verify: ${r.description}`, `${r.type} by ${key.peerId} seq ${r.seq}`, `${verified.type} by ${verified.author} seq ${verified.seq}`)
    }
  }
  for (const r of v.records.invalid) {
    checked++
    const got = await impl.verify({ recordHex: r.recordHex, now: r.now, expectType: r.expectType })
    if (got.ok || got.code !== r.error) fail(`reject: ${r.description}`, r.error, show(got))
  }
  for (const c of v.canonical.valid) {
    checked++
    const got = await impl.canonical({ value: c.value })
    if (!got.ok || got.hex !== c.canonicalHex) fail(`canonical: ${c.description}`, c.canonicalHex, got.ok ? got.hex : got.code)
    const parsed = await impl.parse({ inputHex: c.canonicalHex, maxBytes: 1 << 20 })
    if (!parsed.ok || !same(parsed.value, c.value)) fail(`parse: ${c.description}`, 'the value', show(parsed))
  }
  for (const c of v.canonical.invalid) {
    checked++
    const got = await impl.parse({ inputHex: c.inputHex, maxBytes: c.maxBytes })
    if (got.ok || got.code !== c.error) fail(`reject canonical: ${c.description}`, c.error, show(got))
  }
  for (const f of v.frames) {
    checked++
    const got = await impl.frame({ frame: f.frame, hex: f.hex })
    if (f.error !== undefined) {
      if (got.ok || got.code !== f.error) fail(`reject frame: ${f.description}`, f.error, show(got))
    } else if (!got.ok || !same(got.value, f.value)) {
      fail(`frame: ${f.description}`, 'the value', show(got))
    }
  }
  return { checked, failures }
}
