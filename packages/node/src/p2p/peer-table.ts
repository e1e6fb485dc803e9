/**
 * The live view of the consortium: the latest verified load report of every peer, dropped
 * when it has not been refreshed within its expiry (a peer that stops reporting is gone): this
 * node's `expiryMs`, or REPORT_EXPIRY_FACTOR × the report's `nextReportMs` when that is longer
 * (r4 calm cadence: a large consortium's calm members report every tens of seconds).
 */
import { REPORT_EXPIRY_FACTOR } from '@reef/protocol'
import type { LoadReport } from '@reef/protocol'

export interface PeerEntry {
  peer: string
  report: LoadReport
  receivedAt: number
  expiresAt: number
}

export class PeerTable {
  readonly #entries = new Map<string, PeerEntry>()
  readonly #expiryMs: number

  constructor(expiryMs: number) {
    this.#expiryMs = expiryMs
  }

  update(peer: string, report: LoadReport, now = Date.now()): void {
    const keep = Math.max(this.#expiryMs, REPORT_EXPIRY_FACTOR * (report.nextReportMs ?? 0))
    this.#entries.set(peer, { peer, report, receivedAt: now, expiresAt: now + keep })
  }

  remove(peer: string): void {
    this.#entries.delete(peer)
  }

  get(peer: string, now = Date.now()): PeerEntry | undefined {
    const e = this.#entries.get(peer)
    if (e === undefined) return undefined
    if (now > e.expiresAt) {
      this.#entries.delete(peer)
      return undefined
    }
    return e
  }

  /** Live entries; expired ones are removed as a side effect. */
  live(now = Date.now()): PeerEntry[] {
    const out: PeerEntry[] = []
    for (const [peer, e] of this.#entries) {
      if (now > e.expiresAt) this.#entries.delete(peer)
      else out.push(e)
    }
    return out
  }
}
