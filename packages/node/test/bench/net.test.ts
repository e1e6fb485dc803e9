/**
 * The testbed's pure parts (no namespaces needed): host names to addresses, range overlap, tc
 * arguments, set-up plans, and the figures computed from a crowd's record.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { CrowdReport, RequestResult, VisitResult } from '../../demo/crowd.ts'
import { NotInTestbedError, resolveTestbedHost } from '../../bench/net/dispatcher.ts'
import { deliveredBetween, summarize } from '../../bench/net/report.ts'
import { planSetup, servingFirst } from '../../bench/net/scenario.ts'
import type { ScenarioResult } from '../../bench/net/scenario.ts'
import { overlaps, tbfArgs } from '../../bench/net/testbed.ts'

test('testbed host names map to the namespaces; everything else is refused', () => {
  const hosts = {
    sites: new Map([
      ['alpha', '10.213.0.2'],
      ['bravo', '10.213.0.3']
    ]),
    prefix: '10.213'
  }
  assert.equal(resolveTestbedHost('alpha.reef.test', hosts), '10.213.0.2')
  assert.equal(resolveTestbedHost('ALPHA.reef.test.', hosts), '10.213.0.2')
  assert.equal(resolveTestbedHost('mirror-bravo.reef.test', hosts), '10.213.0.3')
  assert.equal(resolveTestbedHost('alpha.mirror-bravo.reef.test', hosts), '10.213.0.3')
  assert.equal(resolveTestbedHost('10.213.7.9', hosts), '10.213.7.9')
  for (const bad of ['charlie.reef.test', 'x.alpha.reef.test', 'example.com', 'reef.test', '10.214.0.2', '127.0.0.1', '::1', 'mirror-charlie.reef.test']) {
    assert.ok(resolveTestbedHost(bad, hosts) instanceof NotInTestbedError, bad)
  }
})

test('range overlap and tbf arguments (explicit bit units, burst ≥ 64 KiB or 10 ms of rate)', () => {
  assert.equal(overlaps('10.213.0.0/16', '10.213.5.0/24'), true)
  assert.equal(overlaps('10.0.0.0/8', '10.213.0.0/16'), true)
  assert.equal(overlaps('10.214.0.0/16', '10.213.0.0/16'), false)
  assert.equal(overlaps('192.0.2.2', '10.213.0.0/16'), false)
  assert.deepEqual(tbfArgs(4_000_000, 100), ['tbf', 'rate', '32000000bit', 'burst', '65536', 'latency', '100ms'])
  assert.deepEqual(tbfArgs(40_000_000, 50), ['tbf', 'rate', '320000000bit', 'burst', '400000', 'latency', '50ms'])
})

test('set-ups: roles, sizes, uplinks, who is killed', () => {
  assert.deepEqual(
    planSetup('origin', 1000).sites.map(s => s.role),
    ['origin']
  )
  assert.equal(planSetup('nginx', 1000).reef, false)
  assert.equal(planSetup('16', 1000).sites.length, 16)
  const fat = planSetup('fat3', 1000)
  assert.deepEqual(
    fat.sites.map(s => s.uplinkBytesPerSec),
    [1000, 10_000, 10_000, 10_000]
  )
  assert.deepEqual(planSetup('kill', 1000).killed, [2, 3])
  const cut = planSetup('blackhole', 1000)
  assert.deepEqual([cut.killed, cut.cut], [[], [2, 3]])
  assert.deepEqual([planSetup('blackhole1', 1000).killed, planSetup('blackhole1', 1000).cut], [[], [2]])
  assert.deepEqual(
    cut.sites.map(s => s.uplinkBytesPerSec),
    [1000, 10_000, 10_000, 10_000]
  )
  assert.deepEqual(fat.cut, [])
  assert.equal(planSetup('origindown', 1000).originDown, true)
  assert.equal(planSetup('origindown', 1000).sites.length, 4)
  assert.throws(() => planSetup('17', 1000), RangeError)
  assert.throws(() => planSetup('nope', 1000), RangeError)
})

test('kills and cuts go to the helpers serving now, as many as planned, then the planned ones', () => {
  const plan = planSetup('blackhole1', 1000) // bravo (2) planned; charlie (3), delta (4) the others
  const helper = (label: string, down = false) => ({ siteBase: `http://alpha.mirror-${label}.reef.test:8081`, down })
  // Site 1 sends visitors to delta alone: delta is cut, not the idle bravo.
  assert.deepEqual(servingFirst(plan.cut, plan.sites, { session: { helpers: [helper('delta')] } }), [4])
  // Two planned, one serving: the serving one, then a planned one.
  const two = planSetup('blackhole', 1000)
  assert.deepEqual(servingFirst(two.cut, two.sites, { session: { helpers: [helper('delta')] } }), [4, 2])
  // A helper site 1 already holds as down does not count; no session: the planned ones.
  assert.deepEqual(servingFirst(two.cut, two.sites, { session: { helpers: [helper('delta', true), helper('charlie')] } }), [3, 2])
  assert.deepEqual(servingFirst(two.cut, two.sites, undefined), [2, 3])
})

test('deliveredBetween: body bytes spread over body time, cut at the window, failures left out', () => {
  const ok = (start: number, end: number, bytes: number, bodyStart?: number) => ({
    ok: true,
    start,
    end,
    bytes,
    ...(bodyStart === undefined ? {} : { bodyStart })
  })
  // Headers at 1000, body 1000..2000: half inside [1500, 3000].
  assert.equal(deliveredBetween([ok(0, 2000, 800, 1000)], 1500, 3000), 400)
  // No bodyStart: spread from the start.
  assert.equal(deliveredBetween([ok(0, 2000, 800)], 1500, 3000), 200)
  // Still arriving after the window's end: only the part inside counts.
  assert.equal(deliveredBetween([ok(2500, 3500, 1000, 2500)], 1500, 3000), 500)
  // Instant (end = body start) inside counts whole; outside, nothing; failed requests never.
  assert.equal(deliveredBetween([ok(2000, 2000, 300, 2000), ok(100, 900, 50), { ok: false, start: 1600, end: 1700, bytes: 999 }], 1500, 3000), 300)
})

test('summarize: success within the timeout, per-second recovery, goodput, efficiency, the kill', () => {
  const t0 = 1_000_000
  const visits: VisitResult[] = []
  const results: RequestResult[] = []
  // 4 s crowd, 2 page loads/s; seconds 0 and 1 fail (one by timeout), 2 and 3 succeed.
  for (let k = 0; k < 8; k++) {
    const start = t0 + k * 500
    const second = Math.floor(k / 2)
    const ok = second >= 2 || k === 1
    const end = start + (k === 1 ? 11_000 : 300)
    visits.push({ start, end, page: '/', finalUrl: 'http://alpha.reef.test/', ok, complete: true, bytes: 1000, requests: 1 })
    results.push({
      start,
      end,
      path: '/',
      finalUrl: 'http://alpha.reef.test/',
      status: ok ? 200 : 503,
      ok,
      servedBy: ok ? 'origin' : 'error',
      bytes: ok ? 1000 : 0,
      redirects: 0
    })
  }
  results.push({
    start: t0 + 2_100,
    end: t0 + 2_200,
    path: '/img/a.png',
    finalUrl: 'http://alpha.mirror-bravo.reef.test:8081/img/a.png',
    status: 0,
    ok: false,
    servedBy: 'error',
    bytes: 0,
    redirects: 1,
    error: 'ECONNREFUSED'
  })
  const report = { results, visitResults: visits } as unknown as CrowdReport
  const samples = [0, 1, 2, 3, 4, 5].map(s => ({ t: t0 + s * 1000, sent: [s * 2000, s * 1000], cpuBusy: s * 50, cpuTotal: s * 200, cpuTestbed: s * 20 }))
  const r: ScenarioResult = {
    plan: planSetup('kill', 2000),
    sites: planSetup('2', 2000).sites.map(s => ({ ...s, address: '', hostVeth: '', logFile: '' })),
    loadsPerSec: 2,
    seconds: 4,
    timeoutS: 10,
    crowdStart: t0,
    crowdEnd: t0 + 4000,
    finishedAt: t0 + 5000,
    report,
    fills: { bravo: { fromSite: 3, fromOwner: 2 } },
    samples,
    firstShedAt: t0 + 250,
    site1Status: undefined,
    site1Trace: [],
    killedAt: t0 + 2000,
    killedLabels: ['bravo'],
    uplinkSection: false,
    setUpMs: 0
  }
  const s = summarize(r, { version: 'x', rateLabel: '2', calibrated: new Map([[2000, 1900]]), meanPageBytes: 1000 })
  assert.equal(s.started, 8)
  assert.equal(s.succeeded, 4)
  assert.equal(s.success, 0.5)
  assert.deepEqual(s.perSecondSuccess, [0, 0, 1, 1])
  assert.equal(s.allGoodFromS, 2)
  assert.equal(s.firstShedMs, 250)
  assert.equal(s.p50Ms, 300)
  assert.equal(s.site1.mean, 2000)
  assert.equal(s.helpers?.mean, 1000)
  assert.ok(Math.abs(s.helperShare - 1 / 3) < 1e-9)
  // 4 successful page loads of 1000 bytes ended inside the 4 s window.
  assert.equal(s.goodput, 1000)
  assert.equal(s.demand, 2000)
  assert.equal(s.capacity, 3800)
  assert.equal(s.efficiency, 0.5)
  // Once saturated (from 1 s, a quarter of the crowd): the 4 late page loads' 4000 bytes, plus the
  // part of the 11 s request's 1000 bytes that arrived between 1 s and 4 s (3/11 of them).
  assert.equal(s.steady.fromMs, 1000)
  assert.ok(Math.abs(s.steady.goodput - (4000 + 3000 / 11) / 3) < 1e-6)
  assert.ok(Math.abs(s.steady.efficiency - s.steady.goodput / 2000) < 1e-9)
  assert.equal(s.cpu.mean, 0.25)
  assert.equal(s.cpuTestbed, 0.1)
  assert.equal(s.kill?.killAtMs, 2000)
  assert.deepEqual(s.kill?.before, { started: 4, success: 0 })
  assert.deepEqual(s.kill?.after, { started: 4, success: 1 })
  assert.equal(s.kill?.errors, 1)
  assert.deepEqual(s.kill?.errorsBySecond, [1])
  assert.equal(s.kill?.lastErrorMs, 200)
  assert.equal(s.kill?.lastSentMs, 100)
  // It came by a redirect from site 1 after the kill: failing fast governs it.
  assert.equal(s.kill?.redirectedAfter, 1)
  assert.equal(s.kill?.lastRedirectedMs, 100)
})

test('bench crowd --net refuses a bad --repeat with exit 2 before touching the machine', async () => {
  const { runNetBench } = await import('../../bench/net/run.ts')
  const written: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk))
    return true
  }) as typeof process.stderr.write
  try {
    for (const bad of ['0', '2.5', '21', 'many']) {
      written.length = 0
      assert.equal(await runNetBench(['--repeat', bad]), 2, `--repeat ${bad}`)
      assert.match(written.join(''), /--repeat: "[^"]+" is not a whole number of runs from 1 to 20/)
    }
  } finally {
    process.stderr.write = write
  }
})
