import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import { Script } from 'node:vm'
import { DASHBOARD_CSP, DASHBOARD_HTML } from '../src/index.ts'

const between = (open: string, close: string): string => {
  const start = DASHBOARD_HTML.indexOf(open)
  const end = DASHBOARD_HTML.indexOf(close, start)
  assert.ok(start >= 0 && end > start, `no ${open}…${close} in the page`)
  return DASHBOARD_HTML.slice(start + open.length, end)
}
const script = between('<script>', '</script>')
const style = between('<style>', '</style>')
const sha = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

describe('dashboard page', () => {
  test('its script is plain JavaScript once the types are stripped', () => {
    assert.doesNotThrow(() => new Script(script, { filename: 'dashboard.js' }))
    assert.doesNotMatch(script, /\binterface\b|:\s*void\b|\bas\s+HTML/)
  })

  test('renders data only as text: no HTML parsing sinks in the script', () => {
    assert.doesNotMatch(script, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/)
  })

  test('loads nothing from elsewhere and its CSP admits exactly its own script and style', () => {
    const urls = DASHBOARD_HTML.match(/https?:\/\/[^\s"'<>)]+/g) ?? []
    assert.deepEqual([...new Set(urls)], ['http://www.w3.org/2000/svg'])
    assert.match(DASHBOARD_CSP, /default-src 'none'/)
    assert.ok(DASHBOARD_CSP.includes(`script-src ${sha(script)}`), 'script hash')
    assert.ok(DASHBOARD_CSP.includes(`style-src ${sha(style)}`), 'style hash')
    assert.match(DASHBOARD_CSP, /connect-src 'self'/)
    assert.doesNotMatch(DASHBOARD_HTML, /\sstyle="|\son[a-z]+="/, 'inline style or handler attributes would be blocked by the CSP')
  })

  test('has every element the script looks up by id', () => {
    const ids = new Set([...DASHBOARD_HTML.matchAll(/\sid="([^"]+)"/g)].map(m => m[1]))
    const wanted = [...script.matchAll(/\$\('([a-z-]+)'\)/g)].map(m => m[1]!)
    for (const kind of ['origin', 'microCache', 'shedPeers', 'shedExternal', 'refused']) wanted.push(`tl-now-${kind}`, `tl-sum-${kind}`)
    assert.ok(wanted.length > 20)
    for (const id of wanted) assert.ok(ids.has(id), `#${id} is missing`)
  })
})
