/**
 * Property tests over the network (issue "The Reef protocol, written down"): an attacker host
 * speaks gossipsub and the fetch stream to real Reef nodes on 127.0.0.1 and sends random and
 * mutated input. Properties: nothing crashes a node, nothing invalid reaches record listeners
 * or earns a fetch answer, every fuzzed stream ends, and valid traffic still flows afterwards.
 * Inputs come from a seeded PRNG, keys from fixed seeds.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey, Stream } from '@libp2p/interface'
import type { Message } from '@libp2p/gossipsub'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import { request } from 'undici'
import {
  FETCH_PROTOCOL,
  MAX_FETCH_FRAME_BYTES,
  MAX_RECORD_BYTES,
  canonicalBytes,
  decodeFetchRequest,
  decodeFetchResponseHead,
  encodeFetchRequest,
  helpTopic,
  loadTopic,
  signRecord
} from '@reef/protocol'
import type { FetchRequest, LoadReport, VerifiedRecord } from '@reef/protocol'
import { sha256Hex } from '../../src/origin/content-cache.ts'
import type { CachedObject } from '../../src/origin/content-cache.ts'
import { seededRandom } from '../../demo/crowd.ts'
import { startLocalConsortium, waitForMesh } from '../../demo/consortium.ts'
import type { LocalConsortium } from '../../demo/consortium.ts'
import { FetchRefusedError } from '../../src/errors.ts'
import { fetchFromPeer, registerFetchServer } from '../../src/p2p/fetch-stream.ts'
import { createReefLibp2p } from '../../src/p2p/host.ts'
import type { ReefLibp2p } from '../../src/p2p/host.ts'
import { RecordBus } from '../../src/p2p/record-bus.ts'
import type { ReefNode } from '../../src/reef-node.ts'

const LOAD = loadTopic('demo')
const HELP = helpTopic('demo')
const SESSION = 'sess-fuzz-accepted-01'
const JSONISH = [...'{}[]":,0123456789-. \\/atrufnleAZ_v']

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Poll `cond` until it holds; fail with `what` (and the last state) after `ms`. */
async function waitFor(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`)
    await new Promise(resolve => setTimeout(resolve, 15))
  }
}

function seedBytes(n: number): Uint8Array {
  const out = new Uint8Array(32)
  out.fill(n)
  out[0] = 0x52 // 'R'
  return out
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

class Rand {
  readonly next: () => number
  constructor(seed: number) {
    this.next = seededRandom(seed)
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)]
    if (x === undefined) throw new RangeError('pick from an empty list')
    return x
  }

  bytes(n: number, jsonish = this.next() < 0.5): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = jsonish ? this.pick(JSONISH).charCodeAt(0) : this.int(256)
    return out
  }
}

/** 1–3 byte-level edits (bit flip, truncation, insertion, deletion, duplication); never returns the input. */
function mutateBytes(src: Uint8Array, r: Rand): Uint8Array {
  let out = [...src]
  for (let k = 0, ops = 1 + r.int(3); k < ops; k++) {
    const i = r.int(out.length)
    switch (r.int(5)) {
      case 0:
        out[i] = (out[i] ?? 0) ^ (1 << r.int(8))
        break
      case 1:
        out = out.slice(0, r.int(out.length))
        break
      case 2:
        out.splice(r.int(out.length + 1), 0, r.next() < 0.5 ? r.pick(JSONISH).charCodeAt(0) : r.int(256))
        break
      case 3:
        out.splice(i, 1 + r.int(8))
        break
      default:
        out.splice(i, 0, ...out.slice(i, i + 1 + r.int(16)))
    }
  }
  const res = new Uint8Array(out)
  if (hex(res) === hex(src)) return src.subarray(0, src.byteLength - 1)
  return res
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/**
 * Field-level edits of a signed record that keep it canonical JSON, so that it gets past the
 * encoding checks and exercises schema, domain, signature and author checks. An edit may pick
 * the value already there (same bytes back); any other result is not a validly signed record.
 */
function mutateRecord(bytes: Uint8Array, r: Rand, otherSig: string, otherIds: string[]): Uint8Array {
  const rec = JSON.parse(Buffer.from(bytes).toString('utf8')) as { payload: Record<string, Json>; sig: string; [k: string]: Json }
  const p = rec.payload
  const body = p['body'] as Record<string, Json>
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  switch (r.int(14)) {
    case 0:
      p['type'] = r.pick(['load-report', 'help-request', 'help-offer', 'help-accept', 'help-release', 'nope', 'toString', '__proto__', ''])
      break
    case 1:
      p['v'] = r.pick([0, 2, -1, 1e6])
      break
    case 2:
      p['author'] = r.pick([...otherIds, 'QmNotAnEd25519Key', '1'.repeat(60)])
      break
    case 3:
      p['seq'] = (p['seq'] as number) + r.pick([1, -1, 1000])
      break
    case 4:
      p['ts'] = (p['ts'] as number) - r.pick([1, 20_000, 120_000])
      break
    case 5:
      p['ts'] = (p['ts'] as number) + r.pick([1, 60_000])
      break
    case 6:
      body[r.pick(Object.keys(body))] = r.pick<Json>([null, 0, -1, 'x', [], {}, 'evil', 99])
      break
    case 7:
      body['extra'] = r.int(1000)
      break
    case 8:
      delete body[r.pick(Object.keys(body))]
      break
    case 9:
      rec.sig = otherSig
      break
    case 10: {
      // Same 64 bytes, other spelling (base64url's last character carries spare bits) or other bytes.
      const last = rec.sig.at(-1) ?? 'A'
      const idx = B64.indexOf(last)
      rec.sig = rec.sig.slice(0, -1) + (B64[(idx & ~0x0f) | ((idx + 1 + r.int(15)) & 0x0f)] ?? 'A')
      break
    }
    case 11:
      rec.sig = r.pick([rec.sig.slice(0, -2), `${rec.sig}==`, rec.sig.replace(/^./, c => (c === 'A' ? 'B' : 'A')), ''])
      break
    case 12:
      rec['extra'] = true
      break
    default:
      p['extra'] = 1
  }
  return canonicalBytes(rec)
}

function loadReport(site: string, demandRps = 0): LoadReport {
  return {
    site,
    siteUrl: 'http://127.0.0.1:9',
    mirrorUrl: `http://mirror-${site}.localhost:9`,
    state: 'normal',
    capacityRps: 10,
    demandRps,
    originRps: 0,
    spareRps: 0,
    helping: []
  }
}

