/**
 * A flash-crowd client that behaves like browsers.
 *
 * Each "visit" GETs a page chosen by Zipf popularity, then GETs the
 * subresources it links (stylesheets, scripts, images), resolved against the
 * page's FINAL URL after redirects — so a page served by a mirror host loads
 * its subresources from that mirror host. With probability 0.1 a visit then
 * also fetches one linked download (after the page has loaded, like a reader
 * clicking it; not part of the page load time).
 *
 * Pacing (`pace: 'requests'`, the default): the profile gives a target
 * cumulative number of requests C(t). A new
 * visit starts whenever the requests already sent plus the requests reserved by
 * visits in progress fall below C(t). While its page loads, a visit is expected
 * to make P(page load succeeds) × (its subresources, learned per page once
 * seen) further requests; once the page arrives the real count is used.
 * Subresources are then fetched as fast as a browser would (6 at a time per
 * visit), so the achieved request rate tracks the profile without artificially
 * delaying page loads, also when an overloaded server fails most pages.
 *
 * Pacing `pace: 'visits'`: the profile's rate counts page loads (visits)
 * started per second instead; a new visit starts whenever the visits started
 * fall below C(t), whatever becomes of them (like readers following a link).
 *
 * Everything is bounded: maxRequests, maxDurationMs, maxInFlight,
 * requestTimeoutMs, maxRedirects, and an optional AbortSignal.
 */
import { isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Agent, buildConnector, Dispatcher } from 'undici'

export type CrowdProfile =
  | { kind: 'step'; rps: number; durationMs: number }
  | { kind: 'ramp'; fromRps: number; toRps: number; durationMs: number }
  | { kind: 'bursts'; rps: number; burstMs: number; gapMs: number; count: number }

export interface CrowdOptions {
  /** The Reef front's URL clients start at. */
  siteUrl: string
  /** Page paths (e.g. `/`, `/articles/x.html`), most popular first. */
  pages: string[]
  profile: CrowdProfile
  /** What the profile's rate counts: requests (default) or visits (page loads) started. */
  pace?: 'requests' | 'visits'
  /** Zipf exponent for page popularity. Default 1.0. */
  zipfS?: number
  seed?: number
  maxRequests: number
  maxDurationMs: number
  /** Concurrent requests cap; requests beyond it fail with 'client-overload'. Default 2000. */
  maxInFlight?: number
  /** Per request, including its redirect chain. Default 10000. */
  requestTimeoutMs?: number
  /** Default 5. */
  maxRedirects?: number
  /** path -> body to verify against. */
  expected?: Map<string, Buffer>
  /** Default: a fresh `loopbackDispatcher()`, closed at the end of the run. */
  dispatcher?: Dispatcher
  onResult?: (r: RequestResult) => void
  signal?: AbortSignal
}

export interface RequestResult {
  /** Epoch ms. */
  start: number
  end: number
  /** pathname + search of the requested URL. */
  path: string
  finalUrl: string
  /** 0 when no response was received. */
  status: number
  /** Status 200 and, when `expected` has the path, body bytes equal. */
  ok: boolean
  servedBy: 'origin' | 'helper' | 'error'
  /** Body bytes of the final response. */
  bytes: number
  /** Epoch ms when the final response's headers arrived (its body began); absent when none arrived. */
  bodyStart?: number
  redirects: number
  error?: string
}

/** One visit: a page and its subresources (not the optional download). */
export interface VisitResult {
  /** Epoch ms when the visit started and when its page load ended (ok or not). */
  start: number
  end: number
  /** The page path requested. */
  page: string
  /** Where the page came from after redirects ('' when its request was never sent). */
  finalUrl: string
  /** The page and every subresource ok. */
  ok: boolean
  /** False when a limit (maxRequests, maxDurationMs, signal) cut the visit short. */
  complete: boolean
  /** Body bytes received for the page and its subresources. */
  bytes: number
  /** Requests the page load made (page + subresources sent). */
  requests: number
}

