import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Shedder, siteBaseOnMirror } from '../../src/load/shedder.ts'
import type { Helper } from '../../src/load/shedder.ts'

function helper(peer: string, weightBytesPerSec: number): Helper {
  const mirrorUrl = `http://mirror-${peer}.localhost:9100`
  return { peer, weightBytesPerSec, weightRps: 100, mirrorUrl, siteBase: siteBaseOnMirror(mirrorUrl, 'alpha') }
}

function counts(s: Shedder, n: number): Map<string, number> {
  const out = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const h = s.pick()
    assert.ok(h !== undefined)
    out.set(h.peer, (out.get(h.peer) ?? 0) + 1)
  }
  return out
}

describe('Shedder.pick', () => {
  test('with no helpers it is inactive and picks nothing', () => {
    const s = new Shedder()
    assert.equal(s.active, false)
    assert.equal(s.pick(), undefined)
  })

  test('spreads requests in proportion to the bytes/s each offered, exactly over every short stretch', () => {
    const s = new Shedder()
    s.setHelpers([helper('light', 1_000_000), helper('heavy', 3_000_000)])
    // Smooth weighted round-robin: every 4 consecutive picks hold 1 light and 3 heavy.
    for (let round = 0; round < 50; round++) assert.deepEqual(Object.fromEntries(counts(s, 4)), { light: 1, heavy: 3 })
  })

  test('equal weights give equal shares, whatever the paths (a hot page does not pin one helper)', () => {
    const s = new Shedder()
    s.setHelpers([helper('a', 500), helper('b', 500), helper('c', 500), helper('d', 500)])
    for (const n of counts(s, 4_000).values()) assert.equal(n, 1_000)
  })

  test('an excluded helper gets nothing and its share goes to the others at once; all excluded is inactive', () => {
    const s = new Shedder()
    s.setHelpers([helper('a', 100), helper('b', 100), helper('c', 200)])
    s.setExcluded(new Set(['c']))
    assert.deepEqual(Object.fromEntries(counts(s, 1_000)), { a: 500, b: 500 })
    assert.equal(s.liveHelperBytesPerSec(), 200)
    s.setExcluded(new Set(['a', 'b', 'c']))
    assert.equal(s.active, false)
    assert.equal(s.helping, false)
    assert.equal(s.pick(), undefined)
    s.setExcluded(new Set())
    assert.equal(s.active, true)
    assert.equal(counts(s, 400).get('c'), 200)
  })

  test('helpers offering 0 bytes/s are never picked', () => {
    const s = new Shedder()
    s.setHelpers([helper('zero', 0), helper('one', 1)])
    assert.deepEqual(
      s.helpers.map(h => h.peer),
      ['one']
    )
    assert.deepEqual([...counts(s, 50).keys()], ['one'])
    s.setHelpers([helper('zero', 0)])
    assert.equal(s.active, false)
  })

  test('the external mirror, when engaged, is one more target weighted in bytes/s', () => {
    const s = new Shedder()
    s.setHelpers([helper('a', 300)])
    s.setFallback({ ...helper('external-mirror', 100), location: p => `https://alpha.nyud.net${p}` })
    assert.deepEqual(Object.fromEntries(counts(s, 400)), { a: 300, 'external-mirror': 100 })
    assert.equal(s.helping, true)
    s.setExcluded(new Set(['a']))
    assert.equal(s.helping, false)
    assert.equal(s.active, true)
  })
})

describe('Shedder.adapt', () => {
  test('sheds nothing while arrivals stay at or below the target', () => {
    const s = new Shedder()
    assert.equal(s.adapt(80, 80, 85), 0)
    assert.equal(s.adapt(85, 85, 85), 0)
    assert.equal(s.share, 0)
  })

  test('rises at once to (arrival − target) / sheddable, capped at 1', () => {
    const s = new Shedder()
    assert.equal(s.adapt(200, 100, 150), 0.5)
    assert.equal(s.adapt(400, 100, 150), 1)
    const t = new Shedder()
    assert.equal(t.adapt(100, 0, 50), 0) // nothing can be shed
  })

  test('falls smoothly toward a lower wanted share and reaches 0 when the crowd is gone', () => {
    const s = new Shedder()
    s.adapt(200, 100, 100) // wanted 1
    const seq: number[] = []
    for (let i = 0; i < 8; i++) seq.push(s.adapt(120, 100, 100)) // wanted 0.2
    for (let i = 1; i < seq.length; i++) assert.ok((seq[i] ?? 0) < (seq[i - 1] ?? 0))
    assert.ok((seq[0] ?? 0) < 1 && (seq[0] ?? 0) > 0.2)
    assert.ok(Math.abs((seq.at(-1) ?? 0) - 0.2) < 0.01)
    for (let i = 0; i < 20; i++) s.adapt(50, 100, 100)
    assert.equal(s.share, 0)
  })
})

