/**
 * The mirror: where this node serves other sites while it helps them. Each helped site is
 * served under its own host name, `<site>.<mirror host>` (routed by the Host header, like
 * Coral's `.nyud.net`), so that absolute links in mirrored pages (`/img/a.png`) resolve to the
 * same mirror. Objects come from the cache or, on a miss, from the struck site's node over the
 * fetch stream (one fetch per object at a time), verified against the manifest's hash.
 * A site this node does not (or no longer) help is sent back to the site's own URL.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  ATTESTATION_HEADER,
  MIRROR_ALIVE_PATH,
  MIRROR_PULSE_DURATION_MS,
  MIRROR_PULSE_MAX_MS,
  MIRROR_PULSE_MAX_STREAMS,
  MIRROR_PULSE_MIN_MS,
  SITE_LABEL_RE,
  canonicalBaseUrl
} from '@reef/protocol'
import type { Logger } from 'pino'
import { etagMatches } from '../origin/cacheability.ts'
import { createHttpApp } from './app.ts'
import type { HttpLimits } from './app.ts'
import type { CachedObject, ContentCache } from '../origin/content-cache.ts'
import { FetchRefusedError, IntegrityError } from '../errors.ts'
import { isSafePath } from './front.ts'
import type { HelpingSession } from '../help/help-coordinator.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import { SLOW_FILL_LOG_MS } from '../constants.ts'

export interface MirrorOptions {
  /** Public URL of this mirror; its host name is the parent domain of every site host. */
  publicUrl: string
  selfId: string
  /** What clients may hold (config `http`). */
  limits?: HttpLimits
  /** Addresses exempt from the per-address connection limit (the TLS terminator: front.trustedProxies). */
  trustedProxies?: readonly string[]
}

export interface MirrorDeps {
  cache: ContentCache
  monitor: LoadMonitor
  log: Logger
  /**
   * The session in which this mirror serves `site` now; for a site it stands by for, the one
   * that opens within a moment (its accept on its way), else undefined.
   */
  sessionForSite: (site: string) => HelpingSession | undefined | Promise<HelpingSession | undefined>
  /**
   * For a site whose session here is released: the next session that opens within a short wait
   * (this node stands by for the site, and the site's new accept is on its way), else undefined.
   */
  awaitFreshSession?: (site: string) => Promise<HelpingSession | undefined>
  /** Fetch an object of a helped site from its node (verifying it) and cache it. */
  fetch: (session: HelpingSession, path: string) => Promise<CachedObject>
  /** This helper's signed attestation of an object it serves (base64url), if it attests. */
  attest?: (session: HelpingSession, obj: CachedObject) => string | Promise<string>
}

