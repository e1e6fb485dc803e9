import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { findJsonError, JsoncSyntaxError, lineColumn, parseJsonc, stripJsonComments } from '../../src/config/jsonc.ts'

function syntaxError(text: string, line: number, column: number, reason?: RegExp): void {
  assert.throws(
    () => parseJsonc(text),
    (err: unknown) => {
      assert.ok(err instanceof JsoncSyntaxError, String(err))
      assert.equal(err.code, 'ERR_JSONC_SYNTAX')
      assert.deepEqual({ line: err.line, column: err.column }, { line, column }, err.message)
      assert.ok(err.message.startsWith(`line ${line} column ${column}: `), err.message)
      if (reason !== undefined) assert.match(err.reason, reason)
      assert.doesNotMatch(err.message, /is not valid JSON/)
      return true
    }
  )
}

describe('stripJsonComments', () => {
  test("keeps the length and every line break, so offsets stay the operator's", () => {
    const text = '{\r\n  // a comment\n  "a": 1, /* two\n lines */ "b": [1, 2,],\n}\n'
    const json = stripJsonComments(text)
    assert.equal(json.length, text.length)
    assert.deepEqual(
      [...json].map((c, i) => (c === '\n' || c === '\r' ? i : -1)).filter(i => i >= 0),
      [...text].map((c, i) => (c === '\n' || c === '\r' ? i : -1)).filter(i => i >= 0)
    )
    assert.deepEqual(JSON.parse(json), { a: 1, b: [1, 2] })
  })

  test('plain JSON is returned unchanged', () => {
    const text = '{"a": [1, 2.5e3, true, null], "b": {"c": "x"}}'
    assert.equal(stripJsonComments(text), text)
  })

  test('comment markers inside strings are text, escapes included', () => {
    const cases: Array<[string, unknown]> = [
      ['{"url": "http://x/*y*/"}', { url: 'http://x/*y*/' }],
      ['{"a": "quote \\" // not a comment"}', { a: 'quote " // not a comment' }],
      ['{"a": "backslash \\\\"} // comment', { a: 'backslash \\' }],
      ['{"a": "\\\\\\"/*"}', { a: '\\"/*' }],
      ['["a,]", "b"]', ['a,]', 'b']],
      ['{"//": "/*"} /* "not a string */', { '//': '/*' }]
    ]
    for (const [text, value] of cases) assert.deepEqual(parseJsonc(text), value, text)
  })

  test('line comments end at \\n, \\r\\n or \\r; block comments may hold // and /*', () => {
    assert.deepEqual(parseJsonc('{"a": 1 // x\n, "b": 2 // y\r\n, "c": 3 // z\r}'), { a: 1, b: 2, c: 3 })
    assert.deepEqual(parseJsonc('/* a // b /* c */ {"a": 1}'), { a: 1 })
    assert.deepEqual(parseJsonc('{"a": 1} // no newline at the end'), { a: 1 })
    assert.deepEqual(parseJsonc('{"a":/**/1}'), { a: 1 })
  })

  test('trailing commas go, even with comments between the comma and the bracket', () => {
    assert.deepEqual(parseJsonc('{"a": [1, 2, ], "b": {"c": 1,},}'), { a: [1, 2], b: { c: 1 } })
    assert.deepEqual(parseJsonc('[1, // one\n /* end */ ]'), [1])
    assert.deepEqual(parseJsonc('["x", "y",\n]'), ['x', 'y'])
  })

  test('a comma that follows no value is still an error', () => {
    for (const text of ['[,]', '{,}', '[1,,]', '{"a":,}', ',']) {
      assert.throws(() => parseJsonc(text), JsoncSyntaxError, text)
    }
  })

  test('a leading byte-order mark is accepted', () => {
    assert.deepEqual(parseJsonc('\uFEFF{"a": 1}'), { a: 1 })
  })
})

describe('parseJsonc syntax errors name the line and column', () => {
  test('errors V8 gives a position for', () => {
    syntaxError('{\n  "a": 1\n  "b": 2\n}', 3, 3, /Expected ',' or '}'/)
    syntaxError('{\n\n  "a": 1,\n  b: 2}', 4, 3)
    syntaxError('{"a": "x', 1, 9)
  })

  test('errors V8 gives no position for ("Unexpected token")', () => {
    syntaxError('{\n  "a": }', 2, 8, /Unexpected token '}'/)
    syntaxError('// header\n{\n  "a": tru\n}', 3, 8)
    syntaxError('[1,,]', 1, 4)
  })

  test('positions count comments, which are blanked, not removed', () => {
    syntaxError('/* long\n   comment */ {"a": 1 "b"}', 2, 23)
  })

  test('an unterminated block comment is reported where it starts', () => {
    syntaxError('{\n  "a": 1 /* never closed\n}', 2, 10, /unterminated \/\* comment/)
  })

  test('an empty input is reported at its end', () => {
    syntaxError('', 1, 1, /end of JSON input/)
    syntaxError('// only a comment\n', 2, 1)
  })
})

describe('findJsonError', () => {
  test('-1 for valid JSON, else the offset where it stops being valid', () => {
    assert.equal(findJsonError('{"a": [1, -2.5e+3, "\\u00e9\\n", true, false, null], "b": {}}'), -1)
    assert.equal(findJsonError('{"a": tru}'), 6)
    assert.equal(findJsonError('[1 2]'), 3)
    assert.equal(findJsonError('{"a": "\\x"}'), 8)
    assert.equal(findJsonError('[1] x'), 4)
    assert.equal(findJsonError('[01]'), 2)
  })

  test('deep nesting is reported, not a stack overflow', () => {
    assert.ok(findJsonError('['.repeat(100_000)) > 0)
  })
})

describe('lineColumn', () => {
  test('counts \\n, \\r\\n and a lone \\r as one line break each', () => {
    assert.deepEqual(lineColumn('ab\ncd', 4), { line: 2, column: 2 })
    assert.deepEqual(lineColumn('ab\r\ncd', 4), { line: 2, column: 1 })
    assert.deepEqual(lineColumn('a\rb\nc', 4), { line: 3, column: 1 })
  })
})
