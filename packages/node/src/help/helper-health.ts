/**
 * Whether each accepted helper can take clients now (SPEC.md §Help session, failing fast).
 *
 * Signs of life: a record it authored (a helper serving a session reports at least every
 * SERVING_REPORT_INTERVAL_MS), or an answer of its mirror to a liveness probe.
 * Signs of death: its last libp2p connection to this node closed (until it connects again);
 * its mirror refusing or resetting connections, or answering 5xx (until it answers again).
 *
 * A helper is *down* while it shows a sign of death, or when nothing showed life for
 * HELPER_SILENCE_MS. The shedder sends no one to a down helper; the help coordinator drops it
 * from the session once it has been down for its drop time and accepts others instead.
 *
 * A record's life counts from when it was made, not from when it arrived: a helper's records
 * also reach this node through other members' gossip (IHAVE/IWANT), up to a second or more
 * late, and a late copy arriving after the helper's link was cut must not make it look alive.
 * Clocks differ between machines, so the age is relative: each record's transit (arrival on
 * this clock − its `ts` on the author's) is compared with the quickest transit seen from that
 * author, and the excess is taken off its arrival time. The quickest transit creeps up by
 * TRANSIT_CREEP per ms, so a clock that steps forward or drifts is followed within seconds.
 *
 * How long is silence: HELPER_SILENCE_MS at most (SPEC.md), and less for a helper whose signs
 * of life come steadily. Once SILENCE_MIN_GAPS gaps between them are known, a helper is silent
 * after SILENCE_GAP_FACTOR × the longest of its last SILENCE_GAPS gaps (at least
 * SILENCE_FLOOR_MS). In a crowd the probe answers and reports of a live helper come every
 * ~50 ms; a cut one was sent visitors for the whole 500 ms, and each of those page loads was
 * lost (the blackhole bench). A gap longer than HELPER_SILENCE_MS is not kept: it was calm
 * time or an outage, and says nothing of the cadence.
 *
 * Silence is measured on this node's clock as it processes what arrives: when its own event
 * loop stalls, reports and probe answers wait in its queue past the limit. The helper watch
 * does not judge silence in the check that follows a stall (WATCH_STALL_MS): what arrived is
 * read first. A stall shorter than that can still exclude a helper until its report is read, a
 * moment later; that costs a few redirects going elsewhere.
 *
 * The prober asks each accepted helper's mirror `HEAD MIRROR_ALIVE_PATH` every
 * PROBE_INTERVAL_MS, with up to PROBES_IN_FLIGHT in flight, over keep-alive connections: a helper
 * whose process died answers with a reset or a refusal at once; one that vanished without a
 * reset (a cut link) goes silent, and silence is what excludes it.
 *
 * It also keeps a pulse open to each (r6): `GET MIRROR_ALIVE_PATH?pulse=PULSE_INTERVAL_MS`, whose
 * body is a byte every PULSE_INTERVAL_MS. A probe leaves through this site's own uplink, which
 * the crowd fills: on the namespace testbed each waited 100–190 ms in its queue, and one lost
 * there waits for TCP's retransmission, so a live helper's answers came irregularly and silence
 * could not be judged under ~150–250 ms. A pulse comes the other way, on the helper's uplink and
 * this site's downlink, which the crowd does not fill: its beats arrive as steadily as they are
 * sent, and a helper cut off is silent after SILENCE_FLOOR_MS. A mirror that answers the pulse
 * with a plain `204` (r5, or full) is probed only; so is one whose pulse broke, until it opens again.
 */
import { HELPER_SILENCE_MS, MIRROR_ALIVE_PATH, MIRROR_PULSE_DURATION_MS } from '@reef/protocol'
import type { Logger } from 'pino'
import { Agent, request } from 'undici'
import { localhostLookup } from '../p2p/localhost-lookup.ts'

/** Probe errors that mean the mirror's machine is there and its mirror is not. */
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ENETUNREACH', 'EHOSTUNREACH'])

/** How fast the quickest transit seen from a peer forgets itself (ms per ms): 1 % of the time elapsed. */
const TRANSIT_CREEP = 0.01
/**
 * How often each accepted helper's mirror is probed, in ms, and how many probes may be in flight
 * to it at once (each on its own keep-alive connection). In a crowd a probe from the struck site
 * waits in its full uplink (100–190 ms on the bench), so several are in flight to keep answers
 * coming every ~50 ms. A probe is a HEAD of ~200 bytes: 4 KB/s of the uplink per helper.
 */
