/**
 * Vote relay (SPEC.md §Vote relay, r5): votes go back to the proposer along the path its
 * proposal came by, each member passing on what reached it, instead of being gossiped to every
 * member; where a relay does not speak r5 the votes below it are gossiped, and the entry is
 * still applied everywhere. Real libp2p hosts on 127.0.0.1 in a line, real governance stores.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { pino } from 'pino'
import { standing } from '@reef/governance'
import { RECORD_PROTOCOL_R5, govTopic, signRecord } from '@reef/protocol'
import type { CharterBody, EvidenceItem, MultiSigned, VerifiedRecord } from '@reef/protocol'
import { charterBody, signCharter } from '../../src/governance/charter-file.ts'
import { GovernanceService } from '../../src/governance/service.ts'
import { GovernanceStore } from '../../src/governance/store.ts'
import { createReefLibp2p } from '../../src/p2p/host.ts'
import type { ReefLibp2p } from '../../src/p2p/host.ts'
import { RecordBus } from '../../src/p2p/record-bus.ts'

const CONSORTIUM = 'relay'
const log = pino({ level: 'silent' })

interface Member {
  key: PrivateKey
  id: string
  host: ReefLibp2p
  bus: RecordBus
  store: GovernanceStore
  gov: GovernanceService
  /** Gossiped or direct governance records this member received. */
  got: VerifiedRecord[]
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/**
 * `n` members of one charter, each dialling only the one before it: a line, so that the
 * proposal reaches member i through member i − 1 and votes must cross every member between.
 */
async function line(n: number, dir: string, voteRelayFallbackMs?: number): Promise<Member[]> {
  const keys = await Promise.all(Array.from({ length: n }, async (_, i) => generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(40 + i))))
  // Only neighbours connect: the DHT's walks would otherwise link members past the line (a vote
  // then went up a path that bypassed the member under test, and a test that counted on the line
  // failed once in a loaded run).
  let ids: string[] = []
  const hosts = await Promise.all(
    keys.map(async (k, i) =>
      createReefLibp2p(k, ['/ip4/127.0.0.1/tcp/0'], {
        deny: peer => {
          const j = ids.indexOf(peer)
          return j >= 0 && Math.abs(j - i) !== 1
        }
      })
    )
  )
  ids = hosts.map(h => h.peerId.toString())
  let charter: MultiSigned<CharterBody> = {
    body: charterBody({
      id: CONSORTIUM,
      name: 'vote relay',
      founders: ids.map((peer, i) => ({ peer, site: `s${i}`, mirrorUrl: `http://127.0.0.1:${9000 + i}` }))
    }),
    sigs: []
  }
  for (const [i, k] of keys.entries()) charter = await signCharter(charter, k, ids[i]!)
  const members: Member[] = []
  for (const [i, host] of hosts.entries()) {
    await host.start()
    const bus = new RecordBus(host.services.pubsub, keys[i]!, ids[i]!, [govTopic(CONSORTIUM)], log)
    const store = await GovernanceStore.open(join(dir, `m${i}`))
    const gov = new GovernanceService(
      // A long rebroadcast interval: only the relay and its fall-back may carry votes here.
      {
        consortium: CONSORTIUM,
        selfId: ids[i]!,
        autoVote: true,
        voteSettleMs: 300,
        rebroadcastMs: 120_000,
        ...(voteRelayFallbackMs === undefined ? {} : { voteRelayFallbackMs })
      },
      {
        libp2p: host,
        key: keys[i]!,
        bus,
        store,
        log,
        standing: () => standing(0, 0),
        observe: async () => ({ status: 404, sha256: '' }),
        onChange: () => {}
      }
    )
    bus.authorVerdict = peer => (gov.isMemberPeer(peer) ? 'accept' : gov.isExpelled(peer) ? 'reject' : 'ignore')
    bus.canPublish = () => gov.isMember
    bus.start()
    await bus.serveDirect(host)
    await gov.open(charter)
    await gov.start()
    const got: VerifiedRecord[] = []
    bus.onRecord(r => got.push(r))
    members.push({ key: keys[i]!, id: ids[i]!, host, bus, store, gov, got })
  }
  for (let i = 1; i < n; i++) await hosts[i]!.dial(hosts[i - 1]!.getMultiaddrs()[0]!)
  await until(() => members.every(m => m.host.services.pubsub.getSubscribers(govTopic(CONSORTIUM)).length >= 1), 'the gov topic mesh')
  return members
}

/** Two delegations `cheater` signed for one round: equivocation, proven by the records alone. */
async function equivocation(cheater: Member, helper: string): Promise<EvidenceItem[]> {
  const d = async (requests: number): Promise<string> =>
    Buffer.from(
      await signRecord(
        cheater.key,
        cheater.id,
        'delegation',
        { session: 'cmVsYXktc2Vzc2lvbg', helper, round: 1, requests, bytes: requests * 1000, final: false },
        { seq: requests, ts: Date.now() }
      )
    ).toString('base64url')
  return [{ kind: 'ledger', records: [await d(100), await d(10)] }]
}

