/**
 * JSON with comments (JSONC), as operators write config files: `// line` and `/* block *\/`
 * comments and trailing commas before `}` or `]`, nothing else beyond JSON.
 *
 * `stripJsonComments` turns JSONC into JSON of exactly the same length: every comment
 * character becomes a space (line breaks inside block comments stay), and a trailing comma
 * becomes a space. Offsets in the output are therefore offsets in the input, so a syntax error
 * that `JSON.parse` finds in the output is reported at the operator's line and column.
 * Strings are copied verbatim, escapes included, so `"http://x"` or `"a\"//b"` are untouched.
 *
 * `parseJsonc` strips and parses; on a syntax error it throws `JsoncSyntaxError` with the
 * 1-based line and column. V8's messages carry a position only for some errors ("Unexpected
 * token" ones have none), so when there is none a small scanner over the stripped text finds
 * where the JSON stops being valid.
 */

export class JsoncSyntaxError extends SyntaxError {
  readonly code = 'ERR_JSONC_SYNTAX'
  /** 1-based line and column (in UTF-16 code units, as editors count for most text). */
  readonly line: number
  readonly column: number
  /** What is wrong, without the position. */
  readonly reason: string
  constructor(reason: string, line: number, column: number) {
    super(`line ${line} column ${column}: ${reason}`)
    this.name = 'JsoncSyntaxError'
    this.reason = reason
    this.line = line
    this.column = column
  }
}

/** 1-based line and column of `offset` in `text`; `\r\n`, `\n` and a lone `\r` end a line. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1
  let lineStart = 0
  const end = Math.min(offset, text.length)
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++
      lineStart = i + 1
    }
  }
  return { line, column: end - lineStart + 1 }
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r'
}

/**
 * JSONC → JSON of the same length (see the module comment). Throws JsoncSyntaxError for an
 * unterminated block comment; everything else that is not JSON is left for `JSON.parse`.
 */
export function stripJsonComments(text: string): string {
  const out = text.split('')
  const n = text.length
  // A leading byte-order mark is not JSON; a space keeps the offsets.
  if (text.charCodeAt(0) === 0xfeff) out[0] = ' '
  /** Index of a comma that only whitespace and comments have followed, if it follows a value. */
  let pendingComma = -1
  /** The last character that was neither whitespace nor part of a comment. */
  let previous = ''
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  while (i < n) {
    const c = text[i]!
    if (c === '"') {
      // Copy the string as is; a backslash always takes the next character with it.
      let j = i + 1
      while (j < n && text[j] !== '"' && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1
      i = Math.min(j + 1, n)
      pendingComma = -1
      previous = '"'
      continue
    }
    if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n' && text[i] !== '\r') out[i++] = ' '
      continue
    }
    if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2)
      if (close < 0) {
        const { line, column } = lineColumn(text, i)
        throw new JsoncSyntaxError('unterminated /* comment', line, column)
      }
      for (let j = i; j < close + 2; j++) if (text[j] !== '\n' && text[j] !== '\r') out[j] = ' '
      i = close + 2
      continue
    }
    if (isSpace(c)) {
      i++
      continue
    }
    if (c === ',') {
      // Only a comma after a value can be trailing; `[,]` or `[1,,]` stay errors.
      pendingComma = previous === '' || '[{,:'.includes(previous) ? -1 : i
    } else {
      if ((c === '}' || c === ']') && pendingComma >= 0) out[pendingComma] = ' '
      pendingComma = -1
    }
    previous = c
    i++
  }
  return out.join('')
}

/**
 * Offset of the first place where `json` (already stripped) stops being valid JSON, or -1.
 * Only called after `JSON.parse` failed without naming a position; it does not build values.
 */
export function findJsonError(json: string): number {
  let i = 0
  const n = json.length
  const ws = (): void => {
    while (i < n && isSpace(json[i])) i++
  }
  const MAX_DEPTH = 1000
  const value = (depth: number): boolean => {
    if (depth > MAX_DEPTH) return false
    ws()
    const c = json[i]
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']'
      i++
      ws()
      if (json[i] === close) {
        i++
        return true
      }
      for (;;) {
        if (c === '{') {
          ws()
          if (json[i] !== '"' || !string()) return false
          ws()
          if (json[i] !== ':') return false
          i++
        }
        if (!value(depth + 1)) return false
        ws()
        if (json[i] === ',') {
          i++
          continue
        }
        if (json[i] === close) {
          i++
          return true
        }
        return false
      }
    }
    if (c === '"') return string()
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(json.slice(i, i + 400))
    if (m === null) return false
    i += m[0].length
    // A number or literal runs into the next token only through a delimiter.
    return i >= n || isSpace(json[i]) || ',]}'.includes(json[i]!)
  }
  const string = (): boolean => {
    i++
    while (i < n) {
      const c = json[i]!
      if (c === '"') {
        i++
        return true
      }
      if (c.charCodeAt(0) < 0x20) return false
      if (c === '\\') {
        const e = json[i + 1]
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(json.slice(i + 2, i + 6))) {
            i++
            return false
          }
          i += 6
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2
        } else {
          i++
          return false
        }
        continue
      }
      i++
    }
    return false
  }
  if (!value(0)) return Math.min(i, n)
  ws()
  return i < n ? i : -1
}

/** Parse JSONC; syntax errors throw JsoncSyntaxError with the line and column. */
export function parseJsonc(text: string): unknown {
  const json = stripJsonComments(text)
  try {
    return JSON.parse(json)
  } catch (err) {
    const message = (err as Error).message
    const at = /at position (\d+)/.exec(message)
    let offset = at === null ? findJsonError(json) : Number(at[1])
    if (offset < 0) offset = json.length
    // "Unexpected token '}', "{"a":}" is not valid JSON" → "Unexpected token '}'"; V8 quotes
    // the whole (stripped) document, which is noise in a config error.
    const reason = message.replace(/\s*in JSON at position \d+(?: \(line \d+ column \d+\))?/, '').replace(/, (?:\.\.\.)?".*" is not valid JSON$/s, '')
    const { line, column } = lineColumn(text, offset)
    throw new JsoncSyntaxError(reason, line, column)
  }
}
