/**
 * Test vectors: fixed keys, valid records with their canonical bytes, and invalid records with
 * the error each must produce. `makeVectors()` derives them deterministically (Ed25519
 * signatures are deterministic), `vectors/*.json` hold them for other implementations, and
 * `checkVectors()` runs them against any implementation behind the `ProtocolImpl` interface —
 * this one in-process, or another one over JSON lines (see jsonl.ts).
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { canonicalBytes } from './canonical.ts'
import { signRecord, signingInput } from './envelope.ts'
import type { RecordBody, RecordType } from './messages.ts'

export interface VectorKey { name: string, seedHex: string, peerId: string }
export interface ValidRecordVector { description: string, key: string, type: RecordType, seq: number, ts: number, body: unknown, recordHex: string }
export interface InvalidRecordVector { description: string, recordHex: string, now: number, expectType?: RecordType, error: string }
export interface CanonicalVector { description: string, value: unknown, canonicalHex: string }
export interface InvalidCanonicalVector { description: string, inputHex: string, maxBytes: number, error: string }
export interface FrameVector { description: string, frame: 'fetch-request' | 'fetch-response-head', hex: string, error?: string, value?: unknown }

export interface VectorSet {
  version: 1
  /** All valid records are dated here; verify them with now = this value. */
  now: number
  keys: VectorKey[]
  records: { valid: ValidRecordVector[], invalid: InvalidRecordVector[] }
  canonical: { valid: CanonicalVector[], invalid: InvalidCanonicalVector[] }
  frames: FrameVector[]
}

export const VECTOR_NOW = 1_790_000_000_000

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

async function keyFromSeed (name: string, fill: number): Promise<{ name: string, key: PrivateKey, id: string, seedHex: string }> {
  const seed = new Uint8Array(32).fill(fill)
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  return { name, key, id: peerIdFromPrivateKey(key).toString(), seedHex: hex(seed) }
}

/** Sign an arbitrary payload under an arbitrary domain (to build records signRecord refuses). */
async function rawRecord (key: PrivateKey, domainType: string, payload: unknown, sigOverride?: string): Promise<Uint8Array> {
  const sig = sigOverride ?? Buffer.from(await key.sign(signingInput(domainType, payload))).toString('base64url')
  return canonicalBytes({ payload, sig })
}

