/**
 * The mirror's HTTP behaviour (SPEC.md §HTTP behaviour, "Mirror") through fastify's inject, with
 * a real cache and load monitor; `fetch` (the libp2p fetch stream) is the stubbed boundary.
 */
import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { describe, test } from 'node:test'
import type { TestContext } from 'node:test'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import { Agent, request } from 'undici'
import type { Dispatcher } from 'undici'
import { MIRROR_ALIVE_PATH, MIRROR_PULSE_DURATION_MS, MIRROR_PULSE_MAX_MS, MIRROR_PULSE_MAX_STREAMS, MIRROR_PULSE_MIN_MS } from '@reef/protocol'
import { pickMirroredHeaders } from '../../src/origin/cacheability.ts'
import { ContentCache, sha256Hex } from '../../src/origin/content-cache.ts'
import type { CachedObject } from '../../src/origin/content-cache.ts'
import { FetchRefusedError, IntegrityError } from '../../src/errors.ts'
import type { HelpingSession } from '../../src/help/help-coordinator.ts'
import { LoadMonitor } from '../../src/load/monitor.ts'
import { buildMirror } from '../../src/http/mirror.ts'

const SELF_ID = '12D3KooWMirrorBSelfIdForTheseTestsxxxxxxxxxxxxxxxxxxx'
const HOST = 'alpha.mirror-b.localhost:9102'
const SITE_URL = 'http://alpha.example:8080/'

function session(site: string, extra: Partial<HelpingSession> = {}): HelpingSession {
  return {
    session: `sess-${site}-0001`,
    beneficiary: '12D3KooWBeneficiaryOfTheseTestsxxxxxxxxxxxxxxxxxxxxxx',
    site,
    siteUrl: SITE_URL,
    manifest: new Map(),
    helpers: [],
    offeredRps: 100,
    offeredBytesPerSec: 1_000_000,
    offerSentAt: 0,
    accepted: true,
    acceptedAt: 0,
    servedBaseline: { requests: 0, bytes: 0 },
    releasedAt: undefined,
    offeredAt: 0,
    ...extra
  }
}

function object(site: string, path: string, body: Buffer, headers: Record<string, string> = {}): CachedObject {
  return { site, path, headers, body, sha256: sha256Hex(body), storedAt: Date.now() }
}

/** Every byte value, so a text/encoding mix-up in the body path would show. */
const BINARY = Buffer.from(Array.from({ length: 3 * 256 }, (_, i) => i % 256))
const LOGO_HEADERS = {
  'content-type': 'image/png',
  'cache-control': 'public, max-age=600',
  etag: '"logo-v1"',
  'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT'
}

interface FetchCall {
  session: HelpingSession
  path: string
}

interface Harness {
  app: FastifyInstance
  cache: ContentCache
  monitor: LoadMonitor
  fetchCalls: FetchCall[]
  sessionLookups: string[]
  request: (opts: InjectOptions) => Promise<LightMyRequestResponse>
}

function harness(
  t: TestContext,
  sessions: Record<string, HelpingSession>,
  fetch?: (s: HelpingSession, path: string) => Promise<CachedObject>,
  awaitFreshSession?: (site: string) => Promise<HelpingSession | undefined>
): Harness {
  const cache = new ContentCache(16 * 1024 * 1024, 1024 * 1024)
  const monitor = new LoadMonitor()
  const fetchCalls: FetchCall[] = []
  const sessionLookups: string[] = []
  const app = buildMirror(
    { publicUrl: 'http://mirror-b.localhost:9102', selfId: SELF_ID },
    {
      cache,
      monitor,
      log: pino({ level: 'silent' }),
      sessionForSite: site => {
        sessionLookups.push(site)
        return sessions[site]
      },
      fetch: async (s, path) => {
        fetchCalls.push({ session: s, path })
        if (fetch === undefined) throw new Error('this test expected no fetch')
        return fetch(s, path)
      },
      ...(awaitFreshSession === undefined ? {} : { awaitFreshSession })
    }
  )
  t.after(() => app.close())
  const request = (opts: InjectOptions): Promise<LightMyRequestResponse> => app.inject({ ...opts, headers: { host: HOST, ...opts.headers } })
  return { app, cache, monitor, fetchCalls, sessionLookups, request }
}

