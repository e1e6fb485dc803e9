import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MIRRORED_HEADERS, isRequestShareable, isResponseShareable, pickMirroredHeaders } from '../../src/origin/cacheability.ts'

describe('isRequestShareable', () => {
  test('GET and HEAD without credentials are shareable', () => {
    assert.equal(isRequestShareable('GET', {}), true)
    assert.equal(isRequestShareable('HEAD', { accept: 'text/html', 'accept-encoding': 'gzip' }), true)
    assert.equal(isRequestShareable('GET', { 'cache-control': 'max-age=0' }), true)
  })

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']) {
    test(`${method} is never shareable`, () => {
      assert.equal(isRequestShareable(method, {}), false)
    })
  }

  for (const [name, value] of [
    ['cookie', 'sid=1'],
    ['authorization', 'Bearer x'],
    ['range', 'bytes=0-10'],
    ['cookie', '']
  ] as const) {
    test(`a request with ${name}: ${JSON.stringify(value)} is not shareable`, () => {
      assert.equal(isRequestShareable('GET', { [name]: value }), false)
    })
  }

  test('a request asking for no-store is not shareable', () => {
    assert.equal(isRequestShareable('GET', { 'cache-control': 'no-store' }), false)
    assert.equal(isRequestShareable('GET', { 'cache-control': 'max-age=0, No-Store' }), false)
    assert.equal(isRequestShareable('GET', { 'cache-control': ['max-age=0', 'no-store'] }), false)
  })
})

describe('isResponseShareable', () => {
  test('a plain 200 and `public, max-age=60` are shareable', () => {
    assert.equal(isResponseShareable(200, {}), true)
    assert.equal(isResponseShareable(200, { 'cache-control': 'public, max-age=60', 'content-type': 'text/html' }), true)
    assert.equal(isResponseShareable(200, { 'cache-control': 'max-age=60, must-revalidate' }), true)
  })

  for (const status of [201, 204, 206, 301, 304, 404, 500]) {
    test(`status ${status} is not shareable`, () => {
      assert.equal(isResponseShareable(status, { 'cache-control': 'public, max-age=60' }), false)
    })
  }

  test('a response setting a cookie is not shareable', () => {
    assert.equal(isResponseShareable(200, { 'set-cookie': ['sid=1'] }), false)
    assert.equal(isResponseShareable(200, { 'set-cookie': 'sid=1', 'cache-control': 'public, max-age=60' }), false)
  })

  for (const cc of [
    'private',
    'no-store',
    'no-cache',
    'public, private',
    'max-age=60, no-store',
    'Private',
    'NO-CACHE',
    'no-cache="set-cookie"',
    'private="x-user"',
    'max-age=60 , no-cache , public'
  ]) {
    test(`Cache-Control: ${cc} is not shareable`, () => {
      assert.equal(isResponseShareable(200, { 'cache-control': cc }), false)
    })
  }

  test('Cache-Control split over several header lines is still honoured', () => {
    assert.equal(isResponseShareable(200, { 'cache-control': ['public', 'private'] }), false)
  })

  test('Vary: Accept-Encoding is fine; Vary on anything else is not', () => {
    assert.equal(isResponseShareable(200, { vary: 'Accept-Encoding' }), true)
    assert.equal(isResponseShareable(200, { vary: 'accept-encoding, ' }), true)
    assert.equal(isResponseShareable(200, { vary: 'Cookie' }), false)
    assert.equal(isResponseShareable(200, { vary: 'Accept-Encoding, Cookie' }), false)
    assert.equal(isResponseShareable(200, { vary: '*' }), false)
    assert.equal(isResponseShareable(200, { vary: 'Authorization' }), false)
  })

  test('an encoded body (gzip, br) is not shareable; identity is', () => {
    assert.equal(isResponseShareable(200, { 'content-encoding': 'gzip' }), false)
    assert.equal(isResponseShareable(200, { 'content-encoding': 'br' }), false)
    assert.equal(isResponseShareable(200, { 'content-encoding': 'identity' }), true)
  })
})

describe('pickMirroredHeaders', () => {
  test('keeps only the mirrored headers and drops cookies and server internals', () => {
    const out = pickMirroredHeaders({
      'content-type': 'text/html',
      'cache-control': 'public, max-age=60',
      etag: '"v1"',
      'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
      expires: 'Tue, 02 Jan 2024 00:00:00 GMT',
      'content-language': 'en',
      'set-cookie': ['sid=1'],
      'x-powered-by': 'php',
      connection: 'keep-alive',
      'content-length': '10',
      server: 'origin'
    })
    assert.deepEqual(out, {
      'content-type': 'text/html',
      'cache-control': 'public, max-age=60',
      etag: '"v1"',
      'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
      expires: 'Tue, 02 Jan 2024 00:00:00 GMT',
      'content-language': 'en'
    })
    assert.ok(!('set-cookie' in out))
    for (const k of Object.keys(out)) assert.ok((MIRRORED_HEADERS as readonly string[]).includes(k))
  })

  test('drops values with CR/LF or other control characters, and over-long values', () => {
    const out = pickMirroredHeaders({
      'content-type': 'text/html\r\nSet-Cookie: sid=evil',
      etag: '"a"\n',
      'cache-control': 'public\u0000',
      'content-language': 'x'.repeat(1025),
      expires: 'x'.repeat(1024)
    })
    assert.deepEqual(out, { expires: 'x'.repeat(1024) })
  })

  test('joins repeated header lines', () => {
    assert.deepEqual(pickMirroredHeaders({ 'cache-control': ['public', 'max-age=60'] }), { 'cache-control': 'public, max-age=60' })
  })
})
