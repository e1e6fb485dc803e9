/**
 * Samples, every `intervalMs`, the bytes each namespace has sent (its host-side veth's
 * rx_bytes) and the machine's CPU time (/proc/stat), for the timelines and the CPU column.
 */
import { readFileSync } from 'node:fs'

export interface Sample {
  /** Epoch ms. */
  t: number
  /** Per namespace, in the order given: bytes sent so far. */
  sent: number[]
  /** Jiffies of all CPUs: busy (not idle or iowait) and total. */
  cpuBusy: number
  cpuTotal: number
}

function cpuTimes (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const total = v.slice(0, 8).reduce((a, x) => a + x, 0)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  return { busy: total - idle, total }
}

export class Sampler {
  readonly #read: Array<() => number>
  readonly #intervalMs: number
  readonly #maxSamples: number
  readonly samples: Sample[] = []
  #timer: NodeJS.Timeout | undefined

  /** `counters` read one namespace's bytes sent each; at most `maxSamples` are kept. */
  constructor (counters: Array<() => number>, intervalMs = 250, maxSamples = 10_000) {
    this.#read = counters
    this.#intervalMs = intervalMs
    this.#maxSamples = maxSamples
  }

  #take (): void {
    if (this.samples.length >= this.#maxSamples) { this.stop(); return }
    const cpu = cpuTimes()
    this.samples.push({ t: Date.now(), sent: this.#read.map(r => { try { return r() } catch { return Number.NaN } }), cpuBusy: cpu.busy, cpuTotal: cpu.total })
  }

  start (): void {
    this.#take()
    this.#timer = setInterval(() => { this.#take() }, this.#intervalMs)
  }

  stop (): Sample[] {
    if (this.#timer !== undefined) { clearInterval(this.#timer); this.#timer = undefined; this.#take() }
    return this.samples
  }
}
