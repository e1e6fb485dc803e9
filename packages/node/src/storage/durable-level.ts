/**
 * A LevelDB that stops writing at its first failed write and starts again only once reopened on
 * a volume with room: what a full disk must not turn into lost data.
 *
 * Why: when LevelDB fails to append to its log (ENOSPC), the log may end in a torn record. A
 * later write that succeeds (space came back) is appended after it, and on the next open the
 * log reader drops the rest of that block: writes LevelDB acknowledged are gone after a
 * restart. (Measured with classic-level on a 2 MiB tmpfs: a put acknowledged after space
 * returned was missing after close and open.) So after a failed write nothing is written until
 * `recover` has closed and reopened the database, which replays the log up to the torn record
 * and starts a new one.
 *
 * Recovery runs by itself every STORAGE_RECOVER_INTERVAL_MS while the store refuses writes,
 * once the volume has STORAGE_RECOVER_FREE_BYTES free; then the owner's `reopened` hook reloads
 * what it keeps in memory from disk and writes what it held back.
 */
import { statfs } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { StorageHealth } from '@reef/protocol'
import { STORAGE_FREE_SAMPLE_MS, STORAGE_RECOVER_FREE_BYTES, STORAGE_RECOVER_INTERVAL_MS } from '../constants.ts'
import { StorageUnwritableError } from '../errors.ts'

/** The part of a Level instance this needs. */
export interface Reopenable {
  open(): Promise<void>
  close(): Promise<void>
}

export interface DurableLevelOptions {
  /** Which store, in logs, errors and views: `ledger` or `governance`. */
  name: string
  /** The database's directory (its volume's free space is sampled). */
  location: string
  log?: Logger | undefined
  /** After a reopen: reload in-memory state from disk and write what was held back. Runs with writes allowed. */
  reopened?: () => Promise<void>
  /** Runs recovery inside the owner's write queue (so no write of its own is under way). */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>
  /** Free bytes needed before reopening (tests lower it). */
  recoverFreeBytes?: number
  recoverIntervalMs?: number
}

/** Whether a LevelDB error is the storage failing (full, read-only, I/O) rather than a bug. */
export function isStorageFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown } | null
  if (e === null || typeof e !== 'object') return false
  if (e.code === 'LEVEL_IO_ERROR' || e.code === 'ENOSPC' || e.code === 'EROFS' || e.code === 'EIO' || e.code === 'EDQUOT') return true
  if (typeof e.message === 'string' && /No space left|Read-only file system|Input\/output error|IO error/i.test(e.message)) return true
  return e.cause !== undefined && e.cause !== err && isStorageFailure(e.cause)
}

export class DurableLevel {
  readonly #db: Reopenable
  readonly #o: DurableLevelOptions
  #failedAt: number | undefined
  #error: string | undefined
  #failures = 0
  #recoveries = 0
  #freeBytes: number | undefined
  #recoverTimer: NodeJS.Timeout | undefined
  #sampleTimer: NodeJS.Timeout | undefined
  #recovering: Promise<boolean> | undefined
  /** Reopened, the owner writing what it held: writes are allowed, but the store is not caught up. */
  #catchingUp = false
  #stopped = false

  constructor(db: Reopenable, opts: DurableLevelOptions) {
    this.#db = db
    this.#o = opts
  }

