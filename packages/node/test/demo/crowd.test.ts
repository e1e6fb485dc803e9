import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { loopbackDispatcher, runCrowd, seededRandom, ShardedAgent, zipfSampler } from '../../demo/crowd.ts'
import type { CrowdReport, RequestResult } from '../../demo/crowd.ts'
import { startDemoOrigin } from '../../demo/origin-site.ts'
import type { DemoOrigin } from '../../demo/origin-site.ts'

async function tinyServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void
): Promise<{ server: Server; port: number; url: string; close: () => Promise<void> }> {
  const server = createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

function expectedBodies(origin: DemoOrigin): Map<string, Buffer> {
  return new Map([...origin.files].map(([path, f]) => [path, f.body] as const))
}

function failures(report: CrowdReport): RequestResult[] {
  return report.results.filter(r => !r.ok)
}

describe('ShardedAgent', () => {
  test("takes requests in turn, keeps each shard's connections alive, and closes them all", async () => {
    const sockets = new Set<Socket>()
    let open = 0
    const srv = await tinyServer((_req, res) => res.end('ok'))
    srv.server.on('connection', socket => {
      sockets.add(socket)
      open++
      socket.once('close', () => open--)
    })
    const agent = new ShardedAgent({ keepAliveTimeout: 10_000 }, 3)
    try {
      for (let i = 0; i < 9; i++) {
        const res = await request(`${srv.url}/${i}`, { dispatcher: agent })
        assert.equal(await res.body.text(), 'ok')
      }
      // Nine requests one after another: three shards, one kept-alive connection each.
      assert.equal(sockets.size, 3)
      assert.equal(open, 3)
      // shard(i) names one of the same three: their kept-alive connections serve it.
      for (let i = 0; i < 6; i++) await (await request(`${srv.url}/s${i}`, { dispatcher: agent.shard(i) })).body.text()
      assert.equal(sockets.size, 3)
      assert.equal(agent.shard(4), agent.shard(1))
      assert.notEqual(agent.shard(1), agent.shard(2))
      await agent.close()
      const deadline = Date.now() + 2_000
      while (open > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
      assert.equal(open, 0)
    } finally {
      await agent.destroy()
      await srv.close()
    }
    assert.throws(() => new ShardedAgent({}, 0), RangeError)
  })
})

describe('seededRandom and zipfSampler', () => {
  test('seededRandom is deterministic and in [0, 1)', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const c = seededRandom(43)
    const xs = Array.from({ length: 1000 }, () => a())
    assert.deepEqual(
      xs,
      Array.from({ length: 1000 }, () => b())
    )
    assert.notDeepEqual(
      xs.slice(0, 10),
      Array.from({ length: 10 }, () => c())
    )
    for (const x of xs) assert.ok(x >= 0 && x < 1)
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`)
  })

  test('zipfSampler follows 1/(k+1)^s', () => {
    const n = 10
    const draws = 20_000
    const sample = zipfSampler(n, 1, seededRandom(1))
    const counts = Array.from({ length: n }, () => 0)
    for (let i = 0; i < draws; i++) {
      const k = sample()
      assert.ok(Number.isInteger(k) && k >= 0 && k < n)
      counts[k] = (counts[k] ?? 0) + 1
    }
    const h = Array.from({ length: n }, (_, k) => 1 / (k + 1)).reduce((s, x) => s + x, 0)
    for (let k = 0; k < n; k++) {
      const p = 1 / (k + 1) / h
      const got = (counts[k] ?? 0) / draws
      assert.ok(Math.abs(got - p) < 0.015, `k=${k}: ${got.toFixed(3)} vs ${p.toFixed(3)}`)
    }
    const uniform = zipfSampler(4, 0, seededRandom(2))
    const u = Array.from({ length: 4 }, () => 0)
    for (let i = 0; i < 8000; i++) {
      const k = uniform()
      u[k] = (u[k] ?? 0) + 1
    }
    for (const c of u) assert.ok(Math.abs(c / 8000 - 0.25) < 0.03)
    assert.equal(zipfSampler(1, 1, seededRandom(3))(), 0)
  })
})

describe('loopbackDispatcher', () => {
  let srv: Awaited<ReturnType<typeof tinyServer>>
  const seen: Array<{ host: string | undefined; remote: string | undefined }> = []
  let d: Dispatcher
  before(async () => {
    srv = await tinyServer((req, res) => {
      seen.push({ host: req.headers.host, remote: req.socket.remoteAddress })
      res.end('hi')
    })
    d = loopbackDispatcher({ connections: 4 })
  })
  after(async () => {
    await d.close()
    await srv.close()
  })

  test('resolves x.localhost, nested names and localhost to 127.0.0.1', async () => {
    for (const name of ['x.localhost', 'alpha.mirror-b.localhost', 'localhost', 'Upper.LocalHost', '127.0.0.1']) {
      const res = await request(`http://${name}:${srv.port}/`, { dispatcher: d })
      assert.equal(res.statusCode, 200, name)
      assert.equal(await res.body.text(), 'hi')
      const last = seen.at(-1)
      assert.equal(last?.host, `${name.toLowerCase()}:${srv.port}`)
      assert.ok(last?.remote === '127.0.0.1' || last?.remote === '::ffff:127.0.0.1', `${name} came from ${last?.remote}`)
    }
  })

  test('refuses other names and non-loopback addresses without touching the network', async () => {
    const before = seen.length
    for (const url of [
      'http://example.com/',
      'http://localhost.example.com/',
      'http://xlocalhost/',
      'http://10.0.0.1/',
      'http://8.8.8.8:53/',
      'http://[2001:db8::1]/'
    ]) {
      await assert.rejects(
        request(url, { dispatcher: d }),
        (err: NodeJS.ErrnoException) => {
          assert.equal(err.code, 'ERR_REEF_NOT_LOOPBACK', `${url}: ${err.message}`)
          return true
        },
        url
      )
    }
    await assert.rejects(request('https://x.localhost/', { dispatcher: d }), /only speaks plain http/)
    assert.equal(seen.length, before)
  })
})

