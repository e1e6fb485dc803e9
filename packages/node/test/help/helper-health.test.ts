import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { HELPER_SILENCE_MS, MIRROR_ALIVE_PATH } from '@reef/protocol'
import {
  HelperHealth,
  MirrorProber,
  PULSE_INTERVAL_MS,
  PULSE_RETRY_MS,
  SILENCE_FLOOR_MS,
  SILENCE_GAP_FACTOR,
  SILENCE_MIN_GAPS
} from '../../src/help/helper-health.ts'

describe('HelperHealth', () => {
  it('a helper is up while heard from, and down HELPER_SILENCE_MS after it was last heard', () => {
    const h = new HelperHealth()
    h.heard('b', 1_000)
    assert.equal(h.isDown('b', 1_000 + HELPER_SILENCE_MS - 1), false)
    assert.equal(h.downSince('b', 1_000 + HELPER_SILENCE_MS), 1_000 + HELPER_SILENCE_MS)
    h.heard('b', 1_600)
    assert.equal(h.isDown('b', 1_700), false)
  })

  it('a helper heard steadily is silent after a few of its gaps, not the full HELPER_SILENCE_MS; an irregular one gets the full time', () => {
    const h = new HelperHealth()
    h.accepted('b', 0)
    let at = 0
    for (let i = 0; i < SILENCE_MIN_GAPS - 1; i++) h.heard('b', (at += 100))
    assert.equal(h.silenceOf('b'), HELPER_SILENCE_MS, 'too few gaps known: the full time')
    h.heard('b', (at += 100))
    const steady = SILENCE_GAP_FACTOR * 100
    assert.ok(steady < HELPER_SILENCE_MS)
    assert.equal(h.silenceOf('b'), steady)
    assert.equal(h.isDown('b', at + steady - 1), false)
    assert.equal(h.downSince('b', at + steady), at + steady)
    // One gap of 400 ms among them: SILENCE_GAP_FACTOR × 400 is over the limit, so the limit.
    assert.ok(SILENCE_GAP_FACTOR * 400 > HELPER_SILENCE_MS)
    h.heard('b', (at += 400))
    assert.equal(h.silenceOf('b'), HELPER_SILENCE_MS)
    assert.equal(h.isDown('b', at + HELPER_SILENCE_MS - 1), false)
    // Never under the floor, however quick the cadence.
    const c = new HelperHealth()
    for (let t = 0; t <= 20 * 10; t += 10) c.heard('c', t)
    assert.equal(c.silenceOf('c'), SILENCE_FLOOR_MS)
    // A co-helper's fixed silence is not shortened.
    assert.equal(c.isDown('c', 200 + SILENCE_FLOOR_MS + 100, 3_000), false)
  })

  it('calm gaps and the time before an acceptance say nothing of the cadence', () => {
    const h = new HelperHealth()
    // Calm reports a second apart are not kept as gaps.
    for (let t = 0; t <= 20_000; t += 1_000) h.heard('b', t)
    assert.equal(h.silenceOf('b'), HELPER_SILENCE_MS)
    // Quick records before an acceptance are forgotten when it comes.
    for (let t = 20_050; t <= 21_000; t += 50) h.heard('b', t)
    assert.equal(h.silenceOf('b'), SILENCE_FLOOR_MS)
    h.accepted('b', 21_010)
    assert.equal(h.silenceOf('b'), HELPER_SILENCE_MS)
    assert.equal(h.isDown('b', 21_010 + HELPER_SILENCE_MS - 1), false)
  })

  it("an accepted helper's silence counts from its acceptance, not from its last calm report; a dead one stays down", () => {
    const h = new HelperHealth()
    h.heard('b', 1_000) // a calm load report, the next promised within 4 s
    h.accepted('b', 3_000, 4_000) // accepted as a ready standby, before it offered
    assert.equal(h.isDown('b', 3_000 + HELPER_SILENCE_MS - 1), false)
    assert.equal(h.downSince('b', 3_000 + HELPER_SILENCE_MS), 3_000 + HELPER_SILENCE_MS)
    h.heard('c', 1_000)
    h.disconnected('c', 2_000)
    h.accepted('c', 3_000)
    assert.equal(h.isDown('c', 3_001), true)
  })

  it('a helper overdue for its next report when accepted (its link cut after it offered) stays down until it shows life', () => {
    const h = new HelperHealth()
    h.heard('b', 1_000) // its offer; its reports promised every 4 s
    h.accepted('b', 7_000, 4_000) // accepted 6 s later: 1.5 s overdue
    assert.equal(h.downSince('b', 7_000), 1_000 + HELPER_SILENCE_MS)
    h.mirrorAnswered('b', 7_010) // a probe answer: alive after all
    assert.equal(h.isDown('b', 7_010), false)
    // Without a promised interval, only a helper heard within HELPER_SILENCE_MS counts from its acceptance.
    h.heard('c', 1_000)
    h.accepted('c', 1_000 + HELPER_SILENCE_MS + 1)
    assert.equal(h.isDown('c', 1_000 + HELPER_SILENCE_MS + 1), true)
    h.heard('d', 1_000)
    h.accepted('d', 1_400)
    assert.equal(h.isDown('d', 1_400 + HELPER_SILENCE_MS - 1), false)
  })

  it('a closed connection is down at once, however recently the helper was heard, until it connects again', () => {
    const h = new HelperHealth()
    h.heard('b', 1_000)
    h.disconnected('b', 1_010)
    assert.equal(h.downSince('b', 1_010), 1_010)
    h.heard('b', 1_020) // a stale record still arriving through another peer
    assert.equal(h.isDown('b', 1_030), true)
    h.connected('b')
    assert.equal(h.isDown('b', 1_030), false)
  })

  it("a record relayed late counts from when the quickest path would have brought it, whatever the author's clock", () => {
    const h = new HelperHealth()
    const skew = 37_000 // the helper's clock runs 37 s behind this one
    // Direct reports arrive 5 ms after they were made.
    for (let at = 1_000; at <= 2_000; at += 200) h.heardRecord('b', at - skew - 5, at)
    // The link is cut at 2_100. A report made at 2_050 reaches us through another member 1.2 s later.
    h.heardRecord('b', 2_050 - skew, 3_250)
    assert.equal(h.isDown('b', 3_250), true, 'a late copy of an old report does not revive a cut helper')
    // Counted from ~2_055, give or take the quickest transit's creep over 1.25 s (12.5 ms).
    const since = h.downSince('b', 3_250)!
    assert.ok(since >= 2_055 + HELPER_SILENCE_MS && since <= 2_055 + 13 + HELPER_SILENCE_MS, `down since ${since}`)
    // A fresh report on the quick path still counts at once.
    h.heardRecord('b', 3_300 - skew - 5, 3_300)
    assert.equal(h.isDown('b', 3_300 + HELPER_SILENCE_MS - 1), false)
  })

  it('the quickest transit forgets itself: a helper whose clock steps back is followed within seconds, not judged silent for ever', () => {
    const h = new HelperHealth()
    h.heardRecord('b', 995, 1_000) // transit 5 ms
    // Its clock steps 300 ms back (NTP): every record now looks 300 ms late …
    let at = 1_200
    for (; at <= 40_000; at += 200) h.heardRecord('b', at - 5 - 300, at)
    // … until the minimum has crept up to the new transit (300 ms at 1 % of elapsed time: ~30 s).
    assert.equal(h.isDown('b', at - 200 + h.silenceOf('b') - 1), false)
  })

  it('a mirror that refused a probe is down until it answers one', () => {
    const h = new HelperHealth()
    h.heard('b', 0)
    h.mirrorFailed('b', 10)
    h.heard('b', 20)
    assert.equal(h.isDown('b', 30), true)
    h.mirrorAnswered('b', 40)
    assert.equal(h.isDown('b', 50), false)
  })

  it('a peer never heard from and never failed is not judged; retain forgets others', () => {
    const h = new HelperHealth()
    assert.equal(h.isDown('x', 10_000), false)
    h.heard('a', 0)
    h.disconnected('c', 0)
    h.retain(new Set(['a']))
    assert.equal(h.isDown('c', 1), false)
    assert.equal(h.isDown('a', 10_000), true)
  })
})

