/**
 * Conformance: the operations a Reef protocol implementation must offer to be checked against
 * the vectors (SPEC.md §Running them against another implementation), the in-process
 * implementation of them, and `checkVectors`, which runs the protocol's vector set (records,
 * canonical JSON, frames, fetch streams, gossip verdicts, base URLs) against any implementation
 * and lists every mismatch. The ledger and governance operations are defined by
 * `@reef/governance` on top of these (that package may import this one, not the reverse).
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { canonicalBytes, parseCanonical } from './canonical.ts'
import { signRecord, verifyRecord } from './envelope.ts'
import { ReplayError, isProtocolError } from './errors.ts'
import { decodeFetchRequest, decodeFetchResponse, decodeFetchResponseHead, decodeGovRequest, decodeGovResponse } from './framing.ts'
import { validateGossip } from './gossip.ts'
import type { AuthorStanding } from './gossip.ts'
import type { RecordType } from './messages.ts'
import { canonicalBaseUrl } from './primitives.ts'
import type { VectorSet } from './vectors.ts'

export type Outcome<T extends object = object> = ({ ok: true } & T) | { ok: false; code: string }

export type FrameKind = 'fetch-request' | 'fetch-response-head' | 'gov-request' | 'gov-response'

export interface ProtocolImpl {
  sign(req: { seedHex: string; type: RecordType; body: unknown; seq: number; ts: number }): Promise<Outcome<{ recordHex: string }>>
  verify(req: {
    recordHex: string
    now: number
    expectType?: RecordType | undefined
    topic?: string | undefined
    from?: string | undefined
  }): Promise<Outcome<{ type: string; author: string; seq: number; ts: number; body: unknown }>>
  /** A gossipsub validator's answer: `lastSeq` is the last seq accepted for the record's (author, type), if any. */
  gossip(req: {
    recordHex: string
    now: number
    topic: string
    from: string
    lastSeq?: number | undefined
    standing?: AuthorStanding | undefined
  }): Promise<Outcome<{ verdict: 'accept' | 'ignore' | 'reject'; code?: string }>>
  canonical(req: { value: unknown }): Promise<Outcome<{ hex: string }>>
  parse(req: { inputHex: string; maxBytes: number }): Promise<Outcome<{ value: unknown }>>
  /** One frame's payload, without its varint length prefix. */
  frame(req: { frame: FrameKind; hex: string }): Promise<Outcome<{ value: unknown }>>
  /** What a responder sent on a fetch stream, length prefixes included, read as a requester must. */
  stream(req: { hex: string; expected?: { size: number; sha256: string } | undefined }): Promise<Outcome<{ head: unknown; bodyHex: string }>>
  /** The canonical form of a base URL. */
  url(req: { value: string }): Promise<Outcome<{ canonical: string }>>
}

export const PROTOCOL_OPS = ['sign', 'verify', 'gossip', 'canonical', 'parse', 'frame', 'stream', 'url'] as const

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))

export async function attempt<T extends object>(fn: () => Promise<T> | T): Promise<Outcome<T>> {
  try {
    return { ok: true, ...(await fn()) }
  } catch (err) {
    return {
      ok: false,
      code: isProtocolError(err) || (err as { code?: unknown }).code !== undefined ? String((err as { code: unknown }).code) : 'ERR_INTERNAL'
    }
  }
}

const decoders: Record<FrameKind, (b: Uint8Array) => unknown> = {
  'fetch-request': decodeFetchRequest,
  'fetch-response-head': decodeFetchResponseHead,
  'gov-request': decodeGovRequest,
  'gov-response': decodeGovResponse
}

/** This package as a ProtocolImpl. */
export const localImpl: ProtocolImpl = {
  sign: async req =>
    attempt(async () => {
      const key = await generateKeyPairFromSeed('Ed25519', bytes(req.seedHex))
      const record = await signRecord(key, peerIdFromPrivateKey(key).toString(), req.type, req.body as never, { seq: req.seq, ts: req.ts })
      return { recordHex: hex(record) }
    }),
  verify: async req =>
    attempt(async () => {
      const r = await verifyRecord(bytes(req.recordHex), {
        now: req.now,
        ...(req.expectType !== undefined ? { expectType: req.expectType } : {}),
        ...(req.topic !== undefined ? { topic: req.topic } : {}),
        ...(req.from !== undefined ? { from: req.from } : {})
      })
      return { type: r.type, author: r.author, seq: r.seq, ts: r.ts, body: r.body }
    }),
  gossip: async req =>
    attempt(async () => {
      const last = req.lastSeq
      const d = await validateGossip(bytes(req.recordHex), {
        topic: req.topic,
        from: req.from,
        now: req.now,
        replay: {
          check: (_a, type, seq) => {
            if (last !== undefined && seq <= last) throw new ReplayError(`${type} seq ${seq} is not above ${last}`)
          }
        },
        standing: () => req.standing ?? 'member'
      })
      return d.verdict === 'accept' ? { verdict: d.verdict } : { verdict: d.verdict, code: d.code }
    }),
  canonical: async req => attempt(() => ({ hex: hex(canonicalBytes(req.value)) })),
  parse: async req => attempt(() => ({ value: parseCanonical(bytes(req.inputHex), req.maxBytes) })),
  frame: async req =>
    attempt(() => {
      const decode = decoders[req.frame]
      if (decode === undefined) throw Object.assign(new Error('unknown frame kind'), { code: 'ERR_BAD_REQUEST' })
      return { value: decode(bytes(req.hex)) }
    }),
  stream: async req =>
    attempt(() => {
      const { head, body } = decodeFetchResponse(bytes(req.hex), req.expected)
      return { head, bodyHex: hex(body) }
    }),
  url: async req => attempt(() => ({ canonical: canonicalBaseUrl(req.value) }))
}

