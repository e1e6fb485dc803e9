import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { canonicalBytes, canonicalString, isProtocolError, parseCanonical } from '../src/index.ts'

const enc = new TextEncoder()
const utf8 = (s: string): Uint8Array => enc.encode(s)

function throwsCode(fn: () => unknown, code: string, name?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`)
    assert.equal(err.code, code)
    if (name !== undefined) assert.equal(err.name, name)
    return true
  })
}

describe('canonicalString', () => {
  test('sorts object keys at every level and emits no white space', () => {
    const s = canonicalString({ b: 1, a: { z: [3, { y: true, x: null }], c: 'q' }, A: false })
    assert.equal(s, '{"A":false,"a":{"c":"q","z":[3,{"x":null,"y":true}]},"b":1}')
  })

  test('sorts keys by UTF-16 code units, not by code point', () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB01 in UTF-16 order.
    const s = canonicalString({ '\ufb01': 1, '\u{1f600}': 2, z: 3, é: 4 })
    assert.equal(s, '{"z":3,"é":4,"\u{1f600}":2,"\ufb01":1}')
  })

  test('the same value gives the same bytes whatever the key insertion order', () => {
    const a = { session: 'abc', helpers: [{ peer: 'p', weightRps: 1 }], n: -5 }
    const b = { n: -5, helpers: [{ weightRps: 1, peer: 'p' }], session: 'abc' }
    assert.deepEqual(canonicalBytes(a), canonicalBytes(b))
    assert.deepEqual(canonicalBytes(a), utf8(canonicalString(b)))
  })

  test('omits keys whose value is undefined', () => {
    assert.equal(canonicalString({ a: 1, b: undefined }), '{"a":1}')
  })

  test('escapes strings as JSON.stringify does', () => {
    assert.equal(canonicalString('a"b\\c\n\u0001é'), '"a\\"b\\\\c\\n\\u0001é"')
  })

  test('accepts safe integers including the extremes, and normalises -0 to 0', () => {
    assert.equal(canonicalString([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -0, 0]), `[${Number.MAX_SAFE_INTEGER},${Number.MIN_SAFE_INTEGER},0,0]`)
  })

  for (const [label, value] of [
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an unsafe integer', 2 ** 53],
    ['a nested fraction', { a: [1, { b: 0.1 }] }]
  ] as const) {
    test(`rejects ${label} with ERR_ENCODING`, () => {
      throwsCode(() => canonicalString(value), 'ERR_ENCODING', 'EncodingError')
    })
  }

  test('rejects values JSON cannot carry faithfully (bigint, function, Date, Map)', () => {
    throwsCode(() => canonicalString(1n), 'ERR_ENCODING')
    throwsCode(() => canonicalString({ f: () => 1 }), 'ERR_ENCODING')
    throwsCode(() => canonicalString(new Date(0)), 'ERR_ENCODING')
    throwsCode(() => canonicalString(new Map()), 'ERR_ENCODING')
  })

  test('accepts 32 levels of nesting and rejects deeper values', () => {
    const nest = (n: number): unknown => {
      let v: unknown = 0
      for (let i = 0; i < n; i++) v = [v]
      return v
    }
    assert.equal(canonicalString(nest(32)), `${'['.repeat(32)}0${']'.repeat(32)}`)
    throwsCode(() => canonicalString(nest(33)), 'ERR_ENCODING')
  })
})

describe('parseCanonical', () => {
  test('round-trips canonical bytes to an equal value', () => {
    const value = { b: [1, 'two', null, true], a: { nested: -7, s: 'ü\u{1f600}' } }
    assert.deepEqual(parseCanonical(canonicalBytes(value), 1024), value)
  })

  for (const [label, text] of [
    ['white space between tokens', '{"a": 1}'],
    ['a trailing newline', '{"a":1}\n'],
    ['leading white space', ' {"a":1}'],
    ['unsorted keys', '{"b":1,"a":2}'],
    ['duplicate keys', '{"a":1,"a":1}'],
    ['a non-canonical string escape', '{"a":"\\u0041"}'],
    ['an escaped solidus', '"\\/"'],
    ['an exponent', '{"a":1e2}'],
    ['a redundant fraction', '{"a":1.0}'],
    ['negative zero', '-0'],
    ['a fraction', '{"a":1.5}'],
    ['an unsafe integer', '9007199254740993']
  ] as const) {
    test(`rejects ${label} with ERR_ENCODING`, () => {
      throwsCode(() => parseCanonical(utf8(text), 1024), 'ERR_ENCODING', 'EncodingError')
    })
  }

  test('rejects text that is not JSON with ERR_ENCODING', () => {
    throwsCode(() => parseCanonical(utf8('{"a":'), 1024), 'ERR_ENCODING')
    throwsCode(() => parseCanonical(utf8(''), 1024), 'ERR_ENCODING')
    throwsCode(() => parseCanonical(utf8('NaN'), 1024), 'ERR_ENCODING')
  })

  for (const [label, bytes] of [
    ['a stray continuation byte', [0x22, 0x80, 0x22]],
    ['an invalid lead byte', [0x22, 0xff, 0x22]],
    ['a truncated multi-byte sequence', [0x22, 0xe2, 0x82, 0x22]],
    ['an overlong encoding of "/"', [0x22, 0xc0, 0xaf, 0x22]],
    ['an encoded UTF-16 surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]]
  ] as const) {
    test(`rejects invalid UTF-8 (${label}) with ERR_ENCODING`, () => {
      throwsCode(() => parseCanonical(new Uint8Array(bytes), 1024), 'ERR_ENCODING', 'EncodingError')
    })
  }

  test('rejects a UTF-8 byte order mark (a second byte encoding of one value)', () => {
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('{"a":1}')])
    throwsCode(() => parseCanonical(withBom, 1024), 'ERR_ENCODING')
  })

  test('accepts input of exactly maxBytes and rejects one byte more with ERR_OVERSIZE', () => {
    const text = `"${'x'.repeat(98)}"` // 100 bytes
    assert.equal(parseCanonical(utf8(text), 100), 'x'.repeat(98))
    throwsCode(() => parseCanonical(utf8(text), 99), 'ERR_OVERSIZE', 'OversizeError')
  })

  test('checks the size before decoding: oversize garbage is ERR_OVERSIZE, not ERR_ENCODING', () => {
    throwsCode(() => parseCanonical(new Uint8Array(2000).fill(0xff), 1000), 'ERR_OVERSIZE')
  })

  test('measures the limit in bytes, not characters', () => {
    const text = '"ééé"' // 5 characters, 8 bytes
    assert.equal(parseCanonical(utf8(text), 8), 'ééé')
    throwsCode(() => parseCanonical(utf8(text), 7), 'ERR_OVERSIZE')
  })
})
