import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { performance } from 'node:perf_hooks'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { loopbackDispatcher } from '../../demo/crowd.ts'
import { buildDemoSite, startDemoOrigin } from '../../demo/origin-site.ts'
import type { DemoOrigin } from '../../demo/origin-site.ts'

interface Fetched {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

async function get(
  dispatcher: Dispatcher,
  url: string,
  init: { method?: 'GET' | 'HEAD' | 'POST'; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {}
): Promise<Fetched> {
  const res = await request(url, { dispatcher, ...init })
  const body = Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, headers: res.headers, body }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 5))
  }
}

describe('buildDemoSite', () => {
  test('is deterministic from the seed', () => {
    const a = buildDemoSite({ seed: 7 })
    const b = buildDemoSite({ seed: 7 })
    const c = buildDemoSite({ seed: 8 })
    assert.deepEqual([...a.keys()], [...b.keys()])
    for (const [path, file] of a) assert.ok(file.body.equals(b.get(path)?.body ?? Buffer.alloc(0)), path)
    const differs = [...a].some(([path, file]) => !file.body.equals(c.get(path)?.body ?? Buffer.alloc(0)))
    assert.ok(differs, 'a different seed gives different content')
  })

  test('has a realistic shape: pages, shared assets, images, downloads, private routes', () => {
    const files = buildDemoSite({ seed: 1, siteName: 'Alpha Times' })
    const pages = [...files.values()].filter(f => f.type.startsWith('text/html') && !f.private)
    assert.ok(pages.length >= 18 && pages.length <= 22, `~20 pages, got ${pages.length}`)
    assert.ok(files.has('/'))
    assert.ok(pages.some(p => p.path.startsWith('/articles/') && p.path.endsWith('.html')))

    const css = files.get('/css/site.css')
    const js = files.get('/js/app.js')
    assert.ok(css !== undefined && css.body.length >= 9_000 && css.body.length <= 12_000, 'css ~10 KB')
    assert.ok(js !== undefined && js.body.length >= 28_000 && js.body.length <= 34_000, 'js ~30 KB')
    assert.match(css.type, /^text\/css/)
    assert.match(js.type, /javascript/)

    let pagesWithDownloads = 0
    for (const page of pages) {
      const html = page.body.toString('utf8')
      assert.match(html, /<title>[^<]+Alpha Times<\/title>/)
      assert.equal(page.cacheControl, 'public, max-age=30')
      const imgs = [...html.matchAll(/<img src="([^"]+)"/g)].map(m => m[1] ?? '')
      assert.ok(imgs.length >= 2 && imgs.length <= 6, `${page.path}: 2–6 images, got ${imgs.length}`)
      assert.ok(html.includes('href="/css/site.css"') && html.includes('src="/js/app.js"'), page.path)
      for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) {
        const link = m[1] ?? ''
        assert.ok(link.startsWith('/'), `${page.path}: link ${link} is an absolute path`)
        if (link !== '/account' && !link.startsWith('/private/')) assert.ok(files.has(link), `${page.path}: ${link} exists`)
      }
      for (const src of imgs) {
        const img = files.get(src)
        assert.ok(img !== undefined, src)
        assert.ok(img.type === 'image/png' || img.type === 'image/jpeg', `${src} ${img.type}`)
        assert.ok(img.body.length >= 5 * 1024 && img.body.length <= 150 * 1024, `${src} size ${img.body.length}`)
        assert.equal(img.cacheControl, 'public, max-age=60')
      }
      const pageLinks = [...html.matchAll(/<a href="([^"]+\.html)"/g)]
      assert.ok(pageLinks.length > 0 || html.includes('<a href="/">'), `${page.path} links other pages`)
      if (html.includes('href="/files/')) pagesWithDownloads++
    }
    assert.ok(pagesWithDownloads >= 2, `some pages link downloads (${pagesWithDownloads})`)
    const downloads = [...files.values()].filter(f => f.path.startsWith('/files/'))
    assert.ok(downloads.length >= 2)
    for (const d of downloads) assert.ok(d.body.length >= 300 * 1024 && d.body.length <= 1536 * 1024, `${d.path} ${d.body.length}`)

    assert.equal(files.get('/account')?.private, true)
    assert.equal(files.get('/account')?.cacheControl, 'no-cache')
    assert.equal(files.get('/private/report.html')?.private, true)
    assert.equal(files.get('/private/report.html')?.cacheControl, 'private, max-age=60')
    assert.equal([...files.values()].filter(f => f.private).length, 2)
  })

  test("profile 'blog': ~30 pages of 2–8 images, no downloads, a page load ~410 KB under Zipf(1)", () => {
    const files = buildDemoSite({ seed: 1, siteName: 'alpha', profile: 'blog' })
    const again = buildDemoSite({ seed: 1, siteName: 'alpha', profile: 'blog' })
    assert.deepEqual([...files.keys()], [...again.keys()])
    const pages = [...files.values()].filter(f => f.type.startsWith('text/html') && !f.private).map(f => f.path)
    assert.ok(pages.length >= 25 && pages.length <= 35, `~30 pages, got ${pages.length}`)
    assert.equal(pages[0], '/')
    assert.ok(![...files.keys()].some(p => p.startsWith('/files/')), 'no downloads')
    let weighted = 0
    let weights = 0
    for (const [k, path] of pages.entries()) {
      const html = files.get(path)?.body.toString('utf8') ?? ''
      const subresources = [...html.matchAll(/<(?:img|script|link)\b[^>]*(?:src|href)="([^"]+\.(?:css|js|png|jpg))"/g)].map(m => m[1] ?? '')
      const imgs = subresources.filter(s => s.startsWith('/img/'))
      assert.ok(imgs.length >= 2 && imgs.length <= 8, `${path}: 2–8 images, got ${imgs.length}`)
      const bytes = (files.get(path)?.body.length ?? 0) + subresources.reduce((a, s) => a + (files.get(s)?.body.length ?? NaN), 0)
      weighted += bytes / (k + 1)
      weights += 1 / (k + 1)
    }
    const mean = weighted / weights
    assert.ok(mean >= 380_000 && mean <= 440_000, `mean page load ${mean} bytes`)
    assert.equal(files.get('/account')?.private, true)
  })
})

