/**
 * The control tick with stand-in components (the loop is not started: no timers run, so what
 * happens, happens in the tick).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { ControlLoop } from '../../src/control/control-loop.ts'
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
    help: { helpingSessions: [], ownManifestBytes: 0, ownSession: undefined, ownSessionId: undefined, tick: async () => {} },
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
