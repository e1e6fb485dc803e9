/**
 * The live view of the consortium: the latest verified load report of every peer, dropped
 * when it has not been refreshed within `expiryMs` (a peer that stops reporting is gone).
 */
import type { LoadReport } from '@reef/protocol'

export interface PeerEntry {
  peer: string
  report: LoadReport
  receivedAt: number
}

export class PeerTable {
  readonly #entries = new Map<string, PeerEntry>()
  readonly #expiryMs: number

  constructor(expiryMs: number) {
    this.#expiryMs = expiryMs
  }

  update(peer: string, report: LoadReport, now = Date.now()): void {
    this.#entries.set(peer, { peer, report, receivedAt: now })
  }

  remove(peer: string): void {
    this.#entries.delete(peer)
  }

  get(peer: string, now = Date.now()): PeerEntry | undefined {
    const e = this.#entries.get(peer)
    if (e === undefined) return undefined
    if (now - e.receivedAt > this.#expiryMs) {
      this.#entries.delete(peer)
      return undefined
    }
    return e
  }

  /** Live entries; expired ones are removed as a side effect. */
  live(now = Date.now()): PeerEntry[] {
    const out: PeerEntry[] = []
    for (const [peer, e] of this.#entries) {
      if (now - e.receivedAt > this.#expiryMs) this.#entries.delete(peer)
      else out.push(e)
    }
    return out
  }
}
