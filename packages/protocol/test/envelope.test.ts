import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  MAX_CLOCK_SKEW_MS,
  MAX_RECORD_AGE_MS,
  MAX_RECORD_BYTES,
  PROTOCOL_VERSION,
  RECORD_TYPES,
  ReplayGuard,
  SequenceCounter,
  canonicalBytes,
  isProtocolError,
  signRecord,
  verifyRecord
} from '../src/index.ts'
import type { RecordBody, RecordType, VerifyOptions } from '../src/index.ts'
import { decodeRecord, newKey, signRaw, signedBytesFor, validBodies } from './fixtures.ts'
import type { RawPayload, TestKey } from './fixtures.ts'

const TS = 1_750_000_000_000

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

let alice: TestKey
let bob: TestKey
let bodies: ReturnType<typeof validBodies>

before(async () => {
  alice = await newKey()
  bob = await newKey()
  bodies = validBodies(bob.id, alice.id)
})

function payload(type: string, body: unknown, over: Partial<RawPayload> = {}): RawPayload {
  return { type, v: PROTOCOL_VERSION, author: alice.id, seq: 1, ts: TS, body, ...over }
}

async function sign<T extends RecordType>(type: T, body: RecordBody<T>, seq = 1, ts = TS): Promise<Uint8Array> {
  return signRecord(alice.key, alice.id, type, body, { seq, ts })
}

const at = (now: number = TS): VerifyOptions => ({ now })

describe('signRecord / verifyRecord round trip', () => {
  test('covers every record type', () => {
    assert.deepEqual([...RECORD_TYPES].sort(), Object.keys(validBodies('x')).sort())
  })

  for (const type of RECORD_TYPES) {
    test(`a ${type} record verifies and returns its fields`, async () => {
      const body = bodies[type]
      const bytes = await signRecord(alice.key, alice.id, type, body, { seq: 42, ts: TS })
      const rec = await verifyRecord(bytes, { now: TS + 1, expectType: type })
      assert.equal(rec.type, type)
      assert.equal(rec.v, PROTOCOL_VERSION)
      assert.equal(rec.author, alice.id)
      assert.equal(rec.seq, 42)
      assert.equal(rec.ts, TS)
      assert.deepEqual(rec.body, body)
      assert.deepEqual(rec.bytes, bytes)
    })
  }

  test('the record is canonical JSON: signing the same input twice gives the same bytes', async () => {
    const a = await sign('help-release', { session: 'sess-0001', reason: 'shutdown' })
    const b = await sign('help-release', { reason: 'shutdown', session: 'sess-0001' })
    assert.deepEqual(a, b) // Ed25519 is deterministic and the encoding is canonical
    assert.deepEqual(canonicalBytes(JSON.parse(new TextDecoder().decode(a))), a)
  })

  test('ts defaults to the current time', async () => {
    const before = Date.now()
    const bytes = await signRecord(alice.key, alice.id, 'help-release', bodies['help-release'], { seq: 1 })
    const rec = await verifyRecord(bytes)
    assert.ok(rec.ts >= before && rec.ts <= Date.now())
  })

  test('unknown body fields are tolerated (forward compatibility) and stay covered by the signature', async () => {
    const body = { ...bodies['help-release'], futureField: 7 }
    const bytes = await signRaw(alice.key, payload('help-release', body))
    const rec = await verifyRecord(bytes, { now: TS, expectType: 'help-release' })
    assert.equal(rec.body.reason, 'crowd-over')
    const tampered = new TextEncoder().encode(new TextDecoder().decode(bytes).replace('"futureField":7', '"futureField":8'))
    await rejectsCode(verifyRecord(tampered, at()), 'ERR_BAD_SIGNATURE')
  })
})

