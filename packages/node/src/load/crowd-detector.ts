/**
 * A site's crowd state machine (SPEC.md §Crowd states):
 *
 *   normal ──(demand ≥ strikeShare·capacity for strikeHoldMs,
 *             or at once while the origin is saturated: requests already queue for it)──▶ struck
 *   struck ──(demand < releaseShare·capacity)──▶ recovering
 *   recovering ──(demand ≥ strikeShare·capacity)──▶ struck
 *   recovering ──(demand < releaseShare·capacity for calmMs)──▶ normal
 *
 * The gap between strikeShare and releaseShare, and the two hold times, keep the state from
 * flapping when demand hovers around one threshold.
 */
import type { CrowdState } from '@reef/protocol'

export interface CrowdDetectorOptions {
  capacityRps: number
  strikeShare: number
  releaseShare: number
  strikeHoldMs: number
  calmMs: number
}

export interface StateChange {
  from: CrowdState
  to: CrowdState
  at: number
  demandRps: number
}

export class CrowdDetector {
  readonly #opts: CrowdDetectorOptions
  #state: CrowdState = 'normal'
  #overSince: number | undefined
  #underSince: number | undefined
  readonly history: StateChange[] = []

  constructor(opts: CrowdDetectorOptions) {
    this.#opts = opts
  }

  get state(): CrowdState {
    return this.#state
  }

  /**
   * Feed one demand sample; returns the change it caused, if any. `saturated` says requests
   * are waiting for the origin right now: with demand over the strike share that is a crowd,
   * not a blip, and there is no reason to wait out the hold. `refused` says the front has
   * turned visitors away (503) since the last sample: the site is over its capacity now,
   * whatever the demand estimate (rates over the last second) says yet — struck at once.
   */
  sample(demandRps: number, now: number, saturated = false, refused = false): StateChange | undefined {
    const { capacityRps, strikeShare, releaseShare, strikeHoldMs, calmMs } = this.#opts
    const over = demandRps >= strikeShare * capacityRps
    const under = demandRps < releaseShare * capacityRps
    this.#overSince = over ? (this.#overSince ?? now) : undefined
    this.#underSince = under ? (this.#underSince ?? now) : undefined

    let next: CrowdState = this.#state
    switch (this.#state) {
      case 'normal':
        if (refused || (this.#overSince !== undefined && (saturated || now - this.#overSince >= strikeHoldMs))) next = 'struck'
        break
      case 'struck':
        if (under) next = 'recovering'
        break
      case 'recovering':
        if (over) next = 'struck'
        else if (this.#underSince !== undefined && now - this.#underSince >= calmMs) next = 'normal'
        break
    }
    if (next === this.#state) return undefined
    const change = { from: this.#state, to: next, at: now, demandRps }
    this.#state = next
    this.history.push(change)
    if (this.history.length > 1000) this.history.shift()
    return change
  }
}
