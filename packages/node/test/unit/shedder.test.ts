import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Shedder, siteBaseOnMirror } from '../../src/shedder.ts'
import type { Helper } from '../../src/shedder.ts'

function helper (peer: string, weightRps: number): Helper {
  const mirrorUrl = `http://mirror-${peer}.localhost:9100`
  return { peer, weightRps, mirrorUrl, siteBase: siteBaseOnMirror(mirrorUrl, 'alpha') }
}

const paths = (n: number): string[] => Array.from({ length: n }, (_, i) => `/page/${i}.html?v=${i % 7}`)

function assign (s: Shedder, ps: string[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const p of ps) {
    const h = s.pick(p)
    assert.ok(h !== undefined)
    out.set(p, h.peer)
  }
  return out
}

describe('Shedder.pick', () => {
  test('with no helpers it is inactive and picks nothing', () => {
    const s = new Shedder()
    assert.equal(s.active, false)
    assert.equal(s.pick('/a'), undefined)
  })

  test('is stable for a path, and independent of the order helpers are listed in', () => {
    const s1 = new Shedder()
    s1.setHelpers([helper('a', 100), helper('b', 200), helper('c', 300)])
    const s2 = new Shedder()
    s2.setHelpers([helper('c', 300), helper('a', 100), helper('b', 200)])
    const ps = paths(2000)
    const first = assign(s1, ps)
    assert.deepEqual(assign(s1, ps), first)
    assert.deepEqual(assign(s2, ps), first)
    assert.equal(new Set(first.values()).size, 3)
  })

  test('spreads paths in proportion to weightRps (100/300 → 25%/75%)', () => {
    const s = new Shedder()
    s.setHelpers([helper('light', 100), helper('heavy', 300)])
    const counts = new Map<string, number>()
    for (const peer of assign(s, paths(20_000)).values()) counts.set(peer, (counts.get(peer) ?? 0) + 1)
    const light = (counts.get('light') ?? 0) / 20_000
    const heavy = (counts.get('heavy') ?? 0) / 20_000
    assert.ok(Math.abs(light - 0.25) < 0.02, `light got ${light}`)
    assert.ok(Math.abs(heavy - 0.75) < 0.02, `heavy got ${heavy}`)
  })

  test('equal weights give equal shares', () => {
    const s = new Shedder()
    s.setHelpers([helper('a', 50), helper('b', 50), helper('c', 50), helper('d', 50)])
    const counts = new Map<string, number>()
    for (const peer of assign(s, paths(20_000)).values()) counts.set(peer, (counts.get(peer) ?? 0) + 1)
    for (const peer of ['a', 'b', 'c', 'd']) {
      const share = (counts.get(peer) ?? 0) / 20_000
      assert.ok(Math.abs(share - 0.25) < 0.02, `${peer} got ${share}`)
    }
  })

  test('removing a helper moves only that helper\'s paths', () => {
    const s = new Shedder()
    const all = [helper('a', 100), helper('b', 100), helper('c', 100)]
    s.setHelpers(all)
    const ps = paths(5000)
    const before = assign(s, ps)
    s.setHelpers(all.filter(h => h.peer !== 'b'))
    const after = assign(s, ps)
    let moved = 0
    for (const p of ps) {
      if (before.get(p) === 'b') { assert.notEqual(after.get(p), 'b'); moved++ } else assert.equal(after.get(p), before.get(p), p)
    }
    assert.ok(moved > 1000)
  })

  test('adding a helper only takes paths over (never shuffles paths between the others)', () => {
    const s = new Shedder()
    const two = [helper('a', 100), helper('b', 100)]
    s.setHelpers(two)
    const ps = paths(5000)
    const before = assign(s, ps)
    s.setHelpers([...two, helper('c', 100)])
    for (const [p, peer] of assign(s, ps)) if (peer !== 'c') assert.equal(peer, before.get(p))
  })

  test('helpers offering 0 rps are never picked', () => {
    const s = new Shedder()
    s.setHelpers([helper('zero', 0), helper('one', 1)])
    assert.deepEqual(s.helpers.map(h => h.peer), ['one'])
    assert.deepEqual(new Set(assign(s, paths(500)).values()), new Set(['one']))
    s.setHelpers([helper('zero', 0)])
    assert.equal(s.active, false)
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

describe('siteBaseOnMirror', () => {
  test('puts the site label in front of the mirror host and keeps scheme and port', () => {
    assert.equal(siteBaseOnMirror('http://mirror-b.localhost:9102', 'alpha'), 'http://alpha.mirror-b.localhost:9102')
    assert.equal(siteBaseOnMirror('http://mirror-b.localhost:9102/', 'alpha'), 'http://alpha.mirror-b.localhost:9102')
    assert.equal(siteBaseOnMirror('https://mirror.example.org', 'beta'), 'https://beta.mirror.example.org')
    assert.equal(siteBaseOnMirror('https://mirror.example.org:443/', 'beta'), 'https://beta.mirror.example.org')
  })
})
