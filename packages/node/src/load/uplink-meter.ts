/**
 * What this machine sends, measured where Reef writes it (SPEC.md §Capacity in bytes): every
 * socket of the front and of the mirror — the bytes the kernel has taken, `bytesWritten −
 * writableLength` — and the bodies sent to helpers over libp2p fetch streams. Sampled every
 * `sampleMs` into rate windows. `backlogBytes` is what the process still holds for those
 * sockets because the kernel would not take it: sockets backing up, the sign of an uplink that
 * is full whatever its declared rate.
 *
 * What the kernel took is not yet on the wire: socket buffers and the uplink's own queue hold
 * seconds of it when a crowd arrives (a front answering a crowd from its cache can hand the
 * kernel ten times what the uplink sends). `queuedBytes` estimates all that waits: the backlog,
 * plus a fluid model of the uplink — what was handed to the kernel less what the declared
 * uplink could have sent meanwhile (its payload rate: TCP/IP headers take ~5 % of the wire).
 */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { RateWindow } from './rate-window.ts'

export type UplinkUse = 'front' | 'mirror' | 'p2p'

/** Share of the wire rate left for payload (TCP/IP headers take the rest). */
export const PAYLOAD_SHARE = 0.95

/** Samples the persistent backlog looks back over (one second at the default 100 ms). */
const BACKLOG_SAMPLES = 10

interface Tracked {
  use: 'front' | 'mirror'
  /** bytesWritten − writableLength at the last sample. */
  seen: number
}

export class UplinkMeter {
  /** Everything sent, bytes per rate-window bucket. */
  readonly sent = new RateWindow()
  readonly byUse: Readonly<Record<UplinkUse, RateWindow>> = { front: new RateWindow(), mirror: new RateWindow(), p2p: new RateWindow() }
  /** Bytes sent since the meter started, per use. */
  readonly totals: Record<UplinkUse, number> = { front: 0, mirror: 0, p2p: 0 }
  /** Bytes the process holds for its sockets that the kernel has not taken yet (at the last sample). */
  backlogBytes = 0
  /** Bodies helpers are waiting for on fetch streams, not all sent yet (bytes). */
  pendingP2pBytes = 0
  /** The backlog at the last samples (a ring), for `persistentBacklogBytes`. */
  readonly #backlogs: number[] = []
  readonly #sockets = new Map<Socket, Tracked>()
  readonly #sampleMs: number
  readonly #drainBytesPerSec: number
  #timer: NodeJS.Timeout | undefined
  /** Handed to the kernel and not yet sent, by the fluid model; and the totals at the last sample. */
  #kernelQueue = 0
  #handedAt = 0
  #sampledAt = 0

  constructor(opts: { bytesPerSec?: number; sampleMs?: number } = {}) {
    this.#sampleMs = opts.sampleMs ?? 100
    this.#drainBytesPerSec = (opts.bytesPerSec ?? Infinity) * PAYLOAD_SHARE
  }

  /** Bytes waiting to leave: held by the process, and handed to the kernel but not yet sent (estimated). */
  get queuedBytes(): number {
    return this.backlogBytes + this.#kernelQueue
  }

  /** Seconds the uplink needs to send what waits (0 without a declared rate). */
  get drainSeconds(): number {
    return Number.isFinite(this.#drainBytesPerSec) ? this.queuedBytes / this.#drainBytesPerSec : 0
  }

  /** Count what `server` sends on every connection it accepts. */
  watch(server: Server, use: 'front' | 'mirror'): void {
    server.on('connection', (socket: Socket) => {
      const t: Tracked = { use, seen: 0 }
      this.#sockets.set(socket, t)
      socket.once('close', () => {
        this.#account(socket, t)
        this.#sockets.delete(socket)
      })
    })
  }

  /** Bytes sent outside the watched servers (libp2p fetch-stream bodies). */
  add(use: UplinkUse, bytes: number): void {
    if (bytes <= 0) return
    this.sent.add(bytes)
    this.byUse[use].add(bytes)
    this.totals[use] += bytes
  }

  #account(socket: Socket, t: Tracked): number {
    const written = socket.bytesWritten ?? 0
    const pending = socket.writableLength
    const done = written - pending
    if (done > t.seen) {
      this.add(t.use, done - t.seen)
      t.seen = done
    }
    return pending
  }

  sample(): void {
    let backlog = 0
    for (const [socket, t] of this.#sockets) backlog += this.#account(socket, t)
    this.backlogBytes = backlog
    const now = performance.now()
    const handed = this.totals.front + this.totals.mirror + this.totals.p2p
    if (this.#sampledAt !== 0 && Number.isFinite(this.#drainBytesPerSec)) {
      this.#kernelQueue = Math.max(0, this.#kernelQueue + handed - this.#handedAt - (this.#drainBytesPerSec * (now - this.#sampledAt)) / 1000)
    }
    this.#handedAt = handed
    this.#sampledAt = now
    this.#backlogs.push(backlog)
    if (this.#backlogs.length > BACKLOG_SAMPLES) this.#backlogs.shift()
  }

  /**
   * The least backlog over the last second: a queue that never drained in that time. A burst
   * of responses fills socket buffers for a moment whatever the uplink; only a queue that
   * stays means the uplink sends less than it is given.
   */
  get persistentBacklogBytes(): number {
    return this.#backlogs.length < BACKLOG_SAMPLES ? 0 : Math.min(...this.#backlogs)
  }

  /** Bytes/s sent over the last `windowMs` (all uses, or one). */
  rate(windowMs = 1_000, use?: UplinkUse): number {
    return (use === undefined ? this.sent : this.byUse[use]).rate(windowMs)
  }

  get sockets(): number {
    return this.#sockets.size
  }

  start(): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => {
      this.sample()
    }, this.#sampleMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