function firstAddr(node: ReefLibp2p): ReturnType<ReefLibp2p['getMultiaddrs']>[number] {
  const a = node.getMultiaddrs()[0]
  assert.ok(a !== undefined, 'host listens on an address')
  return a
}

async function frontAnswers(url: string): Promise<number> {
  const res = await request(`${url}/`, { signal: AbortSignal.timeout(5_000) })
  await res.body.dump()
  return res.statusCode
}

// ---------------------------------------------------------------------------------------------
// Shared set-up: a two-node consortium and an attacker host
// ---------------------------------------------------------------------------------------------

let c: LocalConsortium
let node0: ReefNode
let node1: ReefNode
let url0: string
let attacker: ReefLibp2p
let attackerKey: PrivateKey
let attackerId: string

before(async () => {
  c = await startLocalConsortium({ nodes: 2, capacityRps: 50, workers: 4, logLevel: 'silent' })
  const [n0, n1] = c.sites.map(s => s.node)
  assert.ok(n0 !== undefined && n1 !== undefined)
  node0 = n0
  node1 = n1
  url0 = c.sites[0]?.url ?? ''
  await waitForMesh(c, 10_000)
  attackerKey = await generateKeyPairFromSeed('Ed25519', seedBytes(1))
  attacker = await createReefLibp2p(attackerKey, ['/ip4/127.0.0.1/tcp/0'])
  attackerId = attacker.peerId.toString()
  await attacker.start()
  await attacker.dial(firstAddr(node0.libp2p))
})

after(async () => {
  await attacker?.stop()
  await c?.close()
})

// ---------------------------------------------------------------------------------------------
// 1. Gossip validators
// ---------------------------------------------------------------------------------------------

