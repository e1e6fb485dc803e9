/**
 * Reef in front of a real web server, as docs/production.md sets it up: Debian's nginx serves a
 * static site on 127.0.0.1 (the origin) and, in a second server block, the same files as the
 * site's external mirror. Through the Reef front, pages are byte-identical with nginx's, HEAD and
 * conditional requests (304) pass through, a `Cache-Control: private` page is never shared, and a
 * crowd of 10× the origin's capacity is shed to the external mirror while nginx's own access log
 * shows the origin never got more than its capacity.
 *
 * nginx runs unprivileged-style from a temp prefix (`-p`, `-c`, `-e`; pid, logs and temp paths
 * inside it), in the foreground as this test's child, and is stopped with SIGQUIT.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { ReefNode, parseConfig } from '@reef/node'
import { freePort, loopbackDispatcher, runCrowd } from '@reef/node/demo'
import type { CrowdReport } from '@reef/node/demo'

const NGINX = process.env.REEF_NGINX ?? '/usr/sbin/nginx'
const CAPACITY = 50
const PRIVATE = '/private/account.html'

/** The site nginx serves: a few pages linking stylesheets, scripts, images and a download. */
function site(): Map<string, Buffer> {
  const page = (title: string, extra = ''): Buffer =>
    Buffer.from(`<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title>
<link rel="stylesheet" href="/css/site.css"><script src="/js/app.js"></script></head>
<body><h1>${title}</h1><img src="/img/logo.png" alt=""><img src="/img/photo.jpg" alt="">
<p><a href="/about.html">About</a> <a href="/files/report.pdf">The report</a></p>${extra}</body></html>
`)
  return new Map([
    ['/index.html', page('Home', '<p>' + 'Lorem ipsum dolor sit amet. '.repeat(200) + '</p>')],
    ['/about.html', page('About')],
    ['/css/site.css', Buffer.from('body { font-family: sans-serif; margin: 2em }\n'.repeat(40))],
    ['/js/app.js', Buffer.from('document.documentElement.dataset.ready = "yes"\n'.repeat(30))],
    ['/img/logo.png', randomBytes(3_000)],
    // Over 64 KiB: the front streams it instead of answering in one write.
    ['/img/photo.jpg', randomBytes(150_000)],
    ['/files/report.pdf', randomBytes(40_000)],
    [PRIVATE, Buffer.from('<!doctype html><p>Your account: a page for one reader only.</p>\n')]
  ])
}

function nginxConf(dir: string, originPort: number, mirrorPort: number): string {
  const asRoot = process.getuid?.() === 0
  return `# Written by test/system/nginx-origin.test.ts
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
${asRoot ? '# As root, workers would switch to nobody, who cannot read this 0700 temp dir.\nuser root;' : ''}
events { worker_connections 1024; }
http {
  types { text/html html; text/css css; application/javascript js; image/png png; image/jpeg jpg; application/pdf pdf; }
  default_type application/octet-stream;
  log_format timed '$msec $status $request_method $request_uri';
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  sendfile on;
  keepalive_timeout 30;
  keepalive_requests 100000;

  # The origin: the site, moved behind Reef.
  server {
    listen 127.0.0.1:${originPort};
    root ${dir}/html;
    access_log ${dir}/logs/origin.log timed;
    add_header Cache-Control "public, max-age=60";
    location /private/ {
      add_header Cache-Control "private";
    }
  }

  # The site's external mirror (a CDN or a static copy elsewhere in real life).
  server {
    listen 127.0.0.1:${mirrorPort};
    root ${dir}/html;
    access_log ${dir}/logs/mirror.log timed;
    location /private/ { return 404; }
  }
}
`
}

