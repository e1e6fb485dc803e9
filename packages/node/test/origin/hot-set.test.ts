import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MAX_MANIFEST_ENTRIES } from '@reef/protocol'
import { ContentCache, sha256Hex } from '../../src/origin/content-cache.ts'
import { HotSet, manifestType } from '../../src/origin/hot-set.ts'

// HotSet.learn() stamps entries with Date.now(), so the injected times stay near the real clock.
const T0 = Date.now()

function cacheWith(site: string, entries: Array<[string, string, string?]>): ContentCache {
  const c = new ContentCache(1_000_000, 100_000)
  for (const [path, text, type] of entries) {
    const body = Buffer.from(text)
    c.put({ site, path, headers: type === undefined ? {} : { 'content-type': type }, body, sha256: sha256Hex(body), storedAt: T0 })
  }
  return c
}

function hits(h: HotSet, path: string, n: number, at: number): void {
  for (let i = 0; i < n; i++) h.hit(path, at)
}

describe('HotSet', () => {
  test('a path becomes shareable only once learned so, and learn(path, false) takes it back', () => {
    const h = new HotSet()
    h.hit('/a', T0)
    assert.equal(h.isShareable('/a'), false)
    h.learn('/a', true)
    assert.equal(h.isShareable('/a'), true)
    h.learn('/a', false)
    assert.equal(h.isShareable('/a'), false)
    h.learn('/never-hit', false)
    assert.equal(h.isShareable('/never-hit'), false)
    h.learn('/filled', true) // e.g. pre-filled for helpers before any hit
    assert.equal(h.isShareable('/filled'), true)
  })

  test('the manifest ranks shareable cached paths by hits and describes each body', () => {
    const h = new HotSet(10_000)
    const cache = cacheWith('alpha', [
      ['/a', 'aaaa', 'text/html'],
      ['/b', 'bb', 'image/png'],
      ['/c', 'c']
    ])
    hits(h, '/a', 3, T0)
    hits(h, '/b', 7, T0)
    hits(h, '/c', 5, T0)
    for (const p of ['/a', '/b', '/c']) h.learn(p, true)
    const m = h.manifest('alpha', cache, 10, T0)
    assert.deepEqual(m, [
      { path: '/b', size: 2, type: 'image/png', sha256: sha256Hex(Buffer.from('bb')) },
      { path: '/c', size: 1, type: 'application/octet-stream', sha256: sha256Hex(Buffer.from('c')) },
      { path: '/a', size: 4, type: 'text/html', sha256: sha256Hex(Buffer.from('aaaa')) }
    ])
  })

  test('recent hits outrank older ones (counts decay with the half-life)', () => {
    const h = new HotSet(1000)
    const cache = cacheWith('alpha', [
      ['/old', 'o'],
      ['/new', 'n']
    ])
    hits(h, '/old', 20, T0) // 20 hits, 5 half-lives ago → worth 0.625
    hits(h, '/new', 2, T0 + 5000)
    h.learn('/old', true)
    h.learn('/new', true)
    assert.deepEqual(
      h.manifest('alpha', cache, 10, T0 + 5000).map(e => e.path),
      ['/new', '/old']
    )
    // At the time of the old burst, it was the hotter one.
    const h2 = new HotSet(1000)
    hits(h2, '/old', 20, T0)
    hits(h2, '/new', 2, T0)
    h2.learn('/old', true)
    h2.learn('/new', true)
    assert.deepEqual(
      h2.manifest('alpha', cache, 10, T0).map(e => e.path),
      ['/old', '/new']
    )
  })

  test('leaves out paths that are not shareable, not cached, or cached for another site', () => {
    const h = new HotSet()
    const cache = cacheWith('alpha', [
      ['/shared', 's'],
      ['/private', 'p']
    ])
    cache.put({ site: 'beta', path: '/other-site', headers: {}, body: Buffer.from('x'), sha256: sha256Hex(Buffer.from('x')), storedAt: T0 })
    for (const p of ['/shared', '/private', '/uncached', '/other-site']) hits(h, p, 5, T0)
    h.learn('/shared', true)
    h.learn('/uncached', true)
    h.learn('/other-site', true)
    assert.deepEqual(
      h.manifest('alpha', cache, 10, T0).map(e => e.path),
      ['/shared']
    )
  })

  test('learn(path, false) removes a path from the manifest at once', () => {
    const h = new HotSet()
    const cache = cacheWith('alpha', [
      ['/a', 'a'],
      ['/b', 'b']
    ])
    hits(h, '/a', 9, T0)
    hits(h, '/b', 1, T0)
    h.learn('/a', true)
    h.learn('/b', true)
    assert.deepEqual(
      h.manifest('alpha', cache, 10, T0).map(e => e.path),
      ['/a', '/b']
    )
    h.learn('/a', false)
    assert.deepEqual(
      h.manifest('alpha', cache, 10, T0).map(e => e.path),
      ['/b']
    )
    hits(h, '/a', 50, T0) // hits alone do not make it shareable again
    assert.deepEqual(
      h.manifest('alpha', cache, 10, T0).map(e => e.path),
      ['/b']
    )
  })

  test('the manifest holds at most `limit` entries (default MAX_MANIFEST_ENTRIES), hottest first', () => {
    const h = new HotSet()
    const n = MAX_MANIFEST_ENTRIES + 10
    const cache = cacheWith(
      'alpha',
      Array.from({ length: n }, (_, i) => [`/p${i}`, 'x'] as [string, string])
    )
    for (let i = 0; i < n; i++) {
      hits(h, `/p${i}`, 1 + i, T0)
      h.learn(`/p${i}`, true)
    }
    assert.deepEqual(
      h.manifest('alpha', cache, 3, T0).map(e => e.path),
      [`/p${n - 1}`, `/p${n - 2}`, `/p${n - 3}`]
    )
    const full = h.manifest('alpha', cache, undefined, T0)
    assert.equal(full.length, MAX_MANIFEST_ENTRIES)
    assert.equal(full[0]?.path, `/p${n - 1}`)
  })

  test('tracks at most maxPaths paths, forgetting a cold one for a new one', () => {
    const h = new HotSet(10_000, 3)
    const cache = cacheWith('alpha', [
      ['/a', 'a'],
      ['/b', 'b'],
      ['/c', 'c'],
      ['/d', 'd']
    ])
    hits(h, '/a', 5, T0)
    hits(h, '/b', 1, T0)
    hits(h, '/c', 5, T0)
    for (const p of ['/a', '/b', '/c']) h.learn(p, true)
    hits(h, '/d', 5, T0) // a fourth path: /b, the coldest, is forgotten
    h.learn('/d', true)
    assert.equal(h.isShareable('/b'), false)
    assert.deepEqual(
      h
        .manifest('alpha', cache, 10, T0)
        .map(e => e.path)
        .sort(),
      ['/a', '/c', '/d']
    )
  })
})

describe('manifestType', () => {
  test('keeps a Content-Type that is a printable field value of at most 256 characters', () => {
    assert.equal(manifestType('text/html; charset=utf-8'), 'text/html; charset=utf-8')
    assert.equal(manifestType('x'.repeat(256)), 'x'.repeat(256))
  })
  test('sends application/octet-stream for none, obs-text, control characters or more than 256 characters (the record stays valid)', () => {
    for (const bad of [undefined, 'text/html; charset=\u00fctf-8', 'text/html\r\nx: y', 'x'.repeat(257)])
      assert.equal(manifestType(bad), 'application/octet-stream')
  })
})
