import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { DEFAULT_POLICY, signDocument, withSignatures } from '@reef/protocol'
import type { CharterBody, LogAction, LogEntryBody, Member, MultiSigned } from '@reef/protocol'
import { applyEntry, bodyHash, openCharter, quorumFor } from '../src/index.ts'
import type { MembershipState } from '../src/index.ts'

interface Key {
  key: PrivateKey
  id: string
  member: Member
}
const keys: Key[] = []
before(async () => {
  for (let i = 0; i < 8; i++) {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(0x40 + i))
    const id = peerIdFromPrivateKey(key).toString()
    keys.push({ key, id, member: { peer: id, site: `site${i}`, mirrorUrl: `https://mirror.site${i}.example` } })
  }
})

async function charter(founders: Key[], signers = founders): Promise<MultiSigned<CharterBody>> {
  const body: CharterBody = {
    v: 1,
    id: 'smallsites',
    name: 'Small sites',
    createdAt: 1_790_000_000_000,
    founders: founders.map(f => f.member),
    policy: DEFAULT_POLICY
  }
  return withSignatures({ body, sigs: [] }, await Promise.all(signers.map(async s => signDocument('charter', body, s.key, s.id))))
}

async function entry(
  s: MembershipState,
  action: LogAction,
  signers: Key[],
  height = s.height + 1,
  prev = s.history[s.height]!.hash
): Promise<MultiSigned<LogEntryBody>> {
  const body: LogEntryBody = { v: 1, consortium: s.consortium, height, prev, action, proposedAt: 1_790_000_000_000 + height }
  return withSignatures({ body, sigs: [] }, await Promise.all(signers.map(async k => signDocument('log-entry', body, k.key, k.id))))
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => err.code === code, code)
}

describe('charter and membership log', () => {
  it('the quorum is ⌊2n/3⌋ + 1 by default', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map(n => quorumFor(n, DEFAULT_POLICY)),
      [1, 2, 3, 3, 4, 5, 5]
    )
  })

  it('a charter stands only when every founder signed it', async () => {
    const founders = keys.slice(0, 4)
    const s = await openCharter(await charter(founders))
    assert.deepEqual([...s.members.keys()].sort(), founders.map(f => f.id).sort())
    await rejects(openCharter(await charter(founders, founders.slice(0, 3))), 'ERR_CHARTER_UNSIGNED')
  })

  it('admits a newcomer with a quorum of members, and not without', async () => {
    const founders = keys.slice(0, 4)
    const s0 = await openCharter(await charter(founders))
    await rejects(applyEntry(s0, await entry(s0, { kind: 'admit', member: keys[4]!.member }, founders.slice(0, 2))), 'ERR_NO_QUORUM')
    const { state: s1, verdict } = await applyEntry(s0, await entry(s0, { kind: 'admit', member: keys[4]!.member }, founders.slice(0, 3)))
    assert.equal(verdict, 'applied')
    assert.ok(s1.members.has(keys[4]!.id))
    assert.equal(s1.height, 1)
    // Signatures from non-members do not count towards the quorum.
    await rejects(applyEntry(s1, await entry(s1, { kind: 'admit', member: keys[5]!.member }, [keys[0]!, keys[1]!, keys[6]!, keys[7]!])), 'ERR_NO_QUORUM')
  })

  it('rejects forged votes, replays at the wrong place, and gaps', async () => {
    const founders = keys.slice(0, 4)
    const s0 = await openCharter(await charter(founders))
    const good = await entry(s0, { kind: 'admit', member: keys[4]!.member }, founders.slice(0, 3))
    // A signature copied from another entry does not verify for this one.
    const other = await entry(s0, { kind: 'admit', member: keys[5]!.member }, founders.slice(0, 3))
    const forged = { body: good.body, sigs: other.sigs }
    await rejects(applyEntry(s0, forged), 'ERR_BAD_SIGNATURE')
    const { state: s1 } = await applyEntry(s0, good)
    assert.equal((await applyEntry(s1, good)).verdict, 'duplicate')
    await rejects(applyEntry(s1, await entry(s1, { kind: 'admit', member: keys[5]!.member }, founders, 3)), 'ERR_GAP')
    await rejects(applyEntry(s1, await entry(s1, { kind: 'admit', member: keys[5]!.member }, founders, 2, bodyHash({ not: 'the head' }))), 'ERR_PREV')
  })

  it('expels without the subject voting, and never lets it back with the same identity', async () => {
    const founders = keys.slice(0, 4)
    const s0 = await openCharter(await charter(founders))
    const cheat = keys[3]!
    // 3 voters remain: ⌊2·3/3⌋+1 = 3 needed; two honest votes plus the cheat's own are not enough.
    await rejects(
      applyEntry(s0, await entry(s0, { kind: 'expel', peer: cheat.id, reason: 'tampered content', evidence: [] }, [keys[0]!, keys[1]!, cheat])),
      'ERR_NO_QUORUM'
    )
    const { state: s1 } = await applyEntry(s0, await entry(s0, { kind: 'expel', peer: cheat.id, reason: 'tampered content', evidence: [] }, keys.slice(0, 3)))
    assert.equal(s1.members.has(cheat.id), false)
    assert.ok(s1.expelled.has(cheat.id))
    await rejects(applyEntry(s1, await entry(s1, { kind: 'admit', member: cheat.member }, keys.slice(0, 3))), 'ERR_EXPELLED')
  })

  it('halts on two valid entries for one height and accepts no further change', async () => {
    const founders = keys.slice(0, 4)
    const s0 = await openCharter(await charter(founders))
    const a = await entry(s0, { kind: 'admit', member: keys[4]!.member }, founders)
    const b = await entry(s0, { kind: 'admit', member: keys[5]!.member }, founders)
    const { state: s1 } = await applyEntry(s0, a)
    const { state: halted, verdict } = await applyEntry(s1, b)
    assert.equal(verdict, 'fork')
    assert.deepEqual(halted.halted?.hashes, [bodyHash(a.body), bodyHash(b.body)])
    await rejects(applyEntry(halted, await entry(halted, { kind: 'admit', member: keys[6]!.member }, founders)), 'ERR_HALTED')
    // A second entry for the height without a quorum is no fork: just invalid.
    const weak = await entry(s0, { kind: 'admit', member: keys[6]!.member }, founders.slice(0, 1))
    await rejects(applyEntry(s1, weak), 'ERR_NO_QUORUM')
  })

  it('a member leaving must sign its own leave', async () => {
    const founders = keys.slice(0, 3)
    const s0 = await openCharter(await charter(founders))
    await rejects(applyEntry(s0, await entry(s0, { kind: 'leave', peer: keys[2]!.id }, keys.slice(0, 2).concat([]))), 'ERR_NO_QUORUM')
    const { state } = await applyEntry(s0, await entry(s0, { kind: 'leave', peer: keys[2]!.id }, founders))
    assert.equal(state.members.size, 2)
  })
})
