import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pino } from 'pino'
import { HelperHealth } from '../../src/help/helper-health.ts'
import { HelperWatch } from '../../src/help/helper-watch.ts'
import type { HelperWatchComponents } from '../../src/help/helper-watch.ts'
import { Shedder, siteBaseOnMirror } from '../../src/load/shedder.ts'

const UPLINK = 4_000_000

function helper(peer: string) {
  const mirrorUrl = `http://mirror-${peer}.localhost:9100`
  return { peer, weightBytesPerSec: 1_000_000, weightRps: 50, mirrorUrl, siteBase: siteBaseOnMirror(mirrorUrl, 'alpha') }
}

test('helper watch: busy (long queue) gets no page loads; only helpers sending well under their uplink with little queued take any past the offers', () => {
  const reports = new Map<string, { uplinkBytesPerSec?: number; sentBytesPerSec?: number; queuedBytes?: number; nextReportMs?: number }>()
  const shedder = new Shedder()
  shedder.setHelpers([helper('idle'), helper('near'), helper('queued'), helper('busy'), helper('legacy')])
  const c = {
    shedder,
    helperHealth: {
      accepted: () => {},
      isDown: () => false,
      retain: () => {},
      connected: () => {},
      disconnected: () => {},
      silenceOf: () => 500,
      unreachableSince: () => undefined
    },
    prober: { probe: () => {}, close: async () => {} },
    peers: { get: (peer: string) => (reports.has(peer) ? { report: reports.get(peer) } : undefined), live: () => [] },
    uplink: { drainSeconds: 0 },
    log: pino({ level: 'silent' })
  } as unknown as HelperWatchComponents
  // A crowd's onset: an idle helper; one near its uplink (saturation); one sending little but
  // with half a second queued; one past a second of queue (busy); one without uplink fields.
  reports.set('idle', { uplinkBytesPerSec: UPLINK, sentBytesPerSec: 0.1 * UPLINK, queuedBytes: 0 })
  reports.set('near', { uplinkBytesPerSec: UPLINK, sentBytesPerSec: 0.9 * UPLINK, queuedBytes: 0 })
  reports.set('queued', { uplinkBytesPerSec: UPLINK, sentBytesPerSec: 0.5 * UPLINK, queuedBytes: 0.5 * UPLINK })
  reports.set('busy', { uplinkBytesPerSec: UPLINK, sentBytesPerSec: 0.5 * UPLINK, queuedBytes: 2 * UPLINK })
  reports.set('legacy', {})
  const watch = new HelperWatch(c)
  watch.check(1_000)
  assert.equal(watch.busy, 'busy')
  assert.equal(shedder.isBusy('busy'), true)
  const picked = new Set<string>()
  for (let i = 0; i < 10; i++) picked.add(shedder.pickOverflow()?.peer ?? 'none')
  assert.deepEqual([...picked], ['idle'])
  // The idle helper fills up: nobody has room past the offers any more.
  reports.set('idle', { uplinkBytesPerSec: UPLINK, sentBytesPerSec: 0.85 * UPLINK, queuedBytes: 0 })
  watch.check(1_200)
  assert.equal(shedder.pickOverflow(), undefined)
  // Another drains and slows down: it has room again.
  reports.set('queued', { uplinkBytesPerSec: UPLINK, sentBytesPerSec: 0.5 * UPLINK, queuedBytes: 0 })
  watch.check(1_400)
  assert.equal(shedder.pickOverflow()?.peer, 'queued')
})

test('helper watch: a check right after this node stalled does not exclude helpers whose reports are still unread; the next one does exclude a silent helper', () => {
  const shedder = new Shedder()
  shedder.setHelpers([helper('live'), helper('cut')])
  const health = new HelperHealth()
  const logged: Array<{ level: number; msg: string; helper?: string }> = []
  const c = {
    shedder,
    helperHealth: health,
    prober: { probe: () => {}, close: async () => {} },
    peers: { get: () => undefined, live: () => [] },
    uplink: { drainSeconds: 0 },
    log: pino({ level: 'debug' }, { write: (line: string) => logged.push(JSON.parse(line)) })
  } as unknown as HelperWatchComponents
  const warned = (): string[] => logged.filter(l => l.level === 40).map(l => `${l.helper}: ${l.msg}`)
  const watch = new HelperWatch(c)
  let now = 1_000
  watch.check(now)
  for (; now <= 2_000; now += 25) {
    health.heard('live', now)
    health.heard('cut', now)
    watch.check(now)
  }
  assert.equal(watch.excluded, '')
  // 'cut' goes silent; then this node's loop stalls for 400 ms, with 'live' reporting meanwhile.
  const stallEnd = now + 400
  watch.check(stallEnd)
  assert.equal(watch.excluded, '', 'nothing is judged silent on the check that follows the stall')
  health.heard('live', stallEnd + 1) // its report, read after the stall
  watch.check(stallEnd + 25)
  assert.equal(watch.excluded, 'cut')
  assert.equal(shedder.isExcluded('cut'), true)
  assert.equal(shedder.isExcluded('live'), false)
  // Excluded on its cadence, 425 ms after it was last heard: no warning yet (a late answer
  // usually comes); at HELPER_SILENCE_MS the operator is told, once.
  assert.deepEqual(warned(), [])
  health.heard('live', stallEnd + 60)
  watch.check(stallEnd + 75)
  health.heard('live', stallEnd + 90)
  watch.check(stallEnd + 100)
  assert.deepEqual(warned(), ['cut: helper unreachable: no more clients sent to it'])
  health.heard('cut', stallEnd + 110)
  watch.check(stallEnd + 125)
  assert.equal(shedder.isExcluded('cut'), false)
  assert.ok(logged.some(l => l.helper === 'cut' && l.msg === 'helper reachable again'))
  assert.equal(warned().length, 1)
})
