/**
 * The soak's short version (issue 13, item 6; the long one is `pnpm bench soak --net`, figures in
 * BENCHMARKS.md): four equal Reef members on the namespace testbed, each behind a 4 MB/s
 * uplink, started once; eight bursts of 20 page loads/s (~8 MB/s, twice what the struck
 * member's uplink carries) strike each member in turn, twice. Across the run:
 * - the crowds are served: ≥ 99 % of all page loads within 10 s, no burst under 95 %;
 * - no site process grows after warm-up (the first round): heap after a full GC within 10 %,
 *   open descriptors within 10 % or 4 (a libp2p connection and a few sockets in passing: on a
 *   base of ~35 a leak shows as steady growth, which the long run measures);
 * - every member's ledger rebuilds from its records to what it stores, and all members hold the
 *   same balances;
 * - no error-level line in any site's log.
 * Needs root (network namespaces); skipped otherwise. Bounded: 8 bursts, each a bounded crowd.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { blogSite, growth, mirrorCapacityRps, runNetSoak } from '@reef/node/bench/net'
import { openTestbed, REPO_ROOT } from './testbed-open.ts'
import type { NetSoakReport } from '@reef/node/bench/net'

const BURSTS = 8
const MEMBERS = 4

test('four members ride out eight crowds in turn: served, no growth, ledgers consistent, no error', { timeout: 300_000 }, async t => {
  const tb = await openTestbed(t)
  if (tb === undefined) return
  const { mix } = blogSite(1, 'alpha')
  let r: NetSoakReport
  try {
    r = await runNetSoak(tb, {
      members: MEMBERS,
      uplinkBytesPerSec: 4_000_000,
      loadsPerSec: 20,
      minutes: 10,
      maxBursts: BURSTS,
      burstS: 8,
      calmS: 6,
      timeoutS: 10,
      tcLatencyMs: 100,
      reefRoot: REPO_ROOT,
      mirrorCapacityRps: uplink => mirrorCapacityRps(uplink, mix),
      runId: 'soak',
      note: line => {
        t.diagnostic(line)
      }
    })
  } finally {
    await tb.cleanup()
  }
  assert.equal(r.bursts.length, BURSTS)

  const started = r.bursts.reduce((a, b) => a + b.started, 0)
  const loaded = r.bursts.reduce((a, b) => a + b.success * b.started, 0)
  assert.ok(loaded / started >= 0.99, `${((100 * loaded) / started).toFixed(2)} % of ${started} page loads over the soak`)
  for (const b of r.bursts) assert.ok(b.success >= 0.95, `burst ${b.index} at ${b.site}: ${(100 * b.success).toFixed(1)} % (${JSON.stringify(b.failures)})`)

  for (const site of Object.keys(r.bursts[0]!.heapUsedBytes)) {
    const heap = growth(
      r.bursts.map(b => b.heapUsedBytes[site]!),
      MEMBERS
    )
    const fds = growth(
      r.bursts.map(b => b.fds[site]!),
      MEMBERS
    )
    const rss = growth(
      r.bursts.map(b => b.rssBytes[site]!),
      MEMBERS
    )
    t.diagnostic(`${site}: after warm-up heap ${(100 * heap).toFixed(1)} %, RSS ${(100 * rss).toFixed(1)} %, descriptors ${(100 * fds).toFixed(1)} %`)
    assert.ok(heap <= 0.1, `${site}'s heap grew ${(100 * heap).toFixed(1)} % after warm-up`)
    const last = r.bursts.at(-1)!.fds[site]!
    const warm = Math.max(...r.bursts.slice(MEMBERS, MEMBERS + 2).map(b => b.fds[site]!))
    assert.ok(fds <= 0.1 || last <= warm + 4, `${site}'s open descriptors grew ${(100 * fds).toFixed(1)} % after warm-up (to ${last})`)
  }

  assert.ok(r.ledgersRecompute, `a member's ledger does not rebuild to what it stores: ${JSON.stringify(r.ledgers)}`)
  assert.ok(r.ledgersAgree, `the members' ledgers disagree: ${JSON.stringify(r.ledgers)}`)
  const anyTaken = Object.values(r.ledgers).some(l => Object.values(l.stored ?? {}).some(x => x.taken > 0))
  assert.ok(anyTaken, 'no help was recorded in any ledger')
  assert.deepEqual(r.errors, [], 'error-level log lines')
})
