/**
 * The control tick with stand-in components (the loop is not started: no timers run, so what
 * happens, happens in the tick).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { ControlLoop, warmingUp } from '../../src/control/control-loop.ts'
import { WARMING_MIN_MS } from '../../src/constants.ts'
import type { ControlLoopComponents } from '../../src/control/control-loop.ts'
import type { CrowdState } from '@reef/protocol'
import { Shedder } from '../../src/load/shedder.ts'

const rate = { rate: () => 0 }

function loop(detector: ControlLoopComponents['detector'], reported: CrowdState[]): ControlLoop {
  const components: ControlLoopComponents = {
    config: {
      crowd: { targetShare: 0.8, tickMs: 250 },
      origin: { capacityRps: 50, maxConcurrent: 8 },
      uplink: { targetShare: 0.85, bytesPerSec: 4_000_000 },
      gossip: { reportIntervalMs: 1_000 }
    } as unknown as ControlLoopComponents['config'],
    log: pino({ level: 'silent' }),
    demand: {
      sample: () => ({ rps: 200, bytesPerSec: 8_000_000 }),
      originTarget: t => t,
      need: () => ({ rps: 150, bytesPerSec: 5_000_000 }),
      meanObjectBytes: () => 40_000
    },
    detector,
    gate: { queued: 0, divert: () => 0 },
    shedder: new Shedder(),
    monitor: { arrivals: rate, sheddable: rate, fillWaitBytes: 0 } as unknown as ControlLoopComponents['monitor'],
    uplink: { rate: () => 0, totals: { p2p: 0 }, pendingP2pBytes: 0, queuedBytes: 0 } as unknown as ControlLoopComponents['uplink'],
    hotSet: { isShareable: () => true },
    help: { helpingSessions: [], ownManifestBytes: 0, ownSession: undefined, ownSessionId: undefined, ownSessionStartedAt: undefined, tick: async () => {} },
    standby: { heldBy: () => 0, ready: () => [], tick: async () => {} },
    ledger: { settle: async () => {}, checkUnsigned: () => {} },
    relief: { engageMicroCache: () => {}, engageExternalMirror: () => {}, track: () => {} } as unknown as ControlLoopComponents['relief'],
    helpers: { check: () => {}, prune: () => {}, excluded: '', busy: '' } as unknown as ControlLoopComponents['helpers'],
    reporter: { maybeReport: async () => void reported.push(detector.state) },
    scanForCheaters: async () => {},
    fillCounts: () => ({})
  }
  return new ControlLoop(components)
}

describe('control loop', () => {
  it("a change of crowd state is reported in the tick that makes it, not at the reporter's next timer (late on a busy event loop)", async () => {
    let state: CrowdState = 'normal'
    const next: CrowdState[] = ['struck', 'struck', 'recovering']
    const detector: ControlLoopComponents['detector'] = {
      get state() {
        return state
      },
      sample: (demandRps, at) => {
        const to = next.shift() ?? state
        if (to === state) return undefined
        const change = { from: state, to, at, demandRps }
        state = to
        return change
      }
    }
    const reported: CrowdState[] = []
    const l = loop(detector, reported)
    await l.tick()
    assert.deepEqual(reported, ['struck'], 'struck: reported in its tick')
    await l.tick()
    assert.deepEqual(reported, ['struck'], 'no change: the tick leaves the report to the reporter')
    await l.tick()
    assert.deepEqual(reported, ['struck', 'recovering'])
  })
})

describe('warming hold-back', () => {
  // 3.35 MB of hot set over 0.85 × 3.6 MB/s: it crosses once in ~1.1 s, so the bound is WARMING_MIN_MS.
  const base = { helping: true, manifestBytes: 3_350_000, sentBytes: 0, sessionAgeMs: 500, fetchBytesPerSec: 0, pendingBytes: 0, targetBps: 3_600_000 }

  it('holds the uplink back while helpers fetch a hot set that has not crossed once, also in the first moments before they start', () => {
    assert.equal(warmingUp(base), true, 'first moments')
    assert.equal(warmingUp({ ...base, sessionAgeMs: 2_500, fetchBytesPerSec: 900_000 }), true, 'fetching')
    assert.equal(warmingUp({ ...base, sessionAgeMs: 2_500, pendingBytes: 80_000 }), true, 'a body under way')
  })

  it('stops when nobody is helped, the hot set has crossed, the helpers fetch nothing, or the bound has passed', () => {
    assert.equal(warmingUp({ ...base, helping: false }), false)
    assert.equal(warmingUp({ ...base, sentBytes: 3_350_000, fetchBytesPerSec: 900_000 }), false)
    // Helpers that got the hot set from each other fetch nothing more from here: the site keeps its uplink.
    assert.equal(warmingUp({ ...base, sessionAgeMs: 2_500, sentBytes: 600_000 }), false)
    assert.equal(warmingUp({ ...base, sessionAgeMs: WARMING_MIN_MS + 1, fetchBytesPerSec: 900_000 }), false)
    // On a slow uplink the bound is twice the hot set's crossing: 3.35 MB over 0.85 × 0.9 MB/s ≈ 4.4 s.
    const slow = { ...base, targetBps: 900_000, fetchBytesPerSec: 700_000 }
    assert.equal(warmingUp({ ...slow, sessionAgeMs: 8_000 }), true)
    assert.equal(warmingUp({ ...slow, sessionAgeMs: 9_000 }), false)
  })
})