describe('gossip: the record validators under random and mutated messages', () => {
  const r = new Rand(0x6f55)
  /** Every record node 0 delivered to listeners that was not authored by node 1. */
  const delivered: VerifiedRecord[] = []
  /** Exact bytes of validly signed attacker records that node 0 may deliver (once per seq). */
  const allowed = new Set<string>()
  /** Genuine records of the consortium members, as relayed to the attacker. */
  const captured = new Map<string, Uint8Array>()
  let stopListening: () => void = () => {}
  let seq = 1_000_000
  let victimKey: PrivateKey
  let victimId: string

  /** Publish from the attacker and make sure gossipsub actually sent it to node 0. */
  async function publish(topic: string, data: Uint8Array): Promise<void> {
    const res = await attacker.services.pubsub.publish(topic, data)
    assert.ok(
      res.recipients.some(p => p.equals(node0.libp2p.peerId)),
      `published on ${topic} to node 0`
    )
  }

  /** After `sent` messages of which none may be accepted, wait until node 0 counted them all. */
  async function expectAllRejected(rejectedBefore: number, sent: number): Promise<void> {
    await waitFor(
      () => node0.bus.rejected - rejectedBefore >= sent,
      10_000,
      () => `${sent} rejections (have ${node0.bus.rejected - rejectedBefore})`
    )
    assert.equal(node0.bus.rejected - rejectedBefore, sent, 'each message is counted once')
  }

  function assertOnlyAllowedDelivered(): void {
    const seqs = new Set<number>()
    for (const rec of delivered) {
      assert.equal(rec.author, attackerId, "only the attacker's own records (and node 1's) reach listeners")
      assert.ok(allowed.has(hex(rec.bytes)), `delivered record seq ${rec.seq} is exactly a validly signed one`)
      assert.ok(!seqs.has(rec.seq), `seq ${rec.seq} delivered at most once`)
      seqs.add(rec.seq)
    }
  }

  before(async () => {
    victimKey = await generateKeyPairFromSeed('Ed25519', seedBytes(2))
    victimId = peerIdFromPrivateKey(victimKey).toString()
    stopListening = node0.bus.onRecord(rec => {
      if (rec.author !== node1.peerId) delivered.push(rec)
    })
    attacker.services.pubsub.addEventListener('message', (evt: CustomEvent<Message>) => {
      const m = evt.detail
      if (m.type === 'signed' && m.topic === LOAD) captured.set(m.from.toString(), m.data)
    })
    for (const t of [LOAD, HELP]) attacker.services.pubsub.subscribe(t)
    const subscribed = (host: ReefLibp2p, peer: ReefLibp2p, t: string): boolean => host.services.pubsub.getSubscribers(t).some(p => p.equals(peer.peerId))
    await waitFor(
      () => [LOAD, HELP].every(t => subscribed(node0.libp2p, attacker, t) && subscribed(attacker, node0.libp2p, t)),
      10_000,
      () => 'node 0 and the attacker to see each other subscribed to the load and help topics'
    )
  })

  after(() => {
    stopListening()
  })

  test('random byte strings (0–4 KiB and around MAX_RECORD_BYTES) are all rejected and none is delivered', async () => {
    const before = node0.bus.rejected
    const payloads: Uint8Array[] = []
    for (let i = 0; i < 300; i++) payloads.push(r.bytes(r.next() < 0.2 ? r.int(16) : r.int(4097)))
    for (const n of [MAX_RECORD_BYTES - 1, MAX_RECORD_BYTES, MAX_RECORD_BYTES + 1]) payloads.push(r.bytes(n, true))
    // Canonical JSON that is not a record envelope: past the encoding check, into the schema check.
    for (let i = 0; i < 20; i++) {
      payloads.push(canonicalBytes(r.pick<Json>([{}, [], 'x', 1, null, { payload: {}, sig: '' }, { payload: { type: 'load-report' }, sig: 'A'.repeat(86) }])))
    }
    for (const [i, data] of payloads.entries()) await publish(i % 3 === 0 ? HELP : LOAD, data)
    await expectAllRejected(before, payloads.length)
    assert.deepEqual(delivered, [])
  })

  test('byte- and field-level mutations of validly signed records are all rejected and none is delivered', async () => {
    const before = node0.bus.rejected
    const otherIds = [victimId, node1.peerId, node0.peerId]
    let sent = 0
    let prevSig = ''
    for (let i = 0; i < 300; i++) {
      const s = ++seq
      const valid =
        i % 4 === 3
          ? await signRecord(
              attackerKey,
              attackerId,
              'help-offer',
              { session: 'sess-fuzz-0001', to: node0.peerId, offeredRps: 10, mirrorUrl: 'http://mirror-x.localhost:9' },
              { seq: s }
            )
          : await signRecord(attackerKey, attackerId, 'load-report', loadReport('mallory', i), { seq: s })
      let mutated = valid
      // A field edit can pick the value already there: draw again until the bytes differ.
      for (let k = 0; k < 10 && hex(mutated) === hex(valid); k++)
        mutated = i % 5 === 4 ? mutateRecord(valid, r, prevSig || 'A'.repeat(86), otherIds) : mutateBytes(valid, r)
      prevSig = (JSON.parse(Buffer.from(valid).toString()) as { sig: string }).sig
      assert.notEqual(hex(mutated), hex(valid))
      await publish(i % 4 === 3 ? HELP : LOAD, mutated)
      sent++
    }
    await expectAllRejected(before, sent)
    assert.deepEqual(delivered, [])
    assert.equal(node0.peers.get(attackerId), undefined, 'no mutated load report reached the peer table')
  })

  test('validly signed records whose author is not the gossip sender are rejected', async () => {
    const before = node0.bus.rejected
    let sent = 0
    for (let i = 0; i < 20; i++) {
      await publish(LOAD, await signRecord(victimKey, victimId, 'load-report', loadReport('victim', i), { seq: 5_000 + i }))
      sent++
    }
    // Genuine records of node 0 and node 1, as relayed to the attacker, re-published under its own gossip identity.
    await waitFor(
      () => captured.has(node0.peerId) && captured.has(node1.peerId),
      5_000,
      () => 'the attacker to receive load reports of both nodes'
    )
    for (const id of [node0.peerId, node1.peerId]) {
      const data = captured.get(id)
      assert.ok(data !== undefined)
      await publish(LOAD, data)
      sent++
    }
    await expectAllRejected(before, sent)
    assert.deepEqual(delivered, [])
    assert.equal(node0.peers.get(victimId), undefined, 'the victim never appears in the peer table')
    assert.equal(node0.peers.get(node0.peerId), undefined, 'node 0 never lists itself as a peer')
  })

  test('a valid record published twice is delivered once; the copy is ignored (ERR_REPLAY: an honest relay can cause it), not rejected', async () => {
    const valid = await signRecord(attackerKey, attackerId, 'load-report', loadReport('mallory', 1111), { seq: ++seq })
    allowed.add(hex(valid))
    const before = node0.bus.rejected
    const ignoredBefore = node0.bus.ignored
    await publish(LOAD, valid)
    await waitFor(
      () => delivered.length === 1,
      5_000,
      () => 'the valid record to be delivered'
    )
    await publish(LOAD, valid)
    await waitFor(
      () => node0.bus.ignored > ignoredBefore,
      10_000,
      () => 'node 0 to ignore the copy'
    )
    assert.equal(node0.bus.ignored, ignoredBefore + 1, 'the copy is counted once, as ignored')
    assert.equal(node0.bus.rejected, before, 'and not as rejected')
    assertOnlyAllowedDelivered()
    assert.equal(delivered.length, 1)
    assert.equal(node0.peers.get(attackerId)?.report.demandRps, 1111)
  })

  test('afterwards node 0 is healthy and accepts a fresh valid load report from the attacker, and node 1 gets it too', async () => {
    assert.equal(node0.libp2p.status, 'started')
    assert.equal(await frontAnswers(url0), 200)
    const valid = await signRecord(attackerKey, attackerId, 'load-report', loadReport('mallory', 4242), { seq: ++seq })
    allowed.add(hex(valid))
    await publish(LOAD, valid)
    await waitFor(
      () => node0.peers.get(attackerId)?.report.demandRps === 4242,
      5_000,
      () => "node 0 to list the attacker's final report"
    )
    // Node 0 forwards what it accepted: node 1 (not connected to the attacker) sees it as well.
    await waitFor(
      () => node1.peers.get(attackerId)?.report.demandRps === 4242,
      5_000,
      () => "node 1 to list the attacker's final report"
    )
    assertOnlyAllowedDelivered()
    assert.equal(delivered.length, 2)
  })

  test('valid traffic between the consortium members keeps flowing', async () => {
    const mark = Date.now()
    await waitFor(
      () => (node1.peers.get(node0.peerId)?.receivedAt ?? 0) > mark && (node0.peers.get(node1.peerId)?.receivedAt ?? 0) > mark,
      5_000,
      () => 'fresh load reports between node 0 and node 1'
    )
    assert.equal(node1.peers.get(node0.peerId)?.report.site, 'alpha')
    assert.equal(node0.peers.get(node1.peerId)?.report.site, 'bravo')
  })

  test("a record relayed first by a non-author does not make the author's own copy a replay", async () => {
    const honestKey = await generateKeyPairFromSeed('Ed25519', seedBytes(3))
    const honest = await createReefLibp2p(honestKey, ['/ip4/127.0.0.1/tcp/0'])
    const honestId = honest.peerId.toString()
    try {
      await honest.start()
      await honest.dial(firstAddr(node0.libp2p))
      honest.services.pubsub.subscribe(LOAD)
      await waitFor(
        () =>
          node0.libp2p.services.pubsub.getSubscribers(LOAD).some(p => p.equals(honest.peerId)) &&
          honest.services.pubsub.getSubscribers(LOAD).some(p => p.equals(node0.libp2p.peerId)),
        5_000,
        () => 'node 0 and the honest host to see each other subscribed'
      )
      // Control: the honest peer's own record, not relayed by anyone else first, is accepted.
      const seq0 = Date.now() * 1000
      const control = await signRecord(honestKey, honestId, 'load-report', loadReport('honest', 6), { seq: seq0 })
      assert.ok((await honest.services.pubsub.publish(LOAD, control)).recipients.some(p => p.equals(node0.libp2p.peerId)))
      await waitFor(
        () => node0.peers.get(honestId)?.report.demandRps === 6,
        5_000,
        () => 'node 0 to accept the honest control record'
      )
      // The honest peer's next record, obtained by the attacker before node 0 got it (e.g. over a faster path).
      const record = await signRecord(honestKey, honestId, 'load-report', loadReport('honest', 7), { seq: seq0 + 1 })
      const before = node0.bus.rejected
      await publish(LOAD, record)
      await expectAllRejected(before, 1)
      const res = await honest.services.pubsub.publish(LOAD, record)
      assert.ok(res.recipients.some(p => p.equals(node0.libp2p.peerId)))
      // Either node 0 accepts the honest copy (correct) or counts it as rejected (the bug); no need to wait out a deadline.
      await waitFor(
        () => node0.peers.get(honestId)?.report.demandRps === 7 || node0.bus.rejected > before + 1,
        5_000,
        () => 'node 0 to judge the honest copy'
      )
      assert.equal(node0.bus.rejected, before + 1, "the author's own copy is not rejected")
      assert.equal(node0.peers.get(honestId)?.report.demandRps, 7, "node 0 accepted the author's own copy")
    } finally {
      await honest.stop()
    }
  })
  test('a node publishing a schema-valid help-request larger than MAX_RECORD_BYTES keeps its gossip flowing', async () => {
    const key = await generateKeyPairFromSeed('Ed25519', seedBytes(5))
    const host = await createReefLibp2p(key, ['/ip4/127.0.0.1/tcp/0'])
    const id = host.peerId.toString()
    const bus = new RecordBus(host.services.pubsub, key, id, [LOAD, HELP], pino({ level: 'silent' }))
    try {
      await host.start()
      bus.start()
      await host.dial(firstAddr(node0.libp2p))
      const subscribed = (): boolean =>
        [LOAD, HELP].every(
          t =>
            node0.libp2p.services.pubsub.getSubscribers(t).some(p => p.equals(host.peerId)) &&
            host.services.pubsub.getSubscribers(t).some(p => p.equals(node0.libp2p.peerId))
        )
      await waitFor(subscribed, 5_000, () => 'node 0 and the publisher to see each other subscribed')
      await bus.publish(LOAD, 'load-report', loadReport('wordy', 1))
      await waitFor(
        () => node0.peers.get(id)?.report.demandRps === 1,
        5_000,
        () => "node 0 to accept the publisher's first report (control)"
      )
      const manifest = Array.from({ length: 512 }, (_, i) => ({ path: `/${'p'.repeat(600)}/${i}`, size: 1000, type: 'text/html', sha256: 'ab'.repeat(32) }))
      const body = { session: 'sess-wordy-000001', site: 'wordy', siteUrl: 'http://127.0.0.1:9', neededRps: 10, manifest }
      const size = canonicalBytes({
        payload: { type: 'help-request', v: 1, author: id, seq: Date.now() * 1000, ts: Date.now(), body },
        sig: 'A'.repeat(86)
      }).byteLength
      assert.ok(size > MAX_RECORD_BYTES + 4096, `the record (${size} bytes) is over the inbound limit`)
      // Refusing to publish it (ERR_OVERSIZE) is fine; sending it must not cost the publisher its gossip.
      await bus.publish(HELP, 'help-request', body).catch((err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 'ERR_OVERSIZE', String(err))
      })
      await bus.publish(LOAD, 'load-report', loadReport('wordy', 2))
      await waitFor(
        () => node0.peers.get(id)?.report.demandRps === 2 || !subscribed(),
        5_000,
        () => 'node 0 to accept the next report or drop the publisher'
      )
      assert.ok(subscribed(), "node 0 still reads the publisher's gossip")
      assert.equal(node0.peers.get(id)?.report.demandRps, 2, 'the load report after the help-request arrived')
    } finally {
      bus.stop()
      await host.stop()
    }
  })

  test("an RPC over gossipsub's inbound limit harms neither node 0 nor the traffic between the members", async () => {
    const n = delivered.length
    const before = node0.bus.rejected
    const res = await attacker.services.pubsub.publish(LOAD, r.bytes(MAX_RECORD_BYTES + 8192, true))
    assert.ok(res.recipients.some(p => p.equals(node0.libp2p.peerId)))
    const mark = Date.now()
    await waitFor(
      () => (node1.peers.get(node0.peerId)?.receivedAt ?? 0) > mark && (node0.peers.get(node1.peerId)?.receivedAt ?? 0) > mark,
      5_000,
      () => 'fresh load reports between node 0 and node 1'
    )
    assert.equal(node0.libp2p.status, 'started')
    assert.equal(await frontAnswers(url0), 200)
    assert.equal(delivered.length, n, 'nothing delivered')
    assert.equal(node0.bus.rejected, before, 'dropped before the validator (no record to judge)')
  })
})

