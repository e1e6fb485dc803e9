import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { TrafficTimeline } from '../../src/load/traffic-timeline.ts'
import type { TrafficCounters } from '../../src/load/traffic-timeline.ts'

function rig(init: { maxPoints?: number } = {}): { timeline: TrafficTimeline; counters: TrafficCounters; at: (t: number) => void } {
  let now = 10_000
  const counters: TrafficCounters = { origin: 0, shedPeers: 0, shedExternal: 0, refused: 0, microCache: 0 }
  const timeline = new TrafficTimeline({ capacityRps: 50, now: () => now, ...init }, () => counters)
  return {
    timeline,
    counters,
    at: t => {
      now = t
    }
  }
}

describe('TrafficTimeline', () => {
  test('the first reading is only the baseline; later ones are per-second rates of each kind', () => {
    const { timeline, counters, at } = rig()
    assert.equal(timeline.sample(), undefined)
    counters.origin += 50
    counters.shedPeers += 200
    counters.shedExternal += 30
    counters.refused += 4
    counters.microCache += 9
    at(11_000)
    assert.deepEqual(timeline.sample(), { t: 11_000, origin: 50, shedPeers: 200, shedExternal: 30, refused: 4, microCache: 9 })
    assert.deepEqual(timeline.view(), {
      capacityRps: 50,
      intervalMs: 1000,
      points: [{ t: 11_000, origin: 50, shedPeers: 200, shedExternal: 30, refused: 4, microCache: 9 }]
    })
  })

  test('a late tick divides by the time that really passed, so no request is lost or doubled', () => {
    const { timeline, counters, at } = rig()
    timeline.sample()
    counters.shedPeers += 300
    at(12_000) // the timer fired 1 s late under load
    assert.equal(timeline.sample()?.shedPeers, 150)
    counters.origin += 10
    at(12_500)
    assert.equal(timeline.sample()?.origin, 20)
  })

  test('a reading at the same instant adds no point; a counter that went back counts as zero', () => {
    const { timeline, counters, at } = rig()
    counters.origin = 100
    timeline.sample()
    assert.equal(timeline.sample(), undefined)
    counters.origin = 40
    at(11_000)
    assert.equal(timeline.sample()?.origin, 0)
    counters.origin = 45
    at(12_000)
    assert.equal(timeline.sample()?.origin, 5)
  })

  test('keeps only the newest maxPoints points, oldest first', () => {
    const { timeline, counters, at } = rig({ maxPoints: 3 })
    timeline.sample()
    for (let i = 1; i <= 5; i++) {
      counters.refused += i
      at(10_000 + i * 1000)
      timeline.sample()
    }
    const v = timeline.view()
    assert.deepEqual(
      v.points.map(p => p.t),
      [13_000, 14_000, 15_000]
    )
    assert.deepEqual(
      v.points.map(p => p.refused),
      [3, 4, 5]
    )
    // A poller that holds up to 14 s asks only for what came after.
    assert.deepEqual(
      timeline.view(14_000).points.map(p => p.t),
      [15_000]
    )
    assert.deepEqual(timeline.view(15_000).points, [])
  })

  test('the view is a copy: callers cannot change the kept points', () => {
    const { timeline, counters, at } = rig()
    timeline.sample()
    counters.origin = 7
    at(11_000)
    timeline.sample()
    timeline.view().points[0]!.origin = 999
    assert.equal(timeline.view().points[0]!.origin, 7)
  })

  test('start samples every interval until stopped', async () => {
    let reads = 0
    const timeline = new TrafficTimeline({ capacityRps: 50, intervalMs: 20 }, () => {
      reads++
      return { origin: reads, shedPeers: 0, shedExternal: 0, refused: 0, microCache: 0 }
    })
    timeline.start()
    timeline.start() // idempotent
    assert.equal(reads, 1)
    while (timeline.view().points.length < 2) await new Promise(resolve => setTimeout(resolve, 5))
    timeline.stop()
    const after = reads
    await new Promise(resolve => setTimeout(resolve, 60))
    assert.equal(reads, after)
  })
})