export function buildMirror(opts: MirrorOptions, deps: MirrorDeps): FastifyInstance {
  const mirrorHost = new URL(opts.publicUrl).hostname.toLowerCase()
  const suffix = `.${mirrorHost}`
  const app = createHttpApp(deps.log, { exposeHeadRoutes: false, keepAliveTimeout: 10_000 }, opts.limits, opts.trustedProxies)

  function siteOf(hostHeader: string | undefined): string | undefined {
    if (hostHeader === undefined) return undefined
    const host = hostHeader.toLowerCase().replace(/:\d+$/, '')
    if (!host.endsWith(suffix)) return undefined
    const label = host.slice(0, -suffix.length)
    return SITE_LABEL_RE.test(label) ? label : undefined
  }

  /** Answer from `obj`; returns the body bytes sent (0 for HEAD and 304). */
  function send(reply: FastifyReply, request: FastifyRequest, obj: CachedObject, attestation: string | undefined): number {
    void reply.headers(obj.headers).header('x-reef-mirror', opts.selfId).header('content-length', String(obj.body.byteLength))
    if (attestation !== undefined) void reply.header(ATTESTATION_HEADER, attestation)
    const inm = request.headers['if-none-match']
    const etag = obj.headers.etag
    if (etag !== undefined && inm !== undefined && etagMatches(inm, etag)) {
      void reply.code(304).send()
      return 0
    }
    const head = request.method === 'HEAD'
    void reply.code(200).send(head ? undefined : obj.body)
    return head ? 0 : obj.body.byteLength
  }

  async function handler(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = request.raw.url ?? '/'
    const site = siteOf(request.headers.host)
    if (site === undefined || !isSafePath(url)) {
      void reply.code(404).type('text/plain; charset=utf-8').send('No site is mirrored under this name.\n')
      return
    }
    const found = deps.sessionForSite(site)
    let session = found instanceof Promise ? await found : found
    if (session === undefined) {
      void reply.code(404).type('text/plain; charset=utf-8').send('This mirror does not serve that site now.\n')
      return
    }
    const cached = deps.cache.get(site, url)
    if (cached !== undefined) {
      const a = deps.attest?.(session, cached)
      deps.monitor.mirrored(site, send(reply, request, cached, typeof a === 'object' ? await a : a))
      return
    }
    if (session.releasedAt !== undefined) {
      // The site's next crowd may send a visitor to its standby before the new accept arrives:
      // bounced back at once, the site sends it here again, and so on until the accept comes (the
      // likely cause of a loop of 307s seen once in a soak, at a site whose last session here was
      // still in its grace). So a standby waits a moment for that session first.
      const fresh = await deps.awaitFreshSession?.(site)
      if (fresh !== undefined && fresh.releasedAt === undefined) session = fresh
    }
    if (session.releasedAt !== undefined) {
      // Released: serve only what we hold; send the rest back to the site itself.
      void reply
        .code(307)
        .header('location', canonicalBaseUrl(session.siteUrl) + url)
        .header('cache-control', 'no-store')
        .send()
      return
    }
    deps.monitor.totals.mirrorMisses++
    // What this mirror owes clients while it fetches: counted in the queue it reports.
    const owed = session.manifest.get(url)?.size ?? 0
    deps.monitor.fillWaitBytes += owed
    const started = performance.now()
    try {
      const obj = await deps.fetch(session, url)
      const ms = performance.now() - started
      if (ms > SLOW_FILL_LOG_MS) deps.log.debug({ site, url, ms: Math.round(ms) }, 'slow mirror fill')
      const a = deps.attest?.(session, obj)
      deps.monitor.mirrored(site, send(reply, request, obj, typeof a === 'object' ? await a : a))
    } catch (err) {
      if (err instanceof FetchRefusedError && (err.status === 404 || err.status === 410)) {
        void reply.code(err.status).type('text/plain; charset=utf-8').send('Not found.\n')
        return
      }
      if (err instanceof FetchRefusedError && err.status === 403) {
        // The origin says this object is not shareable (any more): the site itself must answer it.
        void reply
          .code(307)
          .header('location', canonicalBaseUrl(session.siteUrl) + url)
          .header('cache-control', 'no-store')
          .send()
        return
      }
      if (err instanceof IntegrityError) {
        deps.monitor.totals.integrityFailures++
        deps.log.warn({ site, url, err: err.message, beneficiary: session.beneficiary }, 'object failed verification')
      } else {
        deps.log.debug({ site, url, err }, 'mirror miss could not be filled')
      }
      // Never serve what could not be verified; a redirect back could bounce, so say busy.
      void reply
        .code(503)
        .header('retry-after', '2')
        .header('cache-control', 'no-store')
        .type('text/plain; charset=utf-8')
        .send('The mirror could not fetch this object; please retry shortly.\n')
    } finally {
      deps.monitor.fillWaitBytes -= owed
    }
  }

  // Liveness, on any host name: beneficiaries probe it to stop sending clients to a dead mirror at
  // once. `GET …?pulse=MS` (r6) asks for a pulse: a 200 whose body is a byte every MS, for
  // MIRROR_PULSE_DURATION_MS, so that signs of life reach the beneficiary on its downlink.
  const pulses = new Set<() => void>()
  app.addHook('preClose', async () => {
    for (const end of pulses) end()
  })
  app.route({
    method: ['GET', 'HEAD'],
    url: MIRROR_ALIVE_PATH,
    handler: async (request, reply) => {
      const asked = (request.query as Record<string, unknown>).pulse
      if (request.method === 'GET' && asked !== undefined) {
        const ms = typeof asked === 'string' && /^\d{1,5}$/.test(asked) ? Number(asked) : NaN
        if (!(ms >= MIRROR_PULSE_MIN_MS && ms <= MIRROR_PULSE_MAX_MS)) {
          void reply
            .code(400)
            .type('text/plain; charset=utf-8')
            .send(`pulse: an interval in ms, an integer from ${MIRROR_PULSE_MIN_MS} to ${MIRROR_PULSE_MAX_MS}\n`)
          return
        }
        // Past the limit the plain answer: alive, no pulse (the beneficiary keeps probing).
        if (pulses.size < MIRROR_PULSE_MAX_STREAMS) {
          pulse(reply, ms)
          return
        }
      }
      void reply.code(204).header('x-reef-mirror', opts.selfId).header('cache-control', 'no-store').send()
    }
  })

  /** Beat `reply` every `ms` until MIRROR_PULSE_DURATION_MS pass, the client leaves or the mirror closes. */
  function pulse(reply: FastifyReply, ms: number): void {
    void reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'no-store',
      'x-reef-mirror': opts.selfId,
      'x-reef-pulse': String(ms)
    })
    // A client that does not read gets no more beats until it does: its buffer stays small.
    const beat = (): void => {
      if (!res.writableNeedDrain) res.write('.')
    }
    const timer = setInterval(beat, ms)
    const stop = setTimeout(() => end(), MIRROR_PULSE_DURATION_MS)
    const end = (): void => {
      if (!pulses.delete(end)) return
      clearInterval(timer)
      clearTimeout(stop)
      if (!res.writableEnded) res.end()
    }
    pulses.add(end)
    res.once('close', end)
    beat()
  }
  app.route({ method: ['GET', 'HEAD'], url: '/*', handler })
  app.route({ method: ['GET', 'HEAD'], url: '/', handler })
  // A mirror never reads request bodies: whatever the content type, other methods get 405.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, payload, done) => {
    payload.resume()
    done(null)
  })
  const notAllowed = async (_req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    void reply.code(405).header('allow', 'GET, HEAD').send()
  }
  app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'], url: '/*', handler: notAllowed })
  app.route({ method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'], url: '/', handler: notAllowed })
  return app
}
