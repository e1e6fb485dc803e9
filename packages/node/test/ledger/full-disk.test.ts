/**
 * The ledger store on a volume that fills up (issue 13, item 5): a real LevelDB on a real tmpfs
 * of 16 MiB (mounted by the test; root only, as in CI), filled by a file until writes fail.
 * The store refuses records cleanly and holds them, its balances stay those of the last durable
 * change, it writes again by itself once space returns, and nothing is lost or counted twice,
 * also after a close and reopen (the case LevelDB alone gets wrong: a write acknowledged after
 * a failed one can vanish on reopen).
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { recomputeBalances } from '@reef/governance'
import type { MemberTotals } from '@reef/governance'
import { signRecord, verifyRecord } from '@reef/protocol'
import type { Delegation, Receipt } from '@reef/protocol'
import { LedgerStore, toLedgerRecord } from '../../src/ledger/store.ts'
import type { StoredRecord } from '../../src/ledger/store.ts'
import { codeOf } from '../../src/errors.ts'
import { canMountVolume, mountSmallVolume } from '../../demo/volume.ts'
import type { SmallVolume } from '../../demo/volume.ts'

interface Member {
  key: PrivateKey
  id: string
}

const MiB = 1024 * 1024
let seq = 0

async function sign(author: Member, type: 'delegation' | 'receipt', body: Delegation | Receipt): Promise<StoredRecord> {
  const bytes = await signRecord(author.key, author.id, type, body as never, { seq: ++seq, ts: Date.now() })
  return toLedgerRecord(await verifyRecord(bytes, { ignoreTime: true }))
}

/** Cumulative rounds between two pairs of members, delegation then receipt. */
async function exchanges(members: Member[], rounds: number): Promise<StoredRecord[]> {
  const out: StoredRecord[] = []
  const pairs: Array<[Member, Member, string]> = [
    [members[0]!, members[1]!, 'session-full-disk-a'],
    [members[2]!, members[0]!, 'session-full-disk-b']
  ]
  for (let round = 1; round <= rounds; round++) {
    for (const [b, h, session] of pairs) {
      const d = await sign(b, 'delegation', { session, helper: h.id, round, requests: round * 10, bytes: round * 10_000, final: false })
      out.push(d, await sign(h, 'receipt', { session, beneficiary: b.id, round, delegation: d.hash, requests: round * 10 - 1, bytes: round * 10_000 - 100 }))
    }
  }
  return out
}

const sorted = (m: Map<string, MemberTotals>): Array<[string, MemberTotals]> => [...m].sort((a, b) => a[0].localeCompare(b[0]))

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('ledger store on a full volume', { skip: canMountVolume ? false : 'needs root to mount a tmpfs (CI runs as root)' }, () => {
  let members: Member[]
  let volume: SmallVolume | undefined

  before(async () => {
    members = await Promise.all(
      [21, 22, 23].map(async i => {
        const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(i))
        return { key, id: peerIdFromPrivateKey(key).toString() }
      })
    )
    volume = await mountSmallVolume(16)
  })

  after(async () => {
    await volume?.close()
  })

  it('refuses and holds records while full, keeps its balances, writes again when space returns, and loses nothing across a reopen', async () => {
    const records = await exchanges(members, 400)
    const location = join(volume!.path, 'ledger')
    let store = await LedgerStore.open(location, { recoverFreeBytes: 2 * MiB, recoverIntervalMs: 50 })
    try {
      let next = 0
      for (; next < 100; next++) assert.equal((await store.apply(records[next]!)).kind, 'applied')
      assert.equal(store.health().writable, true)
      assert.ok((store.health().freeBytes ?? 0) > 8 * MiB, `the sampled free space is ${store.health().freeBytes}`)

      await volume!.fill()
      // The log's last page may still take a few records; the first that needs a new one fails.
      let failure: unknown
      let before = store.allTotals()
      for (; next < records.length && failure === undefined; next++) {
        before = store.allTotals()
        await store.apply(records[next]!).catch((err: unknown) => {
          failure = err
        })
      }
      assert.equal(codeOf(failure), 'ERR_STORAGE_UNWRITABLE', `no write failed on the full volume: ${String(failure)}`)
      const h = store.health()
      assert.equal(h.writable, false)
      assert.ok(h.since !== null && h.error !== null && /space/i.test(h.error), `health says ${JSON.stringify(h)}`)
      assert.deepEqual(sorted(store.allTotals()), sorted(before), 'a failed batch moved the balances')

      // Refused at once while full, held in order; balances stay; recovery waits for room.
      for (let i = 0; i < 50; i++, next++) {
        await assert.rejects(store.apply(records[next]!), (err: unknown) => codeOf(err) === 'ERR_STORAGE_UNWRITABLE')
      }
      assert.equal(store.health().backlog, 51)
      assert.deepEqual(sorted(store.allTotals()), sorted(before))
      assert.equal(await store.recover(), false, 'the store reopened on a full volume')

      await volume!.unfill()
      await until('the store writes again by itself', () => store.health().writable, 10_000)
      assert.equal(store.health().backlog, 0)
      assert.equal(store.health().recoveries, 1)
      for (; next < 300; next++) assert.equal((await store.apply(records[next]!)).kind, 'applied')

      // Exactly the records applied: every one once, none lost, none twice.
      const expect = recomputeBalances(records.slice(0, 300))
      assert.equal(store.recordCount, 300)
      assert.deepEqual(sorted(store.allTotals()), sorted(expect.totals))
      assert.deepEqual(sorted((await store.recompute()).totals), sorted(expect.totals))

      await store.close()
      store = await LedgerStore.open(location)
      assert.equal(store.recordCount, 300, 'records were lost across the reopen')
      assert.deepEqual(sorted(store.allTotals()), sorted(expect.totals))
      const rebuilt = await store.recompute()
      assert.equal(rebuilt.records, 300)
      assert.deepEqual(sorted(rebuilt.totals), sorted(expect.totals))
    } finally {
      await store.close()
    }
  })
})
