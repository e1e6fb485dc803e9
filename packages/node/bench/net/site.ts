/**
 * The bench's handle on a site process (site-process.ts) running in a testbed namespace:
 * start it and wait until it serves, ask the node for its state, stop it (gracefully, then
 * SIGKILL) or SIGKILL it at once. Its stdout and stderr go to a log file under the run's temp
 * dir; an error about a site quotes the end of that file.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildMessage, LedgerProbe, MemoryProbe, NodeProbe, ParentMessage, ReadyMessage, SiteSpec } from './control.ts'
import { TestbedError } from './testbed.ts'
import type { Stoppable, Testbed, TestbedSite } from './testbed.ts'

const SITE_PROCESS = fileURLToPath(new URL('./site-process.ts', import.meta.url))
const LOG_TAIL_LINES = 30

/** The last lines of a log file, for an error message. */
export function logTail(file: string, lines = LOG_TAIL_LINES): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

export class SiteProcess implements Stoppable {
  readonly site: TestbedSite
  readonly spec: SiteSpec
  readonly logFile: string
  readonly #child: ChildProcess
  readonly #testbed: Testbed
  readonly #exited: Promise<void>
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()
  #nextId = 1
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  ready: ReadyMessage | undefined

  private constructor(testbed: Testbed, site: TestbedSite, spec: SiteSpec, logFile: string) {
    this.#testbed = testbed
    this.site = site
    this.spec = spec
    this.logFile = logFile
    const fd = openSync(logFile, 'a')
    try {
      // `ip netns exec` execs the command in place: the child's pid is the node process's.
      // REEF_TESTBED_CPU_PROF=<dir>: each site process writes a V8 CPU profile there when it stops.
      const profDir = process.env.REEF_TESTBED_CPU_PROF
      const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=site${site.index}-${spec.role}-${Date.now()}.cpuprofile`] : []
      this.#child = spawn('ip', ['netns', 'exec', site.netns, process.execPath, ...prof, SITE_PROCESS, '--spec', JSON.stringify(spec)], {
        stdio: ['ignore', fd, fd, 'ipc'],
        env: { ...process.env, TMPDIR: testbed.dir('site-tmp') }
      })
    } finally {
      closeSync(fd)
    }
    this.#exited = new Promise(resolve => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal }
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer)
          p.reject(this.#error(`exited (${signal ?? code}) before answering`))
        }
        this.#pending.clear()
        resolve()
      })
    })
    this.#child.on('error', () => {})
    this.#child.on('message', (raw: unknown) => {
      const msg = raw as ChildMessage
      if (msg.kind !== 'reply') return
      const p = this.#pending.get(msg.id)
      if (p === undefined) return
      this.#pending.delete(msg.id)
      clearTimeout(p.timer)
      p.resolve(msg.value)
    })
    testbed.track(this)
  }

  get label(): string {
    return this.spec.label
  }
  get pid(): number | undefined {
    return this.#child.pid
  }
  get alive(): boolean {
    return this.#exit === undefined
  }

  #error(what: string): TestbedError {
    return new TestbedError(`site ${this.spec.label} (${this.spec.role}, ${this.site.netns}) ${what}; log ${this.logFile}:\n${logTail(this.logFile)}`)
  }

  /** Spawn the site process in its namespace; resolves once it serves (its 'ready'). */
  static async start(testbed: Testbed, site: TestbedSite, spec: SiteSpec, opts: { readyTimeoutMs?: number; logName?: string } = {}): Promise<SiteProcess> {
    const logFile = join(testbed.dir('logs'), `${opts.logName ?? spec.label}.log`)
    const p = new SiteProcess(testbed, site, spec, logFile)
    const timeoutMs = opts.readyTimeoutMs ?? 60_000
    let timer: NodeJS.Timeout | undefined
    try {
      p.ready = await new Promise<ReadyMessage>((resolve, reject) => {
        timer = setTimeout(() => {
          reject(p.#error(`did not start within ${timeoutMs} ms`))
        }, timeoutMs)
        p.#child.on('message', (raw: unknown) => {
          const msg = raw as ChildMessage
          if (msg.kind === 'ready') resolve(msg)
          else if (msg.kind === 'fatal') reject(p.#error(`failed to start: ${msg.message}`))
        })
        void p.#exited.then(() => {
          reject(p.#error(`exited (${p.#exit?.signal ?? p.#exit?.code}) before it was ready`))
        })
      })
    } catch (err) {
      p.kill()
      await p.#exited
      testbed.untrack(p)
      throw err
    } finally {
      clearTimeout(timer)
    }
    if (p.ready.pid !== p.pid) {
      await p.stop(3_000)
      throw p.#error(`reports pid ${p.ready.pid} but was spawned as ${p.pid}: ip netns exec did not exec in place`)
    }
    return p
  }

  #ask(msg: ParentMessage, timeoutMs: number): Promise<unknown> {
    if (!this.alive || !this.#child.connected) return Promise.reject(this.#error('is not running'))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(msg.id)
        reject(this.#error(`did not answer "${msg.kind}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(msg.id, { resolve, reject, timer })
      this.#child.send(msg)
    })
  }

  /** The node's state (role reef; empty otherwise). `full` adds node.status(). */
  async probe(full = false, timeoutMs = 10_000): Promise<NodeProbe> {
    return (await this.#ask({ kind: 'probe', id: this.#nextId++, full }, timeoutMs)) as NodeProbe
  }

  /** Close the site's origin (the node, if any, lives on): the origin-down set-up. */
  /** The node's ledger: stored totals, what its records rebuild to. */
  async ledger(timeoutMs = 30_000): Promise<LedgerProbe> {
    return (await this.#ask({ kind: 'ledger', id: this.#nextId++ }, timeoutMs)) as LedgerProbe
  }

  /** The process's memory right after a full GC. */
  async memory(timeoutMs = 10_000): Promise<MemoryProbe> {
    return (await this.#ask({ kind: 'memory', id: this.#nextId++ }, timeoutMs)) as MemoryProbe
  }

  async stopOrigin(timeoutMs = 5_000): Promise<void> {
    await this.#ask({ kind: 'stop-origin', id: this.#nextId++ }, timeoutMs)
  }

  /** Ask the process to stop; SIGKILL it if it has not exited after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.alive) {
      if (this.#child.connected) this.#ask({ kind: 'stop', id: this.#nextId++ }, graceMs).catch(() => {})
      else this.#child.kill('SIGTERM')
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        this.#exited,
        new Promise(resolve => {
          timer = setTimeout(resolve, graceMs)
        })
      ])
      clearTimeout(timer)
      if (this.alive) {
        this.kill()
        await this.#exited
      }
    }
    this.#testbed.untrack(this)
  }

  /** SIGKILL now (like a machine that dies); resolves once it is gone. */
  kill(): void {
    if (this.alive) this.#child.kill('SIGKILL')
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<void> {
    return this.#exited
  }
}