describe('runCrowd against the demo origin', () => {
  let origin: DemoOrigin
  before(async () => {
    origin = await startDemoOrigin({ workers: 8, capacityRps: 2000, seed: 5 })
  })
  after(async () => {
    await origin.close()
  })

  test('low rate: every request succeeds, bytes verified, achieved rate tracks the profile', async () => {
    const seenResults: RequestResult[] = []
    const report = await runCrowd({
      siteUrl: origin.url,
      pages: origin.pages,
      profile: { kind: 'step', rps: 60, durationMs: 1500 },
      seed: 11,
      maxRequests: 1000,
      maxDurationMs: 5000,
      expected: expectedBodies(origin),
      onResult: r => seenResults.push(r)
    })
    assert.deepEqual(failures(report), [])
    assert.equal(report.successRate, 1)
    assert.equal(report.succeeded, report.sent)
    assert.equal(report.failed, 0)
    assert.equal(report.byServer.origin, report.sent)
    assert.equal(report.byServer.helper, 0)
    assert.equal(seenResults.length, report.sent)
    // 60 rps for 1.5 s = 90 requests; visits come in chunks of 5–9 requests.
    assert.ok(report.sent >= 72 && report.sent <= 110, `sent ${report.sent}`)
    assert.ok(report.visits.started >= 8, `visits ${report.visits.started}`)
    assert.equal(report.visits.loaded, report.pageLoadsMs.length)
    assert.equal(report.visits.loaded, report.visits.started)
    for (const ms of report.pageLoadsMs) assert.ok(ms > 0 && ms < 5000)
    const pageHits = report.results.filter(r => origin.pages.includes(r.path))
    assert.equal(pageHits.length, report.visits.started)
    assert.ok(report.results.some(r => r.path === '/css/site.css'))
    assert.ok(report.results.some(r => r.path.startsWith('/img/')))
    for (const r of report.results) {
      assert.equal(r.bytes, origin.files.get(r.path)?.body.length, r.path)
      assert.equal(r.redirects, 0)
      assert.equal(r.finalUrl, origin.url + r.path)
      assert.ok(r.end >= r.start)
    }
    // Zipf: '/' is the most requested page.
    const perPage = new Map<string, number>()
    for (const r of pageHits) perPage.set(r.path, (perPage.get(r.path) ?? 0) + 1)
    const top = [...perPage.entries()].sort((a, b) => b[1] - a[1])[0]
    assert.equal(top?.[0], '/')
    // Never fetches private pages or non-linked files.
    assert.ok(report.results.every(r => !r.path.startsWith('/account') && !r.path.startsWith('/private/')))
  })

  test("pace 'visits': the rate counts page loads started; every visit is reported", async () => {
    const report = await runCrowd({
      siteUrl: origin.url,
      pages: origin.pages,
      profile: { kind: 'step', rps: 20, durationMs: 1500 },
      pace: 'visits',
      seed: 3,
      maxRequests: 2000,
      maxDurationMs: 5000,
      expected: expectedBodies(origin)
    })
    // 20 visits/s for 1.5 s = 30 visits (each of several requests).
    assert.ok(report.visits.started >= 28 && report.visits.started <= 31, `visits ${report.visits.started}`)
    assert.ok(report.sent > report.visits.started * 3, `sent ${report.sent}`)
    assert.equal(report.visitResults.length, report.visits.started)
    for (const v of report.visitResults) {
      assert.ok(v.ok && v.complete, v.page)
      assert.ok(origin.pages.includes(v.page))
      assert.equal(v.finalUrl, origin.url + v.page)
      assert.ok(v.end >= v.start && v.requests >= 3 && v.bytes > 0)
    }
    const bytes = report.visitResults.reduce((a, v) => a + v.bytes, 0)
    const pageLoadBytes = report.results.filter(r => !r.path.startsWith('/files/')).reduce((a, r) => a + r.bytes, 0)
    assert.equal(bytes, pageLoadBytes)
  })

  test('about one visit in ten also fetches a linked download; other links are not followed', async () => {
    const report = await runCrowd({
      siteUrl: origin.url,
      pages: ['/about.html'], // links the brochure download
      profile: { kind: 'step', rps: 250, durationMs: 1000 },
      seed: 21,
      maxRequests: 400,
      maxDurationMs: 4000,
      expected: expectedBodies(origin)
    })
    assert.deepEqual(failures(report), [])
    const downloads = report.results.filter(r => r.path.startsWith('/files/'))
    assert.ok(report.visits.started >= 30, `visits ${report.visits.started}`)
    assert.ok(downloads.length >= 1 && downloads.length <= report.visits.started / 3, `${downloads.length} downloads`)
    for (const r of downloads) assert.equal(r.bytes, origin.files.get(r.path)?.body.length)
    const kinds = new Set(report.results.map(r => r.path.split('/')[1]))
    assert.deepEqual([...kinds].sort(), ['about.html', 'css', 'files', 'img', 'js'])
  })

  /** A short crowd of page loads of `/` against the origin, bodies checked against `expected`. */
  const smallCrowd = async (expected: Map<string, Buffer>): Promise<CrowdReport> =>
    runCrowd({ siteUrl: origin.url, pages: ['/'], profile: { kind: 'step', rps: 50, durationMs: 300 }, maxRequests: 40, maxDurationMs: 3000, expected })

  test('byte verification catches a wrong body', async () => {
    const expected = expectedBodies(origin)
    const css = Buffer.from(expected.get('/css/site.css') ?? Buffer.alloc(0))
    css[100] = (css[100] ?? 0) ^ 0xff
    expected.set('/css/site.css', css)
    const report = await smallCrowd(expected)
    const cssResults = report.results.filter(r => r.path === '/css/site.css')
    assert.ok(cssResults.length > 0)
    for (const r of cssResults) {
      assert.equal(r.ok, false)
      assert.equal(r.status, 200)
      assert.equal(r.servedBy, 'origin')
    }
    assert.ok(report.results.filter(r => r.path !== '/css/site.css').every(r => r.ok))
    assert.equal(report.visits.failed, report.visits.started)
    assert.deepEqual(report.pageLoadsMs, [])
  })

  test('byte verification catches a body cut short or running long', async () => {
    const expected = expectedBodies(origin)
    const css = expected.get('/css/site.css') ?? Buffer.alloc(0)
    const js = expected.get('/js/app.js') ?? Buffer.alloc(0)
    assert.ok(css.length > 1 && js.length > 1)
    expected.set('/css/site.css', Buffer.concat([css, Buffer.from('x')]))
    expected.set('/js/app.js', js.subarray(0, js.length - 1))
    const report = await smallCrowd(expected)
    const changed = report.results.filter(r => r.path === '/css/site.css' || r.path === '/js/app.js')
    assert.deepEqual(new Set(changed.map(r => r.path)), new Set(['/css/site.css', '/js/app.js']))
    for (const r of changed) assert.equal(r.ok, false, r.path)
    assert.ok(report.results.filter(r => r.path !== '/css/site.css' && r.path !== '/js/app.js').every(r => r.ok))
  })

  test('ramp and bursts profiles shape the request rate', async () => {
    const ramp = await runCrowd({
      siteUrl: origin.url,
      pages: origin.pages,
      profile: { kind: 'ramp', fromRps: 0, toRps: 200, durationMs: 1000 },
      maxRequests: 1000,
      maxDurationMs: 3000
    })
    assert.ok(ramp.sent >= 80 && ramp.sent <= 125, `ramp sent ${ramp.sent} (target 100)`)
    const t0 = Math.min(...ramp.results.map(r => r.start))
    const firstHalf = ramp.results.filter(r => r.start - t0 < 500).length
    const secondHalf = ramp.sent - firstHalf
    assert.ok(secondHalf > 1.8 * firstHalf, `ramp halves ${firstHalf} / ${secondHalf} (target 25 / 75)`)

    const bursts = await runCrowd({
      siteUrl: origin.url,
      pages: origin.pages,
      profile: { kind: 'bursts', rps: 150, burstMs: 300, gapMs: 600, count: 2 },
      maxRequests: 1000,
      maxDurationMs: 3000
    })
    assert.ok(bursts.sent >= 70 && bursts.sent <= 115, `bursts sent ${bursts.sent} (target 90)`)
    const b0 = Math.min(...bursts.results.map(r => r.start))
    const inGap = bursts.results.filter(r => r.start - b0 > 450 && r.start - b0 < 850).length
    assert.equal(inGap, 0, 'nothing starts in the middle of a gap')
    assert.ok(
      bursts.results.some(r => r.start - b0 >= 880),
      'the second burst happened'
    )
  })

  test('limits: maxRequests, maxDurationMs, abort signal and maxInFlight are honoured', async () => {
    const capped = await runCrowd({
      siteUrl: origin.url,
      pages: origin.pages,
      profile: { kind: 'step', rps: 5000, durationMs: 5000 },
      maxRequests: 50,
      maxDurationMs: 5000
    })
    assert.ok(capped.sent <= 50 && capped.sent >= 40, `sent ${capped.sent}`)

    const t = Date.now()
    const timed = await runCrowd({
      siteUrl: origin.url,
      pages: origin.pages,
      profile: { kind: 'step', rps: 50, durationMs: 60_000 },
      maxRequests: 100_000,
      maxDurationMs: 400
    })
    assert.ok(Date.now() - t < 2000, 'stopped soon after maxDurationMs')
    assert.ok(
      timed.results.every(r => r.start - t <= 450),
      'nothing started after maxDurationMs'
    )

    const ac = new AbortController()
    const t2 = Date.now()
    const aborted = runCrowd({
      siteUrl: origin.url,
      pages: origin.pages,
      profile: { kind: 'step', rps: 50, durationMs: 60_000 },
      maxRequests: 100_000,
      maxDurationMs: 60_000,
      signal: ac.signal,
      onResult: r => {
        if (r.ok) ac.abort()
      }
    })
    const abortedReport = await aborted
    assert.ok(Date.now() - t2 < 2000)
    assert.ok(abortedReport.sent >= 1 && abortedReport.sent <= 10, `sent ${abortedReport.sent}`)

    const tight = await runCrowd({
      siteUrl: origin.url,
      pages: ['/gallery.html'],
      profile: { kind: 'step', rps: 20, durationMs: 100 },
      maxRequests: 50,
      maxDurationMs: 3000,
      maxInFlight: 1
    })
    const overload = tight.results.filter(r => r.error === 'client-overload')
    assert.ok(overload.length > 0, 'subresources beyond maxInFlight fail fast')
    for (const r of overload) {
      assert.equal(r.ok, false)
      assert.equal(r.servedBy, 'error')
      assert.equal(r.status, 0)
    }
    assert.equal(tight.byServer.error, overload.length)
  })
})