// ---------------------------------------------------------------------------------------------
// 2. Fetch stream handlers
// ---------------------------------------------------------------------------------------------

function varint(n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

function frame(payload: Uint8Array): Uint8Array {
  return concat([varint(payload.byteLength), payload])
}

/** Length-prefixed frames in `bytes`; `rest` is an incomplete tail, `bad` a prefix no decoder accepts. */
function splitFrames(bytes: Uint8Array, maxLen: number): { frames: Uint8Array[]; rest: number; bad: boolean } {
  const frames: Uint8Array[] = []
  let off = 0
  while (off < bytes.byteLength) {
    let len = 0
    let mul = 1
    let i = off
    for (;;) {
      if (i >= bytes.byteLength) return { frames, rest: bytes.byteLength - off, bad: false }
      if (i - off >= 8) return { frames, rest: bytes.byteLength - off, bad: true }
      const b = bytes[i++] ?? 0
      len += (b & 0x7f) * mul
      mul *= 0x80
      if ((b & 0x80) === 0) break
    }
    if (len > maxLen) return { frames, rest: bytes.byteLength - off, bad: true }
    if (i + len > bytes.byteLength) return { frames, rest: bytes.byteLength - off, bad: false }
    frames.push(bytes.subarray(i, i + len))
    off = i + len
  }
  return { frames, rest: 0, bad: false }
}

/** What a correct server makes of these request bytes: the request it must answer, or none. */
function oracle(bytes: Uint8Array): FetchRequest | undefined {
  const first = splitFrames(bytes, MAX_FETCH_FRAME_BYTES).frames[0]
  if (first === undefined) return undefined
  try {
    return decodeFetchRequest(first)
  } catch {
    return undefined
  }
}

interface FuzzCase {
  kind: string
  bytes: Uint8Array
  /** Close our write side after sending (else keep it open: the server must act on what it has). */
  closeWrite: boolean
  /** Reset the stream right after opening it, sending nothing. */
  abortAtOnce?: boolean
}

function randomPath(r: Rand): string {
  return r.pick(['/', '/index.html', '/ok/small.txt', '/ok/big.bin', '/ok/empty', '/missing', `/a/${r.int(1e6)}?q=${r.int(100)}`])
}

function fuzzCases(r: Rand, n: number, sessions: string[]): FuzzCase[] {
  const cases: FuzzCase[] = []
  for (let i = 0; i < n; i++) {
    const valid = encodeFetchRequest({ v: 1, session: r.pick(sessions), path: randomPath(r) })
    switch (i % 10) {
      case 0:
        cases.push({ kind: 'random bytes', bytes: r.bytes(r.int(2048)), closeWrite: true })
        break
      case 1: {
        const len = r.pick([0, 1, r.int(64), r.int(MAX_FETCH_FRAME_BYTES), MAX_FETCH_FRAME_BYTES, MAX_FETCH_FRAME_BYTES + 1, 2 ** 31, 2 ** 52])
        const prefix = r.next() < 0.1 ? Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]) : varint(len)
        cases.push({ kind: 'random length prefix', bytes: concat([prefix, r.bytes(Math.min(len, r.int(4096)))]), closeWrite: true })
        break
      }
      case 2: {
        const wrong = r.pick<Json>([
          {},
          [],
          'x',
          0,
          null,
          { v: 1 },
          { v: 2, session: SESSION, path: '/' },
          { v: 1, session: SESSION, path: 7 },
          { v: 1, session: 'short', path: '/' },
          { v: 1, session: SESSION, path: '//evil.example/' },
          { v: 1, session: SESSION, path: '/x', extra: 1 },
          { v: 1, session: SESSION, path: `/${'a'.repeat(3000)}` },
          { path: '/', session: SESSION },
          [{ v: 1, session: SESSION, path: '/' }]
        ])
        cases.push({ kind: 'valid JSON, wrong schema', bytes: frame(canonicalBytes(wrong)), closeWrite: r.next() < 0.5 })
        break
      }
      case 3:
        cases.push({ kind: 'valid request', bytes: frame(valid), closeWrite: r.next() < 0.5 })
        break
      case 4: {
        const full = frame(valid)
        cases.push({ kind: 'truncated frame', bytes: full.subarray(0, r.int(full.byteLength)), closeWrite: true })
        break
      }
      case 5:
        cases.push({ kind: 'closed at once', bytes: new Uint8Array(0), closeWrite: true, abortAtOnce: r.next() < 0.5 })
        break
      case 6:
        cases.push({ kind: 'mutated request frame', bytes: frame(mutateBytes(valid, r)), closeWrite: r.next() < 0.5 })
        break
      case 7:
        cases.push({ kind: 'mutated framing', bytes: mutateBytes(frame(valid), r), closeWrite: true })
        break
      case 8:
        cases.push({ kind: 'request plus trailing junk', bytes: concat([frame(valid), r.bytes(r.int(512))]), closeWrite: r.next() < 0.5 })
        break
      default:
        cases.push({ kind: 'oversize frame', bytes: frame(r.bytes(MAX_FETCH_FRAME_BYTES + 1 + r.int(4096), true)), closeWrite: true })
    }
  }
  return cases
}

