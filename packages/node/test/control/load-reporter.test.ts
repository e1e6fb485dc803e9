import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CALM_REPORTS_PER_SEC, MAX_CALM_REPORT_INTERVAL_MS, REPORT_EXPIRY_FACTOR, SERVING_REPORT_INTERVAL_MS } from '@reef/protocol'
import type { LoadReport } from '@reef/protocol'
import { LoadReporter, calmIntervalMs } from '../../src/control/load-reporter.ts'
import { REPORT_WARMUP_MS } from '../../src/constants.ts'
import { PeerTable } from '../../src/p2p/peer-table.ts'

const report = (over: Partial<LoadReport> = {}): LoadReport => ({
  site: 'peer',
  siteUrl: 'http://peer.example',
  mirrorUrl: 'http://mirror.peer.example',
  state: 'normal',
  capacityRps: 50,
  demandRps: 0,
  originRps: 0,
  spareRps: 100,
  helping: [],
  spareBytesPerSec: 1_000_000,
  ...over
})

function rig(members: number, opts: { r3Peer?: boolean } = {}) {
  const peers = new PeerTable(5_000)
  for (let i = 1; i < members; i++) peers.update(`p${i}`, report(opts.r3Peer === true && i === 1 ? {} : { nextReportMs: 1_000 }), 0)
  const sent: Array<{ at: number; body: LoadReport }> = []
  const direct: Array<{ at: number; to: string; body: LoadReport }> = []
  const state = { crowd: 'normal' as LoadReport['state'], spare: 4_000_000, serving: false, now: 0 }
  const reporter = new LoadReporter({
    config: {
      consortium: 'c',
      site: { label: 'me', publicUrl: 'http://me.example' },
      mirror: { publicUrl: 'http://mirror.me.example' },
      origin: { capacityRps: 50 },
      uplink: { bytesPerSec: 4_000_000 },
      gossip: { reportIntervalMs: 1_000, peerExpiryMs: 5_000 }
    } as never,
    bus: {
      publish: async (_topic: string, _type: string, body: unknown) => {
        sent.push({ at: state.now, body: body as LoadReport })
        return new Uint8Array()
      },
      sendTo: async (to: string, _topic: string, _type: string, body: unknown) => {
        direct.push({ at: state.now, to, body: body as LoadReport })
        return new Uint8Array()
      }
    } as never,
    monitor: { originStarted: { rate: () => 0 }, helpingRates: () => [] } as never,
    uplink: { rate: () => 0, queuedBytes: 0 } as never,
    detector: {
      get state() {
        return state.crowd
      }
    },
    demand: { last: { rps: 0, bytesPerSec: 0 }, spare: () => ({ rps: 100, bytesPerSec: state.spare }) } as never,
    standby: { standingBy: () => [] } as never,
    servingFor: () => (state.serving ? ['beneficiary-1', 'beneficiary-2'] : []),
    peers: { live: () => peers.live(state.now) }
  })
  const run = async (untilMs: number, stepMs = SERVING_REPORT_INTERVAL_MS): Promise<void> => {
    for (; state.now <= untilMs; state.now += stepMs) {
      // The peers keep reporting (their own cadence): the view stays whole.
      for (let i = 1; i < members; i++) peers.update(`p${i}`, report(opts.r3Peer === true && i === 1 ? {} : { nextReportMs: 60_000 }), state.now)
      await reporter.maybeReport(state.now)
    }
  }
  return { reporter, sent, direct, state, run }
}

