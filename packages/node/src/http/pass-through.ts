/**
 * While `reef start` loads the node — its stack (libp2p, fastify, LevelDB) takes a second or two
 * to import and start — the front's port already passes every request to the origin unchanged,
 * as if Reef were not there: a node restarted after a crash has its site answering within
 * milliseconds instead of seconds. The node takes the port over once it is ready (the
 * pass-through stops accepting just before the front listens; requests it is answering finish,
 * and it keeps no connection alive past its answer, so no client reuses one as it closes).
 * Nothing is shed, cached or counted meanwhile; its answers carry `X-Reef-Pass-Through: 1`.
 */
import { readFile } from 'node:fs/promises'
import { createServer, request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import { parseJsonc } from '../config/jsonc.ts'
import { HOP_BY_HOP } from './hop-by-hop.ts'
import { PASS_THROUGH_HEADERS_TIMEOUT_MS, PASS_THROUGH_KEEP_ALIVE_MS, PASS_THROUGH_ORIGIN_TIMEOUT_MS, PASS_THROUGH_REQUEST_TIMEOUT_MS } from '../constants.ts'

export interface PassThrough {
  /** Stop accepting connections (the port is free at once); requests in flight finish. */
  close: () => void
}

export async function startPassThrough(listen: { host: string; port: number }, originUrl: string, retryAfterS: number): Promise<PassThrough> {
  const origin = new URL(originUrl)
  const server = createServer(
    { headersTimeout: PASS_THROUGH_HEADERS_TIMEOUT_MS, requestTimeout: PASS_THROUGH_REQUEST_TIMEOUT_MS, keepAliveTimeout: PASS_THROUGH_KEEP_ALIVE_MS },
    (req, res) => {
      const headers: IncomingHttpHeaders = {}
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v
      const up = httpRequest(
        {
          host: origin.hostname,
          port: origin.port === '' ? 80 : Number(origin.port),
          method: req.method,
          path: req.url,
          headers,
          timeout: PASS_THROUGH_ORIGIN_TIMEOUT_MS
        },
        r => {
          const out: IncomingHttpHeaders = {}
          for (const [k, v] of Object.entries(r.headers)) if (!HOP_BY_HOP.has(k)) out[k] = v
          out['x-reef-pass-through'] = '1'
          // No keep-alive: at the takeover a client reusing an idle connection would race its close
          // and meet a reset (63 of 4,794 requests in the second after a restart in a crowd, in
          // test/system/site-killed.test.ts). Each connection ends with its answer instead.
          out.connection = 'close'
          res.writeHead(r.statusCode ?? 502, out)
          r.pipe(res)
        }
      )
      const fail = (): void => {
        if (res.headersSent) {
          res.destroy()
          return
        }
        res.writeHead(503, {
          'retry-after': String(retryAfterS),
          'cache-control': 'no-store',
          'content-type': 'text/plain; charset=utf-8',
          connection: 'close'
        })
        res.end('The site cannot be reached just now; please retry shortly.\n')
      }
      up.on('timeout', () => {
        up.destroy(new Error('origin timed out'))
      })
      up.on('error', fail)
      req.pipe(up)
    }
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    close: () => {
      server.close()
      server.closeIdleConnections()
    }
  }
}

/**
 * What the pass-through needs from a config file, read without the full validation (whose
 * imports take most of a second): the front's listen address, the origin's URL and Retry-After.
 * Undefined when the file does not give them plainly (then no pass-through: the full validation
 * that follows reports what is wrong). Defaults as config.ts's.
 */
export async function passThroughTarget(file: string): Promise<{ listen: { host: string; port: number }; originUrl: string; retryAfterS: number } | undefined> {
  try {
    const c = parseJsonc(await readFile(file, 'utf8')) as {
      front?: { listen?: { host?: unknown; port?: unknown }; retryAfterS?: unknown }
      origin?: { url?: unknown }
    }
    const host = c.front?.listen?.host ?? '127.0.0.1'
    const port = c.front?.listen?.port
    const url = c.origin?.url
    const retry = c.front?.retryAfterS ?? 5
    if (
      typeof host !== 'string' ||
      typeof port !== 'number' ||
      !Number.isInteger(port) ||
      port <= 0 ||
      port > 65_535 ||
      typeof url !== 'string' ||
      typeof retry !== 'number'
    )
      return undefined
    const origin = new URL(url)
    if (origin.protocol !== 'http:') return undefined
    return { listen: { host, port }, originUrl: origin.href, retryAfterS: retry }
  } catch {
    return undefined
  }
}