interface StreamOutcome {
  bytes: Uint8Array
  end: 'closed' | 'reset' | 'deadline'
  error?: string
}

/** Open a stream, send the case, read everything until the stream ends, within `ms`. */
async function runCase(target: ReefLibp2p, fc: FuzzCase, ms: number): Promise<StreamOutcome> {
  const stream: Stream = await attacker.dialProtocol(target.peerId, FETCH_PROTOCOL, { signal: AbortSignal.timeout(ms) })
  const chunks: Uint8Array[] = []
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    stream.abort(new Error('fuzz deadline'))
  }, ms)
  // Start reading before writing so that nothing the server sends (or a quick reset) is missed.
  const reading = (async (): Promise<StreamOutcome> => {
    try {
      for await (const chunk of stream) chunks.push(chunk.subarray())
      return { bytes: concat(chunks), end: 'closed' }
    } catch (err) {
      return { bytes: concat(chunks), end: 'reset', error: (err as Error).name }
    }
  })()
  try {
    if (fc.abortAtOnce === true) {
      stream.abort(new Error('attacker resets'))
    } else {
      if (fc.bytes.byteLength > 0) stream.send(fc.bytes)
      if (fc.closeWrite) await stream.close().catch(() => {})
    }
  } catch {
    // The server may already have reset the stream; what matters is how it ends.
  }
  const out = await reading
  clearTimeout(timer)
  if (stream.status === 'open')
    await stream.close().catch(() => {
      stream.abort(new Error('done'))
    })
  return timedOut ? { ...out, end: 'deadline' } : out
}

