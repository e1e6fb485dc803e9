/**
 * Property tests for every decoder besides verifyRecord (fuzz.test.ts): parseCanonical and the
 * fetch-stream frames. Random bytes and mutations of valid frames either decode to something
 * the schema allows (and that re-encodes to the very same bytes) or throw a ProtocolError;
 * never another exception. Deterministic (seeded PRNG).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FetchRequest, FetchResponseHead, canonicalBytes, decodeFetchRequest, decodeFetchResponseHead, isProtocolError, parseCanonical } from '../src/index.ts'
import { prng } from './fixtures.ts'

const JSONISH = [...'{}[]":,0123456789-. \\/atrufnleAZ_v']

function randomBytes(rnd: () => number, max: number): Uint8Array {
  const n = Math.floor(rnd() * max)
  const out = new Uint8Array(n)
  const jsonish = rnd() < 0.7
  for (let i = 0; i < n; i++) out[i] = jsonish ? (JSONISH[Math.floor(rnd() * JSONISH.length)] ?? 'x').charCodeAt(0) : Math.floor(rnd() * 256)
  return out
}

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const out = [...src]
  for (let k = 0, ops = 1 + Math.floor(rnd() * 3); k < ops; k++) {
    const i = Math.floor(rnd() * (out.length + 1))
    const op = Math.floor(rnd() * 3)
    if (op === 0 && out.length > 0) out[Math.min(i, out.length - 1)]! ^= 1 << Math.floor(rnd() * 8)
    else if (op === 1) out.splice(i, 0, (JSONISH[Math.floor(rnd() * JSONISH.length)] ?? 'x').charCodeAt(0))
    else if (out.length > 0) out.splice(Math.min(i, out.length - 1), 1 + Math.floor(rnd() * 3))
  }
  return new Uint8Array(out)
}

function outcome<T>(fn: () => T): { value: T } | { code: string } {
  try {
    return { value: fn() }
  } catch (err) {
    assert.ok(isProtocolError(err), `threw a non-protocol error: ${String(err)}`)
    return { code: err.code }
  }
}

const frames = {
  request: canonicalBytes({ v: 1, session: 'c2Vzc2lvbi0wMDAx', path: '/img/a.png?x=1' }),
  head: canonicalBytes({ v: 1, status: 200, headers: { 'content-type': 'image/png', etag: '"e1"' }, size: 1234, sha256: 'ab'.repeat(32) })
}

describe('decoder fuzzing', () => {
  test('parseCanonical: random input decodes only to values whose canonical form is the input', () => {
    const rnd = prng(11)
    let accepted = 0
    for (let i = 0; i < 5_000; i++) {
      const input = randomBytes(rnd, 64)
      const r = outcome(() => parseCanonical(input, 48))
      if ('value' in r) {
        accepted++
        assert.deepEqual(canonicalBytes(r.value), input, `iteration ${i}: accepted a non-canonical encoding`)
      } else {
        assert.ok(['ERR_ENCODING', 'ERR_OVERSIZE'].includes(r.code), `iteration ${i}: unexpected ${r.code}`)
      }
    }
    assert.ok(accepted > 0, 'no random input was valid: the property was never exercised')
  })

  for (const [name, decode, schema, valid] of [
    ['fetch request', decodeFetchRequest, FetchRequest, frames.request],
    ['fetch response head', decodeFetchResponseHead, FetchResponseHead, frames.head]
  ] as const) {
    test(`${name}: random and mutated frames are rejected with a ProtocolError or decode to a valid frame`, () => {
      const rnd = prng(name.length)
      const codes = new Set<string>()
      let accepted = 0
      for (let i = 0; i < 4_000; i++) {
        const input = i % 2 === 0 ? mutate(valid, rnd) : randomBytes(rnd, 200)
        const r = outcome(() => decode(input))
        if ('value' in r) {
          accepted++
          assert.ok(schema.safeParse(r.value).success, `iteration ${i}: decoded an invalid frame`)
          assert.deepEqual(canonicalBytes(r.value), input, `iteration ${i}: accepted a non-canonical frame`)
        } else {
          codes.add(r.code)
        }
      }
      assert.ok(codes.has('ERR_ENCODING') && codes.has('ERR_SCHEMA'), `mutations did not reach the schema: ${[...codes].join(', ')}`)
      assert.ok(accepted < 4_000)
    })
  }
})
