/**
 * The relief ladder (README §How it works): as load grows, a micro-cache at the front, the
 * consortium's helpers, the external mirror, then refusing with `Retry-After`; each rung is
 * released as the crowd passes. This component engages the rungs it owns (the micro-cache and
 * the external mirror; the help coordinator engages the helpers) and keeps when each rung
 * engaged and released, for the status view and the metrics.
 */
import type { Capacity } from '@reef/governance'
import type { CrowdState } from '@reef/protocol'
import type { Logger } from 'pino'
import type { ReefConfig } from '../config/config.ts'
import { EXTERNAL_MIRROR_COVER, RATE_WINDOW_MS, RELIEF_HISTORY_MAX } from '../constants.ts'
import type { OriginGate } from '../origin/gate.ts'
import type { ExternalMirror } from '../load/external-mirror.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import type { Shedder } from '../load/shedder.ts'

export type ReliefRung = 'micro-cache' | 'helpers' | 'external-mirror' | 'refusing'
export const RELIEF_RUNGS: readonly ReliefRung[] = ['micro-cache', 'helpers', 'external-mirror', 'refusing']

export interface ReliefChange {
  rung: ReliefRung
  engaged: boolean
  at: number
}

export interface ReliefLadderComponents {
  config: Pick<ReefConfig, 'relief' | 'origin' | 'crowd'>
  shedder: Pick<Shedder, 'helpers' | 'fallback' | 'setFallback' | 'liveHelperBytesPerSec'>
  gate: Pick<OriginGate<string | null>, 'divert'>
  monitor: Pick<LoadMonitor, 'refused'>
  externalMirror: ExternalMirror | undefined
  log: Logger
}

export class ReliefLadder {
  readonly #c: ReliefLadderComponents
  /** Switches the front reads on every request. */
  readonly switches = { microCache: false }
  /** When each rung engaged and released, oldest first (at most RELIEF_HISTORY_MAX). */
  readonly history: ReliefChange[] = []
  readonly #rungs = new Map<ReliefRung, boolean>()
  #microCacheCalmSince: number | undefined

  constructor(components: ReliefLadderComponents) {
    this.#c = components
  }

  /** The rungs that changed at least once, and whether each is engaged now. */
  rungs(): Partial<Record<ReliefRung, boolean>> {
    return Object.fromEntries(this.#rungs)
  }

  /** Whether `rung` is engaged now (as last tracked). */
  engaged(rung: ReliefRung): boolean {
    return this.#rungs.get(rung) ?? false
  }

  /** Rung 1 engages as demand passes its share of capacity and is the last to be released. */
  engageMicroCache(state: CrowdState, demand: number, now: number): void {
    const mc = this.#c.config.relief.microCache
    if (!mc.enabled) return
    const engageAt = mc.engageShare * this.#c.config.origin.capacityRps
    if (demand >= engageAt || state !== 'normal') {
      // What already waits for the origin and the micro-cache can answer is answered from it.
      if (!this.switches.microCache) this.#c.gate.divert(tag => tag !== null)
      this.switches.microCache = true
      this.#microCacheCalmSince = undefined
    } else if (this.switches.microCache && demand < engageAt / 2) {
      this.#microCacheCalmSince ??= now
      if (now - this.#microCacheCalmSince >= this.#c.config.crowd.calmMs) this.switches.microCache = false
    } else {
      this.#microCacheCalmSince = undefined
    }
  }

  /**
   * The external mirror takes, while the crowd lasts, what the accepted helpers' capacity does
   * not cover (all of it for a site alone): it joins the shedder as one more target, weighted
   * in bytes/s like a helper.
   */
  engageExternalMirror(state: CrowdState, need: Capacity, meanObjectBytes: number): void {
    const ext = this.#c.externalMirror
    if (ext === undefined) return
    const shedder = this.#c.shedder
    const weight = state === 'normal' ? 0 : Math.round(need.bytesPerSec * EXTERNAL_MIRROR_COVER - shedder.liveHelperBytesPerSec())
    if (weight <= 0) {
      if (shedder.fallback !== undefined) shedder.setFallback(undefined)
      return
    }
    shedder.setFallback({
      peer: 'external-mirror',
      weightBytesPerSec: weight,
      weightRps: Math.round(weight / meanObjectBytes),
      mirrorUrl: ext.template,
      siteBase: '',
      location: path => ext.location(path)
    })
  }

  /** Note which rungs engaged or released since the last call. */
  track(now: number): void {
    const engaged: Array<[ReliefRung, boolean]> = [
      ['micro-cache', this.switches.microCache],
      ['helpers', this.#c.shedder.helpers.length > 0],
      ['external-mirror', this.#c.shedder.fallback !== undefined],
      ['refusing', this.#c.monitor.refused.sum(RATE_WINDOW_MS) > 0]
    ]
    for (const [rung, on] of engaged) {
      if ((this.#rungs.get(rung) ?? false) === on) continue
      this.#rungs.set(rung, on)
      this.history.push({ rung, engaged: on, at: now })
      if (this.history.length > RELIEF_HISTORY_MAX) this.history.shift()
      this.#c.log.info({ rung, engaged: on }, on ? 'relief rung engaged' : 'relief rung released')
    }
  }
}
