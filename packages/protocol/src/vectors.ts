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
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { canonicalBytes } from './canonical.ts'
import type { FrameKind } from './conformance.ts'
import { FETCH_CHUNK_BYTES, MAX_FETCH_FRAME_BYTES, MAX_OBJECT_BYTES, govTopic, helpTopic, ledgerTopic, loadTopic } from './constants.ts'
import { signRecord, signingInput } from './envelope.ts'
import { lengthPrefixed } from './framing.ts'
import type { AuthorStanding } from './gossip.ts'
import type { RecordBody, RecordType } from './messages.ts'

export interface VectorKey {
  name: string
  seedHex: string
  peerId: string
}
/** `signable`: an implementation's `sign` of this body with this key, seq and ts MUST give exactly these bytes. */
export interface ValidRecordVector {
  description: string
  key: string
  type: RecordType
  seq: number
  ts: number
  body: unknown
  recordHex: string
  signable?: boolean
}
/** `topic` and `from`: verify as a gossip receiver would (the topic it arrived on, the message's `from`). */
export interface InvalidRecordVector {
  description: string
  recordHex: string
  now: number
  expectType?: RecordType
  topic?: string
  from?: string
  error: string
}
/** A gossipsub validator's answer for a record: accept, or ignore / reject with the code of the first failure. */
export interface GossipVector {
  description: string
  recordHex: string
  now: number
  topic: string
  from: string
  lastSeq?: number
  standing?: AuthorStanding
  verdict: 'accept' | 'ignore' | 'reject'
  code?: string
}
export interface BaseUrlVector {
  description: string
  value: string
  canonical?: string
  error?: string
}
export interface CanonicalVector {
  description: string
  value: unknown
  canonicalHex: string
}
export interface InvalidCanonicalVector {
  description: string
  inputHex: string
  maxBytes: number
  error: string
}
/** One frame's payload, hex, without its varint length prefix. */
export interface FrameVector {
  description: string
  frame: FrameKind
  hex: string
  error?: string
  value?: unknown
}
/** What a responder sent on one fetch stream (head and body chunk frames, length prefixes included), as the requester reads it. */
export interface StreamVector {
  description: string
  hex: string
  expected?: { size: number; sha256: string }
  head?: unknown
  bodyHex?: string
  error?: string
}

export interface VectorSet {
  version: 1
  /** All valid records are dated here; verify them with now = this value. */
  now: number
  keys: VectorKey[]
  records: { valid: ValidRecordVector[]; invalid: InvalidRecordVector[]; gossip: GossipVector[]; baseUrls: BaseUrlVector[] }
  canonical: { valid: CanonicalVector[]; invalid: InvalidCanonicalVector[] }
  frames: FrameVector[]
  streams: StreamVector[]
}

export const VECTOR_NOW = 1_790_000_000_000

/** Where this package keeps records.json, canonical.json and frames.json. */
export const PROTOCOL_VECTORS_DIR = new URL('../vectors/', import.meta.url)