describe('MirrorProber', () => {
  it('answers mark the mirror alive; a refused connection marks it down at once; no answer is silence', async () => {
    let answer = 204
    const server = createServer((req, res) => {
      if (req.method === 'GET') return void res.writeHead(204).end() // an r5 mirror: no pulse
      assert.equal(req.url, MIRROR_ALIVE_PATH)
      assert.equal(req.method, 'HEAD')
      if (answer === 0) return // never answers
      res.writeHead(answer).end()
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const health = new HelperHealth()
    const prober = new MirrorProber(health, pino({ level: 'silent' }), { intervalMs: 10, timeoutMs: 300 })
    const target = { peer: 'b', mirrorUrl: `http://mirror-b.localhost:${port}` }
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 3_000
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        prober.probe([target])
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    }
    try {
      await until(() => prober.counts.answered > 0, 'an answered probe')
      assert.equal(health.isDown('b'), false)
      answer = 503
      await until(() => health.isDown('b'), 'a 5xx to mark it down')
      answer = 204
      await until(() => !health.isDown('b'), 'an answer to bring it back')
      const failed = prober.counts.failed
      answer = 0
      await until(() => prober.counts.timedOut > 0, 'a probe left unanswered')
      assert.equal(prober.counts.failed, failed) // silence is not a failure
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
      await until(() => health.isDown('b') && prober.counts.failed > 1, 'a refused connection to mark it down')
    } finally {
      server.closeAllConnections()
      server.close()
      await prober.close()
    }
  })

  it('a pulse makes the cadence known from the beats alone, and a helper whose beats stop is down before the full silence', async () => {
    // A mirror that beats every 20 ms and never answers a probe: every sign of life is a beat.
    let beating = true
    let pulses = 0
    let closed = 0
    const server = createServer((req, res) => {
      if (req.method !== 'GET') return
      const url = new URL(req.url ?? '/', 'http://x')
      assert.equal(url.pathname, MIRROR_ALIVE_PATH)
      assert.equal(url.searchParams.get('pulse'), String(PULSE_INTERVAL_MS))
      pulses++
      res.writeHead(200, { 'x-reef-pulse': String(PULSE_INTERVAL_MS) })
      const timer = setInterval(() => beating && res.write('.'), PULSE_INTERVAL_MS)
      res.once('close', () => {
        clearInterval(timer)
        closed++
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const health = new HelperHealth()
    const prober = new MirrorProber(health, pino({ level: 'silent' }), { timeoutMs: 5_000 })
    const target = { peer: 'b', mirrorUrl: `http://mirror-b.localhost:${port}` }
    health.accepted('b')
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 5_000
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        prober.probe([target])
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    }
    try {
      await until(() => prober.counts.beats >= 2 * SILENCE_MIN_GAPS, 'beats')
      assert.equal(prober.counts.answered, 0, 'no probe was answered: the beats alone did it')
      assert.ok(health.silenceOf('b') < HELPER_SILENCE_MS, `silence from the cadence: ${health.silenceOf('b')} ms`)
      assert.equal(health.isDown('b'), false)
      assert.equal(pulses, 1, 'one pulse is held open, not one per check')
      beating = false
      await until(() => health.isDown('b'), 'silence to mark it down')
      // Down at its cadence's silence after the last beat, sooner than the full limit would say.
      const since = health.downSince('b')
      const late = health.downSince('b', Date.now() + HELPER_SILENCE_MS, HELPER_SILENCE_MS)
      assert.ok(since !== undefined && late !== undefined && since < late, `${since} < ${late}`)
      // No longer a target: its pulse is closed.
      prober.probe([])
      const deadline = Date.now() + 5_000
      while (closed === 0) {
        assert.ok(Date.now() < deadline, 'the pulse was not closed')
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    } finally {
      server.closeAllConnections()
      server.close()
      await prober.close()
    }
  })

  it('an r5 mirror, which answers the pulse with 204, is asked again only after PULSE_RETRY_MS', async () => {
    const gets: number[] = []
    const server = createServer((req, res) => {
      if (req.method === 'GET') gets.push(Date.now())
      res.writeHead(204).end()
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const health = new HelperHealth()
    const prober = new MirrorProber(health, pino({ level: 'silent' }), { intervalMs: 10, timeoutMs: 1_000 })
    const target = { peer: 'b', mirrorUrl: `http://mirror-b.localhost:${port}` }
    try {
      const deadline = Date.now() + 5_000
      while (prober.counts.answered < 20) {
        assert.ok(Date.now() < deadline, 'probes were not answered')
        prober.probe([target])
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      assert.equal(gets.length, 1, 'the pulse was asked once')
      assert.equal(prober.counts.pulses, 0)
      assert.ok(PULSE_RETRY_MS > 1_000)
      assert.equal(health.isDown('b'), false)
    } finally {
      server.closeAllConnections()
      server.close()
      await prober.close()
    }
  })
})
