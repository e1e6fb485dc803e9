import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { makeLedgerVectors, recomputeBalances, settleInArrivalOrder, toLedgerRecordFromBytes } from '../src/index.ts'
import type { LedgerVectorSet, MemberTotals } from '../src/index.ts'

const plain = (m: Map<string, MemberTotals>): Record<string, MemberTotals> =>
  Object.fromEntries([...m].filter(([, t]) => t.given + t.taken + t.givenRequests + t.takenRequests > 0).sort((a, b) => a[0].localeCompare(b[0])))

describe('ledger vectors', () => {
  it('the committed vectors are what the code produces (regenerate after a rule change)', async () => {
    const committed = JSON.parse(await readFile(new URL('../vectors/ledger.json', import.meta.url), 'utf8')) as LedgerVectorSet
    assert.deepEqual(committed, JSON.parse(JSON.stringify(await makeLedgerVectors())))
  })

  it('every scenario settles to its expected balances and evidence, in arrival order and recomputed', async () => {
    const v = JSON.parse(await readFile(new URL('../vectors/ledger.json', import.meta.url), 'utf8')) as LedgerVectorSet
    assert.ok(v.scenarios.length >= 8)
    const kinds = new Set(v.scenarios.flatMap(s => s.evidence.map(e => e.kind)))
    for (const k of ['over-claim', 'equivocation', 'decrease']) assert.ok(kinds.has(k), `no scenario for ${k}`)
    for (const sc of v.scenarios) {
      const records = await Promise.all(sc.recordsHex.map(async h => toLedgerRecordFromBytes(Buffer.from(h, 'hex'))))
      const online = settleInArrivalOrder(records)
      assert.deepEqual(plain(online.totals), sc.totals, sc.description)
      assert.deepEqual(online.evidence, sc.evidence, sc.description)
      assert.deepEqual(plain(recomputeBalances(records).totals), sc.totals, `recompute: ${sc.description}`)
    }
  })
})