describe('Shedder.adaptBytes', () => {
  // The site's uplink as a plant: what it sends is (keep share)^a of what it would send for
  // everyone — a = 1 when redirected requests carry nothing with them, 2 when a redirected page
  // takes its subresources along (they never reach the site again).
  for (const a of [1, 1.5, 2]) {
    test(`brings what the site sends to its target and holds it there (sent = keep^${a} × demand)`, () => {
      const s = new Shedder()
      const demand = 12_000_000
      const target = 3_600_000
      let sent = demand
      const seen: number[] = []
      for (let i = 0; i < 40; i++) {
        const share = s.adaptBytes(sent, target, demand)
        sent = Math.pow(1 - share, a) * demand
        seen.push(sent)
      }
      for (const x of seen.slice(-10)) assert.ok(Math.abs(x - target) / target < 0.03, `sent ${Math.round(x)} vs target ${target}`)
      const exact = 1 - Math.pow(target / demand, 1 / a)
      assert.ok(Math.abs(s.share - exact) < 0.02, `share ${s.share} vs ${exact}`)
    })
  }

  test('starts from target/demand at the onset, and lets go once the site sends less than its target', () => {
    const s = new Shedder()
    assert.ok(Math.abs(s.adaptBytes(8_000_000, 2_000_000, 8_000_000) - 0.75) < 1e-9)
    for (let i = 0; i < 30; i++) s.adaptBytes(500_000, 2_000_000, 500_000)
    assert.equal(s.byteShare, 0)
    assert.equal(s.share, 0)
  })

  test('the share is the larger of the request share and the byte share; reset clears both', () => {
    const s = new Shedder()
    s.adapt(200, 100, 150) // requests want 0.5
    s.adaptBytes(4_000_000, 1_000_000, 4_000_000) // bytes want 0.75
    assert.equal(s.share, 0.75)
    s.reset()
    assert.equal(s.share, 0)
  })
})

describe('Shedder redirect budget', () => {
  test('admits no more bytes to helpers than the budget, with a quarter second of burst; none set is no limit', () => {
    const s = new Shedder()
    for (let i = 0; i < 1_000; i++) assert.equal(s.admit(400_000, 0), true)
    s.setRedirectBudget(4_000_000, 0) // 4 MB/s: a burst of 1 MB
    let admitted = 0
    for (let i = 0; i < 100; i++) if (s.admit(400_000, 0)) admitted++
    assert.equal(admitted, 3) // 1 MB of tokens: three pages of 400 KB, the third into debt
    // Over the next 10 s, 40 MB: a hundred pages of 400 KB, one every 10 ms tried.
    admitted = 0
    for (let t = 10; t <= 10_000; t += 10) if (s.admit(400_000, t)) admitted++
    assert.ok(admitted >= 99 && admitted <= 101, String(admitted))
    s.reset()
    assert.equal(s.redirectBudget, undefined)
    assert.equal(s.admit(400_000, 10_000), true)
  })
})

describe('Shedder.whenActive', () => {
  test('every waiter wakes when a target becomes live, not while the only one is excluded; bounded; a waiter that leaves stops waiting', async () => {
    const s = new Shedder()
    s.setExcluded(new Set(['a']))
    const waits = [s.whenActive(5_000, 3), s.whenActive(5_000, 3), s.whenActive(5_000, 3)]
    assert.equal(s.waiting, 3)
    assert.equal(await s.whenActive(5_000, 3), false, 'past the bound: no wait')
    s.setHelpers([helper('a', 1_000_000)]) // excluded: still nobody to send them to
    assert.equal(s.waiting, 3)
    s.setExcluded(new Set())
    assert.deepEqual(await Promise.all(waits), [true, true, true])
    assert.equal(s.waiting, 0)
    assert.equal(await s.whenActive(0, 3), true, 'a live target: at once')
  })

  test('false after the time-out, or when its signal aborts; nothing left waiting', async () => {
    const s = new Shedder()
    const t0 = performance.now()
    assert.equal(await s.whenActive(50, 10), false)
    assert.ok(performance.now() - t0 >= 45)
    const left = new AbortController()
    const w = s.whenActive(5_000, 10, left.signal)
    left.abort()
    assert.equal(await w, false)
    assert.equal(s.waiting, 0)
    assert.equal(await s.whenActive(0, 10), false)
  })
})

describe('siteBaseOnMirror', () => {
  test('puts the site label in front of the mirror host and keeps scheme and port', () => {
    assert.equal(siteBaseOnMirror('http://mirror-b.localhost:9102', 'alpha'), 'http://alpha.mirror-b.localhost:9102')
    assert.equal(siteBaseOnMirror('http://mirror-b.localhost:9102/', 'alpha'), 'http://alpha.mirror-b.localhost:9102')
    assert.equal(siteBaseOnMirror('https://mirror.example.org', 'beta'), 'https://beta.mirror.example.org')
    assert.equal(siteBaseOnMirror('https://mirror.example.org:443/', 'beta'), 'https://beta.mirror.example.org')
  })
})