export interface VectorFailure {
  vector: string
  expected: string
  got: string
}

/** Same JSON value (compared by canonical bytes). */
export function sameValue(a: unknown, b: unknown): boolean {
  try {
    return hex(canonicalBytes(a)) === hex(canonicalBytes(b))
  } catch {
    return false
  }
}

function show(o: Outcome): string {
  return o.ok ? 'ok' : o.code
}

/** Run every protocol vector against `impl`; returns the mismatches (empty: conformant). */
export async function checkVectors(impl: ProtocolImpl, v: VectorSet): Promise<{ checked: number; failures: VectorFailure[] }> {
  const failures: VectorFailure[] = []
  let checked = 0
  const fail = (vector: string, expected: string, got: string): void => {
    failures.push({ vector, expected, got })
  }
  const seeds = new Map(v.keys.map(k => [k.name, k]))

  for (const r of v.records.valid) {
    checked++
    const key = seeds.get(r.key)
    if (key === undefined) {
      fail(r.description, `key ${r.key}`, 'missing')
      continue
    }
    if (r.signable === true) {
      const signed = await impl.sign({ seedHex: key.seedHex, type: r.type, body: r.body, seq: r.seq, ts: r.ts })
      if (!signed.ok || signed.recordHex !== r.recordHex) fail(`sign: ${r.description}`, r.recordHex, signed.ok ? signed.recordHex : signed.code)
    }
    const verified = await impl.verify({ recordHex: r.recordHex, now: v.now })
    if (!verified.ok) {
      fail(`verify: ${r.description}`, 'ok', verified.code)
      continue
    }
    if (verified.type !== r.type || verified.author !== key.peerId || verified.seq !== r.seq || verified.ts !== r.ts) {
      fail(`verify: ${r.description}`, `${r.type} by ${key.peerId} seq ${r.seq}`, `${verified.type} by ${verified.author} seq ${verified.seq}`)
    }
  }
  for (const r of v.records.invalid) {
    checked++
    const got = await impl.verify({ recordHex: r.recordHex, now: r.now, expectType: r.expectType, topic: r.topic, from: r.from })
    if (got.ok || got.code !== r.error) fail(`reject: ${r.description}`, r.error, show(got))
  }
  for (const g of v.records.gossip) {
    checked++
    const got = await impl.gossip({ recordHex: g.recordHex, now: g.now, topic: g.topic, from: g.from, lastSeq: g.lastSeq, standing: g.standing })
    const want = g.code === undefined ? g.verdict : `${g.verdict} ${g.code}`
    const have = !got.ok ? got.code : got.code === undefined ? got.verdict : `${got.verdict} ${got.code}`
    if (want !== have) fail(`gossip: ${g.description}`, want, have)
  }
  for (const u of v.records.baseUrls) {
    checked++
    const got = await impl.url({ value: u.value })
    const want = u.canonical ?? u.error ?? '?'
    const have = got.ok ? got.canonical : got.code
    if (want !== have) fail(`base URL: ${u.description}`, want, have)
  }
  for (const c of v.canonical.valid) {
    checked++
    const got = await impl.canonical({ value: c.value })
    if (!got.ok || got.hex !== c.canonicalHex) fail(`canonical: ${c.description}`, c.canonicalHex, got.ok ? got.hex : got.code)
    const parsed = await impl.parse({ inputHex: c.canonicalHex, maxBytes: 1 << 20 })
    if (!parsed.ok || !sameValue(parsed.value, c.value)) fail(`parse: ${c.description}`, 'the value', show(parsed))
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
    } else if (!got.ok || !sameValue(got.value, f.value)) {
      fail(`frame: ${f.description}`, 'the value', show(got))
    }
  }
  for (const s of v.streams) {
    checked++
    const got = await impl.stream({ hex: s.hex, expected: s.expected })
    if (s.error !== undefined) {
      if (got.ok || got.code !== s.error) fail(`reject stream: ${s.description}`, s.error, show(got))
    } else if (!got.ok || !sameValue(got.head, s.head) || got.bodyHex !== s.bodyHex) {
      fail(`stream: ${s.description}`, 'the head and body', got.ok ? `${JSON.stringify(got.head)} and ${got.bodyHex.length / 2} body bytes` : got.code)
    }
  }
  return { checked, failures }
}
