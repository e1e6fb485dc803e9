/**
 * Governance state on disk: a node that restarts holds the same membership, re-verifies its
 * whole log (a damaged store fails loudly), and never signs a second entry at a height it
 * already signed — the rule that keeps honest members from forking the log.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { Level } from 'level'
import { pino } from 'pino'
import { DEFAULT_POLICY, signDocument, withSignatures } from '@reef/protocol'
import type { CharterBody, LogEntryBody, Member, MultiSigned, RecordType, VerifiedRecord } from '@reef/protocol'
import { GovernanceService, GovernanceStore } from '../../src/index.ts'
import type { RecordChannel } from '../../src/p2p/record-bus.ts'

interface Key {
  key: PrivateKey
  id: string
  member: Member
}
const keys: Key[] = []
let dir: string
let charter: MultiSigned<CharterBody>

/** The gossip channel: what the service publishes (the network is not what this test is about). */
function channel(): RecordChannel & { sent: Array<{ type: RecordType; body: unknown }>; deliver: (r: VerifiedRecord) => void } {
  const sent: Array<{ type: RecordType; body: unknown }> = []
  const listeners: Array<(r: VerifiedRecord) => void> = []
  return {
    sent,
    publish: async (_topic, type, body) => {
      sent.push({ type, body })
      return new Uint8Array()
    },
    onRecord: fn => {
      listeners.push(fn)
      return () => {}
    },
    deliver: r => {
      for (const fn of listeners) fn(r)
    }
  }
}

function service(store: GovernanceStore, k: Key, bus = channel()): GovernanceService {
  return new GovernanceService(
    { consortium: 'smallsites', selfId: k.id, autoVote: true },
    {
      libp2p: undefined as unknown as Libp2p,
      key: k.key,
      bus,
      store,
      log: pino({ level: 'silent' }),
      standing: () => ({ given: 0, taken: 0, credit: 0, headroom: 0, overQuota: false }),
      observe: async () => {
        throw new Error('no observation here')
      },
      onChange: () => {}
    }
  )
}

async function entry(height: number, prev: string, action: LogEntryBody['action'], signers: Key[]): Promise<MultiSigned<LogEntryBody>> {
  const body: LogEntryBody = { v: 1, consortium: 'smallsites', height, prev, action, proposedAt: 1_790_000_000_000 + height }
  return withSignatures({ body, sigs: [] }, await Promise.all(signers.map(async s => signDocument('log-entry', body, s.key, s.id))))
}

