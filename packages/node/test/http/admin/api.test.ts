/**
 * What an operator sees, on a real node in front of a demo origin: the OpenAPI document
 * describes every route registered on the admin app (so the document cannot drift silently),
 * `/metrics` is Prometheus text whose figures follow the traffic, and the operator token
 * guards the non-GET routes over real HTTP.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { parseConfig } from '../../../src/config/config.ts'
import { freePort } from '../../../demo/consortium.ts'
import { startDemoOrigin } from '../../../demo/origin-site.ts'
import type { DemoOrigin } from '../../../demo/origin-site.ts'
import { createNodeMetrics } from '../../../src/http/admin/metrics.ts'
import { documentedOperations, openApiDocument, registeredRoutes } from '../../../src/http/admin/openapi.ts'
import { ReefNode } from '../../../src/reef-node.ts'

const TOKEN = 'operator-token-for-tests-0123456789'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Parse the Prometheus text exposition format (0.0.4); throws on any line that is not valid. */
function parseProm(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline')
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta !== null) {
      if (meta[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3]!), line)
        assert.ok(!types.has(meta[2]!), `two TYPE lines for ${meta[2]!}`)
        types.set(meta[2]!, meta[3]!)
      }
      continue
    }
    // Values as Go's ParseFloat reads them (Prometheus' parser): NaN and Inf in any case.
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:[0-9.]+(?:e[+-]?[0-9]+)?)|[nN][aA][nN]|[+-]?[iI][nN][fF])(?: -?[0-9]+)?$/.exec(line)
    assert.ok(m !== null, `not a sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    const rest = (m[2] ?? '').replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)",?/g, (_, k: string, v: string) => {
      labels[k] = v
      return ''
    })
    assert.equal(rest, '', `bad labels in ${line}`)
    const family = [...types.keys()].find(f => m[1] === f || new RegExp(`^${f}_(bucket|sum|count)$`).test(m[1]!))
    assert.ok(family !== undefined, `sample ${m[1]!} has no TYPE line before it`)
    samples.push({ name: m[1]!, labels, value: /^[nN]/.test(m[3]!) ? NaN : Number(m[3]!.replace(/inf$/i, 'Infinity')) })
  }
  return { types, samples }
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find(s => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

describe('admin API of a running node', { timeout: 60_000 }, () => {
  let origin: DemoOrigin
  let node: ReefNode
  let dir: string
  let admin: string
  let front: string

  const scrape = async (): Promise<{ types: Map<string, string>; samples: Sample[] }> => {
    const res = await request(`${admin}/metrics`)
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
    return parseProm(await res.body.text())
  }

  before(async () => {
    origin = await startDemoOrigin({ workers: 4, capacityRps: 1_000, seed: 3 })
    dir = await mkdtemp(join(tmpdir(), 'reef-admin-'))
    const port = await freePort()
    node = await ReefNode.create(
      parseConfig({
        site: { label: 'alpha', publicUrl: `http://127.0.0.1:${port}` },
        origin: { url: origin.url, capacityRps: 1_000, maxConcurrent: 4 },
        front: { listen: { host: '127.0.0.1', port } },
        mirror: { listen: { host: '127.0.0.1', port: 0 }, publicUrl: 'http://mirror-alpha.localhost:1' },
        admin: { listen: { port: 0 }, token: TOKEN },
        dataDir: dir,
        log: { level: 'silent' }
      })
    )
    await node.start()
    admin = node.adminUrl!
    front = node.frontUrl
  })

  after(async () => {
    await node?.stop()
    await origin?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('generates an OpenAPI document that covers every route registered on the admin app', () => {
    const routes = registeredRoutes(node.admin!)
    for (const r of ['GET /api/status', 'GET /api/ledger/{peer}/records', 'GET /metrics', 'GET /api/openapi.json', 'POST /api/auth/check', 'GET /'])
      assert.ok(routes.includes(r), `${r} was not seen registered`)
    const documented = documentedOperations(openApiDocument(node.admin!))
    const missing = routes.filter(r => !documented.has(r))
    assert.deepEqual(missing, [], `admin routes missing from the generated OpenAPI document: ${missing.join(', ')}`)
    assert.deepEqual([...documented].sort(), [...new Set(routes)].sort(), 'the document describes the routes, no more')
  })

  it('serves a valid OpenAPI 3.1 document at /api/openapi.json', async () => {
    const res = await request(`${admin}/api/openapi.json`)
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^application\/json/)
    const doc = JSON.parse(await res.body.text()) as {
      openapi: string
      info: { title: string }
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; responses: object; security?: unknown[] }>>
    }
    assert.equal(doc.openapi, '3.1.0')
    assert.equal(typeof doc.info.title, 'string')
    assert.deepEqual(documentedOperations(doc), documentedOperations(openApiDocument(node.admin!)))
    // Every $ref resolves inside the document.
    const resolve = (pointer: string): unknown =>
      pointer
        .slice(2)
        .split('/')
        .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], doc)
    const walk = (o: unknown): void => {
      if (Array.isArray(o)) {
        o.forEach(walk)
        return
      }
      if (o === null || typeof o !== 'object') return
      for (const [k, v] of Object.entries(o)) {
        if (k === '$ref') {
          assert.ok(typeof v === 'string' && v.startsWith('#/') && resolve(v) !== undefined, `unresolved $ref ${String(v)}`)
        } else walk(v)
      }
    }
    walk(doc)
    for (const [path, item] of Object.entries(doc.paths)) {
      assert.ok(path.startsWith('/'), path)
      const params = [...path.matchAll(/\{([^}]+)\}/g)].map(m => m[1]!)
      for (const [method, op] of Object.entries(item)) {
        assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} has no responses`)
        const declared = (op.parameters ?? []).filter(p => p.in === 'path').map(p => p.name)
        assert.deepEqual(declared.sort(), [...params].sort(), `${method} ${path}: path parameters`)
        // Reading is open; every change needs the operator token.
        if (method === 'get') assert.equal(op.security, undefined, `GET ${path} must not need a token`)
        else assert.deepEqual(op.security, [{ bearer: [] }], `${method.toUpperCase()} ${path} must declare bearer security`)
      }
    }
  })

  it('guards non-GET routes with the operator token over HTTP', async () => {
    const without = await request(`${admin}/api/auth/check`, { method: 'POST' })
    assert.equal(without.statusCode, 401)
    assert.equal(((await without.body.json()) as { code: string }).code, 'ERR_UNAUTHORIZED')
    const withToken = await request(`${admin}/api/auth/check`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(withToken.statusCode, 200)
    assert.deepEqual(await withToken.body.json(), { ok: true })
    const status = await request(`${admin}/api/status`)
    assert.equal(status.statusCode, 200)
    await status.body.dump()
  })

  it('exposes Prometheus metrics whose values follow the traffic', async () => {
    const before = await scrape()
    for (const [name, type] of [
      ['reef_requests_total', 'counter'],
      ['reef_shed_ratio', 'gauge'],
      ['reef_cache_hits_total', 'counter'],
      ['reef_cache_misses_total', 'counter'],
      ['reef_cache_bytes', 'gauge'],
      ['reef_ledger_balance_bytes', 'gauge'],
      ['reef_peers', 'gauge'],
      ['reef_connections', 'gauge'],
      ['reef_crowd_state', 'gauge'],
      ['reef_gossip_rejected_total', 'counter'],
      ['reef_origin_in_flight', 'gauge'],
      ['reef_origin_queued', 'gauge'],
      ['reef_origin_latency_seconds', 'gauge'],
      ['reef_refused_total', 'counter'],
      ['reef_help_waits_total', 'counter']
    ] as const) {
      assert.equal(before.types.get(name), type, name)
    }
    for (const outcome of ['origin', 'shed_peer', 'shed_external', 'micro_cache', 'refused', 'error'])
      assert.equal(value(before.samples, 'reef_requests_total', { outcome }), 0, outcome)
    assert.equal(value(before.samples, 'reef_crowd_state', { state: 'normal' }), 1)
    assert.equal(value(before.samples, 'reef_crowd_state', { state: 'struck' }), 0)
    assert.equal(value(before.samples, 'reef_ledger_balance_bytes', { peer: node.peerId, site: 'alpha' }), 0)
    assert.equal(value(before.samples, 'reef_cache_bytes'), 0)

    const paths = ['/css/site.css', '/', '/css/site.css', '/account', '/no/such/page']
    for (const p of paths) {
      const res = await request(front + p)
      await res.body.dump()
    }
    const afterTraffic = await scrape()
    assert.equal(value(afterTraffic.samples, 'reef_front_requests_total'), paths.length)
    assert.equal(value(afterTraffic.samples, 'reef_requests_total', { outcome: 'origin' }), paths.length)
    assert.ok(value(afterTraffic.samples, 'reef_cache_bytes')! > 0, 'the shareable bodies were not counted in the cache')
    assert.ok(value(afterTraffic.samples, 'reef_cache_objects')! >= 2)
    assert.ok(value(afterTraffic.samples, 'reef_origin_latency_seconds')! > 0)

    // Redirects split by where they went (shed to a helper or to the external mirror).
    node.monitor.shedOne(100)
    node.monitor.shedOne(100, true)
    node.monitor.shedOne(100, true)
    const afterShed = await scrape()
    assert.equal(value(afterShed.samples, 'reef_requests_total', { outcome: 'shed_peer' }), 1)
    assert.equal(value(afterShed.samples, 'reef_requests_total', { outcome: 'shed_external' }), 2)

    // Refusals by why, and how visitors' waits for help ended.
    for (const reason of ['no_room', 'no_helper', 'origin_busy']) assert.equal(value(afterShed.samples, 'reef_refused_total', { reason }), 0, reason)
    node.monitor.refusedOne('no_helper')
    node.monitor.helpWaited('refused')
    node.monitor.helpWaited('redirected')
    node.monitor.helpWaited('redirected')
    const afterRefusal = await scrape()
    assert.equal(value(afterRefusal.samples, 'reef_refused_total', { reason: 'no_helper' }), 1)
    assert.equal(value(afterRefusal.samples, 'reef_requests_total', { outcome: 'refused' }), 1)
    assert.equal(value(afterRefusal.samples, 'reef_help_waits_total', { outcome: 'redirected' }), 2)
    assert.equal(value(afterRefusal.samples, 'reef_help_waits_total', { outcome: 'refused' }), 1)
    assert.equal(value(afterRefusal.samples, 'reef_help_waits_total', { outcome: 'kept' }), 0)
  })

  it("keeps each node's metrics in its own registry", async () => {
    const other = createNodeMetrics(node, { processMetrics: false })
    const text = await other.metrics()
    assert.match(text, /^reef_info\{peer="[^"]+",site="alpha",consortium="reef"\} 1$/m)
    assert.doesNotMatch(text, /^process_/m)
  })
})
