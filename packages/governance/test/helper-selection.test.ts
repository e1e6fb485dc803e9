import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { selectHelpers } from '../src/index.ts'

const MB = 1_000_000

describe('selectHelpers', () => {
  const offers = [
    { peer: 'a', offeredRps: 100, offeredBytesPerSec: 1 * MB },
    { peer: 'b', offeredRps: 400, offeredBytesPerSec: 4 * MB },
    { peer: 'c', offeredRps: 300, offeredBytesPerSec: 3 * MB },
    { peer: 'd', offeredRps: 50, offeredBytesPerSec: 9 * MB, peerState: 'struck' as const }
  ]

  it('takes the largest offers in bytes/s until the need with headroom is covered', () => {
    assert.deepEqual(
      selectHelpers(offers, { rps: 100, bytesPerSec: 5 * MB }, 1.25, new Set()).map(o => o.peer),
      ['b', 'c']
    )
  })

  it('ranks by bytes/s, not requests/s: many small requests do not make a large offer', () => {
    const rpsRich = [
      { peer: 'x', offeredRps: 5000, offeredBytesPerSec: 2 * MB },
      { peer: 'y', offeredRps: 100, offeredBytesPerSec: 6 * MB }
    ]
    assert.deepEqual(
      selectHelpers(rpsRich, { rps: 50, bytesPerSec: 4 * MB }, 1.25, new Set()).map(o => o.peer),
      ['y']
    )
  })

  it('requests/s is a second limit: bytes covered but requests not, more offers are taken', () => {
    assert.deepEqual(
      selectHelpers(offers, { rps: 500, bytesPerSec: 1 * MB }, 1.25, new Set()).map(o => o.peer),
      ['b', 'c']
    )
  })

  it('keeps helpers already accepted first, so their warm caches stay in use', () => {
    assert.deepEqual(
      selectHelpers(offers, { rps: 100, bytesPerSec: 1 * MB }, 1, new Set(['a'])).map(o => o.peer),
      ['a']
    )
  })

  it('lets an accepted helper go only once the ones kept before it cover twice the need with headroom', () => {
    // b (4 MB/s) and a (1 MB/s) accepted; the need falls to 2 MB/s (2.5 with headroom): b alone
    // covers it, but not twice over, so a stays.
    assert.deepEqual(
      selectHelpers(offers, { rps: 100, bytesPerSec: 2 * MB }, 1.25, new Set(['a', 'b'])).map(o => o.peer),
      ['b', 'a']
    )
    // It falls to 1 MB/s: b covers it more than twice over, and a is let go.
    assert.deepEqual(
      selectHelpers(offers, { rps: 50, bytesPerSec: 1 * MB }, 1.25, new Set(['a', 'b'])).map(o => o.peer),
      ['b']
    )
    // Not accepted before: taken only while the need is not covered, as ever.
    assert.deepEqual(
      selectHelpers(offers, { rps: 100, bytesPerSec: 2 * MB }, 1.25, new Set(['b'])).map(o => o.peer),
      ['b']
    )
  })

  it("prefers standbys that already hold the site's hot content, most held first, after those already accepted", () => {
    const withReplicas = offers.map(o => (o.peer === 'a' ? { ...o, heldBytes: 3 * MB } : o.peer === 'c' ? { ...o, heldBytes: 1 * MB } : o))
    assert.deepEqual(
      selectHelpers(withReplicas, { rps: 100, bytesPerSec: 3 * MB }, 1.25, new Set()).map(o => o.peer),
      ['a', 'c']
    )
    assert.deepEqual(
      selectHelpers(withReplicas, { rps: 100, bytesPerSec: 1 * MB }, 1, new Set(['b'])).map(o => o.peer),
      ['b']
    )
  })

  it('accepts at least one offer when any is eligible, and never a struck peer or an empty offer', () => {
    assert.deepEqual(
      selectHelpers(offers, { rps: 0, bytesPerSec: 0 }, 1.25, new Set()).map(o => o.peer),
      ['b']
    )
    assert.deepEqual(selectHelpers([offers[3]!], { rps: 10, bytesPerSec: MB }, 1, new Set()), [])
    assert.deepEqual(selectHelpers([{ peer: 'z', offeredRps: 10, offeredBytesPerSec: 0 }], { rps: 10, bytesPerSec: MB }, 1, new Set()), [])
  })

  it('takes everything eligible when the offers do not cover the need', () => {
    assert.deepEqual(
      selectHelpers(offers, { rps: 100, bytesPerSec: 100 * MB }, 1.25, new Set()).map(o => o.peer),
      ['b', 'c', 'a']
    )
  })
})