describe('mirror: routing by Host', () => {
  test('a site is served under <site>.<mirror host>, with the port ignored', async t => {
    const h = harness(t, { alpha: session('alpha') })
    h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
    for (const host of ['alpha.mirror-b.localhost:9102', 'alpha.mirror-b.localhost', 'alpha.mirror-b.localhost:80', 'alpha.mirror-b.localhost:443']) {
      const res = await h.request({ method: 'GET', url: '/logo.png', headers: { host } })
      assert.equal(res.statusCode, 200, host)
      assert.deepEqual(res.rawPayload, BINARY, host)
    }
    assert.deepEqual(new Set(h.sessionLookups), new Set(['alpha']))
    assert.equal(h.fetchCalls.length, 0)
  })

  test('the Host header is case-insensitive', async t => {
    const h = harness(t, { alpha: session('alpha') })
    h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
    for (const host of ['ALPHA.MIRROR-B.LOCALHOST:9102', 'Alpha.Mirror-B.localhost']) {
      const res = await h.request({ method: 'GET', url: '/logo.png', headers: { host } })
      assert.equal(res.statusCode, 200, host)
      assert.deepEqual(res.rawPayload, BINARY, host)
    }
    assert.deepEqual(new Set(h.sessionLookups), new Set(['alpha']))
  })

  test('each label is its own site: the same path of two sites gives two objects', async t => {
    const h = harness(t, { alpha: session('alpha'), beta: session('beta', { siteUrl: 'http://beta.example/' }) })
    h.cache.put(object('alpha', '/index.html', Buffer.from('<h1>alpha</h1>'), { 'content-type': 'text/html' }))
    h.cache.put(object('beta', '/index.html', Buffer.from('<h1>beta</h1>'), { 'content-type': 'text/html' }))
    const a = await h.request({ method: 'GET', url: '/index.html' })
    const b = await h.request({ method: 'GET', url: '/index.html', headers: { host: 'beta.mirror-b.localhost:9102' } })
    assert.equal(a.statusCode, 200)
    assert.equal(a.body, '<h1>alpha</h1>')
    assert.equal(b.statusCode, 200)
    assert.equal(b.body, '<h1>beta</h1>')
  })

  for (const host of [
    'alpha.mirror-c.localhost:9102', // another mirror's parent domain
    'alpha.evil.example',
    'alpha.mirror-b.localhost.evil.example',
    'alphamirror-b.localhost:9102', // suffix without the dot
    'mirror-b.localhost:9102', // the mirror host itself has no site label
    'x.alpha.mirror-b.localhost:9102', // two labels
    '-alpha.mirror-b.localhost:9102', // invalid DNS labels
    'alpha-.mirror-b.localhost:9102',
    'al_pha.mirror-b.localhost:9102',
    `${'a'.repeat(64)}.mirror-b.localhost:9102`
  ]) {
    test(`Host ${host} → 404, no session looked up, nothing fetched`, async t => {
      const h = harness(t, { alpha: session('alpha'), 'x.alpha': session('alpha') })
      h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
      const res = await h.request({ method: 'GET', url: '/logo.png', headers: { host } })
      assert.equal(res.statusCode, 404)
      assert.equal(res.headers['x-reef-mirror'], undefined)
      assert.equal(res.headers.etag, undefined)
      assert.deepEqual(h.sessionLookups, [])
      assert.equal(h.fetchCalls.length, 0)
    })
  }
})

