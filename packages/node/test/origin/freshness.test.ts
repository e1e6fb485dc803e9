import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { freshnessOf } from '../../src/origin/freshness.ts'

const T = 1_790_000_000_000

describe('freshnessOf (RFC 9111 §4.2, RFC 5861)', () => {
  it('uses s-maxage over max-age, and adds the stale windows after freshness', () => {
    const f = freshnessOf({ 'cache-control': 'public, max-age=60, s-maxage=10, stale-while-revalidate=30, stale-if-error=300' }, T)
    assert.deepEqual(f, { freshUntil: T + 10_000, staleWhileRevalidateUntil: T + 40_000, staleIfErrorUntil: T + 310_000 })
  })

  it('falls back to Expires minus Date, and subtracts the Age it arrived with', () => {
    const date = new Date(T).toUTCString()
    const expires = new Date(T + 120_000).toUTCString()
    assert.equal(freshnessOf({ expires, date }, T).freshUntil, T + 120_000)
    assert.equal(freshnessOf({ 'cache-control': 'max-age=60', age: '45' }, T).freshUntil, T + 15_000)
  })

  it('is stale at once without a lifetime, and never reads a lifetime from a look-alike directive', () => {
    assert.equal(freshnessOf({}, T).freshUntil, T)
    assert.equal(freshnessOf({ 'cache-control': 'x-max-age=60' }, T).freshUntil, T)
    assert.equal(freshnessOf({ expires: 'not a date' }, T).freshUntil, T)
  })
})
