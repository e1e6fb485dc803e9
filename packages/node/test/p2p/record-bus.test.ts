/**
 * Direct records (SPEC.md §Direct records): a help-offer goes to the one member it is for over
 * RECORD_PROTOCOL and nowhere else, and (r5) relayed votes over RECORD_PROTOCOL_R5 only; a
 * record that may not travel so, or that names another author than the stream's peer, is
 * refused; a receiver without the protocol gets the record by gossip. Real libp2p hosts on
 * 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { pino } from 'pino'
import { MAX_RECORD_BYTES, RECORD_PROTOCOL, RECORD_PROTOCOL_R5, govTopic, helpTopic, loadTopic, signRecord } from '@reef/protocol'
import type { GovVotes, HelpOffer, HelpRequest, VerifiedRecord } from '@reef/protocol'
import { createReefLibp2p } from '../../src/p2p/host.ts'
import type { ReefLibp2p } from '../../src/p2p/host.ts'
import { RecordBus } from '../../src/p2p/record-bus.ts'

const HELP = helpTopic('direct')
const LOAD = loadTopic('direct')
const GOV = govTopic('direct')
const log = pino({ level: 'silent' })

interface Peer {
  key: PrivateKey
  id: string
  host: ReefLibp2p
  bus: RecordBus
  got: VerifiedRecord[]
  /** The peer each received record came from (gossipsub's propagation source, or the stream's peer), by record seq. */
  via: Map<number, string | undefined>
}

