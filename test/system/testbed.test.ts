/**
 * The flash-crowd testbed end to end, on real network namespaces with shaped uplinks (the
 * bench's own module, bench/net): a crowd of page loads (15/s of ~410 KB, 2.1× what a 3 MB/s
 * uplink carries) that fails at the origin alone is carried when that site is one of three
 * equal Reef members, the helpers' uplinks sending a good part of the bytes (counted on their
 * veths); and the testbed leaves no namespace, veth or bridge behind. Needs root; skipped
 * otherwise.
 *
 * Every node declares its 3 MB/s uplink (uplink.bytesPerSec): site 1 keeps the page loads its
 * uplink can send, its two helpers take the rest in proportion to the bytes/s they offered, each
 * object of its hot set crossing its uplink about once (to the helper that owns it).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import { blogSite, calibrateUplink, mirrorCapacityRps, runScenario, summarize } from '@reef/node/bench/net'
import { openTestbed, REPO_ROOT } from './testbed-open.ts'
import type { ScenarioOptions } from '@reef/node/bench/net'

const UPLINK = 3_000_000
const LOADS_PER_SEC = 15
const SECONDS = 10
const LATENCY_MS = 100

function leftovers(pid: number): string[] {
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout
  return [...ns.split('\n'), ...links.split('\n')].filter(l => l.includes(`reef${pid}s`) || l.includes(`rf${pid}h`) || l.includes(`rfb${pid}`))
}

test('three Reef members on 3 MB/s uplinks carry a crowd that a lone origin cannot, and the testbed leaves nothing behind', { timeout: 120_000 }, async t => {
  const tb = await openTestbed(t)
  if (tb === undefined) return
  const { mix } = blogSite(1, 'alpha')
  let origin, reef
  try {
    const goodput = await calibrateUplink(tb, UPLINK, LATENCY_MS)
    assert.ok(goodput > 0.9 * UPLINK && goodput < UPLINK, `a 3 MB/s tbf uplink carries ${goodput} bytes/s of HTTP body`)
    const calibrated = new Map([[UPLINK, goodput]])
    const base: Omit<ScenarioOptions, 'setup' | 'runId'> = {
      uplinkBytesPerSec: UPLINK,
      loadsPerSec: LOADS_PER_SEC,
      seconds: SECONDS,
      timeoutS: 10,
      tcLatencyMs: LATENCY_MS,
      killAtS: 0,
      reefRoot: REPO_ROOT,
      mirrorCapacityRps: uplink => mirrorCapacityRps(uplink, mix),
      preRollMs: 0,
      postRollMs: 0,
      note: line => {
        t.diagnostic(line)
      }
    }
    const ctx = { version: 'this checkout', rateLabel: String(LOADS_PER_SEC), calibrated, meanPageBytes: mix.meanBytes }
    origin = summarize(await runScenario(tb, { ...base, setup: 'origin', runId: 'origin' }), ctx)
    reef = summarize(await runScenario(tb, { ...base, setup: '3', runId: 'reef3' }), ctx)
  } finally {
    await tb.cleanup()
  }
  t.diagnostic(
    `origin alone: ${(100 * origin.success).toFixed(1)}% of ${origin.started} page loads; Reef ×3: ${(100 * reef.success).toFixed(1)}% of ${reef.started}, helpers sent ${(100 * reef.helperShare).toFixed(0)}% of the bytes`
  )
  t.diagnostic(
    `Reef ×3 per second: ${reef.perSecondSuccess.map(x => (x === null ? '–' : (100 * x).toFixed(0))).join(' ')}; failures ${JSON.stringify(reef.failures)}; first shed ${reef.firstShedMs} ms`
  )

  // What a reader depends on: the page loads.
  assert.ok(origin.started >= LOADS_PER_SEC * SECONDS - 2 && reef.started >= LOADS_PER_SEC * SECONDS - 2, 'the crowd started its page loads')
  // Ten runs on this 2-core machine loaded 98.7–100 % (BENCHMARKS.md, namespace testbed: the
  // mid-crowd collapses of earlier versions were helpers' fills queued behind each other).
  assert.ok(reef.success >= 0.95, `Reef ×3 loaded ${(100 * reef.success).toFixed(1)}% of the pages within 10 s`)
  // The origin alone still loads many pages: its backlog drains within the timeout once the crowd stops.
  assert.ok(reef.success >= origin.success + 0.15, `Reef ×3 (${reef.success}) clearly above the origin alone (${origin.success})`)
  // The helpers' own uplinks carried a substantial share (counted on their veths, not by Reef).
  assert.ok(reef.helperShare >= 0.3, `helpers sent ${(100 * reef.helperShare).toFixed(0)}% of the bytes`)
  assert.ok(reef.firstShedMs !== undefined, 'site 1 shed load to its peers')

  assert.deepEqual(leftovers(process.pid), [], 'no namespace, veth or bridge of this test is left')
})
