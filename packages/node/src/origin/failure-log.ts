import type { Logger } from 'pino'
import { ORIGIN_FAILURE_WARN_MS } from '../constants.ts'

/**
 * Warnings about a failing origin, at most one a second, each with how many failures it stands
 * for: an origin down in a crowd fails every request, and one line per request would flood the
 * log (and cost the CPU the crowd needs).
 */
export class OriginFailureLog {
  readonly #log: Logger
  #warnedAt = -Infinity
  #failures = 0

  constructor(log: Logger) {
    this.#log = log
  }

  failed(fields: Record<string, unknown>, msg: string, now = Date.now()): void {
    this.#failures++
    if (now - this.#warnedAt < ORIGIN_FAILURE_WARN_MS) return
    this.#warnedAt = now
    this.#log.warn({ ...fields, failures: this.#failures }, msg)
    this.#failures = 0
  }
}
