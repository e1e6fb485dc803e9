import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { selectHelpers } from '../src/index.ts'

describe('selectHelpers', () => {
  const offers = [
    { peer: 'a', offeredRps: 100 },
    { peer: 'b', offeredRps: 400 },
    { peer: 'c', offeredRps: 300 },
    { peer: 'd', offeredRps: 50, peerState: 'struck' as const }
  ]

  it('takes the largest offers until the needed capacity with headroom is covered', () => {
    assert.deepEqual(selectHelpers(offers, 500, 1.25, new Set()).map(o => o.peer), ['b', 'c'])
  })

  it('keeps helpers already accepted first, so their warm caches stay in use', () => {
    assert.deepEqual(selectHelpers(offers, 100, 1, new Set(['a'])).map(o => o.peer), ['a'])
  })

  it('accepts at least one offer when any is eligible, and never a struck peer', () => {
    assert.deepEqual(selectHelpers(offers, 0, 1.25, new Set()).map(o => o.peer), ['b'])
    assert.deepEqual(selectHelpers([offers[3]!], 10, 1, new Set()), [])
  })

  it('takes everything eligible when the offers do not cover the need', () => {
    assert.deepEqual(selectHelpers(offers, 10_000, 1.25, new Set()).map(o => o.peer), ['b', 'c', 'a'])
  })
})