before(async () => {
  for (let i = 0; i < 4; i++) {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(0x60 + i))
    const id = peerIdFromPrivateKey(key).toString()
    keys.push({ key, id, member: { peer: id, site: `site${i}`, mirrorUrl: `https://mirror.site${i}.example` } })
  }
  const body: CharterBody = {
    v: 1,
    id: 'smallsites',
    name: 'Small sites',
    createdAt: 1_790_000_000_000,
    founders: keys.slice(0, 3).map(k => k.member),
    policy: DEFAULT_POLICY
  }
  charter = withSignatures({ body, sigs: [] }, await Promise.all(keys.slice(0, 3).map(async k => signDocument('charter', body, k.key, k.id))))
  dir = await mkdtemp(join(tmpdir(), 'reef-gov-store-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('governance store', () => {
  it('keeps the membership across a restart and re-verifies the log; a damaged entry fails the start', async () => {
    const location = join(dir, 'a')
    let store = await GovernanceStore.open(location)
    let gov = service(store, keys[0]!)
    await gov.open(charter)
    const admitted = await entry(1, gov.state!.history[0]!.hash, { kind: 'admit', member: keys[3]!.member }, keys.slice(0, 3))
    await store.putEntry(admitted)
    await store.close()

    store = await GovernanceStore.open(location)
    gov = service(store, keys[0]!)
    await gov.open(undefined) // the charter comes from the store now
    assert.equal(gov.state!.height, 1)
    assert.ok(gov.isMemberPeer(keys[3]!.id))
    await store.close()

    // Someone edits the stored entry: the node refuses to start on it.
    const db = new Level<string, string>(location, { valueEncoding: 'utf8' })
    const key = 'entry!000000000001'
    const doc = JSON.parse((await db.get(key))!) as MultiSigned<LogEntryBody>
    doc.body.proposedAt += 1
    await db.put(key, JSON.stringify(doc))
    await db.close()
    store = await GovernanceStore.open(location)
    await assert.rejects(
      service(store, keys[0]!).open(undefined),
      (err: Error & { code?: string }) => err.code === 'ERR_CONFIG' && /entry 1 does not verify/.test(err.message)
    )
    await store.close()
  })

  it('refuses a charter file that differs from the one the node already holds', async () => {
    const location = join(dir, 'b')
    const store = await GovernanceStore.open(location)
    await service(store, keys[0]!).open(charter)
    const other = { ...charter, body: { ...charter.body, name: 'Another name' } }
    await assert.rejects(service(store, keys[0]!).open(other), /differs from the charter this node already holds/)
    await store.close()
  })

  it('never signs two entries at one height, across a restart', async () => {
    const location = join(dir, 'c')
    let store = await GovernanceStore.open(location)
    let gov = service(store, keys[0]!)
    await gov.open(charter)
    const first = await gov.propose({ kind: 'admit', member: keys[3]!.member })
    await gov.vote(first)
    assert.ok(gov.proposals.get(first)!.sigs.has(keys[0]!.id))
    await store.close()

    store = await GovernanceStore.open(location)
    gov = service(store, keys[0]!)
    await gov.open(undefined)
    // What it signed comes back with its signature, to be offered again until the height passes.
    assert.equal(gov.proposals.get(first)?.sigs.has(keys[0]!.id), true, 'the signed proposal was lost in the restart')
    const second = await gov.propose({ kind: 'set-policy', policy: { ...DEFAULT_POLICY, auditIntervalMs: 5_000 } })
    assert.notEqual(second, first)
    await assert.rejects(gov.vote(second), (err: Error & { code?: string }) => err.code === 'ERR_ALREADY_VOTED')
    assert.equal(gov.proposals.get(second)!.sigs.size, 0)
    await store.close()
  })

  it("answers a vote on an unknown proposal with ERR_NO_SUCH_PROPOSAL and a non-member's proposal with ERR_NOT_MEMBER", async () => {
    const store = await GovernanceStore.open(join(dir, 'd'))
    const outsider = service(store, keys[3]!)
    await outsider.open(charter)
    await assert.rejects(outsider.vote('0'.repeat(64)), (err: Error & { code?: string }) => err.code === 'ERR_NO_SUCH_PROPOSAL')
    await assert.rejects(outsider.propose({ kind: 'leave', peer: keys[0]!.id }), (err: Error & { code?: string }) => err.code === 'ERR_NOT_MEMBER')
    await store.close()
  })

  it('halts on two valid entries at one height, says so, and stays halted after a restart', async () => {
    const location = join(dir, 'e')
    let store = await GovernanceStore.open(location)
    const bus = channel()
    let gov = service(store, keys[0]!, bus)
    await gov.open(charter)
    const head = gov.state!.history[0]!.hash
    const admit = await entry(1, head, { kind: 'admit', member: keys[3]!.member }, keys.slice(0, 3))
    const leave = await entry(1, head, { kind: 'leave', peer: keys[2]!.id }, keys.slice(0, 3))
    const deliver = (doc: MultiSigned<LogEntryBody>): void => {
      bus.deliver({ type: 'gov-entry', v: 1, author: keys[1]!.id, seq: 1, ts: Date.now(), body: { entry: doc }, bytes: new Uint8Array() } as VerifiedRecord)
    }
    gov.listen()
    deliver(admit)
    await until(() => gov.state!.height === 1)
    deliver(leave)
    await until(() => gov.state!.halted !== undefined)
    assert.equal(gov.state!.halted!.height, 1)
    assert.ok(gov.events.some(e => e.kind === 'halted'))
    await assert.rejects(gov.propose({ kind: 'set-policy', policy: DEFAULT_POLICY }), (err: Error & { code?: string }) => err.code === 'ERR_HALTED')
    await store.close()
    store = await GovernanceStore.open(location)
    gov = service(store, keys[0]!)
    await gov.open(undefined)
    assert.equal(gov.state!.halted?.height, 1)
    await store.close()
  })
})

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
