import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  MAX_FETCH_FRAME_BYTES, canonicalBytes, decodeFetchRequest, decodeFetchResponseHead, encodeFetchRequest,
  encodeFetchResponseHead, isProtocolError
} from '../src/index.ts'
import type { FetchRequest, FetchResponseHead } from '../src/index.ts'

const SHA = 'ab'.repeat(32)
const enc = new TextEncoder()

function throwsCode (fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

const request: FetchRequest = { v: 1, session: 'sess-0001', path: '/img/logo.png?v=2' }
const head: FetchResponseHead = {
  v: 1,
  status: 200,
  headers: { 'content-type': 'text/html; charset=utf-8', etag: '"abc"', 'cache-control': 'public, max-age=60' },
  size: 1234,
  sha256: SHA
}

describe('fetch request frame', () => {
  test('round-trips through canonical bytes', () => {
    const bytes = encodeFetchRequest(request)
    assert.equal(new TextDecoder().decode(bytes), '{"path":"/img/logo.png?v=2","session":"sess-0001","v":1}')
    assert.deepEqual(decodeFetchRequest(bytes), request)
  })

  test('rejects an unknown extra field on decode and encode (frames are strict)', () => {
    throwsCode(() => decodeFetchRequest(canonicalBytes({ ...request, extra: 1 })), 'ERR_SCHEMA')
    throwsCode(() => encodeFetchRequest({ ...request, extra: 1 } as unknown as FetchRequest), 'ERR_SCHEMA')
  })

  for (const [label, path] of [
    ['a path starting with //', '//evil.example/x'],
    ['a path with CR/LF', '/a\r\nHost: evil'],
    ['a relative path', 'a/b'],
    ['a path with a fragment', '/a#b'],
    ['an empty path', ''],
    ['an over-long path', `/${'a'.repeat(2048)}`]
  ] as const) {
    test(`rejects ${label} with ERR_SCHEMA`, () => {
      throwsCode(() => encodeFetchRequest({ ...request, path }), 'ERR_SCHEMA')
      throwsCode(() => decodeFetchRequest(canonicalBytes({ ...request, path })), 'ERR_SCHEMA')
    })
  }

  test('rejects another frame version (ERR_UNKNOWN_VERSION) and a bad session id (ERR_SCHEMA)', () => {
    throwsCode(() => decodeFetchRequest(canonicalBytes({ ...request, v: 2 })), 'ERR_UNKNOWN_VERSION')
    throwsCode(() => decodeFetchRequest(canonicalBytes({ ...request, session: 'a b' })), 'ERR_SCHEMA')
  })

  test('rejects non-canonical bytes with ERR_ENCODING', () => {
    throwsCode(() => decodeFetchRequest(enc.encode('{"v":1,"session":"sess-0001","path":"/"}')), 'ERR_ENCODING')
  })
})

describe('fetch response head frame', () => {
  test('round-trips with and without sha256', () => {
    assert.deepEqual(decodeFetchResponseHead(encodeFetchResponseHead(head)), head)
    const notFound: FetchResponseHead = { v: 1, status: 404, headers: {}, size: 0 }
    const bytes = encodeFetchResponseHead(notFound)
    assert.equal(new TextDecoder().decode(bytes), '{"headers":{},"size":0,"status":404,"v":1}')
    assert.deepEqual(decodeFetchResponseHead(bytes), notFound)
  })

  for (const value of ['a\r\nSet-Cookie: x=1', 'a\nb', 'a\rb', 'nul\u0000', 'é']) {
    test(`rejects header value ${JSON.stringify(value)} with ERR_SCHEMA`, () => {
      const bad = { ...head, headers: { 'content-type': value } }
      throwsCode(() => encodeFetchResponseHead(bad), 'ERR_SCHEMA')
      throwsCode(() => decodeFetchResponseHead(canonicalBytes(bad)), 'ERR_SCHEMA')
    })
  }

  test('accepts a tab in a header value', () => {
    const h = { ...head, headers: { 'content-type': 'text/plain;\tq=1' } }
    assert.deepEqual(decodeFetchResponseHead(encodeFetchResponseHead(h)), h)
  })

  test('rejects bad header names, too many headers and over-long values with ERR_SCHEMA', () => {
    for (const headers of [
      { 'Content-Type': 'text/html' },
      { 'x header': 'v' },
      { 'x:y': 'v' },
      Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`x-h${i}`, 'v'])),
      { etag: 'x'.repeat(1025) }
    ]) {
      throwsCode(() => decodeFetchResponseHead(canonicalBytes({ ...head, headers })), 'ERR_SCHEMA')
    }
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`x-h${i}`, 'v']))
    assert.deepEqual(decodeFetchResponseHead(canonicalBytes({ ...head, headers: sixteen })).headers, sixteen)
  })

  test('rejects an unknown extra field, a bad status, size or digest with ERR_SCHEMA', () => {
    for (const bad of [
      { ...head, extra: true },
      { ...head, status: 99 },
      { ...head, status: 600 },
      { ...head, size: -1 },
      { ...head, size: 16 * 1024 * 1024 + 1 },
      { ...head, sha256: SHA.toUpperCase() }
    ]) {
      throwsCode(() => decodeFetchResponseHead(canonicalBytes(bad)), 'ERR_SCHEMA')
      throwsCode(() => encodeFetchResponseHead(bad as unknown as FetchResponseHead), 'ERR_SCHEMA')
    }
  })

  test('rejects another frame version with ERR_UNKNOWN_VERSION (and will not encode one)', () => {
    throwsCode(() => decodeFetchResponseHead(canonicalBytes({ ...head, v: 2 })), 'ERR_UNKNOWN_VERSION')
    throwsCode(() => encodeFetchResponseHead({ ...head, v: 2 } as unknown as FetchResponseHead), 'ERR_SCHEMA')
  })

  test('rejects a frame over MAX_FETCH_FRAME_BYTES with ERR_OVERSIZE', () => {
    const big = new Uint8Array(MAX_FETCH_FRAME_BYTES + 1).fill(0x20)
    throwsCode(() => decodeFetchResponseHead(big), 'ERR_OVERSIZE')
    throwsCode(() => decodeFetchRequest(big), 'ERR_OVERSIZE')
  })
})
