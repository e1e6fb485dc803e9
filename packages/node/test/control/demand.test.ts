/** The demand meter and the relief ladder, built from stub components (no node). */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { parseConfig } from '../../src/config/config.ts'
import { DemandMeter } from '../../src/control/demand.ts'
import type { DemandComponents } from '../../src/control/demand.ts'
import { ReliefLadder } from '../../src/control/relief-ladder.ts'
import type { CrowdState } from '@reef/protocol'

const config = parseConfig({
  site: { label: 'alpha', publicUrl: 'http://alpha.example' },
  origin: { url: 'http://127.0.0.1:8080', capacityRps: 100, maxConcurrent: 8 },
  front: { listen: { port: 8080 } },
  mirror: { publicUrl: 'http://mirror.example', capacityRps: 500, listen: { port: 9101 } },
  uplink: { bytesPerSec: 1_000_000 },
  dataDir: '/nonexistent'
})

const rate = (perSec: number): { rate: () => number; sum: () => number } => ({ rate: () => perSec, sum: () => perSec })

function meter(
  over: Partial<Omit<DemandComponents, 'state'>> & { arrivalsRps?: number; sentBps?: number; frontBps?: number; state?: CrowdState } = {}
): DemandMeter {
  const { arrivalsRps = 0, sentBps = 0, frontBps = 0, state = 'normal', ...rest } = over
  return new DemandMeter({
    config,
    monitor: {
      arrivals: rate(arrivalsRps),
      shed: rate(0),
      microCache: rate(0),
      bytesOut: rate(0),
      shedBytes: rate(0),
      meanArrivalBytes: () => 10_000,
      arrivalBytesPerSec: (mean: number) => arrivalsRps * mean
    } as unknown as DemandComponents['monitor'],
    uplink: { rate: (_w?: number, use?: string) => (use === 'front' ? frontBps : sentBps), backlogBytes: 0, persistentBacklogBytes: 0 },
    shedder: { active: false, helpers: [] },
    peers: { get: () => undefined },
    state: () => state,
    offered: () => ({ rps: 0, bytesPerSec: 0 }),
    serving: () => false,
    ...rest
  })
}

describe('DemandMeter', () => {
  it("measures demand in the origin's requests/s, bytes scaled to the same share of capacity", () => {
    // 40 req/s of 10 kB = 400 kB/s: 40 % of the uplink, so 40 % of the origin's 100 req/s.
    const m = meter({ arrivalsRps: 40 })
    assert.equal(m.demandBytesPerSec(), 400_000)
    assert.equal(m.demandRps(), 40)
    assert.deepEqual(m.sample(), { rps: 40, bytesPerSec: 400_000 })
    assert.deepEqual(m.last, { rps: 40, bytesPerSec: 400_000 })
  })

  it('spares the uplink left after its own site and its offers, and nothing while struck', () => {
    const target = config.uplink.targetShare * config.uplink.bytesPerSec
    assert.deepEqual(meter({ frontBps: 100_000, offered: () => ({ rps: 100, bytesPerSec: 50_000 }) }).spare(), {
      rps: 400,
      bytesPerSec: Math.round(target - 150_000)
    })
    assert.deepEqual(meter({ state: 'struck' }).spare(), { rps: 0, bytesPerSec: 0 })
    assert.deepEqual(meter({ sentBps: target }).spare().bytesPerSec, 0, 'saturated')
  })

  it('asks for the bytes a request need carries, and the requests a byte need means', () => {
    assert.deepEqual(meter().need(150, 100, 0, 1_000_000), { rps: 50, bytesPerSec: 500_000 })
    assert.deepEqual(meter().need(0, 100, 1_200_000, 1_000_000), { rps: 20, bytesPerSec: 200_000 })
  })

  it('is calm only while normal, helping no one, and its uplink is quiet', () => {
    assert.equal(meter().calm(), true)
    assert.equal(meter({ serving: () => true }).calm(), false)
    assert.equal(meter({ state: 'recovering' }).calm(), false)
  })
})

describe('ReliefLadder', () => {
  it('engages the micro-cache at its share of capacity, releases it after calmMs below half of it, and records each change', () => {
    const diverted: unknown[] = []
    const ladder = new ReliefLadder({
      config,
      externalMirror: undefined,
      log: pino({ level: 'silent' }),
      shedder: { helpers: [], fallback: undefined, setFallback: () => {}, liveHelperBytesPerSec: () => 0 },
      gate: {
        divert: f => {
          diverted.push(f)
          return 0
        }
      },
      monitor: { refused: { sum: () => 0 } } as never
    })
    const engageAt = config.relief.microCache.engageShare * config.origin.capacityRps
    ladder.engageMicroCache('normal', engageAt, 0)
    ladder.track(0)
    assert.equal(ladder.switches.microCache, true)
    assert.equal(diverted.length, 1, 'what waits for the origin is answered from the cache')
    ladder.engageMicroCache('normal', engageAt / 4, 1)
    ladder.engageMicroCache('normal', engageAt / 4, 1 + config.crowd.calmMs)
    ladder.track(2 + config.crowd.calmMs)
    assert.equal(ladder.switches.microCache, false)
    assert.deepEqual(
      ladder.history.map(h => [h.rung, h.engaged]),
      [
        ['micro-cache', true],
        ['micro-cache', false]
      ]
    )
    assert.deepEqual(ladder.rungs(), { 'micro-cache': false })
  })
})
