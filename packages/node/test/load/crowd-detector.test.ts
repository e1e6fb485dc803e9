import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CrowdDetector } from '../../src/load/crowd-detector.ts'
import type { CrowdDetectorOptions } from '../../src/load/crowd-detector.ts'

// capacity 100 rps: struck at ≥ 80 rps held 500 ms; recovering below 50 rps; normal after 2 s calm.
const OPTS: CrowdDetectorOptions = { capacityRps: 100, strikeShare: 0.8, releaseShare: 0.5, strikeHoldMs: 500, calmMs: 2000 }

/** Feed `demand` every `stepMs` from `from` to `to` inclusive; return the states seen. */
function feed(d: CrowdDetector, demand: number, from: number, to: number, stepMs = 50): Set<string> {
  const seen = new Set<string>()
  for (let t = from; t <= to; t += stepMs) {
    d.sample(demand, t)
    seen.add(d.state)
  }
  return seen
}

/** A detector driven into 'struck' at t = 500. */
function struck(): CrowdDetector {
  const d = new CrowdDetector(OPTS)
  d.sample(90, 0)
  assert.equal(d.sample(90, 500)?.to, 'struck')
  return d
}

describe('CrowdDetector normal → struck', () => {
  test('strikes only after demand has stayed at or above strikeShare for strikeHoldMs', () => {
    const d = new CrowdDetector(OPTS)
    assert.equal(d.state, 'normal')
    assert.equal(d.sample(90, 1000), undefined)
    assert.equal(d.sample(95, 1499), undefined)
    assert.equal(d.state, 'normal')
    const change = d.sample(85, 1500)
    assert.deepEqual(change, { from: 'normal', to: 'struck', at: 1500, demandRps: 85 })
    assert.equal(d.state, 'struck')
    assert.deepEqual(d.history, [change])
  })

  test('the threshold is inclusive: exactly strikeShare × capacity counts as over', () => {
    const d = new CrowdDetector(OPTS)
    d.sample(80, 0)
    assert.equal(d.sample(80, 500)?.to, 'struck')
  })

  test('a dip below strikeShare restarts the hold', () => {
    const d = new CrowdDetector(OPTS)
    d.sample(90, 0)
    d.sample(79, 300)
    d.sample(90, 400)
    assert.equal(d.sample(90, 899), undefined)
    assert.equal(d.state, 'normal')
    assert.equal(d.sample(90, 900)?.to, 'struck')
  })

  test('a single spike, however large, does not strike', () => {
    const d = new CrowdDetector(OPTS)
    d.sample(10_000, 0)
    d.sample(10, 100)
    assert.deepEqual(feed(d, 10, 200, 5000), new Set(['normal']))
  })

  test('no flapping: demand hovering between releaseShare and strikeShare never changes the state', () => {
    const d = new CrowdDetector(OPTS)
    const levels = [50, 79, 60, 70, 55, 79.9]
    for (let t = 0; t < 20_000; t += 50) d.sample(levels[(t / 50) % levels.length] ?? 60, t)
    assert.equal(d.state, 'normal')
    assert.equal(d.history.length, 0)

    const s = struck()
    for (let t = 600; t < 20_000; t += 50) s.sample(levels[(t / 50) % levels.length] ?? 60, t)
    assert.equal(s.state, 'struck')
    assert.equal(s.history.length, 1)
  })
})

describe('CrowdDetector struck → recovering → normal', () => {
  test('struck becomes recovering on the first sample below releaseShare', () => {
    const d = struck()
    assert.equal(d.sample(50, 1000), undefined) // releaseShare is exclusive
    assert.deepEqual(d.sample(49, 1050), { from: 'struck', to: 'recovering', at: 1050, demandRps: 49 })
  })

  test('recovering becomes normal after calmMs below releaseShare', () => {
    const d = struck()
    d.sample(40, 1000)
    assert.equal(d.state, 'recovering')
    assert.deepEqual(feed(d, 40, 1050, 2950), new Set(['recovering']))
    assert.deepEqual(d.sample(40, 3000), { from: 'recovering', to: 'normal', at: 3000, demandRps: 40 })
    assert.deepEqual(
      d.history.map(c => c.to),
      ['struck', 'recovering', 'normal']
    )
  })

  test('demand between the thresholds while recovering restarts the calm period', () => {
    const d = struck()
    d.sample(40, 1000)
    d.sample(60, 2000) // not calm, not a crowd
    assert.equal(d.state, 'recovering')
    d.sample(40, 2500)
    assert.equal(d.sample(40, 4499), undefined)
    assert.equal(d.state, 'recovering')
    assert.equal(d.sample(40, 4500)?.to, 'normal')
  })

  test('recovering goes back to struck as soon as demand returns', () => {
    const d = struck()
    d.sample(40, 1000)
    assert.deepEqual(d.sample(85, 1100), { from: 'recovering', to: 'struck', at: 1100, demandRps: 85 })
    // and the calm period starts over after that
    d.sample(40, 1200)
    assert.equal(d.state, 'recovering')
    d.sample(40, 3100)
    assert.equal(d.state, 'recovering')
    assert.equal(d.sample(40, 3200)?.to, 'normal')
  })

  test('after returning to normal, a new crowd needs the full hold again', () => {
    const d = struck()
    d.sample(10, 1000)
    d.sample(10, 3000)
    assert.equal(d.state, 'normal')
    d.sample(90, 3050)
    assert.equal(d.sample(90, 3549), undefined)
    assert.equal(d.sample(90, 3550)?.to, 'struck')
  })

  test('history is bounded to the last 1000 changes', () => {
    const d = new CrowdDetector({ ...OPTS, strikeHoldMs: 0, calmMs: 0 })
    for (let t = 0; t < 3000; t++) d.sample(t % 2 === 0 ? 90 : 10, t)
    assert.equal(d.history.length, 1000)
    assert.equal(d.history.at(-1)?.at, 2999)
  })
})

describe('CrowdDetector with a saturated origin', () => {
  const opts = { capacityRps: 100, strikeShare: 0.8, releaseShare: 0.5, strikeHoldMs: 500, calmMs: 2_000 }

  test('strikes at once when demand is over the strike share and requests queue for the origin', () => {
    const d = new CrowdDetector(opts)
    assert.equal(d.sample(90, 0, true)?.to, 'struck')
  })

  test('saturation alone, with demand under the strike share, does not strike', () => {
    const d = new CrowdDetector(opts)
    assert.equal(d.sample(50, 0, true), undefined)
    assert.equal(d.sample(50, 1_000, true), undefined)
    assert.equal(d.state, 'normal')
  })

  test('a front that refused visitors strikes at once, whatever the demand estimate says yet', () => {
    const d = new CrowdDetector(opts)
    assert.equal(d.sample(10, 0, false, false), undefined)
    assert.equal(d.sample(10, 100, false, true)?.to, 'struck')
  })

  test('without saturation the hold still applies', () => {
    const d = new CrowdDetector(opts)
    assert.equal(d.sample(90, 0, false), undefined)
    assert.equal(d.sample(90, 499, false), undefined)
    assert.equal(d.sample(90, 500, false)?.to, 'struck')
  })
})