  /** Sample the volume's free space now and from now on (for the views). */
  async start(): Promise<void> {
    await this.#sampleFree()
    if (this.#stopped) return
    this.#sampleTimer = setInterval(() => void this.#sampleFree(), STORAGE_FREE_SAMPLE_MS)
    this.#sampleTimer.unref()
  }

  stop(): void {
    this.#stopped = true
    clearInterval(this.#sampleTimer)
    clearTimeout(this.#recoverTimer)
  }

  get writable(): boolean {
    return this.#failedAt === undefined
  }

  /** `writable` here means caught up too: true only once what was held back is written. */
  health(): StorageHealth {
    return {
      writable: this.writable && !this.#catchingUp,
      since: this.#failedAt ?? null,
      error: this.#error ?? null,
      failures: this.#failures,
      recoveries: this.#recoveries,
      freeBytes: this.#freeBytes ?? null
    }
  }

  /** Throws StorageUnwritableError while the store refuses writes. */
  assertWritable(): void {
    if (this.#failedAt !== undefined) {
      this.#failures++
      throw new StorageUnwritableError(this.#o.name, `the ${this.#o.name} store refuses writes since ${new Date(this.#failedAt).toISOString()}: ${this.#error}`)
    }
  }

  /**
   * Run one write. While the store refuses writes it is not run; if it fails on the storage, the
   * store refuses writes from now on (until `recover`). Either way: StorageUnwritableError.
   */
  async write<T>(fn: () => Promise<T>): Promise<T> {
    this.assertWritable()
    try {
      return await fn()
    } catch (err) {
      if (!isStorageFailure(err)) throw err
      this.fail(err)
      throw new StorageUnwritableError(this.#o.name, `the ${this.#o.name} store could not write: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Mark the store unwritable after `err` and start looking for room. */
  fail(err: unknown): void {
    this.#failures++
    if (this.#failedAt !== undefined) return
    this.#failedAt = Date.now()
    this.#error = err instanceof Error ? err.message : String(err)
    this.#o.log?.error(
      { store: this.#o.name, err: this.#error, location: this.#o.location },
      `the ${this.#o.name} store cannot write (full or failing volume): it refuses writes until there is room again; the node keeps serving`
    )
    this.#schedule()
  }

  #schedule(): void {
    if (this.#stopped) return
    clearTimeout(this.#recoverTimer)
    this.#recoverTimer = setTimeout(() => {
      void this.recover().then(ok => {
        if (!ok) this.#schedule()
      })
    }, this.#o.recoverIntervalMs ?? STORAGE_RECOVER_INTERVAL_MS)
    this.#recoverTimer.unref()
  }

  async #sampleFree(): Promise<number | undefined> {
    try {
      const s = await statfs(this.#o.location)
      this.#freeBytes = s.bavail * s.bsize
    } catch {
      this.#freeBytes = undefined
    }
    return this.#freeBytes
  }

  /**
   * If the store refuses writes and its volume has room: close, reopen, let the owner reload and
   * write what it held. True when the store is writable afterwards.
   */
  recover(): Promise<boolean> {
    this.#recovering ??= this.#recover().finally(() => {
      this.#recovering = undefined
    })
    return this.#recovering
  }

  async #recover(): Promise<boolean> {
    if (this.#failedAt === undefined) return true
    if (this.#stopped) return false
    const free = await this.#sampleFree()
    if (free !== undefined && free < (this.#o.recoverFreeBytes ?? STORAGE_RECOVER_FREE_BYTES)) return false
    const run = this.#o.exclusive ?? (async <T>(fn: () => Promise<T>): Promise<T> => fn())
    return await run(async () => {
      // Stopped (the owner closed) while this waited for its turn: leave the database closed.
      if (this.#stopped || this.#failedAt === undefined) return this.#failedAt === undefined
      const since = this.#failedAt
      try {
        await this.#db.close()
        await this.#db.open()
      } catch (err) {
        this.#error = `reopen failed: ${(err as Error).message}`
        this.#o.log?.warn({ store: this.#o.name, err: this.#error }, `the ${this.#o.name} store could not be reopened; trying again`)
        return false
      }
      this.#failedAt = undefined
      this.#error = undefined
      this.#catchingUp = true
      try {
        await this.#o.reopened?.()
      } catch (err) {
        if (this.#failedAt === undefined) this.fail(err)
        return false
      } finally {
        this.#catchingUp = false
      }
      if (this.#failedAt !== undefined) return false
      this.#recoveries++
      this.#o.log?.warn({ store: this.#o.name, refusedForMs: Date.now() - (since ?? Date.now()) }, `the ${this.#o.name} store writes again`)
      return true
    })
  }
}
