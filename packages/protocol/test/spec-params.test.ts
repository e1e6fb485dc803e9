/** SPEC.md's Parameters table states the defaults this implementation uses: they must not drift apart. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import * as constants from '../src/constants.ts'

describe('SPEC.md parameters', () => {
  it('every parameter named like an exported constant has that constant’s value', () => {
    const spec = readFileSync(new URL('../SPEC.md', import.meta.url), 'utf8')
    const section = spec.slice(spec.indexOf('## Parameters'), spec.indexOf('## Protocol ids and topics'))
    const rows = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|[^|]*\| ([^|]+) \|/gm)]
    assert.ok(rows.length >= 20, `parameter rows found: ${rows.length}`)
    let compared = 0
    for (const [, name, cell] of rows) {
      const value = (constants as Record<string, unknown>)[name!]
      if (typeof value !== 'number') continue
      // The default cell is a number, possibly with digit separators and a gloss: "1000000000000 (1 TB/s)".
      const stated = Number(/^[\d.,_]+/.exec(cell!.trim())?.[0].replace(/[,_]/g, ''))
      assert.equal(stated, value, `${name}: SPEC.md says ${cell!.trim()}, constants.ts has ${value}`)
      compared++
    }
    assert.ok(compared >= 15, `parameters compared: ${compared}`)
  })
})
