/**
 * The ledger store on a real LevelDB in a temp dir, with really signed records: verdicts
 * (applied, duplicate, pending, evidence) and what survives close/reopen; the streaming
 * rebuild against the in-memory `recomputeBalances` and against the stored balances, also on a
 * store of the layout before the `order` index (migrated on open); pending receipts resolved
 * in any arrival order; the rolling-window standing; `owed`; `recordsOf`.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { DEFAULT_QUOTA_POLICY, recomputeBalances } from '@reef/governance'
import type { Evidence, MemberTotals } from '@reef/governance'
import { signRecord, verifyRecord } from '@reef/protocol'
import type { Delegation, Receipt } from '@reef/protocol'
import { LedgerStore, toLedgerRecord } from '../../src/ledger/store.ts'
import type { StoredRecord } from '../../src/ledger/store.ts'

interface Member {
  key: PrivateKey
  id: string
}

const HOUR = 3_600_000
let members: Member[]
let seq = 1_000_000
let dirs: string[] = []

async function tempStore(): Promise<{ dir: string; store: LedgerStore }> {
  const dir = await mkdtemp(join(tmpdir(), 'reef-ledger-store-'))
  dirs.push(dir)
  return { dir, store: await LedgerStore.open(dir) }
}

async function sign(author: Member, type: 'delegation' | 'receipt', body: Delegation | Receipt, ts = Date.now()): Promise<StoredRecord> {
  const bytes = await signRecord(author.key, author.id, type, body as never, { seq: ++seq, ts })
  return toLedgerRecord(await verifyRecord(bytes, { ignoreTime: true }))
}

function delegation(b: Member, h: Member, session: string, round: number, requests: number, bytes: number, ts?: number): Promise<StoredRecord> {
  return sign(b, 'delegation', { session, helper: h.id, round, requests, bytes, final: false }, ts)
}

function receipt(h: Member, b: Member, d: StoredRecord, requests: number, bytes: number, ts?: number, round = d.body.round): Promise<StoredRecord> {
  return sign(h, 'receipt', { session: d.body.session, beneficiary: b.id, round, delegation: d.hash, requests, bytes }, ts)
}

/** Honest exchanges: per pair, rounds 1..rounds, cumulative amounts, receipts a little under. */
async function honest(pairs: Array<[Member, Member, string]>, rounds: number, ts?: (round: number) => number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = []
  for (let round = 1; round <= rounds; round++) {
    for (const [b, h, session] of pairs) {
      const d = await delegation(b, h, session, round, round * 10, round * 10_000, ts?.(round))
      out.push(d, await receipt(h, b, d, round * 10 - 1, round * 10_000 - 100, ts?.(round)))
    }
  }
  return out
}

const sorted = (m: Map<string, MemberTotals>): Array<[string, MemberTotals]> => [...m].sort((a, b) => a[0].localeCompare(b[0]))
const evidenceIds = (es: Evidence[]): string[] => es.map(e => `${e.kind}:${e.pair}:${e.records.join(',')}`).sort()

async function allStored(store: LedgerStore): Promise<StoredRecord[]> {
  const out: StoredRecord[] = []
  for await (const r of store.records()) out.push(r)
  return out
}

/** What the rebuild must agree with: the stored balances and the in-memory recomputation. */
async function assertRebuildAgrees(store: LedgerStore): Promise<Awaited<ReturnType<LedgerStore['recompute']>>> {
  const rebuilt = await store.recompute()
  const reference = recomputeBalances(await allStored(store))
  assert.deepEqual(sorted(rebuilt.totals), sorted(store.allTotals()), 'rebuilt totals differ from the stored ones')
  assert.deepEqual(sorted(rebuilt.totals), sorted(reference.totals), 'rebuilt totals differ from recomputeBalances')
  assert.deepEqual(evidenceIds(rebuilt.evidence), evidenceIds(reference.evidence))
  assert.equal(rebuilt.pairs, reference.pairs.size)
  assert.equal(rebuilt.records, store.recordCount)
  return rebuilt
}