export async function makeVectors (): Promise<VectorSet> {
  const alice = await keyFromSeed('alice', 1)
  const bob = await keyFromSeed('bob', 2)
  const sha = (c: string): string => c.repeat(64)
  const bodies: { [T in RecordType]: RecordBody<T> } = {
    'load-report': {
      site: 'alpha', siteUrl: 'https://alpha.example', mirrorUrl: 'https://mirror.alpha.example', state: 'struck', capacityRps: 50, demandRps: 900, originRps: 43, spareRps: 0,
      helping: [{ site: 'charlie', rps: 12, bytesPerSec: 480000 }], uplinkBytesPerSec: 4000000, sentBytesPerSec: 3650000, spareBytesPerSec: 0, demandBytesPerSec: 11200000, queuedBytes: 1800000,
      standingBy: [{ site: 'charlie', revision: 7, heldBytes: 2400000 }]
    },
    'help-request': {
      session: 'c2Vzc2lvbi0wMDAx', site: 'alpha', siteUrl: 'https://alpha.example', neededRps: 850, neededBytesPerSec: 7600000,
      manifest: [{ path: '/', size: 5120, type: 'text/html; charset=utf-8', sha256: sha('a') }, { path: '/img/hero.jpg?v=2', size: 81920, type: 'image/jpeg', sha256: sha('b') }]
    },
    'help-offer': { session: 'c2Vzc2lvbi0wMDAx', to: alice.id, offeredRps: 400, offeredBytesPerSec: 3600000, mirrorUrl: 'https://mirror.bravo.example:8443' },
    'help-accept': { session: 'c2Vzc2lvbi0wMDAx', helpers: [{ peer: bob.id, weightRps: 400, weightBytesPerSec: 3600000, mirrorUrl: 'https://mirror.bravo.example:8443' }] },
    'help-release': { session: 'c2Vzc2lvbi0wMDAx', reason: 'crowd-over' },
    standby: {
      id: 'c3RhbmRieS0wMDAx', site: 'alpha', siteUrl: 'https://alpha.example', revision: 3, standbys: [bob.id],
      manifest: [{ path: '/', size: 5120, type: 'text/html; charset=utf-8', sha256: sha('a') }, { path: '/img/hero.jpg?v=2', size: 81920, type: 'image/jpeg', sha256: sha('b') }]
    },
    delegation: { session: 'c2Vzc2lvbi0wMDAx', helper: bob.id, round: 3, requests: 12000, bytes: 480000000, final: false },
    receipt: { session: 'c2Vzc2lvbi0wMDAx', beneficiary: alice.id, round: 3, delegation: sha('d'), requests: 11950, bytes: 478000000 },
    attestation: { session: 'c2Vzc2lvbi0wMDAx', site: 'alpha', path: '/img/hero.jpg?v=2', sha256: sha('b') },
    'gov-proposal': {
      entry: { v: 1, consortium: 'reef-demo', height: 4, prev: sha('e'), action: { kind: 'expel', peer: bob.id, reason: 'ledger: equivocation', evidence: [sha('f')] }, proposedAt: VECTOR_NOW - 2_000 },
      evidence: [{ kind: 'freeloading', taken: 3221225472, credit: 1073741824 }]
    },
    'gov-vote': { consortium: 'reef-demo', proposal: sha('1'), height: 4, sig: 'A'.repeat(85) + 'A' },
    'gov-entry': { entry: { body: { v: 1, consortium: 'reef-demo', height: 1, prev: sha('2'), action: { kind: 'leave', peer: bob.id }, proposedAt: VECTOR_NOW - 5_000 }, sigs: [] } },
    invitation: { consortium: 'reef-demo', charter: sha('3'), nonce: 'bm9uY2UtMDAwMDAwMDAx', expiresAt: VECTOR_NOW + 86_400_000, addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${alice.id}`] },
    'join-request': { consortium: 'reef-demo', invitation: sha('4'), member: { peer: bob.id, site: 'bravo', mirrorUrl: 'https://mirror.bravo.example' } }
  }
  const authorOf: Record<RecordType, typeof alice> = {
    'load-report': alice, 'help-request': alice, 'help-offer': bob, 'help-accept': alice, 'help-release': alice, standby: alice, delegation: alice, receipt: bob,
    attestation: bob, 'gov-proposal': alice, 'gov-vote': alice, 'gov-entry': alice, invitation: alice, 'join-request': bob
  }
  const valid: ValidRecordVector[] = []
  let seq = 1_790_000_000_000_000
  for (const type of Object.keys(bodies) as RecordType[]) {
    const k = authorOf[type]
    seq += 1
    const ts = VECTOR_NOW - 1_000
    const bytes = await signRecord(k.key, k.id, type, bodies[type] as never, { seq, ts })
    valid.push({ description: `a valid ${type}`, key: k.name, type, seq, ts, body: bodies[type], recordHex: hex(bytes) })
  }
  // Unknown body fields are ignored but signed.
  {
    const payload = { type: 'help-release', v: 1, author: alice.id, seq: seq + 1, ts: VECTOR_NOW - 1_000, body: { session: 'c2Vzc2lvbi0wMDAx', reason: 'crowd-over', note: 'fields a receiver does not know are ignored' } }
    valid.push({ description: 'a help-release with an unknown body field (ignored, still signed)', key: 'alice', type: 'help-release', seq: seq + 1, ts: payload.ts, body: payload.body, recordHex: hex(await rawRecord(alice.key, 'help-release', payload)) })
  }
  // r2 senders leave the bytes/s fields out: still valid; receivers fall back (SPEC §Capacity in bytes).
  {
    const r2: Array<[RecordType, typeof alice, object]> = [
      ['load-report', alice, { site: 'alpha', siteUrl: 'https://alpha.example', mirrorUrl: 'https://mirror.alpha.example', state: 'normal', capacityRps: 50, demandRps: 12, originRps: 12, spareRps: 500, helping: [{ site: 'charlie', rps: 12 }] }],
      ['help-request', alice, { session: 'c2Vzc2lvbi0wMDAy', site: 'alpha', siteUrl: 'https://alpha.example', neededRps: 850, manifest: [] }],
      ['help-offer', bob, { session: 'c2Vzc2lvbi0wMDAy', to: alice.id, offeredRps: 400, mirrorUrl: 'https://mirror.bravo.example:8443' }],
      ['help-accept', alice, { session: 'c2Vzc2lvbi0wMDAy', helpers: [{ peer: bob.id, weightRps: 400, mirrorUrl: 'https://mirror.bravo.example:8443' }] }]
    ]
    for (const [type, k, body] of r2) {
      seq += 1
      const ts = VECTOR_NOW - 1_000
      const bytes = await signRecord(k.key, k.id, type, body as never, { seq, ts })
      valid.push({ description: `an r2 ${type} without the bytes/s fields`, key: k.name, type, seq, ts, body, recordHex: hex(bytes) })
    }
  }

  const base = { type: 'help-release', v: 1, author: alice.id, seq: 7, ts: VECTOR_NOW - 1_000, body: bodies['help-release'] }
  const good = await rawRecord(alice.key, 'help-release', base)
  const goodText = new TextDecoder().decode(good)
  const invalid: InvalidRecordVector[] = []
  const add = (description: string, bytes: Uint8Array, error: string, extra: Partial<InvalidRecordVector> = {}): void => {
    invalid.push({ description, recordHex: hex(bytes), now: VECTOR_NOW, error, ...extra })
  }
  add('body changed after signing', utf8(goodText.replace('crowd-over', 'shutdown')), 'ERR_BAD_SIGNATURE')
  add('signed by another key than the author\'s', await rawRecord(bob.key, 'help-release', base), 'ERR_BAD_SIGNATURE')
  add('signature made under the help-request domain', await rawRecord(alice.key, 'help-request', base), 'ERR_BAD_SIGNATURE')
  add('a help-release where a help-offer is expected', good, 'ERR_WRONG_DOMAIN', { expectType: 'help-offer' })
  add('unknown record version 2', await rawRecord(alice.key, 'help-release', { ...base, v: 2 }), 'ERR_UNKNOWN_VERSION')
  add('unknown record type', await rawRecord(alice.key, 'help-cancel', { ...base, type: 'help-cancel' }), 'ERR_UNKNOWN_TYPE')
  add('record type named like an inherited object property', await rawRecord(alice.key, 'toString', { ...base, type: 'toString' }), 'ERR_UNKNOWN_TYPE')
  add('older than the help-release age limit (60 s)', await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW - 60_001 }), 'ERR_EXPIRED')
  add('dated more than 30 s in the future', await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW + 30_001 }), 'ERR_FUTURE_TIMESTAMP')
  add('body fails its schema (reason not in the enum)', await rawRecord(alice.key, 'help-release', { ...base, body: { session: 'c2Vzc2lvbi0wMDAx', reason: 'bored' } }), 'ERR_SCHEMA')
  add('help-offer whose mirrorUrl carries credentials', await rawRecord(bob.key, 'help-offer', { ...base, type: 'help-offer', author: bob.id, body: { ...bodies['help-offer'], mirrorUrl: 'https://user:pw@mirror.bravo.example' } }), 'ERR_SCHEMA')
  add('help-offer with a negative offeredBytesPerSec', await rawRecord(bob.key, 'help-offer', { ...base, type: 'help-offer', author: bob.id, body: { ...bodies['help-offer'], offeredBytesPerSec: -1 } }), 'ERR_SCHEMA')
  add('load-report with spareBytesPerSec over MAX_BYTES_PER_SEC', await rawRecord(alice.key, 'load-report', { ...base, type: 'load-report', body: { ...bodies['load-report'], spareBytesPerSec: 1_000_000_000_001 } }), 'ERR_SCHEMA')
  add('help-accept whose weightBytesPerSec is a string', await rawRecord(alice.key, 'help-accept', { ...base, type: 'help-accept', body: { session: 'c2Vzc2lvbi0wMDAx', helpers: [{ peer: bob.id, weightRps: 400, weightBytesPerSec: '3600000', mirrorUrl: 'https://mirror.bravo.example:8443' }] } }), 'ERR_SCHEMA')
  add('a standby record naming no standby', await rawRecord(alice.key, 'standby', { ...base, type: 'standby', body: { ...bodies.standby, standbys: [] } }), 'ERR_SCHEMA')
  add('a standby record naming more than MAX_STANDBYS (8) standbys', await rawRecord(alice.key, 'standby', { ...base, type: 'standby', body: { ...bodies.standby, standbys: Array.from({ length: 9 }, () => bob.id) } }), 'ERR_SCHEMA')
  add('a load report whose standingBy revision is 0', await rawRecord(alice.key, 'load-report', { ...base, type: 'load-report', body: { ...bodies['load-report'], standingBy: [{ site: 'bravo', revision: 0, heldBytes: 10 }] } }), 'ERR_SCHEMA')
  add('manifest path starting with //', await rawRecord(alice.key, 'help-request', { ...base, type: 'help-request', body: { ...bodies['help-request'], manifest: [{ path: '//evil.example/x', size: 1, type: 'text/html', sha256: sha('c') }] } }), 'ERR_SCHEMA')
  add('extra field in the envelope', canonicalBytes({ ...JSON.parse(goodText) as object, extra: 1 }), 'ERR_SCHEMA')
  add('author is not a peer id', await rawRecord(alice.key, 'help-release', { ...base, author: 'QmNotAnEd25519PeerIdAtAllNotAnEd25519PeerIdAtAll' }), 'ERR_SCHEMA')
  {
    const parsed = JSON.parse(goodText) as { payload: unknown, sig: string }
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(parsed.sig.slice(-1))
    add('signature with a non-canonical last base64url character', await rawRecord(alice.key, 'help-release', base, parsed.sig.slice(0, 85) + alphabet[last ^ 1]), 'ERR_SCHEMA')
  }
  add('not canonical: white space', utf8(goodText.replace('{"payload"', '{ "payload"')), 'ERR_ENCODING')
  add('not canonical: UTF-8 byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, ...good]), 'ERR_ENCODING')
  add('not JSON', utf8('payload=1'), 'ERR_ENCODING')
  add('invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'ERR_ENCODING')
  add('larger than MAX_RECORD_BYTES', utf8(`"${'x'.repeat(256 * 1024)}"`), 'ERR_OVERSIZE')

  const canonicalValid: CanonicalVector[] = [
    { description: 'keys sorted by UTF-16 code units', value: { b: 1, a: [true, null, 'é'], A: { z: -3, y: 0 } }, canonicalHex: '' },
    { description: 'string escapes as ECMAScript JSON.stringify', value: { s: 'line\nbreak "quoted" \u0001 \u2028 😀' }, canonicalHex: '' },
    { description: 'largest safe integer', value: { n: 9007199254740991, m: -9007199254740991 }, canonicalHex: '' }
  ].map(v => ({ ...v, canonicalHex: hex(canonicalBytes(v.value)) }))
  const canonicalInvalid: InvalidCanonicalVector[] = [
    { description: 'fraction', inputHex: hex(utf8('{"n":1.5}')), maxBytes: 1024, error: 'ERR_ENCODING' },
    { description: 'exponent', inputHex: hex(utf8('{"n":1e3}')), maxBytes: 1024, error: 'ERR_ENCODING' },
    { description: 'unsorted keys', inputHex: hex(utf8('{"b":1,"a":2}')), maxBytes: 1024, error: 'ERR_ENCODING' },
    { description: 'duplicate keys', inputHex: hex(utf8('{"a":1,"a":1}')), maxBytes: 1024, error: 'ERR_ENCODING' },
    { description: 'unsafe integer', inputHex: hex(utf8('{"n":9007199254740993}')), maxBytes: 1024, error: 'ERR_ENCODING' },
    { description: 'over the size limit', inputHex: hex(utf8('{"a":1}')), maxBytes: 6, error: 'ERR_OVERSIZE' }
  ]
  const frames: FrameVector[] = [
    { description: 'fetch request', frame: 'fetch-request', value: { v: 1, session: 'c2Vzc2lvbi0wMDAx', path: '/img/hero.jpg?v=2' }, hex: '' },
    { description: 'fetch response head', frame: 'fetch-response-head', value: { v: 1, status: 200, headers: { 'content-type': 'image/jpeg', etag: '"abc"' }, size: 81920, sha256: sha('b') }, hex: '' },
    { description: 'refusal head', frame: 'fetch-response-head', value: { v: 1, status: 403, headers: {}, size: 0 }, hex: '' }
  ].map(f => ({ ...f, frame: f.frame as FrameVector['frame'], hex: hex(canonicalBytes(f.value)) }))
  frames.push(
    { description: 'fetch request with an unknown field', frame: 'fetch-request', hex: hex(canonicalBytes({ v: 1, session: 'c2Vzc2lvbi0wMDAx', path: '/', x: 1 })), error: 'ERR_SCHEMA' },
    { description: 'fetch request of version 2', frame: 'fetch-request', hex: hex(canonicalBytes({ v: 2, session: 'c2Vzc2lvbi0wMDAx', path: '/' })), error: 'ERR_UNKNOWN_VERSION' },
    { description: 'response head of version 2', frame: 'fetch-response-head', hex: hex(canonicalBytes({ v: 2, status: 200, headers: {}, size: 0 })), error: 'ERR_UNKNOWN_VERSION' },
    { description: 'response head over the frame size limit', frame: 'fetch-response-head', hex: hex(canonicalBytes({ v: 1, status: 200, headers: { 'x-a': 'a'.repeat(16 * 1024) }, size: 0 })), error: 'ERR_OVERSIZE' },
    { description: 'response head with a header value holding CR LF', frame: 'fetch-response-head', hex: hex(canonicalBytes({ v: 1, status: 200, headers: { 'content-type': 'text/html\r\nset-cookie: a=b' }, size: 1 })), error: 'ERR_SCHEMA' },
    { description: 'fetch request that is not canonical JSON', frame: 'fetch-request', hex: hex(utf8('{"v":1, "path":"/"}')), error: 'ERR_ENCODING' }
  )
  return {
    version: 1,
    now: VECTOR_NOW,
    keys: [alice, bob].map(k => ({ name: k.name, seedHex: k.seedHex, peerId: k.id })),
    records: { valid, invalid },
    canonical: { valid: canonicalValid, invalid: canonicalInvalid },
    frames
  }
}
