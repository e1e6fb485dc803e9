import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { OriginGate } from '../../src/origin/gate.ts'
import type { GateOutcome } from '../../src/origin/gate.ts'

/** A manual clock for the token bucket. */
function clock(start = 0): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms
    }
  }
}

/** Let already-settled promise callbacks run. */
const flush = async (): Promise<void> => {
  await new Promise<void>(resolve => setImmediate(resolve))
}

/** Resolve with the outcome, or reject after `ms` (so a hung waiter fails the test instead of hanging it). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, deadline])
  } finally {
    clearTimeout(timer)
  }
}

describe('OriginGate concurrency', () => {
  test('never admits more than maxConcurrent at once; the rest wait', async () => {
    const c = clock()
    const gate = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 3, queueLimit: 100, now: c.now })
    try {
      const outcomes: Array<GateOutcome | 'pending'> = Array.from({ length: 6 }, () => 'pending')
      const ps = outcomes.map((_, i) =>
        gate.acquire(`r${i}`, 10_000).then(o => {
          outcomes[i] = o
        })
      )
      await flush()
      assert.deepEqual(outcomes, ['admitted', 'admitted', 'admitted', 'pending', 'pending', 'pending'])
      assert.equal(gate.inFlight, 3)
      assert.equal(gate.queued, 3)
      assert.equal(gate.canAdmitNow(), false)
      gate.release()
      await flush()
      assert.deepEqual(outcomes, ['admitted', 'admitted', 'admitted', 'admitted', 'pending', 'pending'])
      assert.equal(gate.inFlight, 3)
      gate.release()
      gate.release()
      await Promise.all(ps)
      assert.equal(gate.inFlight, 3)
      assert.equal(gate.queued, 0)
      assert.equal(gate.admittedTotal, 6)
    } finally {
      gate.close()
    }
  })

  test('a random mix of acquires and releases never exceeds maxConcurrent', async () => {
    const c = clock()
    const gate = new OriginGate<number>({ capacityRps: 1_000_000, maxConcurrent: 4, queueLimit: 1000, now: c.now })
    try {
      let seed = 7
      const rnd = (): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed / 2147483648
      }
      let holding = 0
      let peak = 0
      for (let i = 0; i < 400; i++) {
        if (rnd() < 0.55) {
          void gate.acquire(i, 10_000).then(o => {
            if (o === 'admitted') {
              holding++
              peak = Math.max(peak, holding)
            }
          })
        } else if (holding > 0) {
          holding--
          gate.release()
        }
        await flush()
        assert.ok(gate.inFlight <= 4, `inFlight ${gate.inFlight} at step ${i}`)
        assert.equal(gate.inFlight, holding)
      }
      assert.equal(peak, 4)
    } finally {
      gate.close()
    }
  })

  test('release() admits the next waiter even when nothing else happens', async () => {
    const gate = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 10 })
    try {
      assert.equal(await gate.acquire('a', 10_000), 'admitted')
      const b = gate.acquire('b', 10_000)
      gate.release()
      assert.equal(await within(b, 2000, 'waiter b'), 'admitted')
      assert.equal(gate.inFlight, 1)
    } finally {
      gate.close()
    }
  })
})

describe('OriginGate queue', () => {
  test('waiters are admitted in FIFO order', async () => {
    const gate = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 10, now: clock().now })
    try {
      await gate.acquire('first', 10_000)
      const order: string[] = []
      const ps = ['a', 'b', 'c', 'd'].map(tag =>
        gate.acquire(tag, 10_000).then(o => {
          order.push(`${tag}:${o}`)
        })
      )
      for (let i = 0; i < 4; i++) {
        gate.release()
        await flush()
      }
      await Promise.all(ps)
      assert.deepEqual(order, ['a:admitted', 'b:admitted', 'c:admitted', 'd:admitted'])
    } finally {
      gate.close()
    }
  })

  test('answers "full" at once when queueLimit waiters are already queued', async () => {
    const gate = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 2, now: clock().now })
    try {
      assert.equal(await gate.acquire('a', 10_000), 'admitted')
      const b = gate.acquire('b', 10_000)
      const c = gate.acquire('c', 10_000)
      assert.equal(await gate.acquire('d', 10_000), 'full')
      assert.equal(gate.queued, 2)
      gate.release()
      assert.equal(await b, 'admitted')
      assert.equal(gate.queued, 1)
      // A place has freed up in the queue.
      const e = gate.acquire('e', 10_000)
      assert.equal(gate.queued, 2)
      gate.close()
      assert.equal(await c, 'timeout')
      assert.equal(await e, 'timeout')
    } finally {
      gate.close()
    }
  })

  test('queueLimit 0 or a non-positive timeout means "full" instead of waiting', async () => {
    const gate = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 0, now: clock().now })
    const gate2 = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 10, now: clock().now })
    try {
      assert.equal(await gate.acquire('a', 10_000), 'admitted')
      assert.equal(await gate.acquire('b', 10_000), 'full')
      assert.equal(await gate2.acquire('a', 0), 'admitted')
      assert.equal(await gate2.acquire('b', 0), 'full')
      assert.equal(gate2.queued, 0)
    } finally {
      gate.close()
      gate2.close()
    }
  })

  test('a waiter that cannot start within timeoutMs is answered "timeout" and leaves the queue', async () => {
    const gate = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 10 })
    try {
      await gate.acquire('a', 10_000)
      const started = performance.now()
      const b = gate.acquire('b', 40)
      assert.equal(gate.queued, 1)
      assert.equal(await within(b, 2000, 'waiter b'), 'timeout')
      assert.ok(performance.now() - started >= 20, 'timed out long before timeoutMs')
      assert.equal(gate.queued, 0)
      // A timed-out waiter is never admitted later: release goes to the next one.
      const c = gate.acquire('c', 10_000)
      gate.release()
      assert.equal(await within(c, 2000, 'waiter c'), 'admitted')
      assert.equal(gate.inFlight, 1)
      assert.equal(gate.admittedTotal, 2)
    } finally {
      gate.close()
    }
  })

  test('divert(predicate) answers matching waiters "diverted" and keeps the others in order', async () => {
    const gate = new OriginGate<string | null>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 10, now: clock().now })
    try {
      await gate.acquire(null, 10_000)
      const tags = ['/hot/a', null, '/cold/b', '/hot/c', '/cold/d']
      const answered: string[] = []
      const ps = tags.map(tag =>
        gate.acquire(tag, 10_000).then(o => {
          answered.push(`${String(tag)}:${o}`)
        })
      )
      const n = gate.divert(tag => tag !== null && tag.startsWith('/hot/'))
      assert.equal(n, 2)
      await flush()
      assert.deepEqual(answered, ['/hot/a:diverted', '/hot/c:diverted'])
      assert.equal(gate.queued, 3)
      assert.equal(gate.inFlight, 1) // diverted waiters never reach the origin
      for (let i = 0; i < 3; i++) {
        gate.release()
        await flush()
      }
      await Promise.all(ps)
      assert.deepEqual(answered.slice(2), ['null:admitted', '/cold/b:admitted', '/cold/d:admitted'])
      assert.equal(
        gate.divert(() => true),
        0
      )
    } finally {
      gate.close()
    }
  })
})

describe('OriginGate rate', () => {
  test('starts per second never exceed capacityRps plus the burst, in any 1-second window', async () => {
    const c = clock(1000)
    const capacityRps = 100
    const burst = 5 // capacityRps × default burstShare 0.05
    const gate = new OriginGate<null>({ capacityRps, maxConcurrent: 1000, queueLimit: 0, now: c.now })
    try {
      const startsAt: number[] = []
      for (let ms = 0; ms < 5000; ms++) {
        // An unbounded crowd: try to start as many as possible each millisecond.
        while ((await gate.acquire(null, 0)) === 'admitted') {
          startsAt.push(ms)
          gate.release()
        }
        c.advance(1)
      }
      let worst = 0
      for (let from = 0; from <= 4000; from++) {
        const n = startsAt.filter(t => t >= from && t < from + 1000).length
        worst = Math.max(worst, n)
      }
      assert.ok(worst <= capacityRps + burst, `${worst} starts in one second`)
      // And the gate does not throttle below its capacity either.
      assert.ok(startsAt.length >= 5 * capacityRps - 2, `only ${startsAt.length} starts in 5 s`)
      assert.ok(startsAt.length <= 5 * capacityRps + burst)
    } finally {
      gate.close()
    }
  })

  test('burstShare sets how many may start at once', async () => {
    const c = clock()
    const gate = new OriginGate<null>({ capacityRps: 200, maxConcurrent: 1000, queueLimit: 0, burstShare: 0.1, now: c.now })
    try {
      let n = 0
      while ((await gate.acquire(null, 0)) === 'admitted') n++
      assert.equal(n, 20)
      c.advance(5) // one token per 5 ms at 200/s
      assert.equal(await gate.acquire(null, 0), 'admitted')
      assert.equal(await gate.acquire(null, 0), 'full')
    } finally {
      gate.close()
    }
  })

  test('a waiter blocked only by the rate is admitted when the next token is due, without a release', async () => {
    const gate = new OriginGate<string>({ capacityRps: 100, maxConcurrent: 1000, queueLimit: 10 })
    try {
      let admitted = 0
      while (gate.canAdmitNow()) {
        await gate.acquire('burst', 10_000)
        admitted++
      }
      assert.ok(admitted >= 5)
      const outcome = await within(gate.acquire('next', 10_000), 2000, 'rate-blocked waiter')
      assert.equal(outcome, 'admitted')
    } finally {
      gate.close()
    }
  })

  test('close() answers every waiter "timeout"', async () => {
    const gate = new OriginGate<string>({ capacityRps: 1_000_000, maxConcurrent: 1, queueLimit: 10, now: clock().now })
    await gate.acquire('a', 10_000)
    const waiting = [gate.acquire('b', 10_000), gate.acquire('c', 10_000)]
    gate.close()
    assert.deepEqual(await Promise.all(waiting), ['timeout', 'timeout'])
    assert.equal(gate.queued, 0)
  })
})

describe('OriginGate bytes/s capacity', () => {
  test('response bytes charged past the bytes/s capacity hold back new requests until repaid', async () => {
    const c = clock()
    const gate = new OriginGate<string>({ capacityRps: 1_000, maxConcurrent: 10, queueLimit: 10, bytesPerSec: 1_000, now: c.now })
    try {
      assert.equal(await gate.acquire('a', 0), 'admitted')
      gate.consumeBytes(5_000) // a 5 kB answer on a 1 kB/s origin: 5 s of debt (less the small burst)
      gate.release()
      assert.equal(gate.canAdmitNow(), false)
      c.advance(4_000)
      assert.equal(gate.canAdmitNow(), false, 'admitted before the byte debt was repaid')
      c.advance(1_000)
      assert.equal(gate.canAdmitNow(), true)
    } finally {
      gate.close()
    }
  })

  test('without bytesPerSec, bytes are not metered', async () => {
    const c = clock()
    const gate = new OriginGate<string>({ capacityRps: 1_000, maxConcurrent: 10, queueLimit: 10, now: c.now })
    try {
      assert.equal(await gate.acquire('a', 0), 'admitted')
      gate.consumeBytes(1e12)
      gate.release()
      c.advance(10)
      assert.equal(gate.canAdmitNow(), true)
    } finally {
      gate.close()
    }
  })
})