async function runPool<T>(items: T[], width: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++
        await fn(items[i] as T, i)
      }
    })
  )
}

/** Server-side fetch streams of `host` still open with the attacker. */
function openFetchStreams(host: ReefLibp2p): number {
  return host
    .getConnections(attacker.peerId)
    .flatMap(conn => conn.streams)
    .filter(s => s.protocol === FETCH_PROTOCOL).length
}

describe('fetch stream: the handler under random frames', () => {
  let bare: ReefLibp2p
  const objects = new Map<string, CachedObject>()

  function obj(path: string, body: Buffer): CachedObject {
    return { site: 'alpha', path, headers: { 'content-type': 'application/octet-stream' }, body, sha256: sha256Hex(body), storedAt: Date.now() }
  }

  before(async () => {
    const r = new Rand(0xb0d1)
    for (const [path, n] of [
      ['/ok/small.txt', 100],
      ['/ok/big.bin', 150_000],
      ['/ok/empty', 0]
    ] as const)
      objects.set(path, obj(path, Buffer.from(r.bytes(n, false))))
    bare = await createReefLibp2p(await generateKeyPairFromSeed('Ed25519', seedBytes(4)), ['/ip4/127.0.0.1/tcp/0'])
    await bare.start()
    await registerFetchServer(bare, {
      log: pino({ level: 'silent' }),
      isAcceptedHelper: (session, peer) => session === SESSION && peer === attackerId,
      load: async path => {
        const o = objects.get(path)
        if (o === undefined) throw new FetchRefusedError(404, `no ${path}`)
        return o
      }
    })
    await attacker.dial(firstAddr(bare))
  })

  after(async () => {
    await bare?.stop()
  })

  /** Run the cases against `target`; check each outcome against `expect` for the request the oracle finds. */
  async function fuzz(
    target: ReefLibp2p,
    cases: FuzzCase[],
    expect: (req: FetchRequest, frames: Uint8Array[], fc: FuzzCase) => void
  ): Promise<Map<string, number>> {
    const ends = new Map<string, number>()
    await runPool(cases, 8, async (fc, i) => {
      const out = await runCase(target, fc, 5_000)
      const label = `case ${i} (${fc.kind}, ${out.end}${out.error === undefined ? '' : ` ${out.error}`})`
      assert.notEqual(out.end, 'deadline', `${label}: the stream ended within 5 s`)
      ends.set(out.end, (ends.get(out.end) ?? 0) + 1)
      const req = fc.abortAtOnce === true ? undefined : oracle(fc.bytes)
      if (req === undefined) {
        assert.equal(out.bytes.byteLength, 0, `${label}: no answer to an invalid or incomplete request`)
        return
      }
      const split = splitFrames(out.bytes, 1 << 20)
      assert.equal(split.rest, 0, `${label}: answer is whole frames`)
      expect(req, split.frames, fc)
    })
    return ends
  }

  test('a Reef node answers 403 to valid requests of unknown sessions, drops everything else, and every stream ends', async () => {
    const r = new Rand(0xfe7c)
    const cases = fuzzCases(r, 300, ['sess-unknown-0001', SESSION, 'A'.repeat(64)])
    // Idle streams that never send a byte stay open alongside the fuzz without blocking it.
    const idle = await Promise.all([0, 1, 2, 3].map(async () => attacker.dialProtocol(node0.libp2p.peerId, FETCH_PROTOCOL)))
    const ends = await fuzz(node0.libp2p, cases, (req, frames) => {
      assert.equal(frames.length, 1, 'one head, no body')
      const head = decodeFetchResponseHead(frames[0] ?? new Uint8Array(0))
      assert.deepEqual(head, { v: 1, status: 403, headers: {}, size: 0 }, `no session is accepted (${req.session})`)
    })
    assert.ok((ends.get('reset') ?? 0) > 0 && (ends.get('closed') ?? 0) > 0, `both resets and clean closes seen: ${JSON.stringify([...ends])}`)
    for (const s of idle) s.abort(new Error('attacker gives up'))
    await waitFor(
      () => openFetchStreams(node0.libp2p) === 0,
      5_000,
      () => `node 0 to drop its fetch streams (${openFetchStreams(node0.libp2p)} open)`
    )
    // Still serving: the front answers and the fetch handler still answers a request.
    assert.equal(await frontAnswers(url0), 200)
    await assert.rejects(fetchFromPeer(attacker, node0.peerId, 'sess-unknown-0002', '/', 1 << 20), (err: unknown) => {
      assert.ok(err instanceof FetchRefusedError, String(err))
      assert.equal(err.code, 'ERR_FETCH_REFUSED')
      assert.equal(err.status, 403)
      return true
    })
  })

  test('a fetch server that accepts the attacker serves exactly the valid requests, and still serves afterwards', async () => {
    const r = new Rand(0x5e55)
    const cases = fuzzCases(r, 200, [SESSION, SESSION, 'sess-unknown-0001'])
    let served = 0
    await fuzz(bare, cases, (req, frames, fc) => {
      const head = decodeFetchResponseHead(frames[0] ?? new Uint8Array(0))
      const o = objects.get(req.path)
      if (req.session !== SESSION) {
        assert.deepEqual(head, { v: 1, status: 403, headers: {}, size: 0 }, fc.kind)
        assert.equal(frames.length, 1)
      } else if (o === undefined) {
        assert.deepEqual(head, { v: 1, status: 404, headers: {}, size: 0 }, `${fc.kind} ${req.path}`)
        assert.equal(frames.length, 1)
      } else {
        assert.equal(head.status, 200)
        assert.equal(head.size, o.body.byteLength)
        assert.equal(head.sha256, o.sha256)
        const body = Buffer.concat(frames.slice(1))
        assert.ok(body.equals(o.body), `body of ${req.path}`)
        served++
      }
    })
    assert.ok(served > 0, 'some fuzzed requests were valid and served')
    await waitFor(
      () => openFetchStreams(bare) === 0,
      5_000,
      () => `the server to drop its fetch streams (${openFetchStreams(bare)} open)`
    )
    const big = objects.get('/ok/big.bin')
    assert.ok(big !== undefined)
    const got = await fetchFromPeer(attacker, bare.peerId.toString(), SESSION, '/ok/big.bin', 1 << 20)
    assert.ok(got.body.equals(big.body))
    assert.equal(got.sha256, big.sha256)
  })
})
