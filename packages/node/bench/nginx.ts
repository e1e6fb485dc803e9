/**
 * Debian's nginx as a benchmark baseline: one worker, in a temporary prefix, listening on
 * loopback, stopped and removed afterwards. The caller supplies the http-level directives and
 * the server's locations for the job nginx is compared on.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { freePort } from '../demo/consortium.ts'

export function nginxInstalled(): boolean {
  return spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0
}

export interface RunningNginx {
  url: string
  dir: string
  pid: number | undefined
  stop: () => Promise<void>
}

export interface NginxListen {
  host: string
  port: number
}

/**
 * Start nginx; `config(dir)` returns the http-level directives and the server's locations
 * (`dir` is the private prefix, for cache and static files). Resolves once `probePath` answers.
 */
export async function startNginx(
  config: (dir: string) => Promise<{ http: string; locations: string }> | { http: string; locations: string },
  probePath = '/',
  listen?: NginxListen
): Promise<RunningNginx> {
  const dir = await mkdtemp(join(tmpdir(), 'reef-bench-nginx-'))
  const host = listen?.host ?? '127.0.0.1'
  const port = listen?.port ?? (await freePort())
  const { http, locations } = await config(dir)
  await writeFile(
    join(dir, 'nginx.conf'),
    `
user root;
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  ${http}
  server {
    listen ${host}:${port};
    ${locations}
  }
}
`
  )
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' })
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
  const stop = async (): Promise<void> => {
    child.kill('SIGQUIT')
    await new Promise(resolve => {
      child.once('exit', resolve)
      setTimeout(resolve, 5_000)
    })
    await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      const r = await request(url + probePath)
      await r.body.dump()
      break
    } catch {}
    if (Date.now() > deadline) {
      await stop()
      throw new Error('nginx did not start')
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { url, dir, pid: child.pid, stop }
}

/**
 * nginx with proxy_cache (one origin fetch per object, stale on error/updating) in front of
 * `originUrl`; on loopback at a free port unless `listen` says where.
 */
export async function startCachingNginx(originUrl: string, listen?: NginxListen): Promise<RunningNginx> {
  const origin = new URL(originUrl)
  return startNginx(
    async dir => {
      await mkdir(join(dir, 'cache'))
      return {
        http: `proxy_cache_path ${dir}/cache levels=1:2 keys_zone=reef:10m max_size=256m inactive=10m use_temp_path=off;
  upstream origin { server ${origin.hostname}:${origin.port}; keepalive 16; }`,
        locations: `location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache reef;
      proxy_cache_lock on;
      proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
      proxy_cache_background_update on;
    }`
      }
    },
    '/',
    listen
  )
}