export const PROBE_INTERVAL_MS = 50
export const PROBES_IN_FLIGHT = 4
/** The beat this node asks of each accepted helper's pulse, in ms (r6): 50 small writes a second. */
export const PULSE_INTERVAL_MS = 20
/** A pulse with no beat for this long is closed and opened again (the probes go on meanwhile), in ms. */
export const PULSE_STALL_MS = 2 * HELPER_SILENCE_MS
/** After a mirror answered a pulse with a plain 204 (r5, or full), this long before asking again, in ms. */
export const PULSE_RETRY_MS = 30_000
/** After a pulse broke, this long before the next is opened (the probes go on), in ms. */
export const PULSE_BROKEN_RETRY_MS = 250
/**
 * A mirror ends a pulse after MIRROR_PULSE_DURATION_MS; the next is opened this long before, so
 * that one beats while the other's request crosses this site's full uplink.
 */
export const PULSE_RENEW_BEFORE_MS = 5_000
/** The gaps between a helper's signs of life kept to judge its cadence. */
export const SILENCE_GAPS = 16
/** Below this many known gaps, silence is the full HELPER_SILENCE_MS. */
export const SILENCE_MIN_GAPS = 8
/** Silence is this many times the longest recent gap … */
export const SILENCE_GAP_FACTOR = 1.5
/** … and never shorter than this, in ms. */
export const SILENCE_FLOOR_MS = 100

export class HelperHealth {
  readonly #silenceMs: number
  readonly #heard = new Map<string, number>()
  /** Per peer: the last SILENCE_GAPS gaps between its signs of life (ms), oldest first. */
  readonly #gaps = new Map<string, number[]>()
  /** Per author: the quickest transit seen (arrival − record ts, ms) and when it was last lowered or crept. */
  readonly #transit = new Map<string, { min: number; at: number }>()
  /** Peers whose last connection closed, since when. */
  readonly #disconnected = new Map<string, number>()
  /** Peers whose mirror refused or failed a probe, since when. */
  readonly #mirrorDown = new Map<string, number>()

  constructor(silenceMs = HELPER_SILENCE_MS) {
    this.#silenceMs = silenceMs
  }

