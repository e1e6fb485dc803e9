import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config/config.ts'
import { ExternalMirror, parseMirrorTemplate } from '../../src/load/external-mirror.ts'

const base = {
  site: { label: 'alpha', publicUrl: 'https://alpha.example' },
  origin: { url: 'http://127.0.0.1:8080', capacityRps: 50, maxConcurrent: 8 },
  front: { listen: { port: 8081 } },
  mirror: { listen: { port: 8082 }, publicUrl: 'http://mirror.alpha.example:8082' },
  dataDir: '/tmp/reef-x'
}

describe('external mirror template', () => {
  it('accepts the classic forms', () => {
    for (const t of [
      'https://{host}.nyud.net{path}',
      'https://web.archive.org/web/{url}',
      'http://{host}.ext.localhost:9000{path}',
      'https://cdn.example/mirror{path}'
    ]) {
      assert.equal(parseMirrorTemplate(t), t)
    }
  })

  it('rejects templates that could not be safe or useful, naming the field', () => {
    for (const t of [
      'ftp://{host}.x{path}',
      'https://x.example/{nope}{path}',
      'https://{path}.x.example/',
      'https://x.example/{host}/{path}',
      'https://x.example/static',
      '{host}{path}'
    ]) {
      assert.throws(
        () => parseMirrorTemplate(t),
        (err: Error & { code?: string }) => err.code === 'ERR_CONFIG',
        t
      )
      assert.throws(
        () => parseConfig({ ...base, relief: { externalMirror: { template: t } } }),
        (err: Error & { code?: string }) => err.code === 'ERR_CONFIG' && err.message.includes('relief.externalMirror.template'),
        t
      )
    }
    assert.equal(
      parseConfig({ ...base, relief: { externalMirror: { template: 'https://{host}.nyud.net{path}' } } }).relief.externalMirror?.template,
      'https://{host}.nyud.net{path}'
    )
  })

  it('builds locations from the configured site, never from the request', () => {
    const coral = new ExternalMirror('https://{host}.nyud.net{path}', 'https://alpha.example:8443')
    assert.equal(coral.location('/img/a.png?v=1'), 'https://alpha.example.nyud.net/img/a.png?v=1')
    const archive = new ExternalMirror('https://web.archive.org/web/{url}', 'https://alpha.example')
    assert.equal(archive.location('/news/'), 'https://web.archive.org/web/https://alpha.example/news/')
  })

  it("keeps every location on the template's origin", () => {
    const m = new ExternalMirror('https://cdn.example{path}', 'https://alpha.example')
    assert.equal(m.location('/@evil.example/x'), 'https://cdn.example/@evil.example/x')
    assert.equal(new URL(m.location('/%0d%0aSet-Cookie:%20a=b')!).origin, 'https://cdn.example')
    // A path that would change the authority (never produced by the front, which checks paths) is refused.
    assert.equal(m.location('.evil.example/x'), undefined)
  })
})
