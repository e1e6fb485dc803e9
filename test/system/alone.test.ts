/**
 * A site alone (no consortium) rides out a crowd: while it lasts, what the origin cannot take
 * goes to the configured external mirror (rung 3), requests nothing else can take are answered
 * 503 with Retry-After (rung 4), and the origin never receives more than its capacity; after
 * the crowd the rungs are released. Redirects only ever point at the configured mirror.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { ReefNode, parseConfig } from '@reef/node'
import { freePort, loopbackDispatcher, runCrowd, startDemoOrigin } from '@reef/node/demo'
import type { CrowdReport, DemoOrigin } from '@reef/node/demo'
import { until } from './wait.ts'

const CAPACITY = 50

describe('a site alone with an external mirror', { timeout: 120_000 }, () => {
  let origin: DemoOrigin
  let node: ReefNode
  let ext: Server
  let extPort: number
  let dir: string
  let report: CrowdReport
  const posts: Array<{ status: number; retryAfter: string | undefined; location: string | undefined }> = []
  const spoofed: Array<string | undefined> = []
  const dispatcher = loopbackDispatcher()
  let siteUrl: string

  before(async () => {
    origin = await startDemoOrigin({ workers: 8, capacityRps: CAPACITY, seed: 5 })
    // The "external mirror": a host-routed cache of the site, like Coral's <host>.nyud.net.
    ext = createServer((req, res) => {
      const f = origin.files.get((req.url ?? '/').split('?')[0]!)
      if (f === undefined || f.private) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.byteLength }).end(f.body)
    })
    await new Promise<void>(resolve => ext.listen(0, '127.0.0.1', resolve))
    extPort = (ext.address() as { port: number }).port
    dir = await mkdtemp(join(tmpdir(), 'reef-alone-'))
    const front = await freePort()
    siteUrl = `http://127.0.0.1:${front}`
    node = await ReefNode.create(
      parseConfig({
        site: { label: 'solo', publicUrl: siteUrl },
        origin: { url: origin.url, capacityRps: CAPACITY, maxConcurrent: 8 },
        front: { listen: { host: '127.0.0.1', port: front }, queueTimeoutMs: 1_000 },
        mirror: { listen: { host: '127.0.0.1', port: await freePort() }, publicUrl: 'http://mirror-solo.localhost:1' },
        relief: { externalMirror: { template: `http://{host}.ext.localhost:${extPort}{path}` } },
        dataDir: dir,
        log: { level: 'error' }
      })
    )
    await node.start()
    await request(siteUrl + '/', { dispatcher }).then(async r => {
      await r.body.dump()
    })

    const expected = new Map([...origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    const ac = new AbortController()
    // Alongside the crowd: uploads (never shareable) and requests with a spoofed Host.
    const post = async (): Promise<void> => {
      const p = await request(`${siteUrl}/api/echo`, { method: 'POST', body: 'x'.repeat(100), headers: { 'content-type': 'text/plain' }, dispatcher }).catch(
        () => undefined
      )
      if (p === undefined) return
      await p.body.dump()
      posts.push({ status: p.statusCode, retryAfter: p.headers['retry-after'] as string | undefined, location: p.headers.location as string | undefined })
    }
    const side = (async () => {
      for (let i = 0; i < 400 && !ac.signal.aborted; i++) {
        // Mid-crowd, a burst of uploads far beyond the origin's capacity: nothing but the origin can take them.
        if (i === 10) await Promise.all(Array.from({ length: 200 }, post))
        const s = await request(`${siteUrl}/css/site.css`, { headers: { host: 'evil.example' }, dispatcher }).catch(() => undefined)
        if (s !== undefined) {
          await s.body.dump()
          spoofed.push(s.headers.location as string | undefined)
        }
        await post()
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    })()
    report = await runCrowd({
      siteUrl,
      pages: origin.pages,
      profile: { kind: 'step', rps: 10 * CAPACITY, durationMs: 8_000 },
      maxRequests: 6_000,
      maxDurationMs: 25_000,
      expected,
      dispatcher,
      seed: 9
    })
    ac.abort()
    await side
  })

  after(async () => {
    await node?.stop()
    await origin?.close()
    await new Promise(resolve => ext?.close(resolve))
    await dispatcher.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves the crowd through the external mirror, keeping the origin within capacity', () => {
    assert.ok(report.successRate >= 0.99, `success ${report.successRate} (${report.failed} failed of ${report.sent})`)
    // The site keeps what its uplink (12.5 MB/s by default) sends; the crowd asks about twice that.
    assert.ok(report.byServer.helper > 0.3 * report.sent, `the external mirror served ${report.byServer.helper} of ${report.sent}`)
    for (const r of report.results.filter(x => x.servedBy === 'helper')) {
      assert.ok(r.finalUrl.startsWith(`http://127.0.0.1.ext.localhost:${extPort}/`), `redirected to ${r.finalUrl}`)
    }
    const worst = Math.max(...origin.stats.perSecond().map(s => s.arrived))
    assert.ok(worst <= 1.1 * CAPACITY, `${worst} requests reached the origin in one second`)
  })

  it('answers what no rung can take with 503 and Retry-After, never with a redirect', () => {
    assert.ok(posts.length > 20)
    assert.ok(
      posts.every(p => p.status === 200 || p.status === 503),
      `statuses: ${[...new Set(posts.map(p => p.status))].join(', ')}`
    )
    assert.ok(posts.every(p => p.location === undefined))
    const refused = posts.filter(p => p.status === 503)
    assert.ok(refused.length > 0, `no upload was refused although the origin was full (${posts.length} uploads)`)
    assert.ok(refused.every(p => p.retryAfter !== undefined && Number(p.retryAfter) > 0))
  })

  it('never lets the Host header choose where clients are sent', () => {
    const locations = spoofed.filter((l): l is string => l !== undefined)
    assert.ok(locations.length > 0, 'no spoofed request was shed')
    for (const l of locations) assert.ok(l.startsWith(`http://127.0.0.1.ext.localhost:${extPort}/`), l)
  })

  it('engages the rungs in order as the crowd grows and releases them in reverse after it', async () => {
    const deadline = Date.now() + 15_000
    while ((node.detector.state !== 'normal' || node.shedder.active) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(node.detector.state, 'normal')
    assert.equal(node.shedder.active, false)
    const h = node.relief.history
    const on = (rung: string): number | undefined => h.find(e => e.rung === rung && e.engaged)?.at
    const off = (rung: string): number | undefined => h.findLast(e => e.rung === rung && !e.engaged)?.at
    const struck = node.detector.history.find(c => c.to === 'struck')!.at
    assert.ok(on('external-mirror')! >= struck, 'external mirror engaged before the site was struck')
    assert.ok(off('external-mirror') !== undefined, 'external mirror never released')
    assert.ok(on('helpers') === undefined, 'a site alone has no helpers')
    assert.ok(on('refusing')! > on('external-mirror')!, 'refused before the external mirror took what it could')
    assert.ok(off('refusing') !== undefined, 'still refusing after the crowd')
    // Rung 1 engaged first and is released last.
    assert.ok(on('micro-cache')! <= on('external-mirror')!, 'the micro-cache engaged after the external mirror')
    const released = Date.now() + 10_000
    while (node.relief.switches.microCache && Date.now() < released) await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(node.relief.switches.microCache, false, 'the micro-cache was never released')
    assert.ok(off('micro-cache')! >= off('external-mirror')!, 'the micro-cache was released before the external mirror')
    // A request now goes to the origin again.
    await until(
      'a request to reach the origin again',
      async () => {
        const res = await request(siteUrl + '/css/site.css', { dispatcher })
        await res.body.dump()
        return res.statusCode === 200
      },
      10_000,
      100
    )
  })

  it('shows on its traffic timeline what went to the external mirror, apart from peers, and what was refused', () => {
    const view = node.timeline.view()
    // Back from rates to counts over each point's own interval (the first one's is nominal).
    const sum = (k: 'shedPeers' | 'shedExternal' | 'refused'): number =>
      view.points.reduce((a, p, i) => a + (p[k] * (i === 0 ? view.intervalMs : p.t - view.points[i - 1]!.t)) / 1000, 0)
    assert.equal(view.capacityRps, CAPACITY)
    assert.equal(node.monitor.totals.shedExternal, node.monitor.totals.shed, 'a site alone sheds only to the external mirror')
    assert.equal(sum('shedPeers'), 0)
    const external = node.monitor.totals.shedExternal
    assert.ok(
      external > 0 && Math.abs(sum('shedExternal') - external) <= 0.01 * external + 1,
      `timeline ${sum('shedExternal')} vs ${external} redirects to the external mirror`
    )
    assert.ok(sum('refused') > 0)
  })
})