async function waitForHttp(url: string, child: ChildProcess, errors: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}:\n${await errors()}`)
    const ok = await request(url).then(
      async r => {
        await r.body.dump()
        return true
      },
      () => false
    )
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nginx did not answer at ${url} within 10 s:\n${await errors()}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

async function get(url: string, opts: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; dispatcher?: Dispatcher } = {}): Promise<Answer> {
  const res = await request(url, {
    method: opts.method ?? 'GET',
    headers: opts.headers ?? {},
    ...(opts.dispatcher !== undefined ? { dispatcher: opts.dispatcher } : {})
  })
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) }
}

const COMPARED = ['content-type', 'content-length', 'etag', 'last-modified', 'cache-control'] as const

describe('Reef in front of nginx', { timeout: 120_000 }, () => {
  const files = site()
  const pub = [...files.keys()].filter(p => p !== PRIVATE)
  let dir: string
  let nginx: ChildProcess | undefined
  let nginxStderr = ''
  let origin: string
  let mirror: string
  let node: ReefNode
  let front: string
  const dispatcher = loopbackDispatcher()

  before(async () => {
    if (!existsSync(NGINX)) {
      throw new Error(
        `${NGINX} not found: this test runs Debian's nginx as the origin. Install it with "apt-get install -y nginx" (.ci/run does), or set REEF_NGINX to an nginx binary.`
      )
    }
    dir = await mkdtemp(join(tmpdir(), 'reef-nginx-'))
    for (const d of ['logs', 'tmp', 'conf']) await mkdir(join(dir, d))
    for (const [path, body] of files) {
      const file = join(dir, 'html', path)
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, body)
    }
    const [originPort, mirrorPort] = [await freePort(), await freePort()]
    origin = `http://127.0.0.1:${originPort}`
    mirror = `http://127.0.0.1:${mirrorPort}`
    await writeFile(join(dir, 'conf', 'nginx.conf'), nginxConf(dir, originPort, mirrorPort))
    nginx = spawn(NGINX, ['-p', `${dir}/`, '-c', join(dir, 'conf', 'nginx.conf'), '-e', join(dir, 'logs', 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe']
    })
    nginx.stderr?.on('data', (d: Buffer) => {
      nginxStderr += d.toString()
    })
    const errors = async (): Promise<string> => nginxStderr + (await readFile(join(dir, 'logs', 'error.log'), 'utf8').catch(() => ''))
    await waitForHttp(`${origin}/index.html`, nginx, errors)
    await waitForHttp(`${mirror}/index.html`, nginx, errors)

    const frontPort = await freePort()
    front = `http://127.0.0.1:${frontPort}`
    node = await ReefNode.create(
      parseConfig({
        site: { label: 'shop', publicUrl: front },
        origin: { url: origin, capacityRps: CAPACITY, maxConcurrent: 8 },
        front: { listen: { host: '127.0.0.1', port: frontPort }, queueTimeoutMs: 1_000 },
        mirror: { listen: { host: '127.0.0.1', port: 0 }, publicUrl: 'http://mirror-shop.localhost:1' },
        admin: { listen: { host: '127.0.0.1', port: 0 } },
        relief: { externalMirror: { template: `${mirror}{path}` } },
        dataDir: join(dir, 'reef'),
        log: { level: 'error' }
      })
    )
    await node.start()
  })

  after(async () => {
    await node?.stop()
    if (nginx !== undefined && nginx.exitCode === null) {
      const exited = new Promise(resolve => nginx!.once('exit', resolve))
      nginx.kill('SIGQUIT')
      const timer = setTimeout(() => nginx!.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    await dispatcher.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('serves every file byte-identical with nginx, with the same status and headers', async () => {
    for (const path of [...files.keys(), '/', '/no/such/page.html']) {
      const direct = await get(origin + path)
      const via = await get(front + path)
      assert.equal(via.status, direct.status, path)
      assert.ok(via.body.equals(direct.body), `${path}: ${via.body.byteLength} bytes through the front, ${direct.body.byteLength} from nginx`)
      for (const h of COMPARED) assert.equal(via.headers[h], direct.headers[h], `${path}: ${h}`)
      if (files.has(path)) assert.ok(via.body.equals(files.get(path)!), path)
    }
  })

  it('answers HEAD like nginx: same headers, no body', async () => {
    for (const path of ['/index.html', '/img/photo.jpg', PRIVATE]) {
      const direct = await get(origin + path, { method: 'HEAD' })
      const via = await get(front + path, { method: 'HEAD' })
      assert.equal(via.status, 200, path)
      assert.equal(via.body.byteLength, 0, path)
      for (const h of COMPARED) assert.equal(via.headers[h], direct.headers[h], `${path}: ${h}`)
      assert.equal(via.headers['content-length'], String(files.get(path)!.byteLength))
    }
  })

  it('passes conditional requests through: 304 for a current ETag or date, 200 otherwise', async () => {
    for (const path of ['/css/site.css', '/img/photo.jpg', PRIVATE]) {
      const first = await get(origin + path)
      const etag = String(first.headers.etag)
      const lastModified = String(first.headers['last-modified'])
      const byTag = await get(front + path, { headers: { 'if-none-match': etag } })
      assert.equal(byTag.status, 304, `${path} If-None-Match`)
      assert.equal(byTag.body.byteLength, 0)
      assert.equal(byTag.headers.etag, etag)
      const byDate = await get(front + path, { headers: { 'if-modified-since': lastModified } })
      assert.equal(byDate.status, 304, `${path} If-Modified-Since`)
      const changed = await get(front + path, { headers: { 'if-none-match': '"not-the-current-one"' } })
      assert.equal(changed.status, 200, `${path} with a stale ETag`)
      assert.ok(changed.body.equals(files.get(path)!))
    }
  })

  it('never marks the Cache-Control: private page shareable, nor keeps it', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await get(front + PRIVATE)
      assert.equal(res.status, 200)
      assert.equal(res.headers['cache-control'], 'private')
    }
    assert.equal(node.hotSet.isShareable(PRIVATE), false)
    assert.equal(node.cache.peek('shop', PRIVATE), undefined)
    assert.equal(node.hotSet.isShareable('/css/site.css'), true, 'a public file was not learned as shareable')
  })

  describe("a crowd of 10× the origin's capacity", () => {
    let report: CrowdReport
    const privateStatuses: number[] = []
    let crowdStartS = 0

    before(async () => {
      // The tests above asked nginx directly too; only what reached it from here on went through Reef.
      crowdStartS = Date.now() / 1000
      const ac = new AbortController()
      // The private page, asked for all through the crowd: it may only ever come from nginx.
      const privateLoop = (async () => {
        for (let i = 0; i < 300 && !ac.signal.aborted; i++) {
          const res = await request(front + PRIVATE, { dispatcher }).catch(() => undefined)
          if (res !== undefined) {
            await res.body.dump()
            privateStatuses.push(res.statusCode)
          }
          await new Promise(resolve => setTimeout(resolve, 20))
        }
      })()
      report = await runCrowd({
        siteUrl: front,
        pages: ['/', '/index.html', '/about.html'],
        profile: { kind: 'step', rps: 10 * CAPACITY, durationMs: 5_000 },
        maxRequests: 3_000,
        maxDurationMs: 20_000,
        expected: new Map(pub.map(p => [p, files.get(p)!])),
        dispatcher,
        seed: 11
      })
      ac.abort()
      await privateLoop
    })

    it('serves the crowd, shedding to the external mirror with the right bytes', t => {
      t.diagnostic(
        `sent ${report.sent}, ok ${report.succeeded}, origin ${report.byServer.origin}, external mirror ${report.byServer.helper}, micro-cache ${node.monitor.totals.microCache}, refused ${node.monitor.totals.refused}`
      )
      assert.ok(report.sent >= 1_000, `the crowd sent only ${report.sent} requests`)
      assert.ok(report.successRate >= 0.98, `success ${report.successRate} (${report.failed} failed of ${report.sent})`)
      assert.ok(
        node.detector.history.some(c => c.to === 'struck'),
        'the site was never struck'
      )
      assert.ok(report.byServer.helper > 0.2 * report.sent, `the external mirror served ${report.byServer.helper} of ${report.sent}`)
      for (const r of report.results.filter(x => x.servedBy === 'helper')) assert.ok(r.finalUrl.startsWith(`${mirror}/`), r.finalUrl)
      assert.ok(node.monitor.totals.shedExternal > 0)
    })

    it("keeps what reaches nginx within the origin's capacity (from nginx's own access log)", async t => {
      const perSecond = new Map<number, number>()
      for (const line of (await readFile(join(dir, 'logs', 'origin.log'), 'utf8')).split('\n')) {
        const at = Number(line.split(' ')[0])
        if (Number.isFinite(at) && at >= crowdStartS) perSecond.set(Math.floor(at), (perSecond.get(Math.floor(at)) ?? 0) + 1)
      }
      assert.ok(perSecond.size >= 4, 'nginx logged no crowd')
      const worst = Math.max(...perSecond.values())
      t.diagnostic(`requests reaching nginx per second: ${[...perSecond.values()].join(' ')}`)
      assert.ok(worst <= 1.1 * CAPACITY, `${worst} requests reached nginx in one second (capacity ${CAPACITY})`)
      const mirrored = (await readFile(join(dir, 'logs', 'mirror.log'), 'utf8')).split('\n').filter(l => / 200 GET /.test(l)).length
      assert.ok(mirrored >= report.byServer.helper * 0.9, `nginx's mirror logged ${mirrored} answers for ${report.byServer.helper} shed requests`)
    })

    it('never redirects the private page', async () => {
      assert.ok(privateStatuses.length >= 20, `the private page was asked for only ${privateStatuses.length} times`)
      assert.ok(
        privateStatuses.every(s => s === 200 || s === 503),
        `statuses: ${[...new Set(privateStatuses)].join(', ')}`
      )
      assert.ok(privateStatuses.includes(200))
      assert.equal(node.cache.peek('shop', PRIVATE), undefined)
      assert.doesNotMatch(await readFile(join(dir, 'logs', 'mirror.log'), 'utf8'), /\/private\//, 'a client was sent to the mirror for the private page')
    })

    it('counts the shedding in /metrics', async () => {
      const text = await (await request(`${node.adminUrl!}/metrics`)).body.text()
      const shedExternal = Number(/^reef_requests_total\{outcome="shed_external"\} (\d+)$/m.exec(text)?.[1])
      assert.equal(shedExternal, node.monitor.totals.shedExternal)
      assert.ok(shedExternal > 0)
    })
  })
})
