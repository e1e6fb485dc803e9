/**
 * Quotas at work between real nodes: a site that has taken more than its credit from its
 * helpers gets only their optimistic share in its next crowd, and the helpers record the
 * over-quota signal — while a site within quota gets full offers.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { loopbackDispatcher, runCrowd, startLocalConsortium, waitForMesh } from '@reef/node/demo'
import type { ReefNode } from '@reef/node'
import type { LocalConsortium } from '@reef/node/demo'
import { until } from './wait.ts'

const QUOTA = { newcomerGrantBytes: 200_000, takeMultiple: 2, windowMs: 3_600_000, optimisticShare: 0.1 }

function offerTo(helper: ReefNode, site: string): number | undefined {
  const s = helper.help.helpingSessions.find(x => x.site === site && x.releasedAt === undefined)
  return s?.offeredRps
}

describe('quotas between real nodes', { timeout: 120_000 }, () => {
  let c: LocalConsortium
  const dispatcher = loopbackDispatcher()
  before(async () => {
    c = await startLocalConsortium({ nodes: 3, capacityRps: 50, workers: 8, logLevel: 'error', overrides: { ledger: { settleIntervalMs: 500, quota: QUOTA } } })
    await waitForMesh(c)
  })
  after(async () => {
    await c?.close()
    await dispatcher.close()
  })

  async function crowdAt(i: number): Promise<{ offers: number[]; helperServed: number }> {
    const site = c.sites[i]!
    const node = site.node!
    const helpers = c.sites.filter((_, k) => k !== i).map(s => s.node!)
    const offers: number[] = []
    const report = await runCrowd({
      siteUrl: site.url,
      pages: site.origin.pages,
      profile: { kind: 'step', rps: 400, durationMs: 4_000 },
      maxRequests: 3_000,
      maxDurationMs: 15_000,
      dispatcher,
      seed: 3,
      onResult: () => {
        for (const [k, h] of helpers.entries()) {
          const o = offerTo(h, site.label)
          if (o !== undefined) offers[k] = Math.max(offers[k] ?? 0, o)
        }
      }
    })
    await until('the crowd to be over', () => node.detector.state === 'normal', 20_000)
    return { offers, helperServed: report.byServer.helper }
  }

  it('limits help to a member over quota to the optimistic share, records the signal, and helps a member within quota fully', async () => {
    const alpha = c.sites[0]!.node!
    const [bravo, charlie] = [c.sites[1]!.node!, c.sites[2]!.node!]
    const first = await crowdAt(0)
    assert.equal(first.offers.length, 2, 'both peers offered in the first crowd')
    assert.ok(first.helperServed > 0)
    // Settled: alpha took more than its 200 kB grant in both helpers' ledgers.
    await until(
      "alpha to be over quota in the helpers' ledgers",
      () => [bravo, charlie].every(h => h.ledgerStore.standing(alpha.peerId, Date.now(), QUOTA).overQuota),
      15_000
    )
    await until(
      'the over-quota signal',
      async () => (await bravo.ledgerStore.signals()).some(s => s.kind === 'over-quota' && s.accused === alpha.peerId),
      10_000
    )

    const overQuota = await crowdAt(0)
    // Spare capacity is 1000 req/s per helper: an over-quota member gets at most 10% of it.
    for (const k of [0, 1]) {
      assert.ok(overQuota.offers[k] !== undefined && overQuota.offers[k] >= 1, `helper ${k} made no optimistic offer`)
      assert.ok(overQuota.offers[k] <= 0.1 * 1000, `helper ${k} offered ${overQuota.offers[k]} req/s to a member over quota`)
    }
    assert.ok(overQuota.helperServed > 0, 'the optimistic share gave no relief at all')

    const withinQuota = await crowdAt(1) // bravo has given, not taken: well within quota
    assert.equal(withinQuota.offers.length, 2)
    for (const k of [0, 1]) {
      assert.ok(
        withinQuota.offers[k]! > 3 * overQuota.offers[k]!,
        `offers to bravo ${withinQuota.offers.join(', ')} vs to alpha over quota ${overQuota.offers.join(', ')}`
      )
    }
  })
})