  heard(peer: string, now = Date.now()): void {
    const last = this.#heard.get(peer)
    if (last !== undefined && last >= now) return
    this.#heard.set(peer, now)
    if (last === undefined || now - last > this.#silenceMs) return
    const gaps = this.#gaps.get(peer) ?? []
    gaps.push(now - last)
    if (gaps.length > SILENCE_GAPS) gaps.shift()
    this.#gaps.set(peer, gaps)
  }

  /**
   * How long `peer` may stay unheard before it counts as down: SILENCE_GAP_FACTOR × the longest
   * of its recent gaps, between SILENCE_FLOOR_MS and this node's silence limit; the limit itself
   * until SILENCE_MIN_GAPS gaps are known.
   */
  silenceOf(peer: string): number {
    const gaps = this.#gaps.get(peer)
    if (gaps === undefined || gaps.length < SILENCE_MIN_GAPS) return this.#silenceMs
    return Math.min(this.#silenceMs, Math.max(SILENCE_FLOOR_MS, Math.ceil(SILENCE_GAP_FACTOR * Math.max(...gaps))))
  }

  /**
   * A record `peer` authored at `ts` (its clock) arrived `now` (this clock): it shows life as of
   * its arrival less however much later it came than the quickest of `peer`'s records.
   */
  heardRecord(peer: string, ts: number, now = Date.now()): void {
    const transit = now - ts
    const t = this.#transit.get(peer)
    const min = t === undefined ? transit : Math.min(transit, t.min + (now - t.at) * TRANSIT_CREEP)
    this.#transit.set(peer, { min, at: now })
    this.heard(peer, now - (transit - min))
  }

  /**
   * `peer` was just accepted as a helper, on a fresh offer or a live standby's load report: its
   * silence counts from now. It reports at the serving interval only once the accept has
   * reached it, so a standby accepted on a report a second old is not silent yet.
   * Unless it is overdue: nothing from it within `expectedWithinMs` (what its last load report
   * promised, `nextReportMs`) and HELPER_SILENCE_MS more. A member whose link was cut after it
   * offered still has its offer in the session; accepted later, it would have looked alive for
   * HELPER_SILENCE_MS and been sent visitors (the blackhole bench: 6.5 s after the cut). It stays
   * down until a record or a probe answer shows life (a live one answers the probe at once).
   */
  accepted(peer: string, now = Date.now(), expectedWithinMs = 0): void {
    // Its cadence is learned afresh: serving, it reports and is probed more often than before.
    this.#gaps.delete(peer)
    const heard = this.#heard.get(peer)
    if (heard !== undefined && now - heard > expectedWithinMs + this.#silenceMs) return
    // The acceptance is not a sign of life: no gap is counted up to it.
    if ((heard ?? -Infinity) < now) this.#heard.set(peer, now)
  }

  connected(peer: string): void {
    this.#disconnected.delete(peer)
  }

  disconnected(peer: string, now = Date.now()): void {
    if (!this.#disconnected.has(peer)) this.#disconnected.set(peer, now)
  }

  mirrorAnswered(peer: string, now = Date.now()): void {
    this.#mirrorDown.delete(peer)
    this.heard(peer, now)
  }

  mirrorFailed(peer: string, now = Date.now()): void {
    if (!this.#mirrorDown.has(peer)) this.#mirrorDown.set(peer, now)
  }

  /**
   * Since when `peer` has been down (undefined: it is up). `silenceMs`: how long unheard counts
   * as down; by default what its cadence allows (`silenceOf`: a beneficiary hears its helpers
   * every 50–200 ms), a fixed figure for a co-helper (it hears only their gossiped report, once
   * a second).
   */
  downSince(peer: string, now = Date.now(), silenceMs = this.silenceOf(peer)): number | undefined {
    const dead = Math.min(this.#disconnected.get(peer) ?? Infinity, this.#mirrorDown.get(peer) ?? Infinity)
    const heard = this.#heard.get(peer)
    const silentSince = heard === undefined ? undefined : heard + silenceMs
    const silent = silentSince !== undefined && now >= silentSince ? silentSince : Infinity
    const since = Math.min(dead, silent)
    // Never heard from at all: down from the start, unless nothing else is known either.
    if (since === Infinity) return heard === undefined && (this.#disconnected.has(peer) || this.#mirrorDown.has(peer)) ? now : undefined
    return since
  }

  isDown(peer: string, now = Date.now(), silenceMs = this.silenceOf(peer)): boolean {
    return this.downSince(peer, now, silenceMs) !== undefined
  }

  /**
   * Since when `peer` has been down by the session's measure (undefined: it is not): dead, or
   * unheard for the full silence limit, whatever its cadence. The session's helper list and the
   * operator's warnings follow this; only redirects follow the cadence (`isDown`), since a late
   * answer that skips a helper for a moment must not replace it.
   */
  unreachableSince(peer: string, now = Date.now()): number | undefined {
    return this.downSince(peer, now, this.#silenceMs)
  }

  /** Forget peers that are none of `keep` (sessions ended). */
  retain(keep: ReadonlySet<string>): void {
    for (const m of [this.#heard, this.#gaps, this.#transit, this.#disconnected, this.#mirrorDown])
      for (const peer of m.keys()) if (!keep.has(peer)) m.delete(peer)
  }
}

export interface ProbeTarget {
  peer: string
  mirrorUrl: string
}

export class MirrorProber {
  readonly #health: HelperHealth
  readonly #log: Logger
  readonly #intervalMs: number
  readonly #timeoutMs: number
  readonly #pulseMs: number
  readonly #agent: Agent
  readonly #pulseAgent: Agent
  readonly #lastSent = new Map<string, number>()
  readonly #inFlight = new Map<string, number>()
  /** Per helper: its open pulses (aborted when it is no longer a target), the newest last, and when that one was opened. */
  readonly #pulses = new Map<string, { open: Set<AbortController>; newest: number }>()
  /** Per helper whose mirror answered a pulse with a plain 204: when to ask again. */
  readonly #noPulseUntil = new Map<string, number>()
  #closed = false
  /** Probes answered, failed (refused, reset, 5xx) and timed out; pulses opened and beats heard; since start. */
  readonly counts = { answered: 0, failed: 0, timedOut: 0, pulses: 0, beats: 0 }

  constructor(health: HelperHealth, log: Logger, opts: { intervalMs?: number; timeoutMs?: number; pulseMs?: number } = {}) {
    this.#health = health
    this.#log = log
    this.#intervalMs = opts.intervalMs ?? PROBE_INTERVAL_MS
    this.#timeoutMs = opts.timeoutMs ?? 2 * HELPER_SILENCE_MS
    this.#pulseMs = opts.pulseMs ?? PULSE_INTERVAL_MS
    this.#agent = new Agent({ connect: { lookup: localhostLookup, timeout: this.#timeoutMs }, connections: PROBES_IN_FLIGHT, keepAliveTimeout: 30_000 })
    this.#pulseAgent = new Agent({
      connect: { lookup: localhostLookup, timeout: this.#timeoutMs },
      connections: 2,
      keepAliveTimeout: 30_000,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: Math.max(PULSE_STALL_MS, 4 * this.#pulseMs)
    })
  }

  /** Send the probes that are due to `targets`, and open a pulse to each that has none. */
  probe(targets: readonly ProbeTarget[], now = Date.now()): void {
    if (this.#closed) return
    const live = new Set<string>()
    for (const t of targets) {
      live.add(t.peer)
      const p = this.#pulses.get(t.peer)
      const due = p === undefined || p.open.size === 0 || (p.open.size === 1 && now - p.newest >= MIRROR_PULSE_DURATION_MS - PULSE_RENEW_BEFORE_MS)
      if (due && now >= (this.#noPulseUntil.get(t.peer) ?? 0)) void this.#pulse(t, now)
      if (now - (this.#lastSent.get(t.peer) ?? 0) < this.#intervalMs || (this.#inFlight.get(t.peer) ?? 0) >= PROBES_IN_FLIGHT) continue
      this.#lastSent.set(t.peer, now)
      void this.#one(t)
    }
    for (const peer of this.#lastSent.keys()) if (!live.has(peer)) this.#lastSent.delete(peer)
    for (const [peer, p] of this.#pulses)
      if (!live.has(peer)) {
        this.#pulses.delete(peer)
        for (const ctrl of p.open) ctrl.abort()
      }
    for (const peer of this.#noPulseUntil.keys()) if (!live.has(peer)) this.#noPulseUntil.delete(peer)
  }

  /** Hold a pulse open to `t`'s mirror: every beat is life; a refusal or reset is death, as for a probe. */
  async #pulse(t: ProbeTarget, now: number): Promise<void> {
    const ctrl = new AbortController()
    const p = this.#pulses.get(t.peer) ?? { open: new Set<AbortController>(), newest: now }
    p.open.add(ctrl)
    p.newest = now
    this.#pulses.set(t.peer, p)
    try {
      const url = new URL(MIRROR_ALIVE_PATH, t.mirrorUrl)
      url.searchParams.set('pulse', String(this.#pulseMs))
      const res = await request(url, { method: 'GET', dispatcher: this.#pulseAgent, signal: ctrl.signal, headers: { 'user-agent': 'reef-probe/1' } })
      if (res.statusCode !== 200 || res.headers['x-reef-pulse'] === undefined) {
        // An r5 mirror (or a full one) answers as to a probe: that is life or death all the same.
        await res.body.dump()
        this.#noPulseUntil.set(t.peer, Date.now() + PULSE_RETRY_MS)
        if (res.statusCode >= 200 && res.statusCode < 300) this.#health.mirrorAnswered(t.peer)
        else if (res.statusCode >= 500) this.#health.mirrorFailed(t.peer)
        return
      }
      this.counts.pulses++
      for await (const _beat of res.body) {
        this.counts.beats++
        this.#health.mirrorAnswered(t.peer)
      }
    } catch (err) {
      if (ctrl.signal.aborted) return
      const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? ''
      if (REFUSED.has(code)) this.#health.mirrorFailed(t.peer)
      this.#noPulseUntil.set(t.peer, Date.now() + PULSE_BROKEN_RETRY_MS)
      this.#log.debug({ peer: t.peer, code, err: (err as Error).message }, 'mirror pulse broke')
    } finally {
      // Opened again at a later check (the mirror ended it after its duration, or it broke).
      p.open.delete(ctrl)
    }
  }

  async #one(t: ProbeTarget): Promise<void> {
    this.#inFlight.set(t.peer, (this.#inFlight.get(t.peer) ?? 0) + 1)
    try {
      const res = await request(new URL(MIRROR_ALIVE_PATH, t.mirrorUrl), {
        method: 'HEAD',
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(this.#timeoutMs),
        headers: { 'user-agent': 'reef-probe/1' }
      })
      await res.body.dump()
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.counts.answered++
        this.#health.mirrorAnswered(t.peer)
      } else if (res.statusCode >= 500) {
        this.counts.failed++
        this.#health.mirrorFailed(t.peer)
      }
    } catch (err) {
      const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? ''
      if (REFUSED.has(code)) {
        this.counts.failed++
        this.#health.mirrorFailed(t.peer)
      } else {
        this.counts.timedOut++
      }
      this.#log.debug({ peer: t.peer, code, err: (err as Error).message }, 'mirror probe failed')
    } finally {
      const n = (this.#inFlight.get(t.peer) ?? 1) - 1
      if (n <= 0) this.#inFlight.delete(t.peer)
      else this.#inFlight.set(t.peer, n)
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const p of this.#pulses.values()) for (const ctrl of p.open) ctrl.abort()
    this.#pulses.clear()
    await Promise.all([this.#agent.close().catch(() => {}), this.#pulseAgent.destroy().catch(() => {})])
  }
}