export interface CrowdReport {
  results: RequestResult[]
  sent: number
  succeeded: number
  failed: number
  successRate: number
  byServer: { origin: number; helper: number; error: number }
  /** Per fully successful visit: ms to load the page and all its subresources (excluding any download). */
  pageLoadsMs: number[]
  /**
   * Visits started; loaded = page and every subresource ok (one pageLoadsMs
   * entry each); failed = page or some subresource not ok; the rest were cut
   * short by the limits. Download outcomes appear only in `results`.
   */
  visits: { started: number; loaded: number; failed: number }
  /** Every visit started, in start order. */
  visitResults: VisitResult[]
}

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

/** mulberry32: a small, fast, deterministic PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Sampler of indices 0..n-1 with P(k) proportional to 1 / (k + 1)^s. */
export function zipfSampler(n: number, s: number, rand: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('zipfSampler: n must be an integer >= 1')
  if (!Number.isFinite(s) || s < 0) throw new RangeError('zipfSampler: s must be >= 0')
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 0; k < n; k++) {
    sum += 1 / Math.pow(k + 1, s)
    cdf[k] = sum
  }
  for (let k = 0; k < n; k++) cdf[k] = (cdf[k] ?? 0) / sum
  return () => {
    const u = rand()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((cdf[mid] ?? 1) > u) hi = mid
      else lo = mid + 1
    }
    return lo
  }
}

// ---------------------------------------------------------------------------
// Loopback-only dispatcher
// ---------------------------------------------------------------------------

function isLoopbackName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '')
  return h === 'localhost' || h.endsWith('.localhost')
}

function isLoopbackIp(hostname: string): boolean {
  const h = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  const family = isIP(h)
  if (family === 4) return h.startsWith('127.')
  if (family === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./i.test(h)
  return false
}

function notLoopbackError(hostname: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`loopbackDispatcher refuses non-loopback host "${hostname}"`)
  err.code = 'ERR_REEF_NOT_LOOPBACK'
  return err
}

/** net.connect lookup: every *.localhost name (and localhost) is 127.0.0.1; anything else is refused. */
const loopbackLookup: LookupFunction = (hostname, options, callback) => {
  if (!isLoopbackName(hostname)) {
    callback(notLoopbackError(hostname), '', 4)
    return
  }
  if (options.all === true) {
    ;(callback as unknown as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }])
    return
  }
  callback(null, '127.0.0.1', 4)
}

/**
 * Several undici Agents behind one dispatcher, each request to the next in turn (or to the shard
 * `shard(i)` names: the crowd gives each visit one, as a browser keeps its own). An Agent keeps
 * one connection pool per origin, and its pool walks all of its connections on each request and
 * on each closed connection; with the thousands of connections a crowd keeps open that walk was
 * a third of the crowd client's CPU. Shards of a sixteenth the size walk a sixteenth as far.
 */
export class ShardedAgent extends Dispatcher {
  readonly #agents: Agent[]
  #next = 0

  constructor(options: Agent.Options, shards: number) {
    super()
    if (!Number.isInteger(shards) || shards < 1) throw new RangeError('ShardedAgent: shards must be an integer >= 1')
    this.#agents = Array.from({ length: shards }, () => new Agent(options))
  }

  /** The shard for the `i`-th of something (a visit: all its requests share one shard's connections). */
  shard(i: number): Agent {
    return this.#agents[Math.abs(Math.trunc(i)) % this.#agents.length] as Agent
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const agent = this.#agents[this.#next] as Agent
    this.#next = (this.#next + 1) % this.#agents.length
    return agent.dispatch(options, handler)
  }

  override close(): Promise<void>
  override close(callback: () => void): void
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all(this.#agents.map(a => a.close())).then(() => undefined)
    if (callback === undefined) return done
    void done.then(callback, callback)
  }