describe('vote relay (r5)', { timeout: 90_000 }, () => {
  let members: Member[] = []
  const dirs: string[] = []
  afterEach(async () => {
    for (const m of members) {
      await m.gov.stop()
      m.bus.stop()
      await m.host.stop()
      await m.store.close()
    }
    members = []
  })
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it('carries the votes of members several hops away back to the proposer, none of them gossiped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reef-relay-'))
    dirs.push(dir)
    members = await line(6, dir)
    const [p, relay] = members as [Member, Member]
    const cheater = members[5]!
    await p.gov.proposeExpel(cheater.id, 'ledger: equivocation', await equivocation(cheater, relay.id))
    // Applied everywhere but at the cheater, whose gater the others now close.
    await until(() => members.slice(0, 5).every(m => m.gov.isExpelled(cheater.id)), 'the expulsion at every member')
    // A quorum is 4 of the 5 voters: the proposer's, its neighbour's, and at least two from
    // beyond the neighbour, which reached the neighbour and went on to the proposer. (The
    // neighbour may hold the quorum first and publish the entry itself.)
    assert.ok(relay.gov.counters.votesFromBelow >= 2, `the proposer's neighbour got ${relay.gov.counters.votesFromBelow} votes from beyond`)
    await until(() => relay.gov.counters.votesRelayed >= 3, "the neighbour's own vote and two from beyond it sent on to the proposer")
    assert.ok(p.gov.counters.votesFromBelow >= 1, `the proposer got ${p.gov.counters.votesFromBelow} votes relayed`)
    for (const m of members.slice(1, 5)) assert.equal(m.gov.counters.voteRelayFallbacks, 0, 'no vote had to be gossiped')
    // Only the proposer's own vote went round by gossip.
    const gossiped = members.flatMap(m => m.got.filter(r => r.type === 'gov-vote').map(r => r.author))
    assert.deepEqual(new Set(gossiped), new Set(gossiped.length === 0 ? [] : [p.id]), 'gossiped votes come from the proposer alone')
  })

  it('a member whose relayed send is slow does not re-publish the proposal and its vote meanwhile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reef-relay-'))
    dirs.push(dir)
    members = await line(6, dir)
    const p = members[0]!
    const cheater = members[5]!
    // Every send up the path takes 600 ms, longer than the 250 ms governance tick (at 100
    // members, sends took up to 3 s on busy event loops).
    for (const m of members.slice(1)) {
      const send = m.bus.sendOnly.bind(m.bus)
      m.bus.sendOnly = async (...args) => {
        await new Promise(resolve => setTimeout(resolve, 600))
        return send(...args)
      }
    }
    await p.gov.proposeExpel(cheater.id, 'ledger: equivocation', await equivocation(cheater, members[1]!.id))
    await until(() => members.slice(0, 5).every(m => m.gov.isExpelled(cheater.id)), 'the expulsion at every member')
    const gossip = members.flatMap(m => m.got.filter(r => r.type === 'gov-vote' || r.type === 'gov-proposal'))
    assert.deepEqual([...new Set(gossip.map(r => r.author))], [p.id], 'proposals and votes gossiped by the proposer alone')
  })

  it('gossips the votes below a relay that does not speak r5, and the entry still reaches everyone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reef-relay-'))
    dirs.push(dir)
    members = await line(6, dir)
    const [p, relay, below] = members as [Member, Member, Member]
    const cheater = members[5]!
    // An r4 member: direct records, but not the r5 stream that carries relayed votes.
    await relay.host.unhandle(RECORD_PROTOCOL_R5)
    await p.gov.proposeExpel(cheater.id, 'ledger: equivocation', await equivocation(cheater, relay.id))
    await until(() => members.slice(0, 5).every(m => m.gov.isExpelled(cheater.id)), 'the expulsion at every member')
    assert.equal(below.gov.counters.votesRelayed, 0, 'nothing went up through the r4 member')
    // The proposer and the r4 member alone are no quorum: votes from below it were needed, and
    // each went round by gossip once its path failed. Which of them voted before the entry came
    // is a race (one that had not voted yet never does), so any of them counts.
    const under = members.slice(2, 5)
    const fellBack = under.filter(m => m.gov.counters.voteRelayFallbacks >= 1)
    assert.ok(fellBack.length >= 1, 'no member below the r4 member gossiped its vote')
    for (const m of fellBack)
      assert.ok(
        members.some(x => x.got.some(r => r.type === 'gov-vote' && r.author === m.id)),
        'a vote that fell back went round by gossip'
      )
  })

  it('gossips a vote that a relay took and never passed on, once the fall-back time has gone by', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reef-relay-'))
    dirs.push(dir)
    members = await line(6, dir, 500)
    const dropper = members[2]!
    const cheater = members[5]!
    // The third member takes relayed votes over the stream and drops them: its governance is
    // stopped, its gossip still runs. Then no member holds a quorum (4 of the 5 voters) until
    // votes are gossiped: the proposer has its own and the second's, the fourth the proposer's
    // (gossiped), its own and the fifth's.
    await dropper.gov.stop()
    const t0 = Date.now()
    await members[0]!.gov.proposeExpel(cheater.id, 'ledger: equivocation', await equivocation(cheater, dropper.id))
    const live = [0, 1, 3, 4].map(i => members[i]!)
    await until(() => live.every(m => m.gov.isExpelled(cheater.id)), 'the expulsion at every member but the one that drops votes')
    assert.ok(Date.now() - t0 >= 500, 'not before the fall-back time')
    const fallbacks = [1, 3, 4].map(i => members[i]!.gov.counters.voteRelayFallbacks)
    assert.ok(fallbacks.every(n => n <= 1) && fallbacks.some(n => n === 1), `votes gossiped after the fall-back time: ${fallbacks.join(', ')}`)
    assert.ok(
      [3, 4].every(i => members[i]!.gov.counters.votesRelayed >= 1),
      'the members beyond sent their votes up first'
    )
  })
})
