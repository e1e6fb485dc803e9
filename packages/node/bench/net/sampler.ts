/**
 * Samples, every `intervalMs`, the bytes each namespace has sent (its host-side veth's
 * rx_bytes), the machine's CPU time (/proc/stat) and the CPU time of the testbed's own processes
 * (/proc/<pid>/stat: the bench and everything in the namespaces), for the timelines and the CPU
 * columns. The machine may run other work: the two CPU figures tell them apart.
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
  /** Jiffies the testbed's processes have used (user + system), summed. */
  cpuTestbed: number
}

function cpuTimes(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const total = v.slice(0, 8).reduce((a, x) => a + x, 0)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  return { busy: total - idle, total }
}

/** utime + stime of a process in clock ticks, or undefined once it is gone. */
function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(rest[11]) + Number(rest[12])
  } catch {
    return undefined
  }
}

export class Sampler {
  readonly #read: Array<() => number>
  readonly #intervalMs: number
  readonly #maxSamples: number
  readonly samples: Sample[] = []
  /** Last ticks seen per pid: a process that exits keeps what it used. */
  readonly #ticks = new Map<number, number>()
  #timer: NodeJS.Timeout | undefined

  /** `counters` read one namespace's bytes sent each; `pids` are the testbed's processes; at most `maxSamples` are kept. */
  constructor(counters: Array<() => number>, pids: number[], intervalMs = 250, maxSamples = 10_000) {
    this.#read = counters
    for (const pid of pids) this.#ticks.set(pid, 0)
    this.#intervalMs = intervalMs
    this.#maxSamples = maxSamples
  }

  #take(): void {
    if (this.samples.length >= this.#maxSamples) {
      this.stop()
      return
    }
    const cpu = cpuTimes()
    let testbed = 0
    for (const [pid, last] of this.#ticks) {
      const now = processTicks(pid) ?? last
      this.#ticks.set(pid, now)
      testbed += now
    }
    this.samples.push({
      t: Date.now(),
      sent: this.#read.map(r => {
        try {
          return r()
        } catch {
          return Number.NaN
        }
      }),
      cpuBusy: cpu.busy,
      cpuTotal: cpu.total,
      cpuTestbed: testbed
    })
  }

  start(): void {
    this.#take()
    this.#timer = setInterval(() => {
      this.#take()
    }, this.#intervalMs)
  }

  stop(): Sample[] {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
      this.#take()
    }
    return this.samples
  }
}