  override destroy(): Promise<void>
  override destroy(err: Error | null): Promise<void>
  override destroy(callback: () => void): void
  override destroy(err: Error | null, callback: () => void): void
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null)
    const callback = typeof a === 'function' ? a : b
    const done = Promise.all(this.#agents.map(x => x.destroy(err))).then(() => undefined)
    if (callback === undefined) return done
    void done.then(callback, callback)
  }
}

/** Shards of a crowd's dispatcher with no connection limit (see ShardedAgent). */
export const CROWD_AGENT_SHARDS = 16

/**
 * An undici Agent whose connector resolves `localhost` and every `*.localhost`
 * name to 127.0.0.1 (no DNS) and refuses any other host name, and any IP
 * literal outside loopback, with an `ERR_REEF_NOT_LOOPBACK` error — so traffic
 * can never leave loopback. Plain http only (https is refused too).
 */
export function loopbackDispatcher(opts: { connections?: number } = {}): Dispatcher {
  const inner = buildConnector({ lookup: loopbackLookup, timeout: 5000 })
  const connect: buildConnector.connector = (options, callback) => {
    const { hostname, protocol } = options
    if (protocol !== 'http:') {
      callback(new Error(`loopbackDispatcher only speaks plain http (got ${protocol})`), null)
      return
    }
    if (!isLoopbackName(hostname) && !isLoopbackIp(hostname)) {
      callback(notLoopbackError(hostname), null)
      return
    }
    inner(options, callback)
  }
  const agentOpts: Agent.Options = { connect, keepAliveTimeout: 4000 }
  if (opts.connections !== undefined) {
    agentOpts.connections = opts.connections
    return new Agent(agentOpts)
  }
  return new ShardedAgent(agentOpts, CROWD_AGENT_SHARDS)
}

// ---------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------

function validateProfile(p: CrowdProfile): void {
  const finiteNonNeg = (v: number, name: string): void => {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`profile.${name} must be a finite number >= 0`)
  }
  switch (p.kind) {
    case 'step':
      finiteNonNeg(p.rps, 'rps')
      finiteNonNeg(p.durationMs, 'durationMs')
      break
    case 'ramp':
      finiteNonNeg(p.fromRps, 'fromRps')
      finiteNonNeg(p.toRps, 'toRps')
      finiteNonNeg(p.durationMs, 'durationMs')
      break
    case 'bursts':
      finiteNonNeg(p.rps, 'rps')
      finiteNonNeg(p.burstMs, 'burstMs')
      finiteNonNeg(p.gapMs, 'gapMs')
      if (!Number.isInteger(p.count) || p.count < 0) throw new RangeError('profile.count must be an integer >= 0')
      break
    default:
      throw new RangeError('unknown profile kind')
  }
}

function profileDurationMs(p: CrowdProfile): number {
  switch (p.kind) {
    case 'step':
    case 'ramp':
      return p.durationMs
    case 'bursts':
      return p.count === 0 ? 0 : p.count * p.burstMs + (p.count - 1) * p.gapMs
  }
}

/** Target cumulative number of requests at t ms after the start. */
function cumulativeTarget(p: CrowdProfile, tMs: number): number {
  const t = Math.max(0, Math.min(tMs, profileDurationMs(p)))
  switch (p.kind) {
    case 'step':
      return (p.rps * t) / 1000
    case 'ramp': {
      if (p.durationMs === 0) return 0
      const slope = (p.toRps - p.fromRps) / p.durationMs
      return (p.fromRps * t + (slope * t * t) / 2) / 1000
    }
    case 'bursts': {
      const cycle = p.burstMs + p.gapMs
      if (cycle === 0) return 0
      const full = Math.floor(t / cycle)
      const onMs = full * p.burstMs + Math.min(p.burstMs, t - full * cycle)
      return (p.rps * onMs) / 1000
    }
  }
}

// ---------------------------------------------------------------------------
// Link extraction
// ---------------------------------------------------------------------------

const SUBRESOURCE_EXT = /\.(css|js|mjs|png|jpe?g|gif|webp|avif|svg|ico)$/i
const PAGE_EXT = /\.(html?|php|aspx?)$/i

