import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_QUOTA_POLICY, offerFor, standing } from '../src/index.ts'
import type { QuotaPolicy } from '../src/index.ts'

const GiB = 1024 * 1024 * 1024
const custom: QuotaPolicy = { newcomerGrantBytes: 1000, takeMultiple: 3, windowMs: 60_000, optimisticShare: 0.25 }

describe('standing', () => {
  it('gives a newcomer the grant as credit (default 1 GiB)', () => {
    assert.deepEqual(standing(0, 0), { given: 0, taken: 0, credit: GiB, headroom: GiB, overQuota: false })
    assert.equal(DEFAULT_QUOTA_POLICY.newcomerGrantBytes, GiB)
    assert.deepEqual(standing(0, 0, custom), { given: 0, taken: 0, credit: 1000, headroom: 1000, overQuota: false })
  })

  it('grows credit by takeMultiple × given', () => {
    assert.equal(standing(500 * 1024 * 1024, 0).credit, GiB + 2 * 500 * 1024 * 1024)
    assert.equal(standing(10, 0, custom).credit, 1000 + 30)
    assert.equal(standing(10, 0, { ...custom, takeMultiple: 0 }).credit, 1000)
    // What was taken does not change credit, only headroom.
    assert.equal(standing(10, 5000, custom).credit, 1030)
  })

  it('is not over quota when taken equals credit, and is one byte past it', () => {
    for (const [policy, given] of [
      [DEFAULT_QUOTA_POLICY, 123_456],
      [custom, 10]
    ] as const) {
      const credit = standing(given, 0, policy).credit
      assert.deepEqual(standing(given, credit, policy), { given, taken: credit, credit, headroom: 0, overQuota: false })
      assert.deepEqual(standing(given, credit - 1, policy), { given, taken: credit - 1, credit, headroom: 1, overQuota: false })
      assert.deepEqual(standing(given, credit + 1, policy), { given, taken: credit + 1, credit, headroom: -1, overQuota: true })
    }
  })

  it('lets a member that gave take twice that on top of the grant by default', () => {
    const given = 3 * GiB
    assert.equal(standing(given, GiB + 2 * given).overQuota, false)
    assert.equal(standing(given, GiB + 2 * given + 1).overQuota, true)
  })
})

describe('offerFor', () => {
  const within = standing(0, 0)
  const over = standing(0, GiB + 1)
  const overCustom = standing(0, 1001, custom)

  it('declines when the helper has no spare capacity, whoever asks', () => {
    for (const [b, owed] of [
      [within, 0],
      [over, 0],
      [over, 500]
    ] as const) {
      assert.deepEqual(offerFor(0, 100, b, owed), { kind: 'decline', reason: 'no-spare' })
      assert.deepEqual(offerFor(-5, 100, b, owed), { kind: 'decline', reason: 'no-spare' })
    }
  })

  it('offers a member within quota what it needs, up to the spare capacity, at least 1', () => {
    assert.deepEqual(offerFor(100, 30, within, 0), { kind: 'full', amount: 30, reason: 'within-quota' })
    assert.deepEqual(offerFor(100, 300, within, 0), { kind: 'full', amount: 100, reason: 'within-quota' })
    assert.deepEqual(offerFor(100, 0, within, 0), { kind: 'full', amount: 1, reason: 'within-quota' })
    // At the boundary (taken == credit) the member is still within quota.
    assert.deepEqual(offerFor(100, 30, standing(0, GiB), 0), { kind: 'full', amount: 30, reason: 'within-quota' })
  })

  it('offers a member over quota only floor(wanted × optimisticShare), at least 1', () => {
    assert.deepEqual(offerFor(100, 300, over, 0), { kind: 'limited', amount: 10, reason: 'over-quota-optimistic' })
    assert.deepEqual(offerFor(100, 55, over, 0), { kind: 'limited', amount: 5, reason: 'over-quota-optimistic' })
    assert.deepEqual(offerFor(100, 5, over, 0), { kind: 'limited', amount: 1, reason: 'over-quota-optimistic' })
    assert.deepEqual(offerFor(1, 1000, over, 0), { kind: 'limited', amount: 1, reason: 'over-quota-optimistic' })
    assert.deepEqual(offerFor(100, 55, overCustom, 0, custom), { kind: 'limited', amount: 13, reason: 'over-quota-optimistic' })
    assert.deepEqual(offerFor(100, 300, overCustom, 0, { ...custom, optimisticShare: 0 }), { kind: 'limited', amount: 1, reason: 'over-quota-optimistic' })
    assert.deepEqual(offerFor(100, 300, overCustom, 0, { ...custom, optimisticShare: 1 }), { kind: 'limited', amount: 100, reason: 'over-quota-optimistic' })
  })

  it('treats no debt, or a debt the other way, as no creditor', () => {
    assert.equal(offerFor(100, 300, over, 0).kind, 'limited')
    assert.equal(offerFor(100, 300, over, -1_000_000).kind, 'limited')
  })

  it('offers a creditor in full even when it is over quota, up to the spare capacity', () => {
    assert.deepEqual(offerFor(100, 300, over, 1), { kind: 'full', amount: 100, reason: 'creditor-struck' })
    assert.deepEqual(offerFor(100, 30, over, 1), { kind: 'full', amount: 30, reason: 'creditor-struck' })
    assert.deepEqual(offerFor(100, 0, over, 1), { kind: 'full', amount: 1, reason: 'creditor-struck' })
    assert.deepEqual(offerFor(100, 300, overCustom, 5000, custom), { kind: 'full', amount: 100, reason: 'creditor-struck' })
    // A creditor within quota is also offered in full.
    const r = offerFor(100, 300, within, 1)
    assert.deepEqual([r.kind, 'amount' in r ? r.amount : undefined], ['full', 100])
  })

  it('switches from full to limited exactly when taken passes credit', () => {
    const given = 1000
    const credit = standing(given, 0).credit
    assert.equal(offerFor(200, 200, standing(given, credit), 0).kind, 'full')
    assert.deepEqual(offerFor(200, 200, standing(given, credit + 1), 0), { kind: 'limited', amount: 20, reason: 'over-quota-optimistic' })
  })
})