describe('mirror: serving cached objects', () => {
  test('GET serves the origin headers, Content-Length, X-Reef-Mirror and the exact bytes', async t => {
    const h = harness(t, { alpha: session('alpha') })
    h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
    const res = await h.request({ method: 'GET', url: '/logo.png' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'image/png')
    assert.equal(res.headers['cache-control'], 'public, max-age=600')
    assert.equal(res.headers.etag, '"logo-v1"')
    assert.equal(res.headers['last-modified'], 'Tue, 01 Sep 2026 10:00:00 GMT')
    assert.equal(res.headers['content-length'], String(BINARY.byteLength))
    assert.equal(res.headers['x-reef-mirror'], SELF_ID)
    assert.deepEqual(res.rawPayload, BINARY)
    assert.equal(h.monitor.totals.mirrorServed, 1)
    assert.equal(h.monitor.totals.mirrorMisses, 0)
    assert.equal(h.fetchCalls.length, 0)
  })

  test('the root path and a path with a query are objects of their own', async t => {
    const h = harness(t, { alpha: session('alpha') }, async () => {
      throw new FetchRefusedError(404, 'no such object')
    })
    h.cache.put(object('alpha', '/', Buffer.from('home'), { 'content-type': 'text/html' }))
    h.cache.put(object('alpha', '/search?q=reef', Buffer.from('results for reef'), { 'content-type': 'text/html' }))
    const root = await h.request({ method: 'GET', url: '/' })
    assert.equal(root.statusCode, 200)
    assert.equal(root.body, 'home')
    const q = await h.request({ method: 'GET', url: '/search?q=reef' })
    assert.equal(q.statusCode, 200)
    assert.equal(q.body, 'results for reef')
    const other = await h.request({ method: 'GET', url: '/search?q=coral' })
    assert.equal(other.statusCode, 404)
    assert.deepEqual(
      h.fetchCalls.map(c => c.path),
      ['/search?q=coral']
    )
  })

  test('HEAD gives the same headers and no body', async t => {
    const h = harness(t, { alpha: session('alpha') })
    h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
    const res = await h.request({ method: 'HEAD', url: '/logo.png' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-type'], 'image/png')
    assert.equal(res.headers.etag, '"logo-v1"')
    assert.equal(res.headers['content-length'], String(BINARY.byteLength))
    assert.equal(res.headers['x-reef-mirror'], SELF_ID)
    assert.equal(res.rawPayload.byteLength, 0)
    assert.equal(h.fetchCalls.length, 0)
  })

  test('If-None-Match with the ETag (alone or in a list) → 304 without a body; another tag → 200', async t => {
    const h = harness(t, { alpha: session('alpha') })
    h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
    for (const inm of ['"logo-v1"', '"logo-v0", "logo-v1"', '"a","logo-v1" ,"b"']) {
      const res = await h.request({ method: 'GET', url: '/logo.png', headers: { 'if-none-match': inm } })
      assert.equal(res.statusCode, 304, inm)
      assert.equal(res.rawPayload.byteLength, 0, inm)
      assert.equal(res.headers.etag, '"logo-v1"', inm)
      assert.equal(res.headers['x-reef-mirror'], SELF_ID, inm)
    }
    const stale = await h.request({ method: 'GET', url: '/logo.png', headers: { 'if-none-match': '"logo-v0"' } })
    assert.equal(stale.statusCode, 200)
    assert.deepEqual(stale.rawPayload, BINARY)
  })

  test('If-None-Match uses weak comparison and honours * (RFC 9110 §13.1.2)', async t => {
    const h = harness(t, { alpha: session('alpha') })
    h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
    for (const inm of ['W/"logo-v1"', '*']) {
      const res = await h.request({ method: 'GET', url: '/logo.png', headers: { 'if-none-match': inm } })
      assert.equal(res.statusCode, 304, inm)
      assert.equal(res.rawPayload.byteLength, 0, inm)
    }
  })

  test('no Set-Cookie ever leaves the mirror, from the cache or from a fetch', async t => {
    // What a misbehaving origin might send; the node keeps only pickMirroredHeaders' output.
    const originHeaders = {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'public, max-age=60',
      etag: '"home-1"',
      'set-cookie': ['sid=secret; HttpOnly', 'tracking=1'],
      'x-powered-by': 'origin-internals'
    }
    const picked = pickMirroredHeaders(originHeaders)
    const h = harness(t, { alpha: session('alpha') }, async (_s, path) => object('alpha', path, Buffer.from('fetched'), picked))
    h.cache.put(object('alpha', '/home.html', Buffer.from('<p>home</p>'), picked))
    const responses = [
      await h.request({ method: 'GET', url: '/home.html' }),
      await h.request({ method: 'HEAD', url: '/home.html' }),
      await h.request({ method: 'GET', url: '/home.html', headers: { 'if-none-match': '"home-1"' } }),
      await h.request({ method: 'GET', url: '/fresh.html' })
    ]
    assert.deepEqual(
      responses.map(r => r.statusCode),
      [200, 200, 304, 200]
    )
    for (const res of responses) {
      assert.equal(res.headers['set-cookie'], undefined)
      assert.equal(res.headers['x-powered-by'], undefined)
      assert.equal(res.headers['content-type'], 'text/html; charset=utf-8')
      assert.equal(res.headers.etag, '"home-1"')
    }
    assert.equal(responses[0]?.body, '<p>home</p>')
    assert.equal(responses[3]?.body, 'fetched')
  })
})

describe('mirror: methods', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'] as const) {
    test(`${method} → 405 with Allow: GET, HEAD, and nothing fetched or served`, async t => {
      const h = harness(t, { alpha: session('alpha') })
      h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
      for (const url of ['/logo.png', '/', '/not-cached']) {
        const res = await h.request({ method, url })
        assert.equal(res.statusCode, 405, `${method} ${url}`)
        assert.equal(res.headers.allow, 'GET, HEAD')
        assert.equal(res.headers.etag, undefined)
        assert.equal(res.rawPayload.byteLength, 0)
      }
      assert.equal(h.fetchCalls.length, 0)
      assert.equal(h.monitor.totals.mirrorServed, 0)
    })
  }

  test('a POSTed form or JSON body, and TRACE, also get 405 (SPEC: GET/HEAD only, 405 otherwise)', async t => {
    const h = harness(t, { alpha: session('alpha') })
    const cases: InjectOptions[] = [
      { method: 'POST', url: '/comment', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'text=hi' },
      { method: 'POST', url: '/api', headers: { 'content-type': 'application/json' }, payload: '{not json' },
      { method: 'TRACE', url: '/logo.png' }
    ]
    for (const c of cases) {
      const res = await h.request(c)
      assert.equal(res.statusCode, 405, `${c.method} ${c.url}`)
      assert.equal(res.headers.allow, 'GET, HEAD')
    }
  })
})

describe('mirror: misses and failures', () => {
  test('a miss calls fetch once with the session and path, serves what it returns and counts it', async t => {
    const s = session('alpha')
    const body = Buffer.from('body { color: teal }')
    const h = harness(t, { alpha: s }, async (_s, path) => object('alpha', path, body, { 'content-type': 'text/css', etag: '"css-7"' }))
    const res = await h.request({ method: 'GET', url: '/style.css?v=7' })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.rawPayload, body)
    assert.equal(res.headers['content-type'], 'text/css')
    assert.equal(res.headers.etag, '"css-7"')
    assert.equal(res.headers['content-length'], String(body.byteLength))
    assert.equal(res.headers['x-reef-mirror'], SELF_ID)
    assert.equal(h.fetchCalls.length, 1)
    assert.equal(h.fetchCalls[0]?.session, s)
    assert.equal(h.fetchCalls[0]?.path, '/style.css?v=7')
    assert.equal(h.monitor.totals.mirrorMisses, 1)
    assert.equal(h.monitor.totals.mirrorServed, 1)
    assert.equal(h.monitor.mirrorServed.get('alpha')?.sum(5_000), 1)
  })

  test('a HEAD miss fetches and answers headers only', async t => {
    const body = Buffer.alloc(5000, 7)
    const h = harness(t, { alpha: session('alpha') }, async (_s, path) => object('alpha', path, body, { 'content-type': 'application/octet-stream' }))
    const res = await h.request({ method: 'HEAD', url: '/blob.bin' })
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['content-length'], '5000')
    assert.equal(res.rawPayload.byteLength, 0)
    assert.equal(h.fetchCalls.length, 1)
  })

  test('a site this mirror does not help → 404, nothing fetched', async t => {
    const h = harness(t, { alpha: session('alpha') })
    h.cache.put(object('gamma', '/logo.png', BINARY, LOGO_HEADERS)) // left over from an ended session
    const res = await h.request({ method: 'GET', url: '/logo.png', headers: { host: 'gamma.mirror-b.localhost:9102' } })
    assert.equal(res.statusCode, 404)
    assert.equal(res.headers.etag, undefined)
    assert.deepEqual(h.sessionLookups, ['gamma'])
    assert.equal(h.fetchCalls.length, 0)
    assert.equal(h.monitor.totals.mirrorServed, 0)
  })

  test("a standby whose last session is released waits for the site's next one: the visitor is served in it, not bounced back", async t => {
    const fresh = session('alpha', { session: 'sess-alpha-0002' })
    let asked = 0
    const h = harness(
      t,
      { alpha: session('alpha', { releasedAt: Date.now() }) },
      async (_s, path) => object('alpha', path, BINARY, LOGO_HEADERS),
      async () => {
        asked++
        return fresh
      }
    )
    const res = await h.request({ method: 'GET', url: '/photos/3.jpg' })
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.rawPayload, BINARY)
    assert.equal(asked, 1)
    assert.equal(h.fetchCalls[0]?.session.session, 'sess-alpha-0002', 'filled in the new session')
    // No new session within the wait: back to the site, as before.
    const none = harness(t, { alpha: session('alpha', { releasedAt: Date.now() }) }, undefined, async () => undefined)
    const back = await none.request({ method: 'GET', url: '/photos/3.jpg' })
    assert.equal(back.statusCode, 307)
    assert.equal(none.fetchCalls.length, 0)
  })

  test('a released session serves what is cached and sends the rest back to the site with 307', async t => {
    const h = harness(t, {
      alpha: session('alpha', { releasedAt: Date.now() }),
      beta: session('beta', { releasedAt: Date.now(), siteUrl: 'https://beta.example' })
    })
    h.cache.put(object('alpha', '/logo.png', BINARY, LOGO_HEADERS))
    const hit = await h.request({ method: 'GET', url: '/logo.png' })
    assert.equal(hit.statusCode, 200)
    assert.deepEqual(hit.rawPayload, BINARY)

    const miss = await h.request({ method: 'GET', url: '/photos/2.jpg?size=large' })
    assert.equal(miss.statusCode, 307)
    assert.equal(miss.headers.location, 'http://alpha.example:8080/photos/2.jpg?size=large')
    assert.equal(miss.headers['cache-control'], 'no-store')

    const noSlash = await h.request({ method: 'HEAD', url: '/a', headers: { host: 'beta.mirror-b.localhost' } })
    assert.equal(noSlash.statusCode, 307)
    assert.equal(noSlash.headers.location, 'https://beta.example/a')

    // A site URL in another spelling of the base URL grammar: the Location uses its canonical form.
    const h2 = harness(t, { gamma: session('gamma', { releasedAt: Date.now(), siteUrl: 'HTTPS://Gamma.Example:443/' }) })
    const spelled = await h2.request({ method: 'GET', url: '/b', headers: { host: 'gamma.mirror-b.localhost' } })
    assert.equal(spelled.statusCode, 307)
    assert.equal(spelled.headers.location, 'https://gamma.example/b')

    assert.equal(h.fetchCalls.length, 0)
    assert.equal(h.monitor.totals.mirrorMisses, 0)
  })

  test('an object that fails verification → 503 with Retry-After, never served, counted', async t => {
    const bad = Buffer.from('TAMPERED-BYTES-FROM-A-LYING-BENEFICIARY')
    // The beneficiary sent `bad`; the verifying fetch refuses it.
    const h = harness(t, { alpha: session('alpha') }, async () => {
      throw new IntegrityError("object /app.js does not match the manifest's sha256")
    })
    for (let i = 1; i <= 2; i++) {
      const res = await h.request({ method: 'GET', url: '/app.js' })
      assert.equal(res.statusCode, 503)
      assert.ok(Number(res.headers['retry-after']) > 0)
      assert.equal(res.headers['cache-control'], 'no-store')
      assert.equal(res.headers['x-reef-mirror'], undefined)
      assert.equal(res.rawPayload.includes(bad), false)
      assert.equal(h.monitor.totals.integrityFailures, i)
      assert.equal(h.fetchCalls.length, i) // nothing was kept: the next request tries again
    }
    assert.equal(h.cache.peek('alpha', '/app.js'), undefined)
    assert.equal(h.monitor.totals.mirrorServed, 0)
  })

  test('any other fetch failure → 503 with Retry-After, not counted as an integrity failure', async t => {
    const h = harness(t, { alpha: session('alpha') }, async () => {
      throw new Error('stream reset')
    })
    const res = await h.request({ method: 'GET', url: '/app.js' })
    assert.equal(res.statusCode, 503)
    assert.ok(Number(res.headers['retry-after']) > 0)
    assert.equal(h.monitor.totals.integrityFailures, 0)
    assert.equal(h.monitor.totals.mirrorMisses, 1)
  })

  for (const status of [404, 410] as const) {
    test(`the beneficiary answering ${status} → ${status}`, async t => {
      const h = harness(t, { alpha: session('alpha') }, async () => {
        throw new FetchRefusedError(status, 'gone')
      })
      const res = await h.request({ method: 'GET', url: '/old-post.html' })
      assert.equal(res.statusCode, status)
      assert.equal(res.headers.location, undefined)
      assert.equal(h.fetchCalls.length, 1)
    })
  }

  test('the beneficiary answering 503 (origin at capacity) → 503 with Retry-After', async t => {
    const h = harness(t, { alpha: session('alpha') }, async () => {
      throw new FetchRefusedError(503, 'origin is at capacity')
    })
    const res = await h.request({ method: 'GET', url: '/page.html' })
    assert.equal(res.statusCode, 503)
    assert.ok(Number(res.headers['retry-after']) > 0)
  })

  test('an object the origin calls unshareable (403) → 307 back to the site', async t => {
    const h = harness(t, { alpha: session('alpha') }, async () => {
      throw new FetchRefusedError(403, 'not shareable')
    })
    const res = await h.request({ method: 'GET', url: '/account?tab=1' })
    assert.equal(res.statusCode, 307)
    assert.equal(res.headers.location, 'http://alpha.example:8080/account?tab=1')
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(h.monitor.totals.integrityFailures, 0)
  })

  for (const url of ['//evil.example/x', '//evil.example', '///evil.example/x']) {
    test(`path ${JSON.stringify(url)} → 404, never fetched and never redirected`, async t => {
      const h = harness(t, { alpha: session('alpha'), beta: session('beta', { releasedAt: Date.now() }) }, async (_s, path) =>
        object('alpha', path, Buffer.from('x'))
      )
      for (const host of [HOST, 'beta.mirror-b.localhost:9102']) {
        const res = await h.app.inject({ method: 'GET', url, headers: { host } })
        assert.equal(res.statusCode, 404, `${host} ${url}`)
        assert.equal(res.headers.location, undefined)
      }
      assert.equal(h.fetchCalls.length, 0)
    })
  }
})