async function peer(n: number, direct = true): Promise<Peer> {
  const seed = new Uint8Array(32).fill(n)
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  const host = await createReefLibp2p(key, ['/ip4/127.0.0.1/tcp/0'])
  await host.start()
  const id = host.peerId.toString()
  const bus = new RecordBus(host.services.pubsub, key, id, [LOAD, HELP, GOV], log)
  bus.start()
  if (direct) await bus.serveDirect(host)
  const got: VerifiedRecord[] = []
  const via = new Map<number, string | undefined>()
  bus.onRecord((r, from) => {
    got.push(r)
    via.set(r.seq, from)
  })
  return { key, id, host, bus, got, via }
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

const offer = (to: string, n = 100): HelpOffer => ({
  session: 'session-direct-1',
  to,
  offeredRps: n,
  offeredBytesPerSec: n * 1000,
  mirrorUrl: 'http://mirror.example/'
})

describe('direct records', () => {
  let a: Peer, b: Peer, c: Peer, old: Peer
  before(async () => {
    ;[a, b, c] = await Promise.all([peer(1), peer(2), peer(3)])
    old = await peer(4, false) // a node without RECORD_PROTOCOL (r3)
    // A line a – b – c – old, so that gossip reaches c and old only through others.
    await a.host.dial(b.host.getMultiaddrs()[0]!)
    await b.host.dial(c.host.getMultiaddrs()[0]!)
    await c.host.dial(old.host.getMultiaddrs()[0]!)
    await until(
      () => [a, b, c].every(p => p.host.services.pubsub.getSubscribers(HELP).length >= 1) && old.host.services.pubsub.getSubscribers(HELP).length >= 1,
      'help topic mesh'
    )
  })
  after(async () => {
    for (const p of [a, b, c, old]) {
      p.bus.stop()
      await p.host.stop()
    }
  })

  it('delivers a record to its receiver alone over the connection open to it', async () => {
    await a.bus.sendTo(b.id, HELP, 'help-offer', offer(b.id, 1))
    await until(() => b.got.some(r => r.type === 'help-offer' && r.author === a.id), 'the offer at b')
    assert.equal(a.bus.directSent, 1)
    assert.equal(b.bus.directReceived, 1)
    assert.deepEqual(b.got.find(r => r.type === 'help-offer')!.body, offer(b.id, 1))
    // It was never published: c, b's gossip neighbour, has no copy to get.
    assert.equal(c.got.filter(r => r.type === 'help-offer').length, 0)
  })

  it('gossips a record for a peer it has no connection to, and sends it direct once connected', async () => {
    await a.bus.sendTo(c.id, HELP, 'help-offer', offer(c.id, 2))
    const sentAt = Date.now()
    await until(() => c.got.some(r => r.type === 'help-offer' && (r.body as HelpOffer).offeredRps === 2), 'the offer at c, by gossip')
    assert.ok(
      b.got.some(r => r.type === 'help-offer' && (r.body as HelpOffer).offeredRps === 2),
      'gossiped: b saw it too'
    )
    assert.equal(a.bus.directSent, 1)
    // sendTo opened no connection to c. (Another part of libp2p, kad-dht's routing table
    // upkeep, may dial c later, as it did once on a saturated machine.)
    assert.ok(!a.host.getConnections(c.host.peerId).some(conn => conn.direction === 'outbound' && conn.timeline.open <= sentAt), 'sendTo did not dial c')
    await a.host.dial(c.host.getMultiaddrs()[0]!)
    await a.bus.sendTo(c.id, HELP, 'help-offer', offer(c.id, 3))
    await until(() => c.got.some(r => r.type === 'help-offer' && (r.body as HelpOffer).offeredRps === 3), 'the offer at c, direct')
    assert.equal(a.bus.directSent, 2)
    assert.equal(c.bus.directReceived, 1)
    assert.ok(!b.got.some(r => (r.body as HelpOffer).offeredRps === 3), 'b never saw the direct one')
  })

  it('gossips the record when its receiver does not speak the protocol', async () => {
    await a.host.dial(old.host.getMultiaddrs()[0]!)
    await a.bus.sendTo(old.id, HELP, 'help-offer', offer(old.id, 7))
    await until(() => old.got.some(r => r.type === 'help-offer' && (r.body as HelpOffer).offeredRps === 7), 'the offer at old, by gossip')
    assert.equal(a.bus.directFellBack, 1)
    assert.ok(
      b.got.some(r => r.type === 'help-offer' && (r.body as HelpOffer).offeredRps === 7),
      'gossiped: b saw it too'
    )
  })

  it('refuses a record of a type that is always gossiped, a relayed record, garbage and an oversized frame, and keeps serving', async () => {
    const send = async (bytes: Uint8Array): Promise<void> => {
      const stream = await a.host.dialProtocol(c.host.peerId, RECORD_PROTOCOL)
      await lpStream(stream, { maxDataLength: MAX_RECORD_BYTES * 2 })
        .write(bytes)
        .catch(() => {})
      await stream.close().catch(() => {})
    }
    const refused = c.bus.directRefused
    const received = c.bus.directReceived
    const request: HelpRequest = { session: 'session-direct-1', site: 'a', siteUrl: 'http://a.example/', neededRps: 10, manifest: [] }
    // A help request: valid, but only ever gossiped.
    await send(await signRecord(a.key, a.id, 'help-request', request, { seq: Date.now() * 1000 }))
    // b's offer sent by a: its author is not the stream's peer.
    await send(await signRecord(b.key, b.id, 'help-offer', offer(c.id, 4), { seq: Date.now() * 1000 + 1 }))
    await send(new TextEncoder().encode('{"not":"a record"}'))
    await send(new Uint8Array(MAX_RECORD_BYTES + 10))
    await until(() => c.bus.directRefused >= refused + 4, 'four refusals')
    assert.equal(c.bus.directReceived, received)
    assert.ok(!c.got.some(r => r.type === 'help-request' || (r.type === 'help-offer' && r.author === b.id)))
    // Still serving: a genuine offer gets through.
    await a.bus.sendTo(c.id, HELP, 'help-offer', offer(c.id, 9))
    await until(() => c.got.some(r => r.type === 'help-offer' && (r.body as HelpOffer).offeredRps === 9), 'a later offer')
    // The same record again is a replay.
    const bytes = c.got.find(r => (r.body as HelpOffer).offeredRps === 9)!.bytes
    await send(bytes)
    await until(() => c.bus.directRefused >= refused + 5, 'the replay refused')
  })
  it('tells listeners the peer a gossiped record came through, not only its author', async () => {
    const bytes = await a.bus.publish(HELP, 'help-offer', offer(old.id, 11))
    const seq = c.got.length
    await until(() => c.got.slice(seq).some(r => r.bytes.byteLength === bytes.byteLength && (r.body as HelpOffer).offeredRps === 11), 'the offer at c')
    const r = c.got.find(x => (x.body as HelpOffer).offeredRps === 11)!
    assert.equal(r.author, a.id)
    // a and c are connected by now (an earlier test dialled), so c may have it from a or from b.
    assert.ok([a.id, b.id].includes(c.via.get(r.seq)!), 'via: the propagation source')
  })

  it('r5: sends relayed votes over /reef/record/1.1.0 to one peer alone, never gossips them, and returns false where it cannot', async () => {
    const votes = (n: number): GovVotes => ({ consortium: 'direct', proposal: 'ab'.repeat(32), height: n, votes: [{ peer: c.id, sig: 'A'.repeat(86) }] })
    assert.equal(await a.bus.sendOnly(b.id, 'gov-votes', votes(1)), true)
    await until(() => b.got.some(r => r.type === 'gov-votes'), 'the votes at b')
    const r = b.got.find(x => x.type === 'gov-votes')!
    assert.equal(r.author, a.id)
    assert.equal(b.via.get(r.seq), a.id)
    assert.deepEqual(r.body, votes(1))
    // No connection: false, nothing dialled, nothing gossiped.
    const lone = await peer(5)
    try {
      assert.equal(await a.bus.sendOnly(lone.id, 'gov-votes', votes(2)), false)
      assert.equal(a.host.getConnections(lone.host.peerId).length, 0, 'sendOnly did not dial')
      // An r4 peer (direct records, not r5): the stream is refused at once; false.
      await lone.host.unhandle(RECORD_PROTOCOL_R5)
      await a.host.dial(lone.host.getMultiaddrs()[0]!)
      assert.equal(await a.bus.sendOnly(lone.id, 'gov-votes', votes(3)), false)
      // Over /reef/record/1.0.0 an r5 receiver refuses gov-votes: only its own stream carries them.
      const refused = b.bus.directRefused
      const stream = await a.host.dialProtocol(b.host.peerId, RECORD_PROTOCOL)
      await lpStream(stream).write(await signRecord(a.key, a.id, 'gov-votes', votes(4), { seq: Date.now() * 1000 + 7 }))
      await stream.close()
      await until(() => b.bus.directRefused > refused, 'gov-votes refused on the r4 stream')
      assert.ok(!b.got.some(x => x.type === 'gov-votes' && (x.body as GovVotes).height === 4))
    } finally {
      lone.bus.stop()
      await lone.host.stop()
    }
    // Relayed votes arriving out of order (parallel streams) are all taken: no replay check.
    const base = Date.now() * 1000 + 500_000
    const later = await signRecord(a.key, a.id, 'gov-votes', votes(6), { seq: base + 20 })
    const earlier = await signRecord(a.key, a.id, 'gov-votes', votes(5), { seq: base + 10 })
    for (const bytes of [later, earlier]) {
      const stream = await a.host.dialProtocol(b.host.peerId, RECORD_PROTOCOL_R5)
      await lpStream(stream).write(bytes)
      await stream.close()
    }
    await until(() => [5, 6].every(h => b.got.some(x => x.type === 'gov-votes' && (x.body as GovVotes).height === h)), 'both relayed-vote records at b')
    // b's gossip neighbour c would have had a gossiped copy long before now (the offers above took milliseconds).
    assert.ok(![c, old].some(p => p.got.some(x => x.type === 'gov-votes')), 'no relayed votes went round by gossip')
  })
})
