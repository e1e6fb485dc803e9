/**
 * Property test: whatever a peer sends, verifyRecord either returns the record that was signed
 * or throws a ProtocolError; never another exception, never a different record. Deterministic
 * (seeded PRNG), so a failure names a reproducible iteration.
 */
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { canonicalBytes, isProtocolError, signRecord, verifyRecord } from '../src/index.ts'
import type { VerifiedRecord } from '../src/index.ts'
import { newKey, validBodies, prng } from './fixtures.ts'

const TS = 1_750_000_000_000

const JSONISH = [...'{}[]":,0123456789-. \\/atrufnleAZ_']

function mutateBytes(src: Uint8Array, rnd: () => number): Uint8Array {
  const out = [...src]
  const ops = 1 + Math.floor(rnd() * 3)
  for (let k = 0; k < ops; k++) {
    const i = Math.floor(rnd() * (out.length + 1))
    const op = Math.floor(rnd() * 3)
    if (op === 0 && out.length > 0) {
      const j = Math.min(i, out.length - 1)
      out[j] = (out[j] ?? 0) ^ (1 << Math.floor(rnd() * 8))
    } else if (op === 1) {
      const b = rnd() < 0.5 ? Math.floor(rnd() * 256) : (JSONISH[Math.floor(rnd() * JSONISH.length)] ?? 'x').charCodeAt(0)
      out.splice(i, 0, b)
    } else if (out.length > 0) {
      out.splice(Math.min(i, out.length - 1), 1 + Math.floor(rnd() * 4))
    }
  }
  return new Uint8Array(out)
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

function randomLeaf(rnd: () => number): Json {
  const choices: Array<() => Json> = [
    () => null,
    () => rnd() < 0.5,
    () => Math.floor(rnd() * 2 ** 40) - 2 ** 39,
    () => 'x'.repeat(Math.floor(rnd() * 5)),
    () => ['toString', 'help-offer', '__proto__', '', '//a', 'Alpha', 'sess-0001'][Math.floor(rnd() * 7)] ?? '',
    () => [],
    () => ({}),
    () => ({ __proto__: 1 }) as unknown as Json
  ]
  return (choices[Math.floor(rnd() * choices.length)] ?? (() => null))()
}

/** Replace, delete or add one randomly chosen member somewhere in the parsed record. */
function mutateTree(root: Json, rnd: () => number): Json {
  const copy = JSON.parse(JSON.stringify(root)) as Json
  let node: Json = copy
  for (let depth = 0; depth < 6; depth++) {
    if (node === null || typeof node !== 'object') break
    const keys = Array.isArray(node) ? node.map((_, i) => String(i)) : Object.keys(node)
    if (keys.length === 0 || rnd() < 0.25) {
      if (Array.isArray(node)) node.push(randomLeaf(rnd))
      else node[`k${Math.floor(rnd() * 10)}`] = randomLeaf(rnd)
      return copy
    }
    const key = keys[Math.floor(rnd() * keys.length)] ?? '0'
    const child: Json | undefined = Array.isArray(node) ? node[Number(key)] : node[key]
    if (child !== null && typeof child === 'object' && rnd() < 0.7) {
      node = child
      continue
    }
    const r = rnd()
    if (Array.isArray(node)) {
      if (r < 0.3) node.splice(Number(key), 1)
      else node[Number(key)] = randomLeaf(rnd)
    } else if (r < 0.3) {
      Reflect.deleteProperty(node, key)
    } else {
      node[key] = randomLeaf(rnd)
    }
    return copy
  }
  return copy
}

function fields(r: VerifiedRecord): unknown {
  return { type: r.type, v: r.v, author: r.author, seq: r.seq, ts: r.ts, body: r.body }
}

let original: Uint8Array
let expected: unknown

before(async () => {
  const alice = await newKey()
  const bob = await newKey()
  original = await signRecord(alice.key, alice.id, 'help-request', validBodies(bob.id)['help-request'], { seq: 9, ts: TS })
  expected = fields(await verifyRecord(original, { now: TS }))
})

async function check(bytes: Uint8Array, label: string, codes: Map<string, number>): Promise<void> {
  try {
    const rec = await verifyRecord(bytes, { now: TS })
    assert.deepEqual(fields(rec), expected, `${label}: a mutated record verified with different fields`)
    codes.set('accepted', (codes.get('accepted') ?? 0) + 1)
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err
    assert.ok(isProtocolError(err), `${label}: threw a non-protocol error: ${String(err)}`)
    codes.set(err.code, (codes.get(err.code) ?? 0) + 1)
  }
}

describe('verifyRecord under random input', () => {
  test('2,000 byte-level mutations: the original record or a ProtocolError, nothing else', async t => {
    const rnd = prng(0x5eed)
    const codes = new Map<string, number>()
    for (let i = 0; i < 2000; i++) {
      await check(mutateBytes(original, rnd), `byte mutation #${i}`, codes)
    }
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(codes))}`)
    // The mutations must reach beyond the first check to mean anything.
    assert.ok((codes.get('ERR_ENCODING') ?? 0) > 0)
    assert.ok((codes.get('ERR_BAD_SIGNATURE') ?? 0) + (codes.get('ERR_SCHEMA') ?? 0) > 0, JSON.stringify([...codes]))
  })

  test('1,000 structural mutations re-encoded canonically: the original record or a ProtocolError', async t => {
    const rnd = prng(0xc0ffee)
    const tree = JSON.parse(new TextDecoder().decode(original)) as Json
    const codes = new Map<string, number>()
    for (let i = 0; i < 1000; i++) {
      let bytes: Uint8Array
      try {
        bytes = canonicalBytes(mutateTree(tree, rnd))
      } catch (err) {
        assert.ok(isProtocolError(err))
        continue
      }
      await check(bytes, `structural mutation #${i}`, codes)
    }
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(codes))}`)
    assert.ok((codes.get('ERR_SCHEMA') ?? 0) > 0, JSON.stringify([...codes]))
    assert.ok((codes.get('ERR_BAD_SIGNATURE') ?? 0) > 0, JSON.stringify([...codes]))
  })
})
