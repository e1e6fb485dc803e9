/**
 * The front: the site's public listener. It forwards every request to the origin through the
 * origin gate and streams the answer back unchanged (status, headers, body), keeping a copy of
 * shareable bodies for helpers. While the site sheds (helpers accepted), a shareable GET/HEAD of
 * a path the origin has answered shareably is redirected (307) to the next live helper (the
 * shedder spreads them by the bytes/s each offered): a `shedder.share` of them always, and every
 * one that would otherwise have to wait for the origin. What the helpers' offers cannot carry
 * (the shedder's redirect budget) goes to the external mirror when one is engaged, else gets
 * 503. Requests
 * that cannot be shed wait in the gate's bounded queue; when it is full or the wait times out
 * they get 503 with Retry-After, so the origin never receives more than its capacity.
 */
import { OriginFailureLog } from '../origin/failure-log.ts'
import { HOP_BY_HOP } from './hop-by-hop.ts'
import { Transform, pipeline } from 'node:stream'
import type { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { createHttpApp } from './app.ts'
import type { HttpLimits } from './app.ts'
import { etagMatches, isRequestShareable, isResponseShareable, pickMirroredHeaders } from '../origin/cacheability.ts'
import { sha256Hex } from '../origin/content-cache.ts'
import type { CachedObject, ContentCache } from '../origin/content-cache.ts'
import { FetchRefusedError, OriginUnavailableError } from '../errors.ts'
import { freshnessOfObject } from '../origin/freshness.ts'
import type { HotSet } from '../origin/hot-set.ts'
import type { LoadMonitor, RefusalReason } from '../load/monitor.ts'
import type { OriginClient } from '../origin/client.ts'
import type { OriginGate } from '../origin/gate.ts'
import { locationOn } from '../load/shedder.ts'
import { HELP_WAIT_MAX_WAITING } from '../constants.ts'
import type { Helper, Shedder } from '../load/shedder.ts'

export interface FrontOptions {
  site: string
  queueTimeoutMs: number
  retryAfterS: number
  maxBodyBytes: number
  originTimeoutMs: number
  /**
   * Addresses of TLS terminators or load balancers in front of this node: from them, the
   * X-Forwarded-Proto and X-Forwarded-Host they set are passed to the origin; from anyone else
   * they are replaced (the origin sees http and the request's Host).
   */
  trustedProxies?: readonly string[]
  /** What clients may hold (config `http`); trusted proxies are exempt from the per-address limit. */
  limits?: HttpLimits
  /**
   * How long a new page load that neither the site nor any target can take waits for help on
   * its way (config `crowd.helpWaitMs`; 0 or absent: 503 at once).
   */
  helpWaitMs?: number
  /** Bytes of large shareable bodies read whole from the origin at once (BUFFERED_BODY_BUDGET_BYTES). */
  bufferedBodyBudgetBytes?: number
}

export interface FrontDeps {
  gate: OriginGate<string | null>
  origin: OriginClient
  cache: ContentCache
  hotSet: HotSet
  shedder: Shedder
  monitor: LoadMonitor
  log: Logger
  /** Called for every redirect with the helper and the weight of the page load it brings (ledger accounting). */
  onRedirect?: ((helper: Helper, bytes: number) => void) | undefined
  /** Bytes a redirect for `obj` brings the helper (a page with its subresources; default: its size). */
  weigh?: ((obj: CachedObject) => number) | undefined
  /** Rung 1 of the relief ladder, switched by the node as load grows and falls. */
  ladder?: { microCache: boolean } | undefined
  /**
   * Called when the front cannot take a visitor now: it refuses it with 503, or has it wait for
   * help (the node reacts at once: its uplink or origin is full).
   */
  onRefused?: (() => void) | undefined
  /**
   * Before the first refusal of a calm site: strike now if helpers are ready to take the excess
   * at once (warm standbys); resolves true when they are accepted.
   */
  strikeNow?: (() => Promise<boolean>) | undefined
  /**
   * Whether help can come within `helpWaitMs`: members in the load view not struck themselves, or
   * an external mirror configured. A site alone with neither refuses at once.
   */
  helpMayCome?: (() => boolean) | undefined
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const
/** Bodies up to this size (with a Content-Length) are answered in one write instead of streamed. */
const SMALL_BODY_BYTES = 64 * 1024
/**
 * Larger bodies the cache keeps are read whole from the origin while the bodies so read and not
 * yet sent stay under this many bytes; past it they stream, as others do.
 */
const BUFFERED_BODY_BUDGET_BYTES = 64 * 1024 * 1024

/** Whether a request's Referer is a page of the site it asks (a browser loading a page's subresources). */
export function fromOwnPage(referer: string | undefined, host: string | undefined): boolean {
  if (referer === undefined || host === undefined || referer.length > 4096) return false
  try {
    return new URL(referer).host === host
  } catch {
    return false
  }
}

/** A request target that can be appended to a mirror base URL without changing its meaning. */
export function isSafePath(url: string): boolean {
  return url.length <= 2048 && /^\/(?!\/)[\x21-\x7e]*$/.test(url)
}

export function buildFront(opts: FrontOptions, deps: FrontDeps): FastifyInstance {
  const { gate, origin, cache, hotSet, shedder, monitor } = deps
  const trustedProxies = new Set(opts.trustedProxies ?? [])
  const app = createHttpApp(deps.log, { exposeHeadRoutes: false, requestTimeout: 0, keepAliveTimeout: 10_000 }, opts.limits, opts.trustedProxies)
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, payload, done) => {
    done(null, payload)
  })

  /**
   * Redirect to the next live target (true), or leave the request to the caller (false): no
   * target, or helpers whose offers are used up and no external mirror engaged.
   */
  function redirect(reply: FastifyReply, url: string, obj: CachedObject | undefined, weight = weightOf(obj), overflow = false): boolean {
    let helper = shedder.pick()
    if (helper === undefined) return false
    const bytes = obj?.body.byteLength ?? 0
    if (helper.location === undefined && !shedder.admit(weight)) {
      // More than the helpers' offers carry: the external mirror, if engaged, takes it instead;
      // past it (overflow), only a helper whose reports show room.
      helper = overflow ? shedder.pickOverflow() : shedder.fallback
      if (helper === undefined) return false
    }
    const location = locationOn(helper, url)
    if (location === undefined) return false
    monitor.shedOne(bytes, helper.location !== undefined)
    // The helper answers the page load the redirect brings (its subresources resolve on the
    // mirror host): that weight, not the page's own bytes, is what the site delegates.
    deps.onRedirect?.(helper, weight)
    void reply.code(307).header('location', location).header('cache-control', 'no-store').send()
    return true
  }

  /** Bytes a page load brings whoever answers it (a page with its subresources). */
  function weightOf(obj: CachedObject | undefined): number {
    return obj === undefined ? 0 : (deps.weigh?.(obj) ?? obj.body.byteLength)
  }

  /**
   * Wait up to `helpWaitMs` for a target to take redirects (true; undefined: no wait, as help
   * cannot come, or waiting is off);
   * the node is told at once (`onRefused`: it ticks, so a struck site asks for help now). Bounded:
   * at most HELP_WAIT_MAX_WAITING visitors wait; one that leaves stops waiting.
   */
  async function waitForHelp(reply: FastifyReply): Promise<boolean | undefined> {
    const waitMs = opts.helpWaitMs ?? 0
    if (waitMs <= 0 || deps.helpMayCome?.() !== true) return undefined
    deps.onRefused?.()
    const left = new AbortController()
    const onClose = (): void => {
      left.abort()
    }
    reply.raw.once('close', onClose)
    try {
      return await shedder.whenActive(waitMs, HELP_WAIT_MAX_WAITING, left.signal)
    } finally {
      reply.raw.off('close', onClose)
    }
  }

  function overloaded(reply: FastifyReply, reason: RefusalReason = 'origin_busy'): void {
    monitor.refusedOne(reason)
    deps.onRefused?.()
    void reply
      .code(503)
      .header('retry-after', String(opts.retryAfterS))
      .header('cache-control', 'no-store')
      .type('text/plain; charset=utf-8')
      .send('The site is busy; please retry shortly.\n')
  }

  /** The origin cannot be reached (refused, reset, timed out): a clear 503 with Retry-After, never a hang. */
  function originDown(reply: FastifyReply, timeout = false): void {
    void reply
      .code(timeout ? 504 : 503)
      .header('retry-after', String(opts.retryAfterS))
      .header('cache-control', 'no-store')
      .type('text/plain; charset=utf-8')
      .send(timeout ? 'The site did not answer in time; please retry shortly.\n' : 'The site cannot be reached just now; please retry shortly.\n')
  }

  const originFailures = new OriginFailureLog(deps.log)
  /** Bytes of large bodies read whole from the origin whose answers have not ended yet. */
  let buffered = 0
  const bufferBudget = opts.bufferedBodyBudgetBytes ?? BUFFERED_BODY_BUDGET_BYTES

  async function handler(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const raw = request.raw
    const method = raw.method ?? 'GET'
    const url = raw.url ?? '/'
    const shareableReq = isSafePath(url) && isRequestShareable(method, raw.headers)
    if (shareableReq) hotSet.hit(url)
    const candidate = shareableReq && hotSet.isShareable(url)
    // What answering it costs the uplink, as far as the front knows (its cached copy's size).
    const cached = candidate ? cache.peek(opts.site, url) : undefined
    monitor.arrival(candidate, cached?.body.byteLength ?? 0)

    // Admission decides per page load. What a page this site served loads (its Referer is one
    // of this site's pages) stays here, so a kept visit is not cut in half (a redirected page
    // takes its subresources to the mirror host anyway). A new page load goes where there is
    // room for the bytes it brings: the site, while its uplink drains quickly and its budget
    // allows; a helper, within the helpers' offers; the external mirror; else 503 at once —
    // queued behind seconds of others' bytes it would fail anyway, and slow every visit
    // already in. While shedding, a `share` of them tries elsewhere first.
    if (candidate) {
      if (fromOwnPage(raw.headers.referer, raw.headers.host)) {
        monitor.totals.ofKeptPages++
        if (shedder.active && !gate.canAdmitNow() && redirect(reply, url, cached)) return
      } else {
        const weight = weightOf(cached)
        if (shedder.active && (!gate.canAdmitNow() || Math.random() < shedder.share)) {
          if (redirect(reply, url, cached, weight)) return
          if (!shedder.admitLocal(weight)) {
            // Neither the offers nor the site's uplink have room this instant (a crowd's onset,
            // before the need is measured): a helper whose reports show room takes it past its
            // offer rather than the visitor getting 503.
            if (redirect(reply, url, cached, weight, true)) return
            overloaded(reply, 'no_room')
            return
          }
        } else if (!shedder.admitLocal(weight)) {
          if (shedder.active && (redirect(reply, url, cached, weight) || redirect(reply, url, cached, weight, true))) return
          // The first visitor a calm site cannot take: with warm standbys ready, strike now and
          // send it there rather than refuse it.
          if (
            !shedder.active &&
            deps.strikeNow !== undefined &&
            (await deps.strikeNow()) &&
            (redirect(reply, url, cached, weight) || redirect(reply, url, cached, weight, true))
          )
            return
          // A crowd's onset with no target yet (a cold site's first crowd: the strike, the help
          // request and the first accept take about a second): help on its way is worth a short
          // wait, where 503 would lose the visit.
          const waited = await waitForHelp(reply)
          if (raw.destroyed) return
          if (waited === true && (redirect(reply, url, cached, weight) || redirect(reply, url, cached, weight, true))) {
            monitor.helpWaited('redirected')
            return
          }
          if (!shedder.admitLocal(weight)) {
            if (waited !== undefined) monitor.helpWaited('refused')
            overloaded(reply, 'no_helper')
            return
          }
          if (waited !== undefined) monitor.helpWaited('kept')
        }
      }
    }
    // Rung 1 also coalesces requests for paths the origin has not answered yet (like nginx's
    // proxy_cache_lock): a cold crowd costs one origin fetch per object, not one per request.
    if (shareableReq && deps.ladder?.microCache === true && !hotSet.isKnownUnshareable(url) && (await fromMicroCache(request, reply, url))) return
    const declared = Number(raw.headers['content-length'] ?? 0)
    if (declared > opts.maxBodyBytes) {
      void reply.code(413).type('text/plain; charset=utf-8').send('Request body too large.\n')
      return
    }
    const outcome = await gate.acquire(shareableReq ? url : null, opts.queueTimeoutMs)
    if (outcome === 'diverted') {
      // Taken out of the origin's queue: a helper takes it, or the micro-cache, just engaged.
      if (shedder.active && redirect(reply, url, cache.peek(opts.site, url))) return
      if (shareableReq && deps.ladder?.microCache === true && (await fromMicroCache(request, reply, url))) return
    }
    if (outcome !== 'admitted') {
      overloaded(reply)
      return
    }
    if (raw.destroyed) {
      gate.release()
      return
    }
    await forward(request, reply, method, url, shareableReq)
  }

  function sendCached(request: FastifyRequest, reply: FastifyReply, obj: CachedObject, how: 'HIT' | 'STALE' | 'MISS', now: number): void {
    monitor.fromMicroCache()
    void reply
      .headers(obj.headers)
      .header('age', String(Math.max(0, Math.floor((now - obj.storedAt) / 1000))))
      .header('x-reef-cache', how)
    // RFC 9110 §13.2.2: If-None-Match when present, else If-Modified-Since. A 304 goes without
    // Content-Length, as origins send it (undici's fetch rejects a 304 that has one).
    const inm = request.headers['if-none-match']
    const ims = request.headers['if-modified-since']
    const lastModified = obj.headers['last-modified']
    const notModified =
      inm !== undefined
        ? obj.headers.etag !== undefined && etagMatches(inm, obj.headers.etag)
        : ims !== undefined && lastModified !== undefined && Date.parse(lastModified) <= Date.parse(ims)
    if (notModified) {
      void reply.code(304).send()
      return
    }
    void reply
      .code(200)
      .header('content-length', String(obj.body.byteLength))
      .send(request.method === 'HEAD' ? undefined : obj.body)
  }

  /**
   * Rung 1: answer a shareable GET/HEAD from the micro-cache — fresh copies at once; a stale one
   * within stale-while-revalidate at once while one refresh runs; a miss with one origin fetch
   * shared by every concurrent request for the path; a stale copy within stale-if-error when
   * the origin fails or is full. Returns false when the origin itself must answer.
   */
  async function fromMicroCache(request: FastifyRequest, reply: FastifyReply, url: string): Promise<boolean> {
    const now = Date.now()
    const obj = cache.peek(opts.site, url)
    const f = obj === undefined ? undefined : freshnessOfObject(obj)
    if (obj !== undefined && f !== undefined) {
      if (now < f.freshUntil) {
        sendCached(request, reply, obj, 'HIT', now)
        return true
      }
      if (now < f.staleWhileRevalidateUntil) {
        origin.load(url, { refresh: true, timeoutMs: opts.queueTimeoutMs }).catch(() => {})
        sendCached(request, reply, obj, 'STALE', now)
        return true
      }
    }
    try {
      const fresh = await origin.load(url, { refresh: true, timeoutMs: opts.queueTimeoutMs })
      sendCached(request, reply, fresh, 'MISS', Date.now())
      return true
    } catch (err) {
      // A stale copy: within its stale-if-error; or any copy while the origin cannot be reached
      // at all (a cache disconnected from its origin may serve stale, RFC 9111 §4.2.4).
      // Not when the origin forbade it (must-revalidate, proxy-revalidate, no-cache, s-maxage).
      const unreachable = err instanceof OriginUnavailableError
      const disconnected = unreachable && obj !== undefined && !/must-revalidate|proxy-revalidate|no-cache|s-maxage/i.test(obj.headers['cache-control'] ?? '')
      if (obj !== undefined && f !== undefined && (disconnected || Date.now() < f.staleIfErrorUntil)) {
        sendCached(request, reply, obj, 'STALE', Date.now())
        return true
      }
      if (err instanceof FetchRefusedError && err.status === 503) {
        overloaded(reply)
        return true
      }
      if (unreachable) {
        originDown(reply)
        return true
      }
      return false // not shareable after all, or not found: the origin answers itself
    }
  }

  async function forward(request: FastifyRequest, reply: FastifyReply, method: string, url: string, shareableReq: boolean): Promise<void> {
    const raw = request.raw
    monitor.originStart()
    const started = performance.now()
    let released = false
    let bytes = 0
    const release = (): void => {
      if (released) return
      released = true
      gate.release()
      monitor.originDone(performance.now() - started, bytes)
    }
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(raw.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v
    const remote = raw.socket.remoteAddress ?? ''
    headers['x-forwarded-for'] = typeof headers['x-forwarded-for'] === 'string' ? `${headers['x-forwarded-for']}, ${remote}` : remote
    const trusted = trustedProxies.has(remote)
    const proto = raw.headers['x-forwarded-proto']
    headers['x-forwarded-proto'] = trusted && (proto === 'https' || proto === 'http') ? proto : 'http'
    const fwdHost = raw.headers['x-forwarded-host']
    if (trusted && typeof fwdHost === 'string' && fwdHost !== '') headers['x-forwarded-host'] = fwdHost
    else if (raw.headers.host !== undefined) headers['x-forwarded-host'] = raw.headers.host
    else delete headers['x-forwarded-host']
    const hasBody = method !== 'GET' && method !== 'HEAD' && (raw.headers['content-length'] !== undefined || raw.headers['transfer-encoding'] !== undefined)

    let res
    try {
      res = await origin.pool.request({
        method: method as 'GET',
        path: url,
        headers,
        body: hasBody ? limitBody(request.body as Readable, opts.maxBodyBytes) : null,
        headersTimeout: opts.originTimeoutMs,
        bodyTimeout: opts.originTimeoutMs
      })
    } catch (err) {
      release()
      monitor.totals.originErrors++
      const timeout = (err as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT'
      originFailures.failed({ err, url }, 'origin request failed')
      originDown(reply, timeout)
      return
    }
    res.body.once('close', release)

    const shareableRes = shareableReq && isResponseShareable(res.statusCode, res.headers)
    if (shareableReq && method === 'GET' && res.statusCode === 200) hotSet.learn(url, shareableRes)
    const outHeaders: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) outHeaders[k] = v
    void reply.code(res.statusCode).headers(outHeaders)

    const declared = Number(res.headers['content-length'] ?? NaN)
    const keep = method === 'GET' && shareableRes && !(declared > cache.maxObjectBytes) && cache.peek(opts.site, url) === undefined
    const buffer = keep && declared > SMALL_BODY_BYTES && buffered + declared <= bufferBudget
    if (buffer) {
      buffered += declared
      reply.raw.once('close', () => {
        buffered -= declared
      })
    }
    if ((declared <= SMALL_BODY_BYTES || buffer) && method !== 'HEAD') {
      // A small body is read whole and answered in one write with its headers: streaming it
      // costs a second write per response and, under load, a round of latency. So is a body the
      // cache keeps (proxy buffering, as nginx does): read at the origin's pace, it is cached —
      // and in the next manifest helpers get — at once, not when its last byte has crossed a full
      // uplink to the visitor, seconds later; and the origin's worker is free again meanwhile
      // (up to BUFFERED_BODY_BUDGET_BYTES of such bodies at once).
      let body: Buffer
      try {
        body = Buffer.from(await res.body.arrayBuffer())
      } catch (err) {
        release()
        deps.log.warn({ err, url }, 'origin response failed mid-body')
        reply.raw.destroy()
        return
      }
      bytes = body.byteLength
      gate.consumeBytes(bytes)
      release()
      if (keep && body.byteLength === declared) {
        cache.put({ site: opts.site, path: url, headers: pickMirroredHeaders(res.headers), body, sha256: sha256Hex(body), storedAt: Date.now() })
      }
      return reply.send(body)
    }
    let chunks: Buffer[] | undefined = keep ? [] : undefined
    let size = 0
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.byteLength
        gate.consumeBytes(chunk.byteLength)
        if (chunks !== undefined) {
          size += chunk.byteLength
          if (size > cache.maxObjectBytes) chunks = undefined
          else chunks.push(chunk)
        }
        cb(null, chunk)
      },
      flush(cb) {
        if (chunks !== undefined && (Number.isNaN(declared) || declared === size)) {
          const body = Buffer.concat(chunks)
          cache.put({ site: opts.site, path: url, headers: pickMirroredHeaders(res.headers), body, sha256: sha256Hex(body), storedAt: Date.now() })
        }
        cb()
      }
    })
    pipeline(res.body, counter, () => {
      release()
    })
    return reply.send(counter)
  }

  app.route({ method: [...METHODS], url: '/*', handler })
  app.route({ method: [...METHODS], url: '/', handler })
  return app
}

/** Pass a request body through, failing it once it exceeds `max` bytes (chunked uploads). */
function limitBody(body: Readable, max: number): Readable {
  let seen = 0
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.byteLength
      if (seen > max) cb(new Error(`request body exceeds ${max} bytes`))
      else cb(null, chunk)
    }
  })
  pipeline(body, t, () => {})
  return t
}
