/**
 * The front against a real demo origin: what it forwards unchanged, what it may shed, what it
 * must never shed, and how it refuses when the origin is full. Routes are exercised with
 * fastify's inject; the origin is a real HTTP server on 127.0.0.1.
 */
import { createServer } from 'node:http'
import { connect } from 'node:net'
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, it } from 'node:test'
import { pino } from 'pino'
import { ContentCache, sha256Hex } from '../../src/origin/content-cache.ts'
import { startDemoOrigin } from '../../demo/origin-site.ts'
import type { DemoOrigin } from '../../demo/origin-site.ts'
import { buildFront } from '../../src/http/front.ts'
import { HotSet } from '../../src/origin/hot-set.ts'
import { LoadMonitor } from '../../src/load/monitor.ts'
import { OriginClient } from '../../src/origin/client.ts'
import { OriginGate } from '../../src/origin/gate.ts'
import { PageWeigher, pageSubresources } from '../../src/help/page-weight.ts'
import { Shedder } from '../../src/load/shedder.ts'

const log = pino({ level: 'silent' })
const HELPER = {
  peer: '12D3KooWHelperPeer',
  weightRps: 100,
  weightBytesPerSec: 1_000_000,
  mirrorUrl: 'http://mirror-b.localhost:9102',
  siteBase: 'http://alpha.mirror-b.localhost:9102'
}

function makeFront(
  origin: DemoOrigin | { url: string },
  gateOpts: { capacityRps?: number; maxConcurrent?: number; queueLimit?: number } = {},
  queueTimeoutMs = 1_000,
  ladder = { microCache: false },
  extra: Pick<Parameters<typeof buildFront>[1], 'weigh' | 'onRedirect' | 'strikeNow' | 'onRefused' | 'helpMayCome'> = {},
  helpWaitMs = 0
) {
  const monitor = new LoadMonitor()
  const cache = new ContentCache(64 * 1024 * 1024, 8 * 1024 * 1024)
  const hotSet = new HotSet()
  const shedder = new Shedder()
  const gate = new OriginGate<string | null>({
    capacityRps: gateOpts.capacityRps ?? 10_000,
    maxConcurrent: gateOpts.maxConcurrent ?? 16,
    queueLimit: gateOpts.queueLimit ?? 100
  })
  const originClient = new OriginClient({ url: origin.url, site: 'alpha', maxConcurrent: 16, timeoutMs: 5_000 }, gate, cache, hotSet, monitor, log)
  const app = buildFront(
    { site: 'alpha', queueTimeoutMs, retryAfterS: 7, maxBodyBytes: 1024 * 1024, originTimeoutMs: 5_000, helpWaitMs },
    { gate, origin: originClient, cache, hotSet, shedder, monitor, log, ladder, ...extra }
  )
  return { app, monitor, cache, hotSet, shedder, gate, originClient, ladder }
}

/** An origin answering every path with the same shareable 4 MiB body. */
async function startBigOrigin(): Promise<{ big: Buffer; bigOrigin: ReturnType<typeof createServer>; url: string }> {
  const big = Buffer.alloc(4 * 1024 * 1024, 'reef ')
  const bigOrigin = createServer((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(big.byteLength), 'cache-control': 'public, max-age=300' })
      .end(big)
  })
  await new Promise<void>(resolve => bigOrigin.listen(0, '127.0.0.1', resolve))
  return { big, bigOrigin, url: `http://127.0.0.1:${(bigOrigin.address() as { port: number }).port}` }
}

