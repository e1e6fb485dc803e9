/**
 * Microbenchmarks against nginx on the same machine, in one run (nginx must be installed:
 * apt-get install nginx). Each figure is requests/s from a separate load-generator process
 * (load.ts, 32 connections × 8 pipelined) for --ms, Reef and nginx alternating, best of --runs;
 * reported with its ratio to nginx doing the same job:
 *   - the redirect fast path (front answering 307 to a helper / nginx `return 307`);
 *   - a mirror cache hit for 2 KiB, 50 KiB and 1 MiB objects (mirror from memory / nginx static files);
 *   - pass-through of a cacheable and of a non-cacheable request to a fast origin (front with
 *     the micro-cache off / nginx proxy_pass without cache).
 *
 *   pnpm bench micro [--ms 2000] [--runs 2]
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { ContentCache, sha256Hex } from '../src/origin/content-cache.ts'
import { freePort } from '../demo/consortium.ts'
import { buildFront } from '../src/http/front.ts'
import { HotSet } from '../src/origin/hot-set.ts'
import { LoadMonitor } from '../src/load/monitor.ts'
import { buildMirror } from '../src/http/mirror.ts'
import { OriginClient } from '../src/origin/client.ts'
import { OriginGate } from '../src/origin/gate.ts'
import { Shedder } from '../src/load/shedder.ts'
import { nginxInstalled, startNginx } from './nginx.ts'

/** Run the microbenchmarks; returns the Markdown table. */
export async function runMicro({ ms, runs }: { ms: number; runs: number }): Promise<string> {
  const LOAD = fileURLToPath(new URL('./load.ts', import.meta.url))
  const log = pino({ level: 'silent' })
  const sizes = { '2k': 2 * 1024, '50k': 50 * 1024, '1m': 1024 * 1024 } as const
  const bodies = Object.fromEntries(Object.entries(sizes).map(([k, n]) => [k, randomBytes(n)])) as Record<keyof typeof sizes, Buffer>

  // A fast origin: cacheable and private variants of a 2 KiB body.
  const origin = createServer((req, res) => {
    const priv = req.url?.startsWith('/p/') === true
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': bodies['2k'].byteLength,
      ...(priv ? { 'set-cookie': 'session=1', 'cache-control': 'private' } : { 'cache-control': 'public, max-age=60' })
    })
    res.end(bodies['2k'])
  })
  await new Promise<void>(resolve => origin.listen(0, '127.0.0.1', resolve))
  const originUrl = `http://127.0.0.1:${(origin.address() as { port: number }).port}`

  // Reef: a front with one helper and share 1 (every known shareable path is redirected) for the
  // redirect path; a second front without helpers for pass-through; a mirror holding the objects.
  function front(withHelper: boolean): ReturnType<typeof buildFront> {
    const monitor = new LoadMonitor()
    const cache = new ContentCache(256 * 1024 * 1024, 8 * 1024 * 1024)
    const hotSet = new HotSet()
    const shedder = new Shedder()
    const gate = new OriginGate<string | null>({ capacityRps: 1_000_000, maxConcurrent: 256, queueLimit: 10_000 })
    const originClient = new OriginClient({ url: originUrl, site: 'alpha', maxConcurrent: 256, timeoutMs: 5_000 }, gate, cache, hotSet, monitor, log)
    if (withHelper) {
      hotSet.learn('/c/2k', true)
      shedder.setHelpers([
        {
          peer: '12D3KooWBenchHelper',
          weightRps: 100,
          weightBytesPerSec: 1_000_000,
          mirrorUrl: 'http://mirror-b.localhost:9102',
          siteBase: 'http://alpha.mirror-b.localhost:9102'
        }
      ])
      shedder.share = 1
    }
    return buildFront(
      { site: 'alpha', queueTimeoutMs: 1_000, retryAfterS: 5, maxBodyBytes: 1024 * 1024, originTimeoutMs: 5_000 },
      { gate, origin: originClient, cache, hotSet, shedder, monitor, log }
    )
  }
  const redirector = front(true)
  const proxy = front(false)
  const mirrorCache = new ContentCache(256 * 1024 * 1024, 8 * 1024 * 1024)
  for (const [k, body] of Object.entries(bodies)) {
    mirrorCache.put({
      site: 'alpha',
      path: `/f/${k}`,
      headers: { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=60' },
      body,
      sha256: sha256Hex(body),
      storedAt: Date.now()
    })
  }
  const session = {
    session: 'bench-session',
    beneficiary: '12D3KooWBenchBeneficiary',
    site: 'alpha',
    siteUrl: originUrl,
    manifest: new Map(),
    helpers: [],
    offeredRps: 100,
    offeredBytesPerSec: 1_000_000,
    offerSentAt: 0,
    accepted: true,
    releasedAt: undefined,
    offeredAt: 0,
    acceptedAt: 0,
    servedBaseline: { requests: 0, bytes: 0 }
  }
  const mirror = buildMirror(
    { publicUrl: 'http://mirror-b.localhost:9102', selfId: '12D3KooWBenchHelper' },
    {
      cache: mirrorCache,
      monitor: new LoadMonitor(),
      log,
      sessionForSite: site => (site === 'alpha' ? session : undefined),
      fetch: async () => {
        throw new Error('miss')
      }
    }
  )
  const [redirectorPort, proxyPort, mirrorPort] = [await freePort(), await freePort(), await freePort()]
  await redirector.listen({ host: '127.0.0.1', port: redirectorPort })
  await proxy.listen({ host: '127.0.0.1', port: proxyPort })
  await mirror.listen({ host: '127.0.0.1', port: mirrorPort })

  // nginx doing the same jobs.
  const nginx = await startNginx(async dir => {
    await mkdir(join(dir, 'static', 'f'), { recursive: true })
    for (const [k, body] of Object.entries(bodies)) await writeFile(join(dir, 'static', 'f', k), body)
    return {
      http: `upstream origin { server ${new URL(originUrl).host}; keepalive 64; }`,
      locations: `location = /redirect { return 307 http://alpha.mirror-b.localhost:9102/c/2k; }
    location /f/ { root ${dir}/static; }
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }`
    }
  }, '/f/2k')
  const nginxUrl = nginx.url

  async function load(url: string, expect: number, host?: string): Promise<number> {
    const args = [LOAD, url, '--ms', String(ms), '--expect', String(expect), ...(host === undefined ? [] : ['--host', host])]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', d => {
      out += String(d)
    })
    await new Promise(resolve => child.once('exit', resolve))
    const r = JSON.parse(out) as { rps: number; errors: number }
    if (r.errors > 0) process.stderr.write(`bench micro: ${r.errors} unexpected answers from ${url}\n`)
    return r.rps
  }

  async function pair(reef: () => Promise<number>, nx: () => Promise<number>): Promise<[number, number]> {
    let best: [number, number] = [0, 0]
    for (let i = 0; i < runs; i++) best = [Math.max(best[0], await reef()), Math.max(best[1], await nx())]
    return best
  }

  const rows: Array<[string, number, number]> = []
  try {
    const r = (u: string): string => `http://127.0.0.1:${u}`
    rows.push([
      'redirect fast path (307 to a helper)',
      ...(await pair(
        async () => load(`${r(String(redirectorPort))}/c/2k`, 307),
        async () => load(`${nginxUrl}/redirect`, 307)
      ))
    ])
    for (const k of Object.keys(sizes)) {
      rows.push([
        `mirror cache hit, ${k === '1m' ? '1 MiB' : k.replace('k', ' KiB')}`,
        ...(await pair(
          async () => load(`${r(String(mirrorPort))}/f/${k}`, 200, 'alpha.mirror-b.localhost'),
          async () => load(`${nginxUrl}/f/${k}`, 200)
        ))
      ])
    }
    rows.push([
      'pass-through, cacheable 2 KiB',
      ...(await pair(
        async () => load(`${r(String(proxyPort))}/c/2k`, 200),
        async () => load(`${nginxUrl}/c/2k`, 200)
      ))
    ])
    rows.push([
      'pass-through, non-cacheable 2 KiB (Set-Cookie)',
      ...(await pair(
        async () => load(`${r(String(proxyPort))}/p/2k`, 200),
        async () => load(`${nginxUrl}/p/2k`, 200)
      ))
    ])
  } finally {
    await nginx.stop()
    await Promise.all([redirector.close(), proxy.close(), mirror.close()])
    await new Promise(resolve => origin.close(resolve))
  }

  return (
    [
      `Microbenchmarks: requests/s from a separate load process (32 connections × 8 pipelined), best of ${runs} × ${ms} ms, Reef and nginx (1 worker) alternating; Node ${process.version}; ${new Date().toISOString()}`,
      '',
      '| job | Reef req/s | nginx req/s | Reef / nginx |',
      '| --- | ---: | ---: | ---: |',
      ...rows.map(([job, reef, nx]) => `| ${job} | ${reef.toLocaleString('en')} | ${nx.toLocaleString('en')} | ${(reef / nx).toFixed(2)} |`)
    ].join('\n') + '\n'
  )
}

if (process.argv[2] === 'micro') {
  const { values } = parseArgs({ args: process.argv.slice(3), options: { ms: { type: 'string' }, runs: { type: 'string' } }, strict: true })
  if (!nginxInstalled()) {
    process.stderr.write('bench micro: nginx is not installed (apt-get install nginx)\n')
    process.exit(2)
  }
  process.stdout.write(
    await runMicro({ ms: Math.min(10_000, Math.max(200, Number(values.ms ?? 2_000))), runs: Math.min(5, Math.max(1, Number(values.runs ?? 2))) })
  )
}