export interface Links {
  subresources: URL[]
  downloads: URL[]
}

/** The subresources a browser loads with `html` and the downloads it links, resolved against `base`. */
export function extractLinks(html: string, base: URL): Links {
  const subresources = new Map<string, URL>()
  const downloads = new Map<string, URL>()
  const tagRe = /<([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>/g
  const attrRe = /\b(src|href)\s*=\s*"([^"]*)"/gi
  for (const tag of html.matchAll(tagRe)) {
    const name = (tag[1] ?? '').toLowerCase()
    const attrs = tag[2] ?? ''
    for (const attr of attrs.matchAll(attrRe)) {
      const raw = (attr[2] ?? '').trim()
      if (raw === '' || raw.startsWith('#')) continue
      let url: URL
      try {
        url = new URL(raw, base)
      } catch {
        continue
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') continue
      url.hash = ''
      const pathname = url.pathname
      if (name === 'a') {
        const lastSegment = pathname.slice(pathname.lastIndexOf('/') + 1)
        if (lastSegment.includes('.') && !PAGE_EXT.test(lastSegment) && !SUBRESOURCE_EXT.test(lastSegment)) {
          downloads.set(url.href, url)
        }
      } else if (SUBRESOURCE_EXT.test(pathname)) {
        subresources.set(url.href, url)
      }
    }
  }
  return { subresources: [...subresources.values()], downloads: [...downloads.values()] }
}

// ---------------------------------------------------------------------------
// The crowd
// ---------------------------------------------------------------------------

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const PER_VISIT_PARALLELISM = 6
const DOWNLOAD_PROBABILITY = 0.1
const DEFAULT_REQUESTS_PER_VISIT = 6
const TICK_MS = 5
const PAGE_SUCCESS_WINDOW = 20

/** A request's time limit, over its whole redirect chain: aborts whatever GET is open when it passes. */
class Deadline {
  expired = false
  #abort: ((err: Error) => void) | undefined
  readonly #timer: NodeJS.Timeout
  constructor(ms: number) {
    this.#timer = setTimeout(() => {
      this.expired = true
      this.#abort?.(new Error('timeout'))
    }, ms)
  }
  /** Let `abort` end the GET now open; undefined when none is. */
  watch(abort: ((err: Error) => void) | undefined): void {
    this.#abort = abort
  }
  clear(): void {
    clearTimeout(this.#timer)
    this.#abort = undefined
  }
}

/** What one GET has received so far (filled in as it arrives, so a failed GET keeps its partial figures). */
interface Got {
  status: number
  /** The Location header when the status is a redirect. */
  location: string | undefined
  /** Body bytes (0 for a redirect, whose body is dropped). */
  bytes: number
  bodyStart: number | undefined
  /** The body, when `keep` and not a redirect. */
  body: Buffer | undefined
  /** Whether the body equals `want` (true when there is no `want`). */
  matches: boolean
}

/**
 * One GET through undici's dispatch API: body chunks are compared with `want` as they arrive
 * and kept only when asked, with no stream or copy per response. The crowd client is the
 * testbed's busiest process; undici's `request()` (a Readable per response, then a copy of the
 * whole body to compare) cost it about twice the CPU per request.
 */