describe('runCrowd with redirects and failures', () => {
  test('follows a 307 to a *.localhost mirror host and loads subresources from it', async () => {
    const mirror = await startDemoOrigin({ workers: 8, capacityRps: 2000, seed: 9 })
    const mirrorHosts: string[] = []
    const front = await tinyServer((req, res) => {
      res.writeHead(307, { location: `http://m.localhost:${mirror.port}${req.url ?? '/'}`, 'content-length': '0' })
      res.end()
    })
    let frontHits = 0
    front.server.on('request', () => frontHits++)
    const results: RequestResult[] = []
    try {
      const report = await runCrowd({
        siteUrl: front.url,
        pages: mirror.pages,
        profile: { kind: 'step', rps: 40, durationMs: 600 },
        maxRequests: 200,
        maxDurationMs: 4000,
        expected: expectedBodies(mirror),
        onResult: r => {
          results.push(r)
          mirrorHosts.push(new URL(r.finalUrl).host)
        }
      })
      assert.deepEqual(failures(report), [])
      assert.equal(report.byServer.helper, report.sent)
      assert.equal(report.byServer.origin, 0)
      assert.ok(report.visits.started >= 2)
      assert.equal(frontHits, report.visits.started, 'only page requests reached the front')
      for (const r of report.results) {
        assert.equal(new URL(r.finalUrl).host, `m.localhost:${mirror.port}`)
        const isPage = mirror.pages.includes(r.path)
        assert.equal(r.redirects, isPage ? 1 : 0, `${r.path} redirects`)
      }
      assert.ok(report.results.some(r => r.path.startsWith('/img/')))
      assert.equal(mirror.stats.total, report.sent, 'the mirror served every request')
      assert.equal(results.length, report.sent)
      assert.ok(mirrorHosts.every(h => h === `m.localhost:${mirror.port}`))
    } finally {
      await front.close()
      await mirror.close()
    }
  })

  test('redirect loops, 5xx, 404 and timeouts are classified', async () => {
    const srv = await tinyServer((req, res) => {
      const url = req.url ?? '/'
      if (url === '/loop') {
        res.writeHead(302, { location: '/loop', 'content-length': '0' })
        res.end()
      } else if (url === '/boom') {
        res.writeHead(500, { 'content-length': '4' })
        res.end('boom')
      } else if (url === '/missing') {
        res.writeHead(404, { 'content-length': '4' })
        res.end('nope')
      } else if (url === '/hang') {
        // never answers; the client's requestTimeoutMs must fire
      } else {
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': '2' })
        res.end('ok')
      }
    })
    try {
      const report = await runCrowd({
        siteUrl: srv.url,
        pages: ['/loop', '/boom', '/missing', '/hang'],
        zipfS: 0,
        seed: 4,
        profile: { kind: 'step', rps: 40, durationMs: 800 },
        maxRequests: 32,
        maxDurationMs: 2000,
        maxRedirects: 3,
        requestTimeoutMs: 300
      })
      const by = (path: string): RequestResult[] => report.results.filter(r => r.path === path)
      assert.ok(report.sent >= 8, `sent ${report.sent}`)
      assert.equal(report.succeeded, 0)
      for (const r of by('/loop')) {
        assert.equal(r.error, 'too-many-redirects')
        assert.equal(r.servedBy, 'error')
        assert.equal(r.redirects, 3)
      }
      for (const r of by('/boom')) {
        assert.equal(r.status, 500)
        assert.equal(r.servedBy, 'error')
      }
      for (const r of by('/missing')) {
        assert.equal(r.status, 404)
        assert.equal(r.ok, false)
        assert.equal(r.servedBy, 'origin')
      }
      for (const r of by('/hang')) {
        assert.equal(r.error, 'timeout')
        assert.equal(r.servedBy, 'error')
        assert.ok(r.end - r.start >= 280 && r.end - r.start < 1500, `timeout after ${r.end - r.start} ms`)
      }
      assert.ok(
        ['/loop', '/boom', '/missing', '/hang'].every(p => by(p).length > 0),
        'each page visited'
      )
      assert.equal(report.byServer.origin, by('/missing').length)
    } finally {
      await srv.close()
    }
  })
})