describe('mirror: liveness and pulse (SPEC §Help session, failing fast)', () => {
  /** The mirror listening on loopback, as beneficiaries reach it. */
  async function listening(t: TestContext): Promise<{ base: string; app: FastifyInstance }> {
    const h = harness(t, {})
    await h.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = h.app.server.address() as AddressInfo
    return { base: `http://127.0.0.1:${port}`, app: h.app }
  }

  test('HEAD and GET of the alive path answer 204 on any host name, and name the mirror', async t => {
    const h = harness(t, {})
    for (const method of ['HEAD', 'GET'] as const)
      for (const host of [HOST, 'anything.example']) {
        const res = await h.request({ method, url: MIRROR_ALIVE_PATH, headers: { host } })
        assert.equal(res.statusCode, 204, `${method} ${host}`)
        assert.equal(res.headers['x-reef-mirror'], SELF_ID)
        assert.equal(res.headers['cache-control'], 'no-store')
      }
    // A pulse is asked with GET only; HEAD with the parameter is a plain probe.
    const head = await h.request({ method: 'HEAD', url: `${MIRROR_ALIVE_PATH}?pulse=20` })
    assert.equal(head.statusCode, 204)
  })

  for (const value of ['5', '1001', 'abc', '20.5', '', '-20', '99999999']) {
    test(`pulse=${JSON.stringify(value)} → 400 naming the parameter and its range`, async t => {
      const h = harness(t, {})
      const res = await h.request({ method: 'GET', url: `${MIRROR_ALIVE_PATH}?pulse=${encodeURIComponent(value)}` })
      assert.equal(res.statusCode, 400)
      assert.match(res.body, new RegExp(`pulse: .*${MIRROR_PULSE_MIN_MS} to ${MIRROR_PULSE_MAX_MS}`))
    })
  }

  test('a pulse beats at the interval asked until the client leaves; past the limit of open pulses the answer is a plain 204', async t => {
    const { base } = await listening(t)
    const agent = new Agent({ connections: MIRROR_PULSE_MAX_STREAMS + 1 })
    t.after(() => agent.destroy())
    const open = async (): Promise<{ status: number; pulse: string | undefined; body: Dispatcher.ResponseData['body']; ctrl: AbortController }> => {
      const ctrl = new AbortController()
      const res = await request(`${base}${MIRROR_ALIVE_PATH}?pulse=20`, { dispatcher: agent, signal: ctrl.signal })
      return { status: res.statusCode, pulse: res.headers['x-reef-pulse'] as string | undefined, body: res.body, ctrl }
    }
    const first = await open()
    assert.equal(first.status, 200)
    assert.equal(first.pulse, '20')
    // Beats keep coming: read until five have arrived (each chunk holds at least one), keeping it open.
    const beatsOf = first.body[Symbol.asyncIterator]()
    let beats = 0
    while (beats < 5) {
      const next = await beatsOf.next()
      assert.equal(next.done, false, 'the pulse ended early')
      beats += (next.value as Buffer).byteLength
    }
    const rest = []
    for (let i = 1; i < MIRROR_PULSE_MAX_STREAMS; i++) rest.push(await open())
    assert.ok(rest.every(r => r.status === 200))
    const over = await open()
    assert.equal(over.status, 204, 'past the limit: alive, no pulse')
    assert.equal(over.pulse, undefined)
    await over.body.dump()
    // A client that leaves frees its place.
    first.ctrl.abort()
    const deadline = Date.now() + 5_000
    let again = await open()
    while (again.status !== 200) {
      assert.ok(Date.now() < deadline, 'a place was never freed')
      await again.body.dump()
      await new Promise(resolve => setTimeout(resolve, 20))
      again = await open()
    }
    for (const r of [...rest, again]) r.ctrl.abort()
  })

  test('closing the mirror ends its pulses at once', async t => {
    const { base, app } = await listening(t)
    const res = await request(`${base}${MIRROR_ALIVE_PATH}?pulse=50`)
    assert.equal(res.statusCode, 200)
    const ended = (async () => {
      for await (const _ of res.body);
    })()
    const started = Date.now()
    await app.close()
    await ended
    assert.ok(Date.now() - started < MIRROR_PULSE_DURATION_MS / 2, 'close waited for the pulse to run out')
  })
})