describe('front', () => {
  let origin: DemoOrigin
  let f: ReturnType<typeof makeFront>
  before(async () => {
    origin = await startDemoOrigin({ workers: 8, capacityRps: 2_000 })
  })
  after(async () => {
    await origin.close()
  })
  beforeEach(async () => {
    if (f !== undefined) {
      f.gate.close()
      await f.app.close()
      await f.originClient.close()
    }
    f = makeFront(origin)
  })
  after(async () => {
    f.gate.close()
    await f.app.close()
    await f.originClient.close()
  })

  it('forwards a GET and streams status, headers and body back unchanged; keeps a copy of a shareable body', async () => {
    const file = origin.files.get('/css/site.css')!
    const res = await f.app.inject({ method: 'GET', url: '/css/site.css' })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.rawPayload, file.body)
    assert.equal(res.headers['content-type'], file.type)
    assert.equal(res.headers['cache-control'], file.cacheControl)
    assert.equal(res.headers['content-length'], String(file.body.byteLength))
    assert.ok(res.headers.etag !== undefined)
    const kept = f.cache.peek('alpha', '/css/site.css')
    assert.ok(kept !== undefined, 'shareable body not kept')
    assert.equal(kept.sha256, sha256Hex(file.body))
    assert.equal(f.hotSet.isShareable('/css/site.css'), true)
  })

  it('passes 404 and conditional 304 through', async () => {
    const missing = await f.app.inject({ method: 'GET', url: '/no/such/page.html' })
    assert.equal(missing.statusCode, 404)
    const first = await f.app.inject({ method: 'GET', url: '/js/app.js' })
    const again = await f.app.inject({ method: 'GET', url: '/js/app.js', headers: { 'if-none-match': String(first.headers.etag) } })
    assert.equal(again.statusCode, 304)
  })

  it('forwards a POST body to the origin and its answer back', async () => {
    const body = Buffer.from('hello reef '.repeat(100))
    const res = await f.app.inject({ method: 'POST', url: '/api/echo', payload: body, headers: { 'content-type': 'application/octet-stream' } })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.rawPayload, body)
  })

  it('while shedding, redirects a shareable GET of a known path to its helper with a 307', async () => {
    await f.app.inject({ method: 'GET', url: '/css/site.css' })
    f.shedder.setHelpers([HELPER])
    f.shedder.share = 1
    const res = await f.app.inject({ method: 'GET', url: '/css/site.css' })
    assert.equal(res.statusCode, 307)
    assert.equal(res.headers.location, 'http://alpha.mirror-b.localhost:9102/css/site.css')
    assert.equal(res.headers['cache-control'], 'no-store')
    const head = await f.app.inject({ method: 'HEAD', url: '/css/site.css' })
    assert.equal(head.statusCode, 307)
    assert.equal(f.monitor.totals.shed, 2)
    assert.equal(f.monitor.totals.shedExternal, 0)
  })

  it('delegates to the helper the weight of the page load a redirect brings it, not the page alone', async () => {
    const delegated: Array<{ peer: string; bytes: number }> = []
    let weigher: PageWeigher | undefined
    const g = makeFront(
      origin,
      {},
      1_000,
      { microCache: false },
      {
        weigh: obj => weigher!.weigh(obj, 10_000),
        onRedirect: (helper, bytes) => {
          delegated.push({ peer: helper.peer, bytes })
        }
      }
    )
    weigher = new PageWeigher(g.cache, 'alpha')
    try {
      const page = origin.pages[0]!
      const html = await g.app.inject({ method: 'GET', url: page })
      const subs = pageSubresources(html.body, page)
      assert.ok(subs.length > 0, 'the demo page links no subresources')
      for (const p of subs) assert.equal((await g.app.inject({ method: 'GET', url: p })).statusCode, 200)
      const weight = html.rawPayload.byteLength + subs.reduce((a, p) => a + g.cache.peek('alpha', p)!.body.byteLength, 0)
      g.shedder.setHelpers([HELPER])
      g.shedder.share = 1
      const res = await g.app.inject({ method: 'GET', url: page })
      assert.equal(res.statusCode, 307)
      assert.deepEqual(delegated, [{ peer: HELPER.peer, bytes: weight }])
      assert.ok(weight > html.rawPayload.byteLength)
    } finally {
      g.gate.close()
      await g.app.close()
      await g.originClient.close()
    }
  })

  it('counts redirects to the external mirror apart from those to consortium helpers', async () => {
    await f.app.inject({ method: 'GET', url: '/css/site.css' })
    f.shedder.setFallback({
      peer: 'external-mirror',
      weightRps: 100,
      weightBytesPerSec: 1_000_000,
      mirrorUrl: 'https://{host}.nyud.net{path}',
      siteBase: '',
      location: path => `https://alpha.nyud.net${path}`
    })
    f.shedder.share = 1
    const res = await f.app.inject({ method: 'GET', url: '/css/site.css' })
    assert.equal(res.statusCode, 307)
    assert.equal(res.headers.location, 'https://alpha.nyud.net/css/site.css')
    assert.equal(f.monitor.totals.shed, 1)
    assert.equal(f.monitor.totals.shedExternal, 1)
  })

  it('never sheds a path the origin has not yet answered shareably', async () => {
    f.shedder.setHelpers([HELPER])
    f.shedder.share = 1
    const res = await f.app.inject({ method: 'GET', url: '/js/app.js' })
    assert.equal(res.statusCode, 200)
  })

  it('never sheds requests with cookies, credentials, ranges, other methods, or unsafe paths', async () => {
    await f.app.inject({ method: 'GET', url: '/css/site.css' })
    f.shedder.setHelpers([HELPER])
    f.shedder.share = 1
    for (const headers of [{ cookie: 'session=1' }, { authorization: 'Bearer x' }, { range: 'bytes=0-10' }]) {
      const res = await f.app.inject({ method: 'GET', url: '/css/site.css', headers })
      assert.notEqual(res.statusCode, 307, `redirected with ${Object.keys(headers)[0]}`)
    }
    const post = await f.app.inject({ method: 'POST', url: '/api/echo', payload: 'x', headers: { 'content-type': 'text/plain' } })
    assert.equal(post.statusCode, 200)
    const weird = await f.app.inject({ method: 'GET', url: '//evil.example/css/site.css' })
    assert.notEqual(weird.statusCode, 307)
  })

  it('never sheds or keeps a private response (Set-Cookie, Cache-Control: private)', async () => {
    for (const path of ['/account', '/private/report.html']) {
      const first = await f.app.inject({ method: 'GET', url: path })
      assert.equal(first.statusCode, 200)
      assert.equal(f.hotSet.isShareable(path), false)
      assert.equal(f.cache.peek('alpha', path), undefined)
    }
    f.shedder.setHelpers([HELPER])
    f.shedder.share = 1
    for (const path of ['/account', '/private/report.html']) {
      const again = await f.app.inject({ method: 'GET', url: path })
      assert.equal(again.statusCode, 200, `${path} was not served by the origin`)
    }
    const account = await f.app.inject({ method: 'GET', url: '/account' })
    assert.ok(account.headers['set-cookie'] !== undefined, 'Set-Cookie lost on the way through')
  })

  it('answers 503 with Retry-After when the origin is full and nothing can be shed', async () => {
    f.gate.close()
    await f.app.close()
    await f.originClient.close()
    f = makeFront(origin, { capacityRps: 1_000, maxConcurrent: 1, queueLimit: 0 })
    assert.equal(await f.gate.acquire(null, 0), 'admitted') // the origin's only slot is busy
    const refused = await f.app.inject({ method: 'GET', url: '/' })
    assert.equal(refused.statusCode, 503)
    assert.equal(refused.headers['retry-after'], '7')
    assert.equal(f.monitor.totals.refused, 1)
    assert.equal(f.monitor.totals.origin, 0, 'the refused request reached the origin')
    f.gate.release()
    const later = await f.app.inject({ method: 'GET', url: '/' })
    assert.equal(later.statusCode, 200)
  })

  it('a calm site over its uplink budget strikes at once when standbys are ready, and sends the visitor there instead of refusing it', async () => {
    let strikes = 0
    let refusals = 0
    const g = makeFront(
      origin,
      {},
      1_000,
      { microCache: false },
      {
        strikeNow: async () => {
          strikes++
          g.shedder.setHelpers([HELPER])
          return true
        },
        onRefused: () => {
          refusals++
        }
      }
    )
    try {
      await g.app.inject({ method: 'GET', url: '/' })
      g.shedder.setLocalBudget(1) // the uplink can take nothing more now
      g.shedder.admitLocal(1_000_000) // and its burst is spent
      const res = await g.app.inject({ method: 'GET', url: '/' })
      assert.equal(res.statusCode, 307)
      assert.equal(res.headers.location, 'http://alpha.mirror-b.localhost:9102/')
      assert.deepEqual([strikes, refusals], [1, 0])
    } finally {
      g.gate.close()
      await g.app.close()
      await g.originClient.close()
    }
    // Without standbys ready (strikeNow says no): 503 at once, as before.
    const h = makeFront(
      origin,
      {},
      1_000,
      { microCache: false },
      {
        strikeNow: async () => false,
        onRefused: () => {
          refusals++
        }
      }
    )
    try {
      await h.app.inject({ method: 'GET', url: '/' })
      h.shedder.setLocalBudget(1)
      h.shedder.admitLocal(1_000_000)
      const res = await h.app.inject({ method: 'GET', url: '/' })
      assert.equal(res.statusCode, 503)
      assert.equal(refusals, 1)
    } finally {
      h.gate.close()
      await h.app.close()
      await h.originClient.close()
    }
  })

  it("a visitor at a crowd's onset waits for help on its way: redirected once a helper is accepted, 503 when none comes in time or none can come", async () => {
    let mayCome = true
    let refusals = 0
    const g = makeFront(
      origin,
      {},
      1_000,
      { microCache: false },
      {
        strikeNow: async () => false,
        helpMayCome: () => mayCome,
        onRefused: () => {
          refusals++
        }
      },
      400
    )
    try {
      await g.app.inject({ method: 'GET', url: '/' })
      g.shedder.setLocalBudget(1) // the uplink can take nothing more now
      g.shedder.admitLocal(1_000_000)
      // A helper is accepted while the visitor waits: it is sent there.
      const waiting = g.app.inject({ method: 'GET', url: '/' })
      const deadline = Date.now() + 2_000
      while (g.shedder.waiting === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
      assert.equal(g.shedder.waiting, 1, 'the visitor waits for help')
      g.shedder.setHelpers([HELPER])
      const res = await waiting
      assert.equal(res.statusCode, 307)
      assert.equal(res.headers.location, 'http://alpha.mirror-b.localhost:9102/')
      assert.equal(g.shedder.waiting, 0)
      // No helper within the wait: 503 with Retry-After after it, not before.
      g.shedder.setHelpers([])
      const t0 = performance.now()
      const late = await g.app.inject({ method: 'GET', url: '/' })
      const waited = performance.now() - t0
      assert.equal(late.statusCode, 503)
      assert.equal(late.headers['retry-after'], '7')
      assert.ok(waited >= 350, `refused after ${waited.toFixed(0)} ms, before the wait ended`)
      // No member with spare capacity and no external mirror: 503 at once.
      mayCome = false
      const t1 = performance.now()
      const alone = await g.app.inject({ method: 'GET', url: '/' })
      assert.equal(alone.statusCode, 503)
      assert.ok(performance.now() - t1 < 300, 'a site no help can reach refuses at once')
      assert.equal(g.shedder.waiting, 0)
      assert.ok(refusals >= 2)
      // Operators see both: the waits and how they ended, and why visitors were refused.
      assert.deepEqual(g.monitor.helpWaits, { redirected: 1, kept: 0, refused: 1 })
      assert.deepEqual(g.monitor.refusedBy, { no_room: 0, no_helper: 2, origin_busy: 0 })
    } finally {
      g.gate.close()
      await g.app.close()
      await g.originClient.close()
    }
  })

  it('sends a visitor past the offers to a helper whose reports show room rather than refuse it; refuses when none has room or every helper is busy', async () => {
    let refusals = 0
    const g = makeFront(origin, {}, 1_000, { microCache: false }, { onRefused: () => refusals++ })
    try {
      await g.app.inject({ method: 'GET', url: '/' })
      g.shedder.setHelpers([HELPER])
      g.shedder.setRedirectBudget(1) // the helpers' offers carry nothing more now
      g.shedder.admit(1_000_000)
      g.shedder.setLocalBudget(1) // nor does the site's own uplink
      g.shedder.admitLocal(1_000_000)
      // The helper's reports show it sending near its uplink (saturation): no room past its offer.
      const full = await g.app.inject({ method: 'GET', url: '/' })
      assert.equal(full.statusCode, 503)
      assert.equal(refusals, 1)
      // Its reports show room (a crowd's onset: the offers lag the need).
      g.shedder.setRoomy(new Set([HELPER.peer]))
      const res = await g.app.inject({ method: 'GET', url: '/' })
      assert.equal(res.statusCode, 307)
      assert.equal(res.headers.location, 'http://alpha.mirror-b.localhost:9102/')
      assert.equal(refusals, 1)
      g.shedder.setBusy(new Set([HELPER.peer]))
      const refused = await g.app.inject({ method: 'GET', url: '/' })
      assert.equal(refused.statusCode, 503)
      assert.equal(refusals, 2)
    } finally {
      g.gate.close()
      await g.app.close()
      await g.originClient.close()
    }
  })

  it('diverts a request waiting for the origin to a helper once shedding starts', async () => {
    f.gate.close()
    await f.app.close()
    await f.originClient.close()
    f = makeFront(origin, { capacityRps: 1_000, maxConcurrent: 1, queueLimit: 10 }, 5_000)
    await f.app.inject({ method: 'GET', url: '/css/site.css' })
    // Hold the only origin slot, so the next request must wait in the queue.
    assert.equal(await f.gate.acquire(null, 0), 'admitted')
    const waiting = f.app.inject({ method: 'GET', url: '/css/site.css' })
    const deadline = Date.now() + 5_000
    while (f.gate.queued === 0 && Date.now() < deadline) await new Promise(resolve => setImmediate(resolve))
    assert.equal(f.gate.queued, 1)
    f.shedder.setHelpers([HELPER])
    assert.equal(
      f.gate.divert(tag => tag !== null && f.hotSet.isShareable(tag)),
      1
    )
    const res = await waiting
    assert.equal(res.statusCode, 307)
    f.gate.release()
  })

  describe('micro-cache (rung 1)', () => {
    async function fresh(ladderOn = true): Promise<void> {
      f.gate.close()
      await f.app.close()
      await f.originClient.close()
      f = makeFront(origin, {}, 1_000, { microCache: ladderOn })
    }

    it("answers repeated requests from the cache while engaged, with Age and the origin's headers", async () => {
      await fresh()
      // The first answer is fetched once from the origin into the cache (a cold object is coalesced too).
      const first = await f.app.inject({ method: 'GET', url: '/css/site.css' })
      assert.equal(first.headers['x-reef-cache'], 'MISS')
      assert.deepEqual(first.rawPayload, origin.files.get('/css/site.css')!.body)
      const before = origin.stats.total
      const again = await f.app.inject({ method: 'GET', url: '/css/site.css' })
      assert.equal(again.statusCode, 200)
      assert.equal(again.headers['x-reef-cache'], 'HIT')
      assert.deepEqual(again.rawPayload, origin.files.get('/css/site.css')!.body)
      assert.equal(again.headers['cache-control'], origin.files.get('/css/site.css')!.cacheControl)
      assert.ok(again.headers.age !== undefined)
      assert.equal(origin.stats.total, before, 'a fresh cached copy went to the origin again')
    })

    it('answers conditional requests from the cache: 304 without Content-Length for If-None-Match or If-Modified-Since', async () => {
      await fresh()
      const first = await f.app.inject({ method: 'GET', url: '/css/site.css' })
      const etag = String(first.headers.etag)
      const lastModified = String(first.headers['last-modified'])
      for (const headers of [{ 'if-none-match': etag }, { 'if-modified-since': lastModified }, { 'if-none-match': `"other", ${etag}` }]) {
        const res = await f.app.inject({ method: 'GET', url: '/css/site.css', headers })
        assert.equal(res.statusCode, 304, JSON.stringify(headers))
        assert.equal(res.headers['x-reef-cache'], 'HIT')
        assert.equal(res.headers['content-length'], undefined)
        assert.equal(res.rawPayload.byteLength, 0)
      }
      // If-None-Match wins over If-Modified-Since; an older date or another tag gets the body.
      for (const headers of [
        { 'if-none-match': '"other"', 'if-modified-since': lastModified },
        { 'if-modified-since': new Date(Date.parse(lastModified) - 60_000).toUTCString() }
      ]) {
        const res = await f.app.inject({ method: 'GET', url: '/css/site.css', headers })
        assert.equal(res.statusCode, 200, JSON.stringify(headers))
        assert.equal(res.headers['content-length'], String(origin.files.get('/css/site.css')!.body.byteLength))
      }
    })

    it('fetches an object once for any number of concurrent misses, even one the origin has not answered yet', async () => {
      await fresh()
      const before = origin.stats.total
      const all = await Promise.all(Array.from({ length: 30 }, async () => f.app.inject({ method: 'GET', url: '/js/app.js' })))
      assert.ok(all.every(r => r.statusCode === 200 && r.rawPayload.equals(origin.files.get('/js/app.js')!.body)))
      assert.equal(origin.stats.total - before, 1)
    })

    it('serves a stale copy within stale-while-revalidate at once and refreshes it in the background', async () => {
      await fresh()
      await f.app.inject({ method: 'GET', url: '/css/site.css' })
      const kept = f.cache.peek('alpha', '/css/site.css')!
      f.cache.put({ ...kept, headers: { ...kept.headers, 'cache-control': 'max-age=1, stale-while-revalidate=60' }, storedAt: Date.now() - 10_000 })
      const before = origin.stats.total
      const stale = await f.app.inject({ method: 'GET', url: '/css/site.css' })
      assert.equal(stale.headers['x-reef-cache'], 'STALE')
      const deadline = Date.now() + 5_000
      while (f.cache.peek('alpha', '/css/site.css')!.storedAt < Date.now() - 5_000 && Date.now() < deadline)
        await new Promise(resolve => setTimeout(resolve, 10))
      assert.ok(f.cache.peek('alpha', '/css/site.css')!.storedAt > Date.now() - 5_000, 'not revalidated')
      assert.equal(origin.stats.total - before, 1)
    })

    it('serves a stale copy when the origin cannot be reached, unless the origin forbade it; else a clear 503 with Retry-After', async () => {
      const dead = makeFront({ url: 'http://127.0.0.1:1' }, {}, 1_000, { microCache: true })
      try {
        const body = Buffer.from('cached copy')
        for (const p of ['/a.css', '/b.css', '/c.css', '/d.css']) dead.hotSet.learn(p, true)
        const base = { site: 'alpha', body, sha256: sha256Hex(body), storedAt: Date.now() - 10_000 }
        dead.cache.put({ ...base, path: '/a.css', headers: { 'content-type': 'text/css', 'cache-control': 'max-age=1, stale-if-error=600' } })
        dead.cache.put({ ...base, path: '/b.css', headers: { 'content-type': 'text/css', 'cache-control': 'max-age=1' } })
        dead.cache.put({ ...base, path: '/c.css', headers: { 'content-type': 'text/css', 'cache-control': 'max-age=1, must-revalidate' } })
        for (const p of ['/a.css', '/b.css']) {
          const r = await dead.app.inject({ method: 'GET', url: p })
          assert.equal(r.statusCode, 200, p)
          assert.equal(r.headers['x-reef-cache'], 'STALE', p)
          assert.deepEqual(r.rawPayload, body, p)
        }
        // Forbidden to go stale, never cached, or not cacheable at all: 503 with Retry-After, at once.
        for (const [method, p] of [
          ['GET', '/c.css'],
          ['GET', '/d.css'],
          ['POST', '/form']
        ] as const) {
          const started = Date.now()
          const r = await dead.app.inject({ method, url: p, ...(method === 'POST' ? { payload: 'x' } : {}) })
          assert.equal(r.statusCode, 503, `${method} ${p}`)
          assert.equal(r.headers['retry-after'], '7', `${method} ${p}`)
          assert.equal(r.headers['cache-control'], 'no-store')
          assert.ok(Date.now() - started < 2_000, `${method} ${p} took ${Date.now() - started} ms`)
        }
      } finally {
        dead.gate.close()
        await dead.app.close()
        await dead.originClient.close()
      }
    })

    it('does nothing while not engaged, and never caches private responses', async () => {
      await fresh(false)
      await f.app.inject({ method: 'GET', url: '/css/site.css' })
      const before = origin.stats.total
      const again = await f.app.inject({ method: 'GET', url: '/css/site.css' })
      assert.equal(again.headers['x-reef-cache'], undefined)
      assert.equal(origin.stats.total - before, 1)
      f.ladder.microCache = true
      for (let i = 0; i < 3; i++) {
        const acc = await f.app.inject({ method: 'GET', url: '/account' })
        assert.equal(acc.headers['x-reef-cache'], undefined)
        assert.ok(acc.headers['set-cookie'] !== undefined)
        assert.equal(f.cache.peek('alpha', '/account'), undefined)
      }
      // Once known to be private, a path goes straight to the origin: one request, one origin hit.
      const known = origin.stats.total
      await f.app.inject({ method: 'GET', url: '/account' })
      assert.equal(origin.stats.total - known, 1)
    })
  })

  it('keeps a large shareable body as soon as the origin has sent it, however slowly the visitor reads', async () => {
    const { big, bigOrigin, url } = await startBigOrigin()
    const g = makeFront({ url })
    const address = await g.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = new URL(address)
    // A visitor that asks and then reads nothing: the body can only go as far as socket buffers.
    const visitor = connect(Number(port), '127.0.0.1')
    visitor.pause()
    try {
      visitor.write('GET /big.bin HTTP/1.1\r\nHost: alpha\r\n\r\n')
      const deadline = Date.now() + 5_000
      while (g.cache.peek('alpha', '/big.bin') === undefined && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(g.cache.peek('alpha', '/big.bin')?.sha256, sha256Hex(big), 'not kept while the visitor is still reading')
      assert.equal(g.gate.inFlight, 0, "the origin's slot is held while the visitor reads")
    } finally {
      visitor.destroy()
      g.gate.close()
      await g.app.close()
      await g.originClient.close()
      await new Promise<void>(resolve => bigOrigin.close(() => resolve()))
    }
  })

  it('streams what would pass its buffering budget, and buffers again once the budget is given back', async () => {
    const { bigOrigin, url } = await startBigOrigin()
    const g = makeFront({ url })
    await g.app.close()
    const app = buildFront(
      { site: 'alpha', queueTimeoutMs: 1_000, retryAfterS: 7, maxBodyBytes: 1024, originTimeoutMs: 5_000, bufferedBodyBudgetBytes: 5 * 1024 * 1024 },
      { gate: g.gate, origin: g.originClient, cache: g.cache, hotSet: g.hotSet, shedder: g.shedder, monitor: g.monitor, log, ladder: g.ladder }
    )
    const port = Number(new URL(await app.listen({ port: 0, host: '127.0.0.1' })).port)
    // Visitors that ask and then read nothing.
    const ask = (path: string): ReturnType<typeof connect> => {
      const v = connect(port, '127.0.0.1')
      v.pause()
      v.write(`GET ${path} HTTP/1.1\r\nHost: alpha\r\n\r\n`)
      return v
    }
    const kept = async (path: string): Promise<boolean> => {
      const deadline = Date.now() + 5_000
      while (g.cache.peek('alpha', path) === undefined && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      return g.cache.peek('alpha', path) !== undefined
    }
    const visitors: Array<ReturnType<typeof connect>> = []
    try {
      visitors.push(ask('/a.bin'))
      assert.ok(await kept('/a.bin'), 'the first body is buffered and kept')
      // The second would pass the budget: it streams, at the pace of a visitor who reads nothing.
      visitors.push(ask('/b.bin'))
      const deadline = Date.now() + 5_000
      while (g.gate.inFlight === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
      assert.equal(g.gate.inFlight, 1, 'the second request reached the origin')
      // The first visitor leaves: its share of the budget comes back, and a third body is buffered.
      visitors[0]!.destroy()
      const connections = async (): Promise<number> =>
        new Promise<number>((resolve, reject) => app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
      const gone = Date.now() + 5_000
      while ((await connections()) > 1 && Date.now() < gone) await new Promise(resolve => setTimeout(resolve, 10))
      visitors.push(ask('/c.bin'))
      assert.ok(await kept('/c.bin'), 'the budget was not given back')
      assert.equal(g.cache.peek('alpha', '/b.bin'), undefined, 'the body over the budget was buffered')
    } finally {
      for (const v of visitors) v.destroy()
      g.gate.close()
      await app.close()
      await g.originClient.close()
      await new Promise<void>(resolve => bigOrigin.close(() => resolve()))
    }
  })

  it('passes X-Forwarded-Proto and -Host from a trusted TLS terminator to the origin, and replaces them from anyone else', async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = []
    const echo = createServer((req, res) => {
      seen.push(req.headers)
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('ok')
    })
    await new Promise<void>(resolve => echo.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(echo.address() as { port: number }).port}`
    const build = (trustedProxies: string[]): ReturnType<typeof makeFront> => {
      const g = makeFront({ url })
      void g.app.close()
      const app = buildFront(
        { site: 'alpha', queueTimeoutMs: 1_000, retryAfterS: 7, maxBodyBytes: 1024, originTimeoutMs: 5_000, trustedProxies },
        { gate: g.gate, origin: g.originClient, cache: g.cache, hotSet: g.hotSet, shedder: g.shedder, monitor: g.monitor, log, ladder: g.ladder }
      )
      return { ...g, app }
    }
    const trusting = build(['127.0.0.1'])
    const wary = build([])
    try {
      const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'alpha.example', 'x-forwarded-for': '198.51.100.7', host: 'internal:8000' }
      assert.equal((await trusting.app.inject({ method: 'GET', url: '/', headers, remoteAddress: '127.0.0.1' })).statusCode, 200)
      assert.equal(seen[0]!['x-forwarded-proto'], 'https')
      assert.equal(seen[0]!['x-forwarded-host'], 'alpha.example')
      assert.equal(seen[0]!['x-forwarded-for'], '198.51.100.7, 127.0.0.1')
      await wary.app.inject({ method: 'GET', url: '/', headers, remoteAddress: '127.0.0.1' })
      assert.equal(seen[1]!['x-forwarded-proto'], 'http')
      assert.equal(seen[1]!['x-forwarded-host'], 'internal:8000')
      // A trusted proxy cannot smuggle anything but http or https.
      await trusting.app.inject({ method: 'GET', url: '/', headers: { ...headers, 'x-forwarded-proto': 'javascript' }, remoteAddress: '127.0.0.1' })
      assert.equal(seen[2]!['x-forwarded-proto'], 'http')
    } finally {
      for (const x of [trusting, wary]) {
        x.gate.close()
        await x.app.close()
        await x.originClient.close()
      }
      await new Promise(resolve => echo.close(resolve))
    }
  })
})
