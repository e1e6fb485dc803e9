import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RateWindow } from '../../src/load/rate-window.ts'

function clock(start: number): { now: () => number; set: (t: number) => void } {
  let t = start
  return {
    now: () => t,
    set: (v: number) => {
      t = v
    }
  }
}

const close = (actual: number, expected: number, tolerance: number): void => {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not within ${tolerance} of ${expected}`)
}

describe('RateWindow', () => {
  test('a steady 100 events/s reads as 100/s over 1 s and over the whole span', () => {
    const c = clock(0)
    const w = new RateWindow(5000, 100, c.now)
    for (let t = 0; t < 6000; t += 10) {
      c.set(t)
      w.add()
    }
    c.set(6005)
    close(w.rate(1000), 100, 5)
    close(w.rate(5000), 100, 3)
  })

  test('the current partial bucket counts in proportion to its elapsed part', () => {
    const c = clock(1000)
    const w = new RateWindow(5000, 100, c.now)
    for (let t = 1000; t < 1050; t += 5) {
      c.set(t)
      w.add()
    } // 10 events in the first 50 ms of a bucket
    c.set(1050)
    assert.equal(w.sum(100), 10)
    assert.equal(w.rate(100), 200) // 10 events / 50 ms
  })

  test('events older than the window no longer count', () => {
    const c = clock(10_000)
    const w = new RateWindow(5000, 100, c.now)
    w.add(50)
    c.set(10_950)
    assert.equal(w.sum(1000), 50)
    c.set(11_050)
    assert.equal(w.sum(1000), 0)
    assert.equal(w.rate(1000), 0)
    assert.equal(w.sum(5000), 50)
    c.set(15_100)
    assert.equal(w.sum(5000), 0)
  })

  test('a ring slot reused a full span later starts from zero', () => {
    const c = clock(0)
    const w = new RateWindow(1000, 100, c.now)
    w.add(7)
    c.set(1000) // same ring slot, next lap
    w.add(1)
    assert.equal(w.sum(1000), 1)
  })

  test('amounts are summed (bytes, not just events) and windows wider than the span are clamped', () => {
    const c = clock(0)
    const w = new RateWindow(1000, 100, c.now)
    for (let t = 0; t < 2000; t += 100) {
      c.set(t)
      w.add(1000)
    }
    c.set(2050)
    assert.equal(w.sum(60_000), w.sum(1000))
    assert.equal(w.sum(1000), 9000) // buckets 1100..1900; bucket 2000 is empty
    close(w.rate(1000), 9000 / 0.95, 1e-6)
  })

  test('with no events the rate is 0', () => {
    const w = new RateWindow(5000, 100, () => 123_456)
    assert.equal(w.rate(1000), 0)
    assert.equal(w.sum(1000), 0)
  })
})