describe('signRecord refuses what could never verify', () => {
  test('a body that fails its schema → ERR_SCHEMA', async () => {
    await rejectsCode(sign('load-report', { ...bodies['load-report'], site: 'Alpha' }), 'ERR_SCHEMA')
    await rejectsCode(sign('help-offer', { ...bodies['help-offer'], mirrorUrl: 'http://u:p@mirror.example' }), 'ERR_SCHEMA')
  })

  test('a key that is not Ed25519 → ERR_BAD_SIGNATURE', async () => {
    const k = await generateKeyPair('secp256k1')
    await rejectsCode(signRecord(k, peerIdFromPrivateKey(k).toString(), 'help-release', bodies['help-release'], { seq: 1, ts: TS }), 'ERR_BAD_SIGNATURE')
  })
})

describe('verifyRecord rejections', () => {
  test('a tampered body → ERR_BAD_SIGNATURE', async () => {
    const bytes = await sign('help-request', bodies['help-request'])
    const text = new TextDecoder().decode(bytes)
    assert.ok(text.includes('"neededRps":350'))
    const tampered = new TextEncoder().encode(text.replace('"neededRps":350', '"neededRps":351'))
    await rejectsCode(verifyRecord(tampered, at()), 'ERR_BAD_SIGNATURE')
  })

  test('a tampered seq, ts or author → ERR_BAD_SIGNATURE', async () => {
    const bytes = await sign('help-release', bodies['help-release'], 5)
    const { payload: p, sig } = decodeRecord(bytes)
    for (const changed of [
      { ...p, seq: 6 },
      { ...p, ts: TS + 1 },
      { ...p, author: bob.id }
    ]) {
      await rejectsCode(verifyRecord(canonicalBytes({ payload: changed, sig }), at()), 'ERR_BAD_SIGNATURE')
    }
  })

  test("a signature by another key than the author's → ERR_BAD_SIGNATURE", async () => {
    const bytes = await signRaw(bob.key, payload('help-release', bodies['help-release'], { author: alice.id }))
    await rejectsCode(verifyRecord(bytes, at()), 'ERR_BAD_SIGNATURE')
  })

  test("a signature made under another type's domain → ERR_BAD_SIGNATURE", async () => {
    // The exact payload of a help-release, signed with the help-offer domain prefix.
    const p = payload('help-release', bodies['help-release'])
    const bytes = await signRaw(alice.key, p, 'help-offer')
    await rejectsCode(verifyRecord(bytes, at()), 'ERR_BAD_SIGNATURE')
  })

  test('a signature moved to another type by changing `type` → ERR_BAD_SIGNATURE', async () => {
    // Payload bytes of a genuine help-offer, but signed under the help-release domain.
    const offer = payload('help-offer', bodies['help-offer'])
    const sig = Buffer.from(await alice.key.sign(signedBytesFor('help-release', offer))).toString('base64url')
    await rejectsCode(verifyRecord(canonicalBytes({ payload: offer, sig }), at()), 'ERR_BAD_SIGNATURE')
    // And the real help-offer signature does verify, so the rejection is the domain's doing.
    const good = await signRaw(alice.key, offer)
    assert.equal((await verifyRecord(good, at())).type, 'help-offer')
  })

  test('a signature is accepted in one textual form only (no base64url malleability)', async () => {
    const bytes = await sign('help-release', bodies['help-release'])
    const { payload: p, sig } = decodeRecord(bytes)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(sig.slice(-1))
    const twin = `${sig.slice(0, 85)}${alphabet[last ^ 1]}` // differs only in a padding bit
    assert.notEqual(twin, sig)
    await assert.rejects(verifyRecord(canonicalBytes({ payload: p, sig: twin }), at()), (err: unknown) => isProtocolError(err))
  })

  test('a valid record of another type than expectType → ERR_WRONG_DOMAIN', async () => {
    const bytes = await sign('help-offer', bodies['help-offer'])
    await rejectsCode(verifyRecord(bytes, { now: TS, expectType: 'help-accept' }), 'ERR_WRONG_DOMAIN')
    assert.equal((await verifyRecord(bytes, { now: TS, expectType: 'help-offer' })).type, 'help-offer')
  })

  for (const v of [0, 2]) {
    test(`a validly signed record with v:${v} → ERR_UNKNOWN_VERSION`, async () => {
      const bytes = await signRaw(alice.key, payload('help-release', bodies['help-release'], { v }))
      await rejectsCode(verifyRecord(bytes, at()), 'ERR_UNKNOWN_VERSION')
    })
  }

  test('a validly signed record of an unknown type → ERR_UNKNOWN_TYPE', async () => {
    const bytes = await signRaw(alice.key, payload('help-demand', { session: 'sess-0001' }))
    await rejectsCode(verifyRecord(bytes, at()), 'ERR_UNKNOWN_TYPE')
  })

  for (const type of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    test(`a validly signed record of type "${type}" (an Object.prototype name) → ERR_UNKNOWN_TYPE`, async () => {
      const bytes = await signRaw(alice.key, payload(type, {}))
      await rejectsCode(verifyRecord(bytes, at()), 'ERR_UNKNOWN_TYPE')
    })
  }

  test('a record longer than maxBytes → ERR_OVERSIZE; exactly maxBytes is fine', async () => {
    const bytes = await sign('help-release', bodies['help-release'])
    await rejectsCode(verifyRecord(bytes, { now: TS, maxBytes: bytes.byteLength - 1 }), 'ERR_OVERSIZE')
    assert.equal((await verifyRecord(bytes, { now: TS, maxBytes: bytes.byteLength })).seq, 1)
  })

  test('the default limit is MAX_RECORD_BYTES', async () => {
    await rejectsCode(verifyRecord(new Uint8Array(MAX_RECORD_BYTES + 1).fill(0x20)), 'ERR_OVERSIZE')
  })

  test('non-canonical bytes → ERR_ENCODING', async () => {
    const bytes = await sign('help-release', bodies['help-release'])
    const spaced = new TextEncoder().encode(new TextDecoder().decode(bytes).replace('{"payload":', '{ "payload":'))
    await rejectsCode(verifyRecord(spaced, at()), 'ERR_ENCODING')
  })

  for (const type of RECORD_TYPES) {
    test(`a ${type} record older than MAX_RECORD_AGE_MS → ERR_EXPIRED (and ignoreTime accepts it)`, async () => {
      const maxAge = MAX_RECORD_AGE_MS[type]
      assert.ok(maxAge !== undefined && maxAge > 0)
      const bytes = await sign(type, bodies[type])
      assert.equal((await verifyRecord(bytes, at(TS + maxAge))).ts, TS)
      await rejectsCode(verifyRecord(bytes, at(TS + maxAge + 1)), 'ERR_EXPIRED')
      await rejectsCode(verifyRecord(bytes, at(TS + 365 * 86_400_000)), 'ERR_EXPIRED')
      assert.equal((await verifyRecord(bytes, { now: TS + 365 * 86_400_000, ignoreTime: true })).ts, TS)
    })
  }

  test('a record dated beyond the clock-skew allowance → ERR_FUTURE_TIMESTAMP', async () => {
    const bytes = await sign('load-report', bodies['load-report'])
    assert.equal((await verifyRecord(bytes, at(TS - MAX_CLOCK_SKEW_MS))).ts, TS)
    await rejectsCode(verifyRecord(bytes, at(TS - MAX_CLOCK_SKEW_MS - 1)), 'ERR_FUTURE_TIMESTAMP')
  })

  test('envelope shape is strict: extra fields, missing fields and malformed sig → ERR_SCHEMA', async () => {
    const bytes = await sign('help-release', bodies['help-release'])
    const { payload: p, sig } = decodeRecord(bytes)
    const cases: unknown[] = [
      { payload: p, sig, extra: 1 },
      { payload: { ...p, extra: 1 }, sig },
      { payload: p },
      { payload: { ...p, seq: -1 }, sig },
      { payload: { ...p, body: [] }, sig },
      { payload: p, sig: sig.slice(0, 85) },
      { payload: p, sig: `${sig.slice(0, 85)}=` },
      [p, sig],
      'record'
    ]
    for (const c of cases) await rejectsCode(verifyRecord(canonicalBytes(c), at()), 'ERR_SCHEMA')
  })
})