describe('ledger store', () => {
  before(async () => {
    members = await Promise.all(
      [11, 12, 13, 14].map(async i => {
        const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(i))
        return { key, id: peerIdFromPrivateKey(key).toString() }
      })
    )
  })
  after(async () => {
    await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true })))
    dirs = []
  })

  it('applies, ignores duplicates, holds pending receipts and keeps evidence, all across close and reopen', async () => {
    const [a, b] = members as [Member, Member]
    const { dir, store: first } = await tempStore()
    let store = first
    const session = 'session-apply-0001'
    const d1 = await delegation(a, b, session, 1, 10, 10_000)
    const r1 = await receipt(b, a, d1, 9, 9_000)
    assert.deepEqual(await store.apply(d1), { kind: 'applied', delta: { requests: 0, bytes: 0 } })
    assert.deepEqual(await store.apply(d1), { kind: 'duplicate' })
    assert.deepEqual(await store.apply(r1), { kind: 'applied', delta: { requests: 9, bytes: 9_000 } })
    assert.deepEqual(await store.apply(r1), { kind: 'duplicate' })

    // A receipt ahead of its delegation waits; an over-claim becomes evidence.
    const d2 = await delegation(a, b, session, 2, 20, 20_000)
    const r2 = await receipt(b, a, d2, 20, 19_000)
    assert.deepEqual(await store.apply(r2), { kind: 'pending' })
    assert.deepEqual(await store.apply(r2), { kind: 'pending' })
    const over = await receipt(b, a, d1, 11, 9_000, undefined, 1)
    const v = await store.apply(over)
    assert.equal(v.kind, 'evidence')
    assert.equal(v.kind === 'evidence' && v.evidence.kind, 'over-claim')
    assert.deepEqual(store.totals(b.id), { given: 9_000, taken: 0, givenRequests: 9, takenRequests: 0 })
    assert.deepEqual(store.totals(a.id), { given: 0, taken: 9_000, givenRequests: 0, takenRequests: 9 })
    assert.equal(store.recordCount, 3)

    await store.close()
    store = await LedgerStore.open(dir)
    try {
      assert.deepEqual(store.totals(b.id), { given: 9_000, taken: 0, givenRequests: 9, takenRequests: 0 })
      assert.equal(store.pair(a.id, b.id, session)?.receipt?.hash, r1.hash)
      assert.equal(store.pair(a.id, b.id, session)?.latestDelegation?.hash, d1.hash)
      const ev = await store.evidence()
      assert.equal(ev.length, 1)
      assert.equal(ev[0]!.kind, 'over-claim')
      assert.equal(ev[0]!.recordBytes, over.bytes)
      assert.equal(store.recordCount, 3)
      // Nothing decided before counts again.
      for (const r of [d1, r1, over]) assert.deepEqual(await store.apply(r), { kind: 'duplicate' })

      // The pending receipt, persisted, is settled when its delegation arrives after the reopen.
      assert.deepEqual(await store.apply(d2), { kind: 'applied', delta: { requests: 0, bytes: 0 } })
      assert.equal(store.pair(a.id, b.id, session)?.receipt?.hash, r2.hash)
      assert.deepEqual(store.totals(b.id), { given: 19_000, taken: 0, givenRequests: 20, takenRequests: 0 })
      assert.deepEqual(await store.apply(r2), { kind: 'duplicate' })
      assert.ok(
        (await store.recordsOf(b.id)).some(r => r.hash === r2.hash),
        'the settled receipt is not stored'
      )
      assert.equal(store.recordCount, 5)
      await assertRebuildAgrees(store)
    } finally {
      await store.close()
    }
    store = await LedgerStore.open(dir)
    try {
      assert.deepEqual(store.totals(a.id), { given: 0, taken: 19_000, givenRequests: 0, takenRequests: 20 })
      assert.deepEqual(await store.apply(r2), { kind: 'duplicate' })
      assert.deepEqual(await store.apply(d2), { kind: 'duplicate' })
    } finally {
      await store.close()
    }
  })

  it('settles the same balances whatever the arrival order, one by one or in batches', async () => {
    const [a, b, c] = members as [Member, Member, Member]
    const pairs: Array<[Member, Member, string]> = [
      [a, b, 'session-order-ab'],
      [b, c, 'session-order-bc'],
      [c, a, 'session-order-ca']
    ]
    const records = await honest(pairs, 20)
    const inOrder = await tempStore()
    for (const r of records) await inOrder.store.apply(r)
    // A deterministic shuffle (receipts often ahead of their delegations).
    let x = 42
    const shuffled = records
      .map(r => ({ r, k: (x = (x * 1_103_515_245 + 12_345) % 2 ** 31) }))
      .sort((p, q) => p.k - q.k)
      .map(p => p.r)
    const oneByOne = await tempStore()
    const batched = await tempStore()
    let pending = 0
    for (const r of shuffled) if ((await oneByOne.store.apply(r)).kind === 'pending') pending++
    assert.ok(pending > 0, 'the shuffle put no receipt ahead of its delegation')
    for (let i = 0; i < shuffled.length; i += 17) await batched.store.applyMany(shuffled.slice(i, i + 17))
    try {
      for (const s of [oneByOne.store, batched.store]) {
        assert.deepEqual(sorted(s.allTotals()), sorted(inOrder.store.allTotals()))
        for (const [bb, h, session] of pairs) assert.equal(s.pair(bb.id, h.id, session)?.receipt?.round, 20)
        await assertRebuildAgrees(s)
      }
    } finally {
      await Promise.all([inOrder.store.close(), oneByOne.store.close(), batched.store.close()])
    }
  })

  it('rebuilds balances from a few thousand records plus evidence, also on a store of the old layout', async () => {
    const [a, b, c, d] = members as [Member, Member, Member, Member]
    const pairs: Array<[Member, Member, string]> = [
      [a, b, 'session-rebuild-ab'],
      [a, c, 'session-rebuild-ac'],
      [b, c, 'session-rebuild-bc'],
      [c, a, 'session-rebuild-ca'],
      [d, b, 'session-rebuild-db']
    ]
    const records = await honest(pairs, 300)
    const { dir, store: first } = await tempStore()
    let store = first
    for (let i = 0; i < records.length; i += 250) await store.applyMany(records.slice(i, i + 250))
    // Evidence of each kind: an over-claim, an equivocating delegation, a decreasing one, and a
    // receipt claiming more than its (second) round's delegation.
    const d301 = await delegation(a, b, 'session-rebuild-ab', 301, 3_010, 3_010_000)
    const kinds: string[] = []
    for (const r of [
      d301,
      await receipt(b, a, d301, 3_011, 3_010_000),
      await delegation(a, b, 'session-rebuild-ab', 301, 3_020, 3_020_000),
      await delegation(a, c, 'session-rebuild-ac', 302, 1, 1)
    ]) {
      const v = await store.apply(r)
      kinds.push(v.kind === 'evidence' ? v.evidence.kind : v.kind)
    }
    assert.deepEqual(kinds, ['applied', 'over-claim', 'equivocation', 'decrease'])
    assert.equal(store.recordCount, records.length + 4)
    const rebuilt = await assertRebuildAgrees(store)
    assert.equal(rebuilt.evidence.length, 3)
    assert.equal(rebuilt.pairs, pairs.length)

    // The layout before the `order` index: drop it (and the layout mark); opening migrates.
    const before = sorted(store.allTotals())
    await store.db.sublevel('order').clear()
    await store.db.sublevel('meta').clear()
    await store.close()
    store = await LedgerStore.open(dir)
    try {
      assert.deepEqual(sorted(store.allTotals()), before)
      const again = await assertRebuildAgrees(store)
      assert.equal(again.records, records.length + 4)
    } finally {
      await store.close()
    }
  })

  it('counts standing over the rolling window only', async () => {
    const [a, b] = members as [Member, Member]
    const { store } = await tempStore()
    const now = Date.now()
    const old = now - DEFAULT_QUOTA_POLICY.windowMs - 5 * HOUR
    try {
      const d1 = await delegation(a, b, 'session-window-0001', 1, 100, 500_000, old)
      await store.apply(d1)
      await store.apply(await receipt(b, a, d1, 100, 500_000, old))
      assert.deepEqual(store.totals(b.id), { given: 500_000, taken: 0, givenRequests: 100, takenRequests: 0 })
      let st = store.standing(b.id, now)
      assert.equal(st.given, 0, 'a record older than the window counts')
      assert.equal(store.standing(a.id, now).taken, 0)
      // At the time of the old records they did count.
      assert.equal(store.standing(b.id, old + HOUR).given, 500_000)

      const d2 = await delegation(a, b, 'session-window-0001', 2, 150, 800_000, now - 3 * HOUR)
      await store.apply(d2)
      await store.apply(await receipt(b, a, d2, 150, 800_000, now - 3 * HOUR))
      st = store.standing(b.id, now)
      assert.equal(st.given, 300_000, 'only the increase settled within the window counts')
      assert.equal(st.credit, DEFAULT_QUOTA_POLICY.newcomerGrantBytes + DEFAULT_QUOTA_POLICY.takeMultiple * 300_000)
      const sa = store.standing(a.id, now)
      assert.equal(sa.taken, 300_000)
      assert.equal(sa.overQuota, false)
      // A policy whose grant is smaller than what was taken in the window: over quota.
      const strict = { ...DEFAULT_QUOTA_POLICY, newcomerGrantBytes: 100_000 }
      assert.equal(store.standing(a.id, now, strict).overQuota, true)
      assert.equal(store.standing(a.id, now, { ...strict, windowMs: HOUR }).overQuota, false)
    } finally {
      await store.close()
    }
  })

  it('owed() nets what two members took from each other over settled pairs', async () => {
    const [a, b, c] = members as [Member, Member, Member]
    const { store } = await tempStore()
    try {
      for (const [bb, h, session, bytes] of [
        [a, b, 'session-owed-ab-1', 70_000],
        [a, b, 'session-owed-ab-2', 30_000],
        [b, a, 'session-owed-ba-1', 25_000],
        [a, c, 'session-owed-ac-1', 5_000]
      ] as const) {
        const d = await delegation(bb, h, session, 1, 10, bytes)
        await store.apply(d)
        await store.apply(await receipt(h, bb, d, 10, bytes))
      }
      // Only delegated, not yet receipted: nothing settled, nothing owed.
      await store.apply(await delegation(b, a, 'session-owed-ba-2', 1, 10, 1_000_000))
      assert.equal(store.owed(a.id, b.id), 70_000 + 30_000 - 25_000)
      assert.equal(store.owed(b.id, a.id), -(70_000 + 30_000 - 25_000))
      assert.equal(store.owed(a.id, c.id), 5_000)
      assert.equal(store.owed(b.id, c.id), 0)
    } finally {
      await store.close()
    }
  })

  it('recordsOf(member) returns the records behind its balance', async () => {
    const [a, b, c, d] = members as [Member, Member, Member, Member]
    const { store } = await tempStore()
    try {
      const records = await honest(
        [
          [a, b, 'session-of-ab'],
          [c, a, 'session-of-ca'],
          [b, c, 'session-of-bc']
        ],
        5
      )
      for (const r of records) await store.apply(r)
      const dOver = records.find(r => r.type === 'delegation' && r.body.session === 'session-of-ab' && r.body.round === 5)!
      assert.equal((await store.apply(await receipt(b, a, dOver, 999, 1))).kind, 'evidence')

      const mine = await store.recordsOf(a.id)
      const expected = records
        .filter(r => r.body.session !== 'session-of-bc')
        .map(r => r.hash)
        .sort()
      assert.deepEqual(mine.map(r => r.hash).sort(), expected)
      // The balance follows from them alone (and each carries its signed bytes).
      assert.deepEqual(recomputeBalances(mine).totals.get(a.id), store.totals(a.id))
      for (const r of mine.slice(0, 3)) assert.equal(toLedgerRecord(await verifyRecord(Buffer.from(r.bytes, 'base64'), { ignoreTime: true })).hash, r.hash)
      assert.equal((await store.recordsOf(a.id, 3)).length, 3)
      assert.deepEqual(await store.recordsOf(d.id), [])
    } finally {
      await store.close()
    }
  })
})