/** Read records.json, canonical.json and frames.json back into one VectorSet. */
export async function readVectorSet(dir: URL = PROTOCOL_VECTORS_DIR): Promise<VectorSet> {
  const read = async (name: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(new URL(name, dir), 'utf8')) as Record<string, unknown>
  const records = await read('records.json')
  const canonical = await read('canonical.json')
  const frames = await read('frames.json')
  return {
    version: 1,
    now: records.now as number,
    keys: records.keys as VectorSet['keys'],
    records: {
      valid: records.valid as VectorSet['records']['valid'],
      invalid: records.invalid as VectorSet['records']['invalid'],
      gossip: records.gossip as VectorSet['records']['gossip'],
      baseUrls: records.baseUrls as VectorSet['records']['baseUrls']
    },
    canonical: { valid: canonical.valid as VectorSet['canonical']['valid'], invalid: canonical.invalid as VectorSet['canonical']['invalid'] },
    frames: frames.frames as VectorSet['frames'],
    streams: frames.streams as VectorSet['streams']
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

async function keyFromSeed(name: string, fill: number): Promise<{ name: string; key: PrivateKey; id: string; seedHex: string }> {
  const seed = new Uint8Array(32).fill(fill)
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  return { name, key, id: peerIdFromPrivateKey(key).toString(), seedHex: hex(seed) }
}

/** Sign an arbitrary payload under an arbitrary domain (to build records signRecord refuses). */
async function rawRecord(key: PrivateKey, domainType: string, payload: unknown, sigOverride?: string): Promise<Uint8Array> {
  const sig = sigOverride ?? Buffer.from(await key.sign(signingInput(domainType, payload))).toString('base64url')
  return canonicalBytes({ payload, sig })
}

export async function makeVectors(): Promise<VectorSet> {
  const alice = await keyFromSeed('alice', 1)
  const bob = await keyFromSeed('bob', 2)
  const sha = (c: string): string => c.repeat(64)
  const bodies: { [T in RecordType]: RecordBody<T> } = {
    'load-report': {
      site: 'alpha',
      siteUrl: 'https://alpha.example',
      mirrorUrl: 'https://mirror.alpha.example',
      state: 'struck',
      capacityRps: 50,
      demandRps: 900,
      originRps: 43,
      spareRps: 0,
      helping: [{ site: 'charlie', rps: 12, bytesPerSec: 480000 }],
      uplinkBytesPerSec: 4000000,
      sentBytesPerSec: 3650000,
      spareBytesPerSec: 0,
      demandBytesPerSec: 11200000,
      queuedBytes: 1800000,
      standingBy: [{ site: 'charlie', revision: 7, heldBytes: 2400000 }]
    },
    'help-request': {
      session: 'c2Vzc2lvbi0wMDAx',
      site: 'alpha',
      siteUrl: 'https://alpha.example',
      neededRps: 850,
      neededBytesPerSec: 7600000,
      manifest: [
        { path: '/', size: 5120, type: 'text/html; charset=utf-8', sha256: sha('a') },
        { path: '/img/hero.jpg?v=2', size: 81920, type: 'image/jpeg', sha256: sha('b') }
      ]
    },
    'help-offer': { session: 'c2Vzc2lvbi0wMDAx', to: alice.id, offeredRps: 400, offeredBytesPerSec: 3600000, mirrorUrl: 'https://mirror.bravo.example:8443' },
    'help-accept': {
      session: 'c2Vzc2lvbi0wMDAx',
      helpers: [{ peer: bob.id, weightRps: 400, weightBytesPerSec: 3600000, mirrorUrl: 'https://mirror.bravo.example:8443' }]
    },
    'help-release': { session: 'c2Vzc2lvbi0wMDAx', reason: 'crowd-over' },
    standby: {
      id: 'c3RhbmRieS0wMDAx',
      site: 'alpha',
      siteUrl: 'https://alpha.example',
      revision: 3,
      standbys: [bob.id],
      manifest: [
        { path: '/', size: 5120, type: 'text/html; charset=utf-8', sha256: sha('a') },
        { path: '/img/hero.jpg?v=2', size: 81920, type: 'image/jpeg', sha256: sha('b') }
      ]
    },
    delegation: { session: 'c2Vzc2lvbi0wMDAx', helper: bob.id, round: 3, requests: 12000, bytes: 480000000, final: false },
    receipt: { session: 'c2Vzc2lvbi0wMDAx', beneficiary: alice.id, round: 3, delegation: sha('d'), requests: 11950, bytes: 478000000 },
    attestation: { session: 'c2Vzc2lvbi0wMDAx', site: 'alpha', path: '/img/hero.jpg?v=2', sha256: sha('b') },
    'gov-proposal': {
      entry: {
        v: 1,
        consortium: 'reef-demo',
        height: 4,
        prev: sha('e'),
        action: { kind: 'expel', peer: bob.id, reason: 'ledger: equivocation', evidence: [sha('f')] },
        proposedAt: VECTOR_NOW - 2_000
      },
      evidence: [{ kind: 'freeloading', taken: 3221225472, credit: 1073741824 }]
    },
    'gov-vote': { consortium: 'reef-demo', proposal: sha('1'), height: 4, sig: 'A'.repeat(85) + 'A' },
    'gov-entry': {
      entry: {
        body: { v: 1, consortium: 'reef-demo', height: 1, prev: sha('2'), action: { kind: 'leave', peer: bob.id }, proposedAt: VECTOR_NOW - 5_000 },
        sigs: []
      }
    },
    invitation: {
      consortium: 'reef-demo',
      charter: sha('3'),
      nonce: 'bm9uY2UtMDAwMDAwMDAx',
      expiresAt: VECTOR_NOW + 86_400_000,
      addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${alice.id}`]
    },
    'join-request': { consortium: 'reef-demo', invitation: sha('4'), member: { peer: bob.id, site: 'bravo', mirrorUrl: 'https://mirror.bravo.example' } },
    // Last, so that adding it (r5) left the earlier vectors' seq and bytes as they were.
    'gov-votes': { consortium: 'reef-demo', proposal: sha('1'), height: 4, votes: [{ peer: bob.id, sig: 'B'.repeat(85) + 'A' }] }
  }
  const authorOf: Record<RecordType, typeof alice> = {
    'load-report': alice,
    'help-request': alice,
    'help-offer': bob,
    'help-accept': alice,
    'help-release': alice,
    standby: alice,
    delegation: alice,
    receipt: bob,
    attestation: bob,
    'gov-proposal': alice,
    'gov-vote': alice,
    'gov-entry': alice,
    invitation: alice,
    'join-request': bob,
    'gov-votes': alice
  }
  const valid: ValidRecordVector[] = []
  let seq = 1_790_000_000_000_000
  for (const type of Object.keys(bodies) as RecordType[]) {
    const k = authorOf[type]
    // Types added since r4 take seqs of their own, so the vectors after these keep theirs.
    const own = type === 'gov-votes' ? 1_790_000_000_000_500 : (seq += 1)
    const ts = VECTOR_NOW - 1_000
    const bytes = await signRecord(k.key, k.id, type, bodies[type] as never, { seq: own, ts })
    valid.push({ description: `a valid ${type}`, key: k.name, type, seq: own, ts, body: bodies[type], recordHex: hex(bytes), signable: true })
  }
  // Unknown body fields are ignored but signed.
  {
    const payload = {
      type: 'help-release',
      v: 1,
      author: alice.id,
      seq: seq + 1,
      ts: VECTOR_NOW - 1_000,
      body: { session: 'c2Vzc2lvbi0wMDAx', reason: 'crowd-over', note: 'fields a receiver does not know are ignored' }
    }
    valid.push({
      description: 'a help-release with an unknown body field (ignored, still signed)',
      key: 'alice',
      type: 'help-release',
      seq: seq + 1,
      ts: payload.ts,
      body: payload.body,
      recordHex: hex(await rawRecord(alice.key, 'help-release', payload))
    })
  }
  // r2 senders leave the bytes/s fields out: still valid; receivers fall back (SPEC §Capacity in bytes).
  {
    const r2: Array<[RecordType, typeof alice, object]> = [
      [
        'load-report',
        alice,
        {
          site: 'alpha',
          siteUrl: 'https://alpha.example',
          mirrorUrl: 'https://mirror.alpha.example',
          state: 'normal',
          capacityRps: 50,
          demandRps: 12,
          originRps: 12,
          spareRps: 500,
          helping: [{ site: 'charlie', rps: 12 }]
        }
      ],
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

  // r3 clarifications: what receivers accept (SPEC.md §Receiver behaviour, §Versions and unknown fields, §Records).
  {
    const manifestEntry = { path: '/', size: 5120, type: 'text/html; charset=utf-8', sha256: sha('a') }
    const clarified: Array<[string, RecordType, typeof alice, object]> = [
      [
        'a struck load report advertising spare capacity: accepted (receivers read its spare as 0)',
        'load-report',
        alice,
        { ...bodies['load-report'], state: 'struck', spareRps: 25, spareBytesPerSec: 100000 }
      ],
      [
        'a load report with an unknown field inside a helping entry (ignored)',
        'load-report',
        alice,
        { ...bodies['load-report'], helping: [{ site: 'charlie', rps: 12, bytesPerSec: 480000, note: 'ignored' }] }
      ],
      [
        'a load report with an unknown field inside a standingBy entry (ignored)',
        'load-report',
        alice,
        { ...bodies['load-report'], standingBy: [{ site: 'charlie', revision: 7, heldBytes: 2400000, note: 'ignored' }] }
      ],
      [
        'a help-request with an unknown field inside a manifest entry (ignored)',
        'help-request',
        alice,
        { ...bodies['help-request'], manifest: [{ ...manifestEntry, note: 'ignored' }] }
      ],
      [
        'a help-accept with an unknown field inside a helpers entry (ignored)',
        'help-accept',
        alice,
        {
          ...bodies['help-accept'],
          helpers: [{ peer: bob.id, weightRps: 400, weightBytesPerSec: 3600000, mirrorUrl: 'https://mirror.bravo.example:8443', note: 'ignored' }]
        }
      ],
      [
        'a help-offer whose mirrorUrl is not in canonical form (upper case, default port, trailing /): accepted, read as https://mirror.bravo.example',
        'help-offer',
        bob,
        { ...bodies['help-offer'], mirrorUrl: 'HTTPS://Mirror.Bravo.EXAMPLE:443/' }
      ],
      [
        'a help-request whose manifest entry has a 256-character type with spaces, and the largest size (MAX_OBJECT_BYTES)',
        'help-request',
        alice,
        { ...bodies['help-request'], manifest: [{ ...manifestEntry, size: MAX_OBJECT_BYTES, type: 'text/plain; x=' + 'a b'.repeat(80) + 'z'.repeat(2) }] }
      ],
      [
        'a gov-proposal whose reason is 512 astral characters: 512 code points (the limit), though 1024 UTF-16 code units',
        'gov-proposal',
        alice,
        {
          ...bodies['gov-proposal'],
          entry: { ...bodies['gov-proposal'].entry, action: { kind: 'expel', peer: bob.id, reason: '\u{1F600}'.repeat(512), evidence: [sha('f')] } }
        }
      ]
    ]
    for (const [description, type, k, body] of clarified) {
      seq += 1
      const ts = VECTOR_NOW - 1_000
      const bytes = await rawRecord(k.key, type, { type, v: 1, author: k.id, seq, ts, body })
      valid.push({ description, key: k.name, type, seq, ts, body, recordHex: hex(bytes), signable: true })
    }
    // seq at both ends of its range (0 and 2^53 - 1).
    for (const edge of [0, Number.MAX_SAFE_INTEGER]) {
      const ts = VECTOR_NOW - 1_000
      const bytes = await signRecord(alice.key, alice.id, 'help-release', bodies['help-release'], { seq: edge, ts })
      valid.push({
        description: `a help-release with seq ${edge}`,
        key: 'alice',
        type: 'help-release',
        seq: edge,
        ts,
        body: bodies['help-release'],
        recordHex: hex(bytes),
        signable: true
      })
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
  add("signed by another key than the author's", await rawRecord(bob.key, 'help-release', base), 'ERR_BAD_SIGNATURE')
  add('signature made under the help-request domain', await rawRecord(alice.key, 'help-request', base), 'ERR_BAD_SIGNATURE')
  add('a help-release where a help-offer is expected', good, 'ERR_WRONG_DOMAIN', { expectType: 'help-offer' })
  add('unknown record version 2', await rawRecord(alice.key, 'help-release', { ...base, v: 2 }), 'ERR_UNKNOWN_VERSION')
  add('unknown record type', await rawRecord(alice.key, 'help-cancel', { ...base, type: 'help-cancel' }), 'ERR_UNKNOWN_TYPE')
  add('record type named like an inherited object property', await rawRecord(alice.key, 'toString', { ...base, type: 'toString' }), 'ERR_UNKNOWN_TYPE')
  add('older than the help-release age limit (60 s)', await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW - 60_001 }), 'ERR_EXPIRED')
  add('dated more than 30 s in the future', await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW + 30_001 }), 'ERR_FUTURE_TIMESTAMP')
  add(
    'body fails its schema (reason not in the enum)',
    await rawRecord(alice.key, 'help-release', { ...base, body: { session: 'c2Vzc2lvbi0wMDAx', reason: 'bored' } }),
    'ERR_SCHEMA'
  )
  add(
    'help-offer whose mirrorUrl carries credentials',
    await rawRecord(bob.key, 'help-offer', {
      ...base,
      type: 'help-offer',
      author: bob.id,
      body: { ...bodies['help-offer'], mirrorUrl: 'https://user:pw@mirror.bravo.example' }
    }),
    'ERR_SCHEMA'
  )
  add(
    'help-offer with a negative offeredBytesPerSec',
    await rawRecord(bob.key, 'help-offer', { ...base, type: 'help-offer', author: bob.id, body: { ...bodies['help-offer'], offeredBytesPerSec: -1 } }),
    'ERR_SCHEMA'
  )
  add(
    'load-report with spareBytesPerSec over MAX_BYTES_PER_SEC',
    await rawRecord(alice.key, 'load-report', { ...base, type: 'load-report', body: { ...bodies['load-report'], spareBytesPerSec: 1_000_000_000_001 } }),
    'ERR_SCHEMA'
  )
  add(
    'help-accept whose weightBytesPerSec is a string',
    await rawRecord(alice.key, 'help-accept', {
      ...base,
      type: 'help-accept',
      body: {
        session: 'c2Vzc2lvbi0wMDAx',
        helpers: [{ peer: bob.id, weightRps: 400, weightBytesPerSec: '3600000', mirrorUrl: 'https://mirror.bravo.example:8443' }]
      }
    }),
    'ERR_SCHEMA'
  )
  add(
    'a standby record naming no standby',
    await rawRecord(alice.key, 'standby', { ...base, type: 'standby', body: { ...bodies.standby, standbys: [] } }),
    'ERR_SCHEMA'
  )
  add(
    'a standby record naming more than MAX_STANDBYS (8) standbys',
    await rawRecord(alice.key, 'standby', { ...base, type: 'standby', body: { ...bodies.standby, standbys: Array.from({ length: 9 }, () => bob.id) } }),
    'ERR_SCHEMA'
  )
  add(
    'a load report whose standingBy revision is 0',
    await rawRecord(alice.key, 'load-report', {
      ...base,
      type: 'load-report',
      body: { ...bodies['load-report'], standingBy: [{ site: 'bravo', revision: 0, heldBytes: 10 }] }
    }),
    'ERR_SCHEMA'
  )
  add(
    'manifest path starting with //',
    await rawRecord(alice.key, 'help-request', {
      ...base,
      type: 'help-request',
      body: { ...bodies['help-request'], manifest: [{ path: '//evil.example/x', size: 1, type: 'text/html', sha256: sha('c') }] }
    }),
    'ERR_SCHEMA'
  )
  add('extra field in the envelope', canonicalBytes({ ...(JSON.parse(goodText) as object), extra: 1 }), 'ERR_SCHEMA')
  add(
    'author is not a peer id',
    await rawRecord(alice.key, 'help-release', { ...base, author: 'QmNotAnEd25519PeerIdAtAllNotAnEd25519PeerIdAtAll' }),
    'ERR_SCHEMA'
  )
  {
    const parsed = JSON.parse(goodText) as { payload: unknown; sig: string }
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(parsed.sig.slice(-1))
    add(
      'signature with a non-canonical last base64url character',
      await rawRecord(alice.key, 'help-release', base, parsed.sig.slice(0, 85) + alphabet[last ^ 1]),
      'ERR_SCHEMA'
    )
  }
  add('not canonical: white space', utf8(goodText.replace('{"payload"', '{ "payload"')), 'ERR_ENCODING')
  add('not canonical: UTF-8 byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, ...good]), 'ERR_ENCODING')
  add('not JSON', utf8('payload=1'), 'ERR_ENCODING')
  add('invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 'ERR_ENCODING')
  add('larger than MAX_RECORD_BYTES', utf8(`"${'x'.repeat(256 * 1024)}"`), 'ERR_OVERSIZE')
  // r3 clarifications.
  const rec = async (k: typeof alice, type: string, body: unknown, over: object = {}): Promise<Uint8Array> =>
    rawRecord(k.key, type, { ...base, type, author: k.id, body, ...over })
  const loadReport = bodies['load-report']
  add('a load report on the help topic', await rec(alice, 'load-report', loadReport), 'ERR_WRONG_TOPIC', { topic: helpTopic('reef-demo') })
  add('a help-release on a topic that is not a Reef topic', good, 'ERR_WRONG_TOPIC', { topic: '/reef/reef-demo/help/2' })
  add('an attestation on the help topic (attestations are never gossiped)', await rec(bob, 'attestation', bodies.attestation), 'ERR_WRONG_TOPIC', {
    topic: helpTopic('reef-demo')
  })
  add(
    'r5: relayed votes on the gov topic (gov-votes travel only over a stream, never gossiped)',
    await rec(alice, 'gov-votes', bodies['gov-votes']),
    'ERR_WRONG_TOPIC',
    {
      topic: govTopic('reef-demo')
    }
  )
  add("a help-release whose author is not the gossip message's from", good, 'ERR_WRONG_AUTHOR', { topic: helpTopic('reef-demo'), from: bob.id })
  add(
    'a help-release of version 2 on the wrong topic: the topic is checked first',
    await rawRecord(alice.key, 'help-release', { ...base, v: 2 }),
    'ERR_WRONG_TOPIC',
    { topic: loadTopic('reef-demo') }
  )
  add(
    'an expired help-release on the wrong topic: the topic is checked first',
    await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW - 60_001 }),
    'ERR_WRONG_TOPIC',
    { topic: ledgerTopic('reef-demo') }
  )
  add(
    'a help-offer whose mirrorUrl has a path',
    await rec(bob, 'help-offer', { ...bodies['help-offer'], mirrorUrl: 'https://mirror.bravo.example/reef' }),
    'ERR_SCHEMA'
  )
  add(
    'a help-offer whose mirrorUrl has a query',
    await rec(bob, 'help-offer', { ...bodies['help-offer'], mirrorUrl: 'https://mirror.bravo.example/?a=1' }),
    'ERR_SCHEMA'
  )
  add(
    'a help-offer whose mirrorUrl is longer than 512 characters',
    await rec(bob, 'help-offer', {
      ...bodies['help-offer'],
      mirrorUrl: `https://${'m'.repeat(63)}.${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(63)}.${'g'.repeat(60)}.example`
    }),
    'ERR_SCHEMA'
  )
  add(
    'a help-offer whose mirrorUrl lacks the // (http:host)',
    await rec(bob, 'help-offer', { ...bodies['help-offer'], mirrorUrl: 'https:mirror.bravo.example' }),
    'ERR_SCHEMA'
  )
  add(
    'a gov-proposal whose evidence item carries an unknown field (evidence items are closed)',
    await rec(alice, 'gov-proposal', { ...bodies['gov-proposal'], evidence: [{ kind: 'freeloading', taken: 1, credit: 1, note: 'x' }] }),
    'ERR_SCHEMA'
  )
  add(
    'a gov-proposal whose entry body carries an unknown field (log entries are closed)',
    await rec(alice, 'gov-proposal', { ...bodies['gov-proposal'], entry: { ...bodies['gov-proposal'].entry, note: 'x' } }),
    'ERR_SCHEMA'
  )
  add(
    'a join-request whose member record carries an unknown field (member records are closed)',
    await rec(bob, 'join-request', { ...bodies['join-request'], member: { ...bodies['join-request'].member, note: 'x' } }),
    'ERR_SCHEMA'
  )
  add('a join-request whose member.peer is not its author', await rec(alice, 'join-request', bodies['join-request']), 'ERR_SCHEMA')
  add(
    'an invitation with an address that does not end in /p2p/<inviter>',
    await rec(alice, 'invitation', { ...bodies.invitation, addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${alice.id}`, `/ip4/127.0.0.1/tcp/4002/p2p/${bob.id}`] }),
    'ERR_SCHEMA'
  )
  add('an invitation with an address without /p2p/', await rec(alice, 'invitation', { ...bodies.invitation, addrs: ['/ip4/127.0.0.1/tcp/4001'] }), 'ERR_SCHEMA')
  add(
    'a manifest entry over MAX_OBJECT_BYTES',
    await rec(alice, 'help-request', { ...bodies['help-request'], manifest: [{ path: '/', size: MAX_OBJECT_BYTES + 1, type: 'text/html', sha256: sha('a') }] }),
    'ERR_SCHEMA'
  )
  add(
    'a manifest entry whose type is 257 characters',
    await rec(alice, 'help-request', { ...bodies['help-request'], manifest: [{ path: '/', size: 1, type: 'x'.repeat(257), sha256: sha('a') }] }),
    'ERR_SCHEMA'
  )
  add(
    'a manifest entry whose type holds a non-ASCII character',
    await rec(alice, 'help-request', {
      ...bodies['help-request'],
      manifest: [{ path: '/', size: 1, type: 'text/html; charset=\u00fctf-8', sha256: sha('a') }]
    }),
    'ERR_SCHEMA'
  )
  add(
    'a manifest entry whose type holds a line feed',
    await rec(alice, 'help-request', { ...bodies['help-request'], manifest: [{ path: '/', size: 1, type: 'text/html\nx: y', sha256: sha('a') }] }),
    'ERR_SCHEMA'
  )
  add(
    'a gov-proposal whose reason is 513 astral characters (513 code points)',
    await rec(alice, 'gov-proposal', {
      ...bodies['gov-proposal'],
      entry: { ...bodies['gov-proposal'].entry, action: { kind: 'expel', peer: bob.id, reason: '\u{1F600}'.repeat(513), evidence: [sha('f')] } }
    }),
    'ERR_SCHEMA'
  )
  add('a negative seq', await rawRecord(alice.key, 'help-release', { ...base, seq: -1 }), 'ERR_SCHEMA')
  add('a negative ts', await rawRecord(alice.key, 'help-release', { ...base, ts: -1 }), 'ERR_SCHEMA')
  add('a seq of 2^53 (not a safe integer)', utf8(goodText.replace('"seq":7', '"seq":9007199254740992')), 'ERR_ENCODING')

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
    {
      description: 'fetch response head',
      frame: 'fetch-response-head',
      value: { v: 1, status: 200, headers: { 'content-type': 'image/jpeg', etag: '"abc"' }, size: 81920, sha256: sha('b') },
      hex: ''
    },
    { description: 'refusal head', frame: 'fetch-response-head', value: { v: 1, status: 403, headers: {}, size: 0 }, hex: '' }
  ].map(f => ({ ...f, frame: f.frame as FrameVector['frame'], hex: hex(canonicalBytes(f.value)) }))
  frames.push(
    {
      description: 'fetch request with an unknown field',
      frame: 'fetch-request',
      hex: hex(canonicalBytes({ v: 1, session: 'c2Vzc2lvbi0wMDAx', path: '/', x: 1 })),
      error: 'ERR_SCHEMA'
    },
    {
      description: 'fetch request of version 2',
      frame: 'fetch-request',
      hex: hex(canonicalBytes({ v: 2, session: 'c2Vzc2lvbi0wMDAx', path: '/' })),
      error: 'ERR_UNKNOWN_VERSION'
    },
    {
      description: 'response head of version 2',
      frame: 'fetch-response-head',
      hex: hex(canonicalBytes({ v: 2, status: 200, headers: {}, size: 0 })),
      error: 'ERR_UNKNOWN_VERSION'
    },
    {
      description: 'response head over the frame size limit',
      frame: 'fetch-response-head',
      hex: hex(canonicalBytes({ v: 1, status: 200, headers: { 'x-a': 'a'.repeat(16 * 1024) }, size: 0 })),
      error: 'ERR_OVERSIZE'
    },
    {
      description: 'response head with a header value holding CR LF',
      frame: 'fetch-response-head',
      hex: hex(canonicalBytes({ v: 1, status: 200, headers: { 'content-type': 'text/html\r\nset-cookie: a=b' }, size: 1 })),
      error: 'ERR_SCHEMA'
    },
    { description: 'fetch request that is not canonical JSON', frame: 'fetch-request', hex: hex(utf8('{"v":1, "path":"/"}')), error: 'ERR_ENCODING' }
  )
  // r3 clarifications of the fetch stream frames (SPEC.md §Fetch stream).
  {
    const req = { v: 1, session: 'c2Vzc2lvbi0wMDAx', path: '/' }
    const head = { v: 1, status: 200, headers: {}, size: 1, sha256: sha('b') }
    const ok = (description: string, frame: FrameKind, value: object): void => {
      frames.push({ description, frame, hex: hex(canonicalBytes(value)), value })
    }
    const bad = (description: string, frame: FrameKind, value: object, error: string): void => {
      frames.push({ description, frame, hex: hex(canonicalBytes(value)), error })
    }
    ok('response head whose header values hold spaces and a tab (HTAB, SP and visible ASCII are allowed)', 'fetch-response-head', {
      ...head,
      headers: { 'cache-control': 'public,\tmax-age=60', 'content-type': 'text/html; charset=utf-8' }
    })
    ok('response head announcing the largest body (MAX_OBJECT_BYTES)', 'fetch-response-head', { ...head, size: MAX_OBJECT_BYTES })
    ok('a 503 head: size 0, no sha256', 'fetch-response-head', { v: 1, status: 503, headers: { 'retry-after': '1' }, size: 0 })
    bad('response head over MAX_OBJECT_BYTES', 'fetch-response-head', { ...head, size: MAX_OBJECT_BYTES + 1 }, 'ERR_SCHEMA')
    bad('a 200 head without sha256', 'fetch-response-head', { v: 1, status: 200, headers: {}, size: 1 }, 'ERR_SCHEMA')
    bad('a 404 head announcing a body', 'fetch-response-head', { v: 1, status: 404, headers: {}, size: 10 }, 'ERR_SCHEMA')
    bad('a 404 head with a sha256', 'fetch-response-head', { v: 1, status: 404, headers: {}, size: 0, sha256: sha('b') }, 'ERR_SCHEMA')
    bad('status 600', 'fetch-response-head', { ...head, status: 600 }, 'ERR_SCHEMA')
    bad('status 99', 'fetch-response-head', { v: 1, status: 99, headers: {}, size: 0 }, 'ERR_SCHEMA')
    bad(
      'a header value with a non-ASCII character',
      'fetch-response-head',
      { ...head, headers: { 'content-type': 'text/html; charset=\u00fctf-8' } },
      'ERR_SCHEMA'
    )
    bad('a header value with DEL (0x7f)', 'fetch-response-head', { ...head, headers: { etag: '"a\u007f"' } }, 'ERR_SCHEMA')
    bad('a header value of 1025 characters', 'fetch-response-head', { ...head, headers: { etag: 'a'.repeat(1025) } }, 'ERR_SCHEMA')
    bad('an upper-case header name', 'fetch-response-head', { ...head, headers: { 'Content-Type': 'text/html' } }, 'ERR_SCHEMA')
    bad('17 headers', 'fetch-response-head', { ...head, headers: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`x-h${i}`, 'a'])) }, 'ERR_SCHEMA')
    bad('fetch request of version 2 with an unknown field: the version is checked first', 'fetch-request', { ...req, v: 2, x: 1 }, 'ERR_UNKNOWN_VERSION')
    bad('response head of version 2 with an unknown field: the version is checked first', 'fetch-response-head', { ...head, v: 2, x: 1 }, 'ERR_UNKNOWN_VERSION')
    bad('fetch request whose v is the string "1"', 'fetch-request', { ...req, v: '1' }, 'ERR_SCHEMA')
    bad('fetch request without v', 'fetch-request', { session: req.session, path: '/' }, 'ERR_SCHEMA')
  }

  // Whole fetch streams as the requester reads them: the head frame, then body chunk frames.
  const streams: StreamVector[] = []
  {
    const body = utf8('hello, reef') // 11 bytes
    const bodySha = createHash('sha256').update(body).digest('hex')
    const emptySha = createHash('sha256').update(new Uint8Array(0)).digest('hex')
    const head = (over: object = {}): object => ({
      v: 1,
      status: 200,
      headers: { 'content-type': 'text/plain' },
      size: body.byteLength,
      sha256: bodySha,
      ...over
    })
    const lp = (b: Uint8Array): Uint8Array => lengthPrefixed(b)
    const cat = (...parts: Uint8Array[]): Uint8Array => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
      let o = 0
      for (const p of parts) {
        out.set(p, o)
        o += p.byteLength
      }
      return out
    }
    const headFrame = (over: object = {}): Uint8Array => lp(canonicalBytes(head(over)))
    const ok = (description: string, bytes: Uint8Array, h: object, b: Uint8Array, expected?: { size: number; sha256: string }): void => {
      streams.push({ description, hex: hex(bytes), ...(expected === undefined ? {} : { expected }), head: h, bodyHex: hex(b) })
    }
    const bad = (description: string, bytes: Uint8Array, error: string, expected?: { size: number; sha256: string }): void => {
      streams.push({ description, hex: hex(bytes), ...(expected === undefined ? {} : { expected }), error })
    }
    const part1 = body.subarray(0, 5)
    const part2 = body.subarray(5)
    ok(
      'a 200 whose 11-byte body comes in two chunk frames (5 + 6 bytes; size counts body bytes, not prefixes)',
      cat(headFrame(), lp(part1), lp(part2)),
      head(),
      body
    )
    ok('the same body in one chunk, checked against its manifest entry', cat(headFrame(), lp(body)), head(), body, { size: body.byteLength, sha256: bodySha })
    ok('a 200 with an empty body: no chunk frame at all', headFrame({ size: 0, sha256: emptySha }), head({ size: 0, sha256: emptySha }), new Uint8Array(0))
    ok('a 403: the head alone', lp(canonicalBytes({ v: 1, status: 403, headers: {}, size: 0 })), { v: 1, status: 403, headers: {}, size: 0 }, new Uint8Array(0))
    bad('nothing at all', new Uint8Array(0), 'ERR_FRAMING')
    bad(
      'a head frame whose prefix announces more than MAX_FETCH_FRAME_BYTES (checked before the payload is read)',
      cat(lengthPrefixed(new Uint8Array(MAX_FETCH_FRAME_BYTES + 1)).subarray(0, 3), canonicalBytes(head())),
      'ERR_OVERSIZE'
    )
    bad(
      'a chunk frame whose prefix announces more than FETCH_CHUNK_BYTES (checked before the payload is read)',
      cat(headFrame(), lengthPrefixed(new Uint8Array(FETCH_CHUNK_BYTES + 1)).subarray(0, 3), body),
      'ERR_OVERSIZE'
    )
    bad('an empty chunk frame', cat(headFrame(), lp(part1), lp(new Uint8Array(0)), lp(part2)), 'ERR_FRAMING')
    bad('the stream ends inside a chunk frame', cat(headFrame(), lp(part1), lp(part2).subarray(0, 4)), 'ERR_FRAMING')
    bad('the stream ends inside a length prefix', cat(headFrame(), lp(part1), new Uint8Array([0x80])), 'ERR_FRAMING')
    bad('the body ends short of size (the stream closes after the first chunk)', cat(headFrame(), lp(part1)), 'ERR_BODY_SIZE')
    bad('a chunk runs past size', cat(headFrame(), lp(part1), lp(part2), lp(utf8('!'))), 'ERR_BODY_SIZE')
    bad('bytes after a 404 head', cat(lp(canonicalBytes({ v: 1, status: 404, headers: {}, size: 0 })), lp(body)), 'ERR_BODY_SIZE')
    bad("a body whose SHA-256 is not the head's", cat(headFrame({ sha256: sha('c') }), lp(body)), 'ERR_BODY_HASH')
    bad('a body that matches the head but not the manifest entry', cat(headFrame(), lp(body)), 'ERR_BODY_HASH', { size: body.byteLength, sha256: sha('c') })
    bad("a head whose size is not the manifest entry's (checked before any chunk)", cat(headFrame(), lp(body)), 'ERR_BODY_SIZE', { size: 12, sha256: bodySha })
    bad('a 200 head without sha256', cat(lp(canonicalBytes({ v: 1, status: 200, headers: {}, size: body.byteLength })), lp(body)), 'ERR_SCHEMA')
  }

  // Gossipsub validator verdicts (SPEC.md §Gossip verdicts).
  const gossip: GossipVector[] = []
  {
    const topic = helpTopic('reef-demo')
    const g = (description: string, bytes: Uint8Array, verdict: GossipVector['verdict'], code: string | undefined, extra: Partial<GossipVector> = {}): void => {
      gossip.push({ description, recordHex: hex(bytes), now: VECTOR_NOW, topic, from: alice.id, ...extra, verdict, ...(code === undefined ? {} : { code }) })
    }
    g('a valid help-release on the help topic from its author', good, 'accept', undefined)
    g('its seq above the last accepted', good, 'accept', undefined, { lastSeq: 6 })
    g('its seq equal to the last accepted: a replay', good, 'ignore', 'ERR_REPLAY', { lastSeq: 7 })
    g('older than its age limit', await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW - 60_001 }), 'ignore', 'ERR_EXPIRED')
    g(
      'dated more than MAX_CLOCK_SKEW_MS ahead',
      await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW + 30_001 }),
      'ignore',
      'ERR_FUTURE_TIMESTAMP'
    )
    g('on the load topic', good, 'reject', 'ERR_WRONG_TOPIC', { topic: loadTopic('reef-demo') })
    g('relayed under another from than its author', good, 'reject', 'ERR_WRONG_AUTHOR', { from: bob.id })
    g('a body changed after signing', utf8(goodText.replace('crowd-over', 'shutdown')), 'reject', 'ERR_BAD_SIGNATURE')
    g(
      'a body that fails its schema',
      await rawRecord(alice.key, 'help-release', { ...base, body: { session: 'c2Vzc2lvbi0wMDAx', reason: 'bored' } }),
      'reject',
      'ERR_SCHEMA'
    )
    g('of version 2', await rawRecord(alice.key, 'help-release', { ...base, v: 2 }), 'reject', 'ERR_UNKNOWN_VERSION')
    g('not canonical JSON', utf8(goodText.replace('{"payload"', '{ "payload"')), 'reject', 'ERR_ENCODING')
    g('an unknown record type', await rawRecord(alice.key, 'help-cancel', { ...base, type: 'help-cancel' }), 'reject', 'ERR_UNKNOWN_TYPE')
    g(
      'an expired record on the wrong topic: the topic is checked first',
      await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW - 60_001 }),
      'reject',
      'ERR_WRONG_TOPIC',
      { topic: loadTopic('reef-demo') }
    )
    g("governed consortium: an author that is not a member in the receiver's log", good, 'ignore', 'ERR_NOT_MEMBER', { standing: 'non-member' })
    g('governed consortium: an expelled author', good, 'reject', 'ERR_EXPELLED', { standing: 'expelled' })
    g("governed consortium: an expelled author's replayed record: the author is judged before the replay check", good, 'reject', 'ERR_EXPELLED', {
      standing: 'expelled',
      lastSeq: 7
    })
    g(
      "governed consortium: an expelled author's expired record: freshness is checked before the author",
      await rawRecord(alice.key, 'help-release', { ...base, ts: VECTOR_NOW - 60_001 }),
      'ignore',
      'ERR_EXPIRED',
      { standing: 'expelled' }
    )
  }

  // Base URLs and their canonical form (SPEC.md §Records, base URL).
  const baseUrls: BaseUrlVector[] = [
    ['already canonical', 'https://mirror.bravo.example', 'https://mirror.bravo.example'],
    ['a trailing / is dropped', 'https://mirror.bravo.example/', 'https://mirror.bravo.example'],
    ['scheme and host are lower-cased', 'HTTPS://Mirror.Bravo.EXAMPLE', 'https://mirror.bravo.example'],
    ['the default port is dropped (https 443)', 'https://mirror.bravo.example:443/', 'https://mirror.bravo.example'],
    ['the default port is dropped (http 80)', 'http://mirror.bravo.example:80', 'http://mirror.bravo.example'],
    ['another port is kept', 'https://mirror.bravo.example:8443/', 'https://mirror.bravo.example:8443'],
    ['an IPv4 address and port', 'http://127.0.0.1:8081/', 'http://127.0.0.1:8081'],
    ['an IPv6 address is written as the WHATWG URL serialiser writes it', 'http://[0:0:0:0:0:0:0:1]:8081', 'http://[::1]:8081'],
    ['a path', 'https://mirror.bravo.example/reef', undefined],
    ['a query', 'https://mirror.bravo.example/?a=1', undefined],
    ['a fragment', 'https://mirror.bravo.example/#a', undefined],
    ['credentials', 'https://user:pw@mirror.bravo.example', undefined],
    ['another scheme', 'ftp://mirror.bravo.example', undefined],
    ['no // after the scheme', 'https:mirror.bravo.example', undefined],
    ['leading white space', ' https://mirror.bravo.example', undefined],
    ['a port out of range', 'https://mirror.bravo.example:65536', undefined],
    ['a non-ASCII host (send its A-label, xn--…)', 'https://b\u00fccher.example', undefined],
    [
      'longer than 512 characters',
      `https://${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(63)}.${'g'.repeat(63)}.${'h'.repeat(50)}.example`,
      undefined
    ]
  ].map(([description, value, canonical]) =>
    canonical === undefined ? { description: description!, value: value!, error: 'ERR_SCHEMA' } : { description: description!, value: value!, canonical }
  )

  return {
    version: 1,
    now: VECTOR_NOW,
    keys: [alice, bob].map(k => ({ name: k.name, seedHex: k.seedHex, peerId: k.id })),
    records: { valid, invalid, gossip, baseUrls },
    canonical: { valid: canonicalValid, invalid: canonicalInvalid },
    frames,
    streams
  }
}
