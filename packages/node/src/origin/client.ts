/**
 * The node's only way to the origin: an undici pool sized to the origin's concurrency, behind
 * the origin gate. `fill` loads one shareable object into the cache for helpers, one origin
 * fetch per object at a time (concurrent callers share the same promise).
 */
import { OriginFailureLog } from './failure-log.ts'
import { Pool } from 'undici'
import type { Logger } from 'pino'
import { isResponseShareable, pickMirroredHeaders } from './cacheability.ts'
import { sha256Hex } from './content-cache.ts'
import type { CachedObject, ContentCache } from './content-cache.ts'
import { FetchRefusedError, OriginUnavailableError } from '../errors.ts'
import type { HotSet } from './hot-set.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import type { OriginGate } from './gate.ts'
import { ORIGIN_KEEP_ALIVE_MS } from '../constants.ts'

export interface OriginClientOptions {
  url: string
  site: string
  maxConcurrent: number
  timeoutMs: number
}

export class OriginClient {
  readonly pool: Pool
  readonly #opts: OriginClientOptions
  readonly #gate: OriginGate<string | null>
  readonly #cache: ContentCache
  readonly #hotSet: HotSet
  readonly #monitor: LoadMonitor
  readonly #failures: OriginFailureLog
  readonly #inflight = new Map<string, Promise<CachedObject>>()

  constructor(opts: OriginClientOptions, gate: OriginGate<string | null>, cache: ContentCache, hotSet: HotSet, monitor: LoadMonitor, log: Logger) {
    this.#opts = opts
    this.pool = new Pool(opts.url, {
      connections: opts.maxConcurrent,
      pipelining: 1,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      keepAliveTimeout: ORIGIN_KEEP_ALIVE_MS
    })
    this.#gate = gate
    this.#cache = cache
    this.#hotSet = hotSet
    this.#monitor = monitor
    this.#failures = new OriginFailureLog(log)
  }

  /**
   * The local site's object at `path`, from cache or (once at a time: concurrent callers share
   * one origin fetch) from the origin. `refresh` skips the cached copy (revalidation, or a
   * stale one); `timeoutMs` bounds the wait for the origin gate.
   */
  load(path: string, opts: { refresh?: boolean; timeoutMs?: number } = {}): Promise<CachedObject> {
    if (opts.refresh !== true) {
      const cached = this.#cache.get(this.#opts.site, path)
      if (cached !== undefined) return Promise.resolve(cached)
    }
    let p = this.#inflight.get(path)
    if (p === undefined) {
      p = this.#fill(path, opts.timeoutMs ?? this.#opts.timeoutMs).finally(() => this.#inflight.delete(path))
      this.#inflight.set(path, p)
    }
    return p
  }

  async #fill(path: string, timeoutMs: number): Promise<CachedObject> {
    const outcome = await this.#gate.acquire(null, timeoutMs)
    if (outcome !== 'admitted') throw new FetchRefusedError(503, 'origin is at capacity')
    this.#monitor.originStart()
    const started = performance.now()
    let bytes = 0
    try {
      const res = await this.pool.request({ method: 'GET', path, headers: { 'accept-encoding': 'identity', 'user-agent': 'reef-node' } })
      if (!isResponseShareable(res.statusCode, res.headers)) {
        await res.body.dump()
        this.#hotSet.learn(path, false)
        throw new FetchRefusedError(res.statusCode === 200 ? 403 : res.statusCode, `origin answered ${res.statusCode} (not shareable) for ${path}`)
      }
      const declared = Number(res.headers['content-length'] ?? NaN)
      if (declared > this.#cache.maxObjectBytes) {
        await res.body.dump()
        throw new FetchRefusedError(413, `object ${path} is larger than the cache's object limit`)
      }
      const chunks: Buffer[] = []
      for await (const chunk of res.body) {
        bytes += (chunk as Buffer).byteLength
        this.#gate.consumeBytes((chunk as Buffer).byteLength)
        if (bytes > this.#cache.maxObjectBytes) {
          res.body.destroy()
          throw new FetchRefusedError(413, `object ${path} is larger than the cache's object limit`)
        }
        chunks.push(chunk as Buffer)
      }
      const body = Buffer.concat(chunks)
      const obj: CachedObject = { site: this.#opts.site, path, headers: pickMirroredHeaders(res.headers), body, sha256: sha256Hex(body), storedAt: Date.now() }
      this.#cache.put(obj)
      this.#hotSet.learn(path, true)
      return obj
    } catch (err) {
      if (err instanceof FetchRefusedError) throw err
      this.#monitor.totals.originErrors++
      this.#failures.failed({ err, path }, 'origin fetch failed')
      throw new OriginUnavailableError(`origin fetch of ${path} failed`, { cause: err })
    } finally {
      this.#monitor.originDone(performance.now() - started, bytes)
      this.#gate.release()
    }
  }

  async close(): Promise<void> {
    await this.pool.close()
  }
}