describe('LoadReporter: r4 calm cadence', () => {
  it('the calm interval grows with the consortium, between the configured interval and the cap', () => {
    assert.equal(calmIntervalMs(1_000, 1), 1_000)
    assert.equal(calmIntervalMs(1_000, 10), Math.max(1_000, (10 * 1000) / CALM_REPORTS_PER_SEC))
    assert.equal(calmIntervalMs(1_000, 100), (100 * 1000) / CALM_REPORTS_PER_SEC)
    assert.equal(calmIntervalMs(1_000, 10_000), MAX_CALM_REPORT_INTERVAL_MS)
    assert.equal(calmIntervalMs(90_000, 10), 90_000)
  })

  it('a calm member of a hundred reports every members ÷ CALM_REPORTS_PER_SEC seconds, saying so; a state change goes out at once', async () => {
    const r = rig(100)
    const every = calmIntervalMs(1_000, 100)
    assert.ok(every >= 50_000, `calm interval ${every} ms at 100 members`)
    await r.run(2.5 * every)
    // A newcomer is news: every second for its first REPORT_WARMUP_MS, then the calm interval.
    const warm = r.sent.filter(x => x.at < REPORT_WARMUP_MS)
    assert.ok(warm.length >= 9 && warm.length <= 11, `${warm.length} reports in the warm-up`)
    // The warm-up's reports promise the calm interval: the report after them comes that late, and
    // a receiver that kept them only 3 × 1 s dropped the member from its view until then.
    for (const w of warm) assert.equal(w.body.nextReportMs, every)
    const calm = r.sent.filter(x => x.at >= REPORT_WARMUP_MS)
    const gaps = calm.slice(1).map((s, i) => s.at - calm[i]!.at)
    assert.ok(calm.length >= 2 && calm.length <= 3, `${calm.length} reports after the warm-up, in ${2.5 * every - REPORT_WARMUP_MS} ms`)
    for (const g of gaps) assert.ok(g >= every - 1_000 && g <= every + 1_000, `gap ${g}`)
    assert.equal(r.sent.at(-1)!.body.nextReportMs, every)
    const before = r.sent.length
    r.state.crowd = 'struck'
    const struckAt = r.state.now
    await r.run(struckAt + 3_000)
    const first = r.sent[before]!
    assert.equal(first.body.state, 'struck')
    assert.ok(first.at - struckAt <= SERVING_REPORT_INTERVAL_MS, `struck report ${first.at - struckAt} ms after the change`)
    // Struck: every configured interval; it still promises no more than the calm interval, the
    // longest it may wait once the crowd is gone.
    assert.ok(r.sent.length - before >= 3, `${r.sent.length - before} reports while struck`)
    assert.equal(r.sent.at(-1)!.body.nextReportMs, every)
  })

  it('a spare capacity that moved by more than a quarter is reported within the configured interval', async () => {
    const r = rig(100)
    await r.run(REPORT_WARMUP_MS + 5_000)
    const before = r.sent.length
    r.state.spare = 1_000_000
    const at = r.state.now
    await r.run(at + 1_200)
    assert.equal(r.sent.length, before + 1)
    assert.equal(r.sent.at(-1)!.body.spareBytesPerSec, 1_000_000)
    assert.ok(r.sent.at(-1)!.at - at <= 1_000)
  })

  it('while an r3 peer (no nextReportMs) is live, it keeps the configured interval: that peer would drop it after 5 s', async () => {
    const r = rig(100, { r3Peer: true })
    await r.run(10_000)
    assert.ok(r.sent.length >= 10, `${r.sent.length} reports in 10 s`)
    assert.equal(r.sent.at(-1)!.body.nextReportMs, 1_000)
  })
})

describe('PeerTable: expiry', () => {
  it('keeps a report REPORT_EXPIRY_FACTOR × its nextReportMs, at least its own expiry; an r3 report its own expiry', () => {
    const t = new PeerTable(5_000)
    t.update('r4', report({ nextReportMs: 50_000 }), 0)
    t.update('r3', report(), 0)
    t.update('fast', report({ nextReportMs: 200 }), 0)
    assert.deepEqual(
      t
        .live(5_001)
        .map(e => e.peer)
        .sort(),
      ['r4']
    )
    assert.notEqual(t.get('r4', REPORT_EXPIRY_FACTOR * 50_000), undefined)
    assert.equal(t.get('r4', REPORT_EXPIRY_FACTOR * 50_000 + 1), undefined)
  })
})

describe('LoadReporter: serving reports', () => {
  it('while it serves, each beneficiary gets a report every SERVING_REPORT_INTERVAL_MS directly; the consortium one every configured interval', async () => {
    const r = rig(100)
    await r.run(REPORT_WARMUP_MS + 5_000)
    assert.equal(r.direct.length, 0, 'nothing direct while it serves nobody')
    r.state.serving = true
    const from = r.state.now
    const gossipBefore = r.sent.length
    await r.run(from + 4_000, 50)
    for (const b of ['beneficiary-1', 'beneficiary-2']) {
      const to = r.direct.filter(d => d.to === b)
      const gaps = to.slice(1).map((d, i) => d.at - to[i]!.at)
      assert.ok(to.length >= 4_000 / SERVING_REPORT_INTERVAL_MS - 1, `${to.length} direct reports to ${b} in 4 s`)
      for (const g of gaps) assert.ok(g <= SERVING_REPORT_INTERVAL_MS + 50, `gap ${g} ms`)
      assert.equal(to.at(-1)!.body.nextReportMs, calmIntervalMs(1_000, 100))
    }
    const gossip = r.sent.length - gossipBefore
    assert.ok(gossip >= 3 && gossip <= 5, `${gossip} reports gossiped in 4 s of serving`)
    // Released: no more direct reports.
    r.state.serving = false
    const n = r.direct.length
    await r.run(r.state.now + 2_000)
    assert.equal(r.direct.length, n)
  })
})
