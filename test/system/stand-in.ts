/**
 * A stand-in for systemd where it is not PID 1 (here, and in CI): it runs a command and restarts
 * it as the shipped unit says (deploy/reef.service: `Restart=on-failure`, `RestartSec=`).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const REEF = join(ROOT, 'packages/node/bin/reef.js')

/** systemd's RestartSec= value in ms (s, ms, min suffixes; a bare number is seconds). */
export function restartMs(unit: string): number {
  const m = /^RestartSec=(\d+(?:\.\d+)?)(ms|s|min)?\s*$/m.exec(unit)
  assert.ok(m !== null, 'deploy/reef.service has no RestartSec')
  const n = Number(m[1])
  return m[2] === 'ms' ? n : m[2] === 'min' ? n * 60_000 : n * 1_000
}

/** The shipped unit's RestartSec, in ms. */
export async function unitRestartMs(): Promise<number> {
  return restartMs(await readFile(join(ROOT, 'deploy/reef.service'), 'utf8'))
}

/** Restart=on-failure as systemd does it: a run that ends by a signal or an exit code other than 0 and 2 is restarted after `delayMs`. */
export class StandIn {
  child: ChildProcess | undefined
  starts = 0
  #stopped = false
  readonly #args: string[]
  readonly #delayMs: number
  constructor(args: string[], delayMs: number) {
    this.#args = args
    this.#delayMs = delayMs
  }

  start(): void {
    if (this.#stopped) return
    this.starts++
    const child = spawn(process.execPath, this.#args, { stdio: ['ignore', 'ignore', 'inherit'] })
    this.child = child
    child.once('exit', (code, signal) => {
      if (this.#stopped || code === 0 || code === 2) return
      if (signal !== null || code !== 0)
        setTimeout(() => {
          this.start()
        }, this.#delayMs)
    })
  }

  async stop(): Promise<void> {
    this.#stopped = true
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await new Promise(resolve => {
      child.once('exit', resolve)
      setTimeout(resolve, 10_000)
    })
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}