describe('demo origin: content and HTTP semantics', () => {
  let origin: DemoOrigin
  let d: Dispatcher
  before(async () => {
    origin = await startDemoOrigin({ workers: 8, capacityRps: 2000, seed: 3 })
    d = loopbackDispatcher()
  })
  after(async () => {
    await d.close()
    await origin.close()
  })

  test('listens on 127.0.0.1 and lists public pages', () => {
    assert.match(origin.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(origin.url, `http://127.0.0.1:${origin.port}`)
    assert.equal(origin.pages[0], '/')
    assert.ok(origin.pages.length >= 18)
    for (const p of origin.pages) assert.equal(origin.files.get(p)?.private, false)
  })

  test('serves public files with cache headers, validators and exact bytes', async () => {
    for (const path of ['/', '/css/site.css', '/js/app.js', origin.pages[3] ?? '/']) {
      const file = origin.files.get(path)
      assert.ok(file !== undefined)
      const r = await get(d, origin.url + path)
      assert.equal(r.status, 200, path)
      assert.ok(r.body.equals(file.body), `${path} body`)
      assert.equal(r.headers['content-type'], file.type)
      assert.equal(r.headers['content-length'], String(file.body.length))
      assert.equal(r.headers['cache-control'], path.endsWith('.css') || path.endsWith('.js') ? 'public, max-age=60' : 'public, max-age=30')
      assert.match(String(r.headers['etag']), /^"[0-9a-f]+"$/)
      assert.ok(Number.isFinite(Date.parse(String(r.headers['last-modified']))))
    }
    const img = [...origin.files.values()].find(f => f.path.startsWith('/img/'))
    assert.ok(img !== undefined)
    const r = await get(d, origin.url + img.path)
    assert.equal(r.status, 200)
    assert.equal(r.headers['cache-control'], 'public, max-age=60')
    assert.equal(r.headers['content-type'], img.type)
    assert.ok(r.body.equals(img.body))
  })

  test('conditional GET answers 304; HEAD has headers but no body; unknown paths 404', async () => {
    const first = await get(d, origin.url + '/css/site.css')
    const etag = String(first.headers['etag'])
    const cond = await get(d, origin.url + '/css/site.css', { headers: { 'if-none-match': etag } })
    assert.equal(cond.status, 304)
    assert.equal(cond.body.length, 0)
    assert.equal(cond.headers['etag'], etag)
    const weak = await get(d, origin.url + '/css/site.css', { headers: { 'if-none-match': `"nope", W/${etag}` } })
    assert.equal(weak.status, 304)
    const stale = await get(d, origin.url + '/css/site.css', { headers: { 'if-none-match': '"something-else"' } })
    assert.equal(stale.status, 200)
    const ims = await get(d, origin.url + '/css/site.css', {
      headers: { 'if-modified-since': String(first.headers['last-modified']) }
    })
    assert.equal(ims.status, 304)

    const head = await get(d, origin.url + '/js/app.js', { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.body.length, 0)
    assert.equal(head.headers['content-length'], String(origin.files.get('/js/app.js')?.body.length))

    const missing = await get(d, origin.url + '/no/such/thing.png')
    assert.equal(missing.status, 404)
    const query = await get(d, origin.url + '/css/site.css?v=2')
    assert.equal(query.status, 200, 'query strings are ignored for static files')
  })

  test('private routes carry their headers; /api/echo echoes POST bodies', async () => {
    const acct = await get(d, origin.url + '/account')
    assert.equal(acct.status, 200)
    assert.equal(acct.headers['cache-control'], 'no-cache')
    const cookie = acct.headers['set-cookie']
    assert.match(Array.isArray(cookie) ? (cookie[0] ?? '') : String(cookie), /^session=[0-9a-f]+;/)
    const acct2 = await get(d, origin.url + '/account')
    assert.notEqual(String(acct2.headers['set-cookie']), String(cookie), 'a fresh session per response')

    const priv = await get(d, origin.url + '/private/report.html')
    assert.equal(priv.status, 200)
    assert.equal(priv.headers['cache-control'], 'private, max-age=60')
    assert.equal(priv.headers['set-cookie'], undefined)

    const echo = await get(d, origin.url + '/api/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"hello":"reef"}'
    })
    assert.equal(echo.status, 200)
    assert.equal(echo.body.toString(), '{"hello":"reef"}')
    assert.equal(echo.headers['content-type'], 'application/json')
    assert.equal(echo.headers['cache-control'], 'no-store')
    const wrong = await get(d, origin.url + '/api/echo')
    assert.equal(wrong.status, 405)
    const postFile = await get(d, origin.url + '/css/site.css', { method: 'POST', body: 'x' })
    assert.equal(postFile.status, 405)
  })
})

describe('demo origin: a small machine under load', () => {
  test('overload: 200 concurrent requests against 4 workers / 40 rps give 503s and 504s, never more than capacity', async () => {
    const origin = await startDemoOrigin({ workers: 4, capacityRps: 40, queueLimit: 64, queueTimeoutMs: 1000 })
    const d = loopbackDispatcher()
    try {
      const statuses = await Promise.all(Array.from({ length: 200 }, async () => (await get(d, origin.url + '/css/site.css')).status))
      const count = (s: number): number => statuses.filter(x => x === s).length
      assert.equal(count(200) + count(503) + count(504), 200, `only 200/503/504: ${statuses.join(',')}`)
      assert.ok(count(503) >= 100, `queue overflow answered 503 at once (${count(503)})`)
      assert.ok(count(504) > 0, `long waits answered 504 (${count(504)})`)
      assert.ok(count(200) >= 30 && count(200) <= 50, `about one second of capacity served (${count(200)})`)
      assert.equal(origin.stats.total, 200)
      assert.equal(origin.stats.served, count(200))
      assert.equal(origin.stats.rejected, count(503))
      assert.equal(origin.stats.timedOut, count(504))
      assert.equal(origin.stats.inFlight, 0)
      assert.equal(origin.stats.queued, 0)
      for (const s of origin.stats.perSecond()) assert.ok(s.served <= 44, `second ${s.second}: ${s.served} > 110% of 40`)
      assert.ok(origin.stats.peakRps() <= 44)
      assert.ok(origin.stats.peakRps() > 0)
    } finally {
      await d.close()
      await origin.close()
    }
  })

  test('sustained overload: throughput stays near capacityRps', async () => {
    const capacity = 40
    const origin = await startDemoOrigin({ workers: 4, capacityRps: capacity, queueLimit: 16, queueTimeoutMs: 2000 })
    const d = loopbackDispatcher()
    try {
      const img = [...origin.files.keys()].find(p => p.startsWith('/img/')) ?? '/'
      const started = performance.now()
      const runMs = 2500
      let done = 0
      const maxPerClient = 200
      // 40 closed-loop clients: always more demand than capacity; bounded in time and count.
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          for (let i = 0; i < maxPerClient && performance.now() - started < runMs; i++) {
            const r = await get(d, origin.url + img)
            done++
            if (r.status === 503) await new Promise(res => setTimeout(res, 20))
          }
        })
      )
      const elapsedS = (performance.now() - started) / 1000
      const rate = origin.stats.served / elapsedS
      assert.ok(done > 0)
      assert.ok(origin.stats.rejected > 0, 'demand exceeded capacity')
      assert.ok(rate >= capacity * 0.75 && rate <= capacity * 1.1, `served ${rate.toFixed(1)} rps vs capacity ${capacity}`)
      for (const s of origin.stats.perSecond()) assert.ok(s.served <= capacity * 1.1, `second ${s.second}: ${s.served}`)
      const full = origin.stats.perSecond().slice(1, -1)
      for (const s of full) assert.ok(s.served >= capacity * 0.8, `full second ${s.second} served ${s.served}`)
      origin.stats.reset()
      assert.equal(origin.stats.served, 0)
      assert.deepEqual(origin.stats.perSecond(), [])
      assert.equal(origin.stats.peakRps(), 0)
    } finally {
      await d.close()
      await origin.close()
    }
  })

  test('bytesPerSec caps bandwidth over all responses', async () => {
    const bytesPerSec = 2_000_000
    const origin = await startDemoOrigin({ workers: 8, capacityRps: 8000, bytesPerSec })
    const d = loopbackDispatcher()
    try {
      const downloads = [...origin.files.values()].filter(f => f.path.startsWith('/files/')).slice(0, 2)
      const totalBytes = downloads.reduce((n, f) => n + f.body.length, 0)
      const t = performance.now()
      const got = await Promise.all(downloads.map(f => get(d, origin.url + f.path)))
      const ms = performance.now() - t
      got.forEach((r, i) => assert.ok(r.body.equals(downloads[i]?.body ?? Buffer.alloc(0))))
      const minMs = (totalBytes / bytesPerSec) * 1000
      assert.ok(ms >= minMs * 0.95, `transfer took ${ms.toFixed(0)} ms, link needs ≥ ${minMs.toFixed(0)} ms`)
      assert.ok(ms <= minMs + 1500, `transfer took ${ms.toFixed(0)} ms`)
      const bytes = origin.stats.perSecond().reduce((n, s) => n + s.bytes, 0)
      assert.equal(bytes, totalBytes)
    } finally {
      await d.close()
      await origin.close()
    }
  })

  test('a client that gives up while queued frees its slot; close() ends in-flight work', async () => {
    const origin = await startDemoOrigin({ workers: 1, capacityRps: 2, queueLimit: 4, queueTimeoutMs: 5000 })
    const d = loopbackDispatcher()
    try {
      const first = get(d, origin.url + '/')
      await waitFor('first request in service', () => origin.stats.inFlight === 1)
      const ac = new AbortController()
      const second = get(d, origin.url + '/', { signal: ac.signal }).catch((err: unknown) => err)
      await waitFor('second request queued', () => origin.stats.queued === 1)
      ac.abort()
      await waitFor('queue slot freed', () => origin.stats.queued === 0)
      assert.ok((await second) instanceof Error)
      assert.equal((await first).status, 200)
      // Leave one request in service and one queued, then close.
      const pending = [get(d, origin.url + '/').catch(() => null), get(d, origin.url + '/').catch(() => null)]
      await waitFor('busy again', () => origin.stats.inFlight === 1 && origin.stats.queued === 1)
      await origin.close()
      await Promise.all(pending)
    } finally {
      await d.close()
      await origin.close()
    }
  })
})