function getOnce(
  dispatcher: Dispatcher,
  url: URL,
  headers: Record<string, string>,
  deadline: Deadline,
  keep: boolean,
  want: Buffer | undefined,
  got: Got
): Promise<void> {
  got.status = 0
  got.location = undefined
  got.bytes = 0
  got.bodyStart = undefined
  got.body = undefined
  got.matches = true
  return new Promise<void>((resolve, reject) => {
    if (deadline.expired) {
      reject(new Error('timeout'))
      return
    }
    let redirect = false
    const chunks: Buffer[] | undefined = keep ? [] : undefined
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        if (deadline.expired) controller.abort(new Error('timeout'))
        else deadline.watch(err => controller.abort(err))
      },
      onResponseStart(_controller, statusCode, resHeaders) {
        if (statusCode < 200) return
        got.status = statusCode
        const loc = resHeaders['location']
        redirect = REDIRECT_STATUSES.has(statusCode) && typeof loc === 'string'
        if (redirect) got.location = loc as string
        else got.bodyStart = Date.now()
      },
      onResponseData(_controller, chunk) {
        if (redirect) return
        if (want !== undefined && got.matches) {
          const end = got.bytes + chunk.length
          got.matches = end <= want.length && chunk.equals(want.subarray(got.bytes, end))
        }
        got.bytes += chunk.length
        chunks?.push(chunk)
      },
      onResponseEnd() {
        deadline.watch(undefined)
        if (want !== undefined && got.bytes !== want.length) got.matches = false
        if (chunks !== undefined && !redirect) got.body = Buffer.concat(chunks, got.bytes)
        resolve()
      },
      onResponseError(_controller, err) {
        deadline.watch(undefined)
        reject(err)
      }
    }
    try {
      dispatcher.dispatch({ origin: url.origin, path: url.pathname + url.search, method: 'GET', headers }, handler)
    } catch (err) {
      reject(err)
    }
  })
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    return code !== undefined ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Run a bounded flash crowd against `siteUrl` and report every request. */
export async function runCrowd(opts: CrowdOptions): Promise<CrowdReport> {
  const site = new URL(opts.siteUrl)
  const siteOrigin = site.origin
  if (opts.pages.length === 0) throw new RangeError('runCrowd: pages must not be empty')
  validateProfile(opts.profile)
  if (!Number.isInteger(opts.maxRequests) || opts.maxRequests < 0) throw new RangeError('maxRequests must be an integer >= 0')
  if (!Number.isFinite(opts.maxDurationMs) || opts.maxDurationMs < 0) throw new RangeError('maxDurationMs must be >= 0')
  const maxInFlight = opts.maxInFlight ?? 2000
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000
  const maxRedirects = opts.maxRedirects ?? 5
  const expected = opts.expected
  const onResult = opts.onResult
  const signal = opts.signal

  const ownDispatcher = opts.dispatcher === undefined ? loopbackDispatcher() : undefined
  const dispatcher: Dispatcher = opts.dispatcher ?? (ownDispatcher as Dispatcher)

  const rand = seededRandom(opts.seed ?? 1)
  const choosePage = zipfSampler(opts.pages.length, opts.zipfS ?? 1.0, rand)

  const results: RequestResult[] = []
  const pageLoadsMs: number[] = []
  const visits = { started: 0, loaded: 0, failed: 0 }
  const visitResults: VisitResult[] = []
  const pace = opts.pace ?? 'requests'
  if (pace !== 'requests' && pace !== 'visits') throw new RangeError("pace must be 'requests' or 'visits'")
  let sent = 0
  let inFlight = 0
  let callbackError: unknown
  const t0 = performance.now()
  // Per page: subresources a visit fetches (without the optional download), learned from the first load.
  const learned = new Map<string, number>()
  let learnedSum = 0
  // Moving estimate of the chance a page load succeeds (and so is followed by its subresources).
  let pageSuccess = 1

  const elapsed = (): number => performance.now() - t0
  const mayStart = (): boolean => sent < opts.maxRequests && elapsed() < opts.maxDurationMs && signal?.aborted !== true

  // Requests not yet sent that visits in progress are expected to make:
  // subresources of loaded pages still to fetch, plus the expected subresources
  // of pages still loading (weighted by the chance that a page load succeeds).
  let reservedKnown = 0
  let pendingPages = 0
  let pendingSubresources = 0
  const committed = (): number => sent + reservedKnown + pageSuccess * pendingSubresources

  /** Expected number of subresource requests (including the optional download) following a load of `page`. */
  function expectedSubresources(page: string): number {
    const known = learned.get(page)
    const n = known ?? (learned.size > 0 ? learnedSum / learned.size : DEFAULT_REQUESTS_PER_VISIT - 1)
    return n + DOWNLOAD_PROBABILITY
  }

  function notePage(ok: boolean): void {
    pageSuccess += ((ok ? 1 : 0) - pageSuccess) / PAGE_SUCCESS_WINDOW
  }

  function emit(r: RequestResult): void {
    results.push(r)
    if (onResult !== undefined) {
      try {
        onResult(r)
      } catch (err) {
        callbackError ??= err
      }
    }
  }

  /** Fetch one resource (following redirects); undefined when the limits forbid starting it. */
  /** `referer`: the page a subresource or download belongs to, sent as browsers do (same-origin: the full URL). */
  async function fetchOne(
    via: Dispatcher,
    initial: URL,
    keepBody: boolean,
    referer?: string
  ): Promise<{ result: RequestResult; body: Buffer | undefined } | undefined> {
    if (!mayStart()) return undefined
    sent++
    const path = initial.pathname + initial.search
    const start = Date.now()
    if (inFlight >= maxInFlight) {
      const result: RequestResult = {
        start,
        end: start,
        path,
        finalUrl: initial.href,
        status: 0,
        ok: false,
        servedBy: 'error',
        bytes: 0,
        redirects: 0,
        error: 'client-overload'
      }
      emit(result)
      return { result, body: undefined }
    }
    inFlight++
    const want = expected?.get(path)
    const deadline = new Deadline(requestTimeoutMs)
    let current = initial
    let redirects = 0
    let error: string | undefined
    const got: Got = { status: 0, location: undefined, bytes: 0, bodyStart: undefined, body: undefined, matches: true }
    try {
      for (;;) {
        const headers: Record<string, string> = { 'user-agent': 'reef-crowd/1.0', accept: '*/*' }
        if (referer !== undefined) headers['referer'] = new URL(referer).origin === current.origin ? referer : new URL(referer).origin + '/'
        await getOnce(via, current, headers, deadline, keepBody, want, got)
        if (got.location !== undefined) {
          if (redirects >= maxRedirects) {
            error = 'too-many-redirects'
            break
          }
          const next = new URL(got.location, current)
          if (next.protocol !== 'http:' && next.protocol !== 'https:') {
            error = `unsupported redirect protocol ${next.protocol}`
            break
          }
          current = next
          redirects++
          continue
        }
        break
      }
    } catch (err) {
      error = deadline.expired ? 'timeout' : describeError(err)
    } finally {
      deadline.clear()
      inFlight--
    }
    const status = got.status
    const failedTransport = error !== undefined || status === 0 || status >= 500
    const ok = !failedTransport && status === 200 && (want === undefined || got.matches)
    const servedBy: RequestResult['servedBy'] = failedTransport ? 'error' : current.origin === siteOrigin ? 'origin' : 'helper'
    const result: RequestResult = {
      start,
      end: Date.now(),
      path,
      finalUrl: current.href,
      status,
      ok,
      servedBy,
      bytes: got.bytes,
      redirects
    }
    if (got.bodyStart !== undefined) result.bodyStart = got.bodyStart
    if (error !== undefined) result.error = error
    emit(result)
    return { result, body: keepBody ? got.body : undefined }
  }

  async function visit(page: string, wantsDownload: boolean, downloadPick: number): Promise<void> {
    // Like one browser: every request of the visit on the same connections (one shard's pools).
    const via = dispatcher instanceof ShardedAgent ? dispatcher.shard(visits.started) : dispatcher
    visits.started++
    const began = performance.now()
    const vr: VisitResult = { start: Date.now(), end: 0, page, finalUrl: '', ok: false, complete: true, bytes: 0, requests: 0 }
    visitResults.push(vr)
    // Everything up to the first await runs synchronously, so the pacing loop
    // sees this visit's page as sent and its subresources as expected at once.
    const subEstimate = expectedSubresources(page)
    pendingPages++
    pendingSubresources += subEstimate
    let first: Awaited<ReturnType<typeof fetchOne>>
    try {
      first = await fetchOne(via, new URL(page, site), true)
    } finally {
      pendingPages--
      pendingSubresources = pendingPages === 0 ? 0 : pendingSubresources - subEstimate
    }
    if (first === undefined) {
      vr.end = Date.now()
      vr.complete = false
      return
    }
    const { result, body } = first
    vr.finalUrl = result.finalUrl
    vr.requests = 1
    vr.bytes = result.bytes
    if (!result.ok || body === undefined) {
      notePage(false)
      visits.failed++
      vr.end = result.end
      return
    }
    notePage(true)
    const links = extractLinks(body.toString('utf8'), new URL(result.finalUrl))
    const todo = links.subresources.slice()
    if (!learned.has(page)) {
      learned.set(page, todo.length)
      learnedSum += todo.length
    }
    const download = wantsDownload ? links.downloads[Math.floor(downloadPick * links.downloads.length)] : undefined

    let allOk = true
    let complete = true
    let next = 0
    reservedKnown += todo.length + (download === undefined ? 0 : 1)
    const lane = async (): Promise<void> => {
      while (next < todo.length) {
        const url = todo[next++]
        if (url === undefined) break
        const pending = fetchOne(via, url, false, result.finalUrl) // counts as sent synchronously
        reservedKnown--
        const r = await pending
        if (r === undefined) {
          complete = false
          continue
        }
        vr.requests++
        vr.bytes += r.result.bytes
        if (!r.result.ok) allOk = false
      }
    }
    const lanes: Array<Promise<void>> = []
    for (let i = 0; i < Math.min(PER_VISIT_PARALLELISM, todo.length); i++) lanes.push(lane())
    await Promise.all(lanes)
    vr.end = Date.now()
    vr.complete = complete
    vr.ok = allOk && complete
    if (!allOk) visits.failed++
    else if (complete) {
      visits.loaded++
      pageLoadsMs.push(performance.now() - began)
    }
    // Like a reader clicking a download link once the page is shown; not part of the page load time.
    if (download !== undefined) {
      const pending = fetchOne(via, download, false, result.finalUrl)
      reservedKnown--
      await pending
    }
  }

  const active = new Set<Promise<void>>()
  let visitError: unknown
  const profileMs = profileDurationMs(opts.profile)
  const horizon = Math.min(profileMs, opts.maxDurationMs)
  try {
    while (mayStart()) {
      const t = elapsed()
      const target = cumulativeTarget(opts.profile, t)
      const behind = (): boolean => (pace === 'visits' ? visits.started < target : committed() < target && committed() < opts.maxRequests)
      while (behind() && mayStart()) {
        const page = opts.pages[choosePage()] ?? opts.pages[0] ?? '/'
        const wantsDownload = rand() < DOWNLOAD_PROBABILITY
        const downloadPick = rand()
        const p = visit(page, wantsDownload, downloadPick).catch((err: unknown) => {
          visitError ??= err
        })
        active.add(p)
        void p.finally(() => active.delete(p))
      }
      if (t >= horizon) break
      await sleep(Math.min(TICK_MS, Math.max(1, horizon - t)))
    }
    // Visits in progress may still fetch their subresources until a limit stops them.
    while (active.size > 0) await Promise.all(active)
  } finally {
    if (ownDispatcher !== undefined) await ownDispatcher.close()
  }
  if (visitError !== undefined) throw visitError
  if (callbackError !== undefined) throw callbackError

  let succeeded = 0
  const byServer = { origin: 0, helper: 0, error: 0 }
  for (const r of results) {
    if (r.ok) succeeded++
    byServer[r.servedBy]++
  }
  return {
    results,
    sent: results.length,
    succeeded,
    failed: results.length - succeeded,
    successRate: results.length === 0 ? 0 : succeeded / results.length,
    byServer,
    pageLoadsMs,
    visits,
    visitResults
  }
}
