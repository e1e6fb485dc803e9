import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { cycles, importGraph, layers } from '../scripts/layout.ts'

describe('the layout of src (imports point one way)', () => {
  const g = importGraph()

  it('has no import circles between files', () => {
    assert.deepEqual(
      cycles(g.files).map(c => c.join(' → ')),
      []
    )
  })

  it('has no import circles between folders', () => {
    const folders = new Map([...g.folders].map(([k, v]) => [k, [...v.keys()]]))
    const circles = cycles(folders).map(c => c.map((f, i) => (i === 0 ? f : `${f} (${g.folders.get(c[i - 1]!)!.get(f)!})`)).join(' → '))
    assert.deepEqual(circles, [])
    const ls = layers(g.folders)
    assert.ok(ls !== undefined)
    assert.deepEqual(ls[0], ['base'], 'errors.ts and constants.ts import nothing of the package')
  })

  it('finds a circle when there is one', () => {
    assert.deepEqual(
      cycles(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
          ['d', ['a']]
        ])
      ),
      [['a', 'b', 'c', 'a']]
    )
  })

  it('keeps reef-node.ts to wiring (well under 300 lines: 280 at most)', () => {
    const lines = readFileSync(new URL('../src/reef-node.ts', import.meta.url), 'utf8').split('\n').length
    assert.ok(lines <= 280, `reef-node.ts has ${lines} lines`)
  })
})
