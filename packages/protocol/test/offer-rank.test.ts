import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR, offerRankKey, offersAtOnce } from '../src/index.ts'

const peers = (n: number, spare = 1_000_000): Array<{ peer: string; spareBytesPerSec: number }> =>
  Array.from({ length: n }, (_, i) => ({ peer: `12D3KooWpeer${i}`, spareBytesPerSec: spare }))

describe('offer hold-back ranking (SPEC.md §help-offer)', () => {
  it('gives each member a key from the session and its id alone, a fresh order per session, and none to a member with nothing to spare', () => {
    assert.equal(offerRankKey('sessionAAAA', 'peer1', 5), offerRankKey('sessionAAAA', 'peer1', 5))
    assert.equal(offerRankKey('sessionAAAA', 'peer1', 0), Number.POSITIVE_INFINITY)
    assert.equal(offerRankKey('sessionAAAA', 'peer1', Number.NaN), Number.POSITIVE_INFINITY)
    // Doubling the spare halves the key: the same draw, weighted.
    assert.equal(offerRankKey('sessionAAAA', 'peer1', 10), offerRankKey('sessionAAAA', 'peer1', 5) / 2)
    const firsts = new Set<string>()
    for (let s = 0; s < 50; s++) {
      const ranked = peers(10).sort((a, b) => offerRankKey(`session${s}xx`, a.peer, 1) - offerRankKey(`session${s}xx`, b.peer, 1))
      firsts.add(ranked[0]!.peer)
    }
    assert.ok(firsts.size >= 7, `first place moves between sessions (${firsts.size} of 10 members were first)`)
  })

  it('puts a member first in proportion to what it can spare', () => {
    let bigFirst = 0
    const n = 20_000
    for (let s = 0; s < n; s++) {
      const session = `s${s}-abcdefgh`
      if (offerRankKey(session, 'big', 3_000) < offerRankKey(session, 'small', 1_000)) bigFirst++
    }
    // Exponential race: P(big first) = 3 / (3 + 1).
    assert.ok(Math.abs(bigFirst / n - 0.75) < 0.015, `big first in ${((bigFirst / n) * 100).toFixed(1)} % of sessions`)
  })

  it('offers at once the first OFFER_AT_ONCE_MIN members, and those before whom less than OFFER_COVER_FACTOR × the need is spared', () => {
    const session = 'session-rank-test'
    const all = peers(40)
    const order = [...all].sort((a, b) => offerRankKey(session, a.peer, a.spareBytesPerSec) - offerRankKey(session, b.peer, b.spareBytesPerSec))
    const atOnce = (need: number): number[] => order.flatMap((p, i) => (offersAtOnce(session, p, all, need, OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR) ? [i] : []))
    // A small need: the first OFFER_AT_ONCE_MIN.
    assert.deepEqual(atOnce(1), [...Array(OFFER_AT_ONCE_MIN).keys()])
    // A need of 4 members' spare: the first OFFER_COVER_FACTOR × 4.
    assert.deepEqual(atOnce(4_000_000), [...Array(OFFER_COVER_FACTOR * 4).keys()])
    // More need than the consortium has: everyone.
    assert.equal(atOnce(1e12).length, all.length)
    // Members with nothing to spare, and the member itself among the others, change nothing.
    const withIdle = [...all, ...peers(5, 0).map(p => ({ ...p, peer: `${p.peer}-idle` }))]
    assert.equal(offersAtOnce(session, order[OFFER_AT_ONCE_MIN]!, withIdle, 1, OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR), false)
    assert.equal(offersAtOnce(session, order[OFFER_AT_ONCE_MIN - 1]!, withIdle, 1, OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR), true)
    // With few others, everyone offers.
    assert.equal(offersAtOnce(session, order[0]!, [], 1, OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR), true)
  })
})