describe('author must be the peer id of an Ed25519 key', () => {
  test('a secp256k1 peer id → ERR_SCHEMA', async () => {
    const k = await generateKeyPair('secp256k1')
    const id = peerIdFromPrivateKey(k).toString()
    const bytes = await signRaw(alice.key, payload('help-release', bodies['help-release'], { author: id }))
    await rejectsCode(verifyRecord(bytes, at()), 'ERR_SCHEMA')
  })

  test('an identity-less (sha256 multihash, RSA-style) peer id → ERR_SCHEMA', async () => {
    const bytes = await signRaw(alice.key, payload('help-release', bodies['help-release'], { author: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' }))
    await rejectsCode(verifyRecord(bytes, at()), 'ERR_SCHEMA')
  })

  test('a base58 string that is no peer id → ERR_SCHEMA', async () => {
    const bytes = await signRaw(alice.key, payload('help-release', bodies['help-release'], { author: '1'.repeat(52) }))
    await rejectsCode(verifyRecord(bytes, at()), 'ERR_SCHEMA')
  })
})

describe('body schemas are enforced on receipt (ERR_SCHEMA)', () => {
  const manifestWith = (path: string): unknown => ({ ...bodies['help-request'], manifest: [{ path, size: 1, type: 'text/plain', sha256: 'ab'.repeat(32) }] })
  const cases: Array<[string, () => [string, unknown]]> = [
    ['site label with upper case', () => ['load-report', { ...bodies['load-report'], site: 'Alpha' }]],
    ['site label with an underscore', () => ['load-report', { ...bodies['load-report'], site: 'al_pha' }]],
    ['site label starting with -', () => ['help-request', { ...bodies['help-request'], site: '-alpha' }]],
    ['site label with a dot', () => ['help-request', { ...bodies['help-request'], site: 'alpha.evil' }]],
    ['site label of 64 characters', () => ['load-report', { ...bodies['load-report'], site: 'a'.repeat(64) }]],
    ['URL with credentials', () => ['help-offer', { ...bodies['help-offer'], mirrorUrl: 'http://user:pw@mirror.example' }]],
    ['URL with a user name only', () => ['load-report', { ...bodies['load-report'], siteUrl: 'http://user@alpha.example' }]],
    ['URL with a path', () => ['help-accept', { session: 'sess-0001', helpers: [{ peer: bob.id, weightRps: 1, mirrorUrl: 'http://m.example/x' }] }]],
    ['URL with a query', () => ['help-request', { ...bodies['help-request'], siteUrl: 'http://alpha.example/?a=1' }]],
    ['javascript: URL', () => ['help-offer', { ...bodies['help-offer'], mirrorUrl: 'javascript:alert(1)' }]],
    ['path starting with //', () => ['help-request', manifestWith('//evil.example/x')]],
    ['path with CR/LF', () => ['help-request', manifestWith('/a\r\nSet-Cookie: x=1')]],
    ['path with a space', () => ['help-request', manifestWith('/a b')]],
    ['path with a fragment', () => ['help-request', manifestWith('/a#b')]],
    ['relative path', () => ['help-request', manifestWith('a/b')]],
    ['bad sha256', () => ['help-request', { ...bodies['help-request'], manifest: [{ path: '/a', size: 1, type: 't', sha256: 'AB'.repeat(32) }] }]],
    ['short session id', () => ['help-release', { session: 'short', reason: 'crowd-over' }]],
    ['unknown release reason', () => ['help-release', { session: 'sess-0001', reason: 'bored' }]],
    ['negative rps', () => ['help-offer', { ...bodies['help-offer'], offeredRps: -1 }]],
    ['non-peer-id helper', () => ['help-accept', { session: 'sess-0001', helpers: [{ peer: 'not a peer', weightRps: 1, mirrorUrl: 'http://m.example' }] }]],
    ['unknown crowd state', () => ['load-report', { ...bodies['load-report'], state: 'panicking' }]],
    ['missing field', () => ['help-offer', { session: 'sess-0001', to: bob.id, offeredRps: 1 }]],
    [
      'too many helpers',
      () => [
        'help-accept',
        { session: 'sess-0001', helpers: Array.from({ length: 65 }, () => ({ peer: bob.id, weightRps: 1, mirrorUrl: 'http://m.example' })) }
      ]
    ]
  ]
  for (const [label, make] of cases) {
    test(`${label}`, async () => {
      const [type, body] = make()
      const bytes = await signRaw(alice.key, payload(type, body))
      await rejectsCode(verifyRecord(bytes, at()), 'ERR_SCHEMA')
    })
  }
})

describe('replay protection', () => {
  test('a shared ReplayGuard rejects the same record twice and any seq not above the last', async () => {
    const guard = new ReplayGuard()
    const r5 = await sign('load-report', bodies['load-report'], 5)
    const r4 = await sign('load-report', bodies['load-report'], 4)
    const r6 = await sign('load-report', bodies['load-report'], 6)
    assert.equal((await verifyRecord(r5, { now: TS, replay: guard })).seq, 5)
    await rejectsCode(verifyRecord(r5, { now: TS, replay: guard }), 'ERR_REPLAY')
    await rejectsCode(verifyRecord(r4, { now: TS, replay: guard }), 'ERR_REPLAY')
    assert.equal((await verifyRecord(r6, { now: TS, replay: guard })).seq, 6)
    // Without a guard (stored evidence) the same bytes verify again.
    assert.equal((await verifyRecord(r5, at())).seq, 5)
  })

  test('sequence numbers are tracked per author and per type', async () => {
    const guard = new ReplayGuard()
    await verifyRecord(await sign('load-report', bodies['load-report'], 10), { now: TS, replay: guard })
    assert.equal((await verifyRecord(await sign('help-release', bodies['help-release'], 1), { now: TS, replay: guard })).seq, 1)
    const bobs = await signRecord(bob.key, bob.id, 'load-report', bodies['load-report'], { seq: 1, ts: TS })
    assert.equal((await verifyRecord(bobs, { now: TS, replay: guard })).author, bob.id)
  })

  test('a forged or stale record does not advance the guard', async () => {
    const guard = new ReplayGuard()
    const forged = await signRaw(bob.key, payload('load-report', bodies['load-report'], { seq: 1e15 }))
    await rejectsCode(verifyRecord(forged, { now: TS, replay: guard }), 'ERR_BAD_SIGNATURE')
    const stale = await sign('load-report', bodies['load-report'], 1e14, TS - 60_000)
    await rejectsCode(verifyRecord(stale, { now: TS, replay: guard }), 'ERR_EXPIRED')
    const genuine = await sign('load-report', bodies['load-report'], 7)
    assert.equal((await verifyRecord(genuine, { now: TS, replay: guard })).seq, 7)
  })

  test('ReplayGuard forgets the least recently updated author beyond maxAuthors', () => {
    const guard = new ReplayGuard(2)
    guard.check('a', 't', 5)
    guard.check('b', 't', 5)
    guard.check('a', 't', 6) // a is now the most recently updated
    guard.check('c', 't', 5) // evicts b
    assert.throws(() => guard.check('a', 't', 6), { code: 'ERR_REPLAY', name: 'ReplayError' })
    assert.throws(() => guard.check('c', 't', 1), { code: 'ERR_REPLAY' })
    guard.check('b', 't', 1) // b was forgotten
  })
})

describe('SequenceCounter', () => {
  test('is strictly increasing, even many times within one millisecond', () => {
    const c = new SequenceCounter()
    const start = Date.now() * 1000
    let last = c.next()
    assert.ok(last >= start)
    for (let i = 0; i < 10_000; i++) {
      const n = c.next()
      assert.ok(n > last, `${n} is not above ${last}`)
      assert.ok(Number.isSafeInteger(n))
      last = n
    }
  })

  test('two counters started later continue above an earlier one (survives restarts)', () => {
    const a = new SequenceCounter()
    const first = a.next()
    const b = new SequenceCounter()
    assert.ok(b.next() >= first)
  })
})
