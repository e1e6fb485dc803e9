import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ContentCache, sha256Hex } from '../../src/origin/content-cache.ts'
import { PageWeigher, pageSubresources } from '../../src/help/page-weight.ts'

describe('pageSubresources', () => {
  it("finds what a browser fetches with the page, on the site's own origin, once each", () => {
    const html = `<!doctype html><html><head>
      <link rel="stylesheet" href="/css/site.css"><link rel="icon" href='/favicon.ico'>
      <link rel="alternate" href="/feed.xml"><link rel="canonical" href="https://example.org/a">
      <script src="/js/app.js" defer></script><script>inline()</script></head><body>
      <img src="/img/a.png" alt="a"><IMG SRC="../img/b.jpg?v=2"><img src="/img/a.png">
      <img src="https://cdn.example.net/c.png"><img src="//other.example/d.png"><img src="data:image/png;base64,AAAA">
      <a href="/articles/next.html">next</a><video poster="/img/poster.jpg"></video>
    </body></html>`
    assert.deepEqual(pageSubresources(html, '/articles/x.html'), [
      '/css/site.css',
      '/favicon.ico',
      '/js/app.js',
      '/img/a.png',
      '/img/b.jpg?v=2',
      '/img/poster.jpg'
    ])
  })

  it('ignores what is not markup', () => {
    assert.deepEqual(pageSubresources('just text with src="/x.png"', '/'), [])
  })
})

describe('PageWeigher', () => {
  it('weighs an HTML page with its cached subresources, unknown ones at the mean; anything else at its own size', () => {
    const cache = new ContentCache(1 << 20, 1 << 20)
    const put = (path: string, body: Buffer, type: string): void => {
      cache.put({ site: 'alpha', path, headers: { 'content-type': type }, body, sha256: sha256Hex(body), storedAt: Date.now() })
    }
    put('/', Buffer.from('<link rel="stylesheet" href="/s.css"><img src="/a.png"><img src="/b.png">'), 'text/html; charset=utf-8')
    put('/s.css', Buffer.alloc(1_000), 'text/css')
    put('/a.png', Buffer.alloc(50_000), 'image/png')
    const w = new PageWeigher(cache, 'alpha')
    const page = cache.peek('alpha', '/')!
    assert.equal(w.weigh(page, 7_000), page.body.byteLength + 1_000 + 50_000 + 7_000)
    // Whole bytes (delegations carry integers), also with a fractional mean object size.
    assert.equal(w.weigh(page, 7_000.4), page.body.byteLength + 1_000 + 50_000 + 7_000)
    put('/b.png', Buffer.alloc(20_000), 'image/png')
    assert.equal(w.weigh(page, 7_000), page.body.byteLength + 1_000 + 50_000 + 20_000)
    assert.equal(w.weigh(cache.peek('alpha', '/a.png')!, 7_000), 50_000)
  })
})
