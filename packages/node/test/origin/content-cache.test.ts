import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ContentCache, sha256Hex } from '../../src/origin/content-cache.ts'
import type { CachedObject } from '../../src/origin/content-cache.ts'

function obj(site: string, path: string, size: number, fill = 0x61): CachedObject {
  const body = Buffer.alloc(size, fill)
  return { site, path, headers: { 'content-type': 'text/plain' }, body, sha256: sha256Hex(body), storedAt: 0 }
}

const paths = (c: ContentCache, site: string, ps: string[]): string[] => ps.filter(p => c.peek(site, p) !== undefined)

describe('ContentCache', () => {
  test('stores and returns objects by (site, path)', () => {
    const c = new ContentCache(1000, 100)
    assert.equal(c.put(obj('alpha', '/a', 10)), true)
    assert.equal(c.put(obj('beta', '/a', 20)), true)
    assert.equal(c.get('alpha', '/a')?.body.byteLength, 10)
    assert.equal(c.get('beta', '/a')?.body.byteLength, 20)
    assert.equal(c.get('alpha', '/b'), undefined)
    assert.equal(c.size, 2)
    assert.equal(c.bytes, 30)
    assert.equal(c.hits, 2)
    assert.equal(c.misses, 1)
  })

  test('never holds more than maxBytes, evicting the least recently used first', () => {
    const c = new ContentCache(30, 100)
    c.put(obj('s', '/a', 10))
    c.put(obj('s', '/b', 10))
    c.put(obj('s', '/c', 10))
    assert.equal(c.bytes, 30)
    c.put(obj('s', '/d', 10))
    assert.deepEqual(paths(c, 's', ['/a', '/b', '/c', '/d']), ['/b', '/c', '/d'])
    assert.equal(c.bytes, 30)
    c.put(obj('s', '/e', 25)) // needs to evict /b, /c and /d
    assert.deepEqual(paths(c, 's', ['/b', '/c', '/d', '/e']), ['/e'])
    assert.equal(c.bytes, 25)
  })

  test('get() refreshes recency; peek() does not', () => {
    const c = new ContentCache(30, 100)
    c.put(obj('s', '/a', 10))
    c.put(obj('s', '/b', 10))
    c.put(obj('s', '/c', 10))
    c.get('s', '/a')
    c.peek('s', '/b')
    c.put(obj('s', '/d', 10))
    assert.deepEqual(paths(c, 's', ['/a', '/b', '/c', '/d']), ['/a', '/c', '/d'])
  })

  test('refuses an object over maxObjectBytes (or over maxBytes) without evicting anything', () => {
    const c = new ContentCache(100, 20)
    c.put(obj('s', '/a', 20))
    assert.equal(c.put(obj('s', '/big', 21)), false)
    assert.equal(c.peek('s', '/big'), undefined)
    assert.equal(c.peek('s', '/a')?.body.byteLength, 20)
    assert.equal(c.bytes, 20)
    const small = new ContentCache(10, 100)
    assert.equal(small.put(obj('s', '/x', 11)), false)
    assert.equal(small.bytes, 0)
    assert.equal(c.maxObjectBytes, 20)
  })

  test('replacing an entry keeps the byte count right', () => {
    const c = new ContentCache(100, 100)
    c.put(obj('s', '/a', 40))
    c.put(obj('s', '/b', 10))
    c.put(obj('s', '/a', 5, 0x62))
    assert.equal(c.bytes, 15)
    assert.equal(c.size, 2)
    assert.equal(c.peek('s', '/a')?.body[0], 0x62)
    c.put(obj('s', '/a', 90))
    assert.equal(c.bytes, 100)
    assert.equal(c.size, 2)
    // A replacement that no longer fits alongside the rest evicts the others, not itself.
    c.put(obj('s', '/a', 95))
    assert.equal(c.bytes, 95)
    assert.deepEqual(paths(c, 's', ['/a', '/b']), ['/a'])
  })

  test('a replaced entry becomes the most recently used', () => {
    const c = new ContentCache(30, 100)
    c.put(obj('s', '/a', 10))
    c.put(obj('s', '/b', 10))
    c.put(obj('s', '/c', 10))
    c.put(obj('s', '/a', 10))
    c.put(obj('s', '/d', 10))
    assert.deepEqual(paths(c, 's', ['/a', '/b', '/c', '/d']), ['/a', '/c', '/d'])
  })

  test('delete() and dropSite() remove only what they name and keep the byte count right', () => {
    const c = new ContentCache(1000, 100)
    for (const p of ['/a', '/b', '/c']) {
      c.put(obj('alpha', p, 10))
      c.put(obj('beta', p, 7))
    }
    c.delete('alpha', '/a')
    c.delete('alpha', '/missing')
    assert.equal(c.bytes, 20 + 21)
    c.dropSite('beta')
    assert.equal(c.bytes, 20)
    assert.equal(c.size, 2)
    assert.deepEqual(paths(c, 'alpha', ['/a', '/b', '/c']), ['/b', '/c'])
    assert.deepEqual(paths(c, 'beta', ['/a', '/b', '/c']), [])
    c.dropSite('alpha')
    assert.equal(c.bytes, 0)
    assert.equal(c.size, 0)
  })

  test('a site label that is a prefix of another is not confused with it', () => {
    const c = new ContentCache(1000, 100)
    c.put(obj('alpha', '/x', 1))
    c.put(obj('alpha-2', '/x', 1))
    c.dropSite('alpha')
    assert.ok(c.peek('alpha-2', '/x') !== undefined)
  })

  test('sha256Hex is the lower-case hex SHA-256 digest', () => {
    assert.equal(sha256Hex(Buffer.from('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })
})
