import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  FETCH_CHUNK_BYTES,
  FetchBodyReader,
  MAX_FETCH_FRAME_BYTES,
  canonicalBytes,
  decodeFetchRequest,
  decodeFetchResponse,
  decodeFetchResponseHead,
  encodeFetchRequest,
  encodeFetchResponseHead,
  isProtocolError,
  lengthPrefixed
} from '../src/index.ts'
import type { FetchRequest, FetchResponseHead } from '../src/index.ts'

const SHA = 'ab'.repeat(32)
const enc = new TextEncoder()

function throwsCode(fn: () => unknown, code: string): void {
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

describe('FetchBodyReader (body chunks after a 200 head)', () => {
  const body = enc.encode('hello, reef')
  const sha = createHash('sha256').update(body).digest('hex')
  const head: FetchResponseHead = { v: 1, status: 200, headers: {}, size: body.byteLength, sha256: sha }

  test('assembles chunk frames into the body; size counts body bytes only', () => {
    const r = new FetchBodyReader(head, { size: body.byteLength, sha256: sha })
    r.push(body.subarray(0, 3))
    assert.equal(r.complete, false)
    r.push(body.subarray(3))
    assert.equal(r.complete, true)
    assert.deepEqual(new Uint8Array(r.end().body), body)
  })

  test('an empty chunk is ERR_FRAMING, a chunk over FETCH_CHUNK_BYTES ERR_OVERSIZE, a chunk past size ERR_BODY_SIZE', () => {
    throwsCode(() => new FetchBodyReader(head).push(new Uint8Array(0)), 'ERR_FRAMING')
    throwsCode(() => new FetchBodyReader({ ...head, size: FETCH_CHUNK_BYTES + 1 }).push(new Uint8Array(FETCH_CHUNK_BYTES + 1)), 'ERR_OVERSIZE')
    const r = new FetchBodyReader(head)
    r.push(body)
    throwsCode(() => r.push(new Uint8Array(1)), 'ERR_BODY_SIZE')
  })

  test("a short body is ERR_BODY_SIZE at the end; a wrong hash ERR_BODY_HASH; a head whose size is not the manifest's fails at once", () => {
    const short = new FetchBodyReader(head)
    short.push(body.subarray(0, 4))
    throwsCode(() => short.end(), 'ERR_BODY_SIZE')
    const wrong = new FetchBodyReader({ ...head, sha256: SHA })
    wrong.push(body)
    throwsCode(() => wrong.end(), 'ERR_BODY_HASH')
    const notManifest = new FetchBodyReader(head, { size: body.byteLength, sha256: SHA })
    notManifest.push(body)
    throwsCode(() => notManifest.end(), 'ERR_BODY_HASH')
    throwsCode(() => new FetchBodyReader(head, { size: 1, sha256: sha }), 'ERR_BODY_SIZE')
  })

  test('decodeFetchResponse reads a whole stream; lengthPrefixed writes the varint prefix', () => {
    const bytes = Buffer.concat([lengthPrefixed(encodeFetchResponseHead(head)), lengthPrefixed(body.subarray(0, 5)), lengthPrefixed(body.subarray(5))])
    const out = decodeFetchResponse(bytes)
    assert.deepEqual(out.head, head)
    assert.deepEqual(new Uint8Array(out.body), body)
    assert.deepEqual(lengthPrefixed(new Uint8Array(300)).subarray(0, 2), new Uint8Array([0xac, 0x02]))
  })

  test('a 200 head must carry sha256; another status carries no body', () => {
    throwsCode(() => decodeFetchResponseHead(canonicalBytes({ v: 1, status: 200, headers: {}, size: 0 })), 'ERR_SCHEMA')
    throwsCode(() => decodeFetchResponseHead(canonicalBytes({ v: 1, status: 503, headers: {}, size: 5 })), 'ERR_SCHEMA')
  })
})
