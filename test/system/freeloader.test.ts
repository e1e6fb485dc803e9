/**
 * A freeloader between real nodes: delta never helps anyone (its mirror offers nothing) but
 * takes help in its crowds. Once it has taken more than its credit, its peers give it only the
 * charter's optimistic share; once it has taken past the charter's expulsion share of its
 * credit, every honest member proposes its expulsion from its own ledger, votes, and cuts it off.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { loopbackDispatcher, runCrowd, startLocalConsortium, waitForMesh } from '@reef/node/demo'
import type { ReefNode } from '@reef/node'
import type { LocalConsortium } from '@reef/node/demo'
import { until } from './wait.ts'

// A 3 s crowd of 400 req/s sheds 25–30 MB of delta's page loads to its helpers (delta's uplink
// is 3 MB/s); later crowds, at the optimistic share, about 15 MB each.
const GRANT = 12_000_000
const EXPEL_PCT = 400
/** The helpers' uplinks (bytes/s) and the charter's optimistic share: the most a helper offers delta once it is over quota. */
const HELPER_UPLINK = 20_000_000
const OPTIMISTIC_PCT = 10

describe('a freeloader is limited by quota, then expelled', { timeout: 150_000 }, () => {
  let c: LocalConsortium
  const dispatcher = loopbackDispatcher()
  before(async () => {
    c = await startLocalConsortium({
      nodes: 4,
      capacityRps: 50,
      workers: 8,
      logLevel: 'error',
      mirrorCapacityOf: label => (label === 'delta' ? 0 : 1000),
      // Delta's uplink is small (3 MB/s): its crowds' bytes must go to its helpers.
      uplinkOf: label => (label === 'delta' ? 3_000_000 : HELPER_UPLINK),
      // Over quota past 12 MB taken (it gives nothing); expelled past 4× that.
      governance: {
        policy: { newcomerGrantBytes: GRANT, takeMultiple: 2, optimisticSharePct: OPTIMISTIC_PCT, freeloadExpelPct: EXPEL_PCT, settleIntervalMs: 500 }
      }
    })
    await waitForMesh(c)
  })
  after(async () => {
    await c?.close()
    await dispatcher.close()
  })

  it("gives a member over quota only the optimistic share, and expels it once it takes past the charter's limit", async t => {
    const [alpha, bravo, charlie, delta] = c.sites.map(s => s.node!) as [ReefNode, ReefNode, ReefNode, ReefNode]
    const honest = [alpha, bravo, charlie]
    const site = c.sites[3]!
    const offers: number[][] = []
    const byteOffers: number[][] = []
    const crowd = async (round: number): Promise<void> => {
      offers[round] = []
      byteOffers[round] = []
      await runCrowd({
        siteUrl: site.url,
        pages: site.origin.pages,
        profile: { kind: 'step', rps: 400, durationMs: 3_000 },
        maxRequests: 2_000,
        maxDurationMs: 12_000,
        dispatcher,
        seed: 20 + round,
        onResult: () => {
          for (const [k, h] of honest.entries()) {
            const s = h.help.helpingSessions.find(x => x.site === 'delta' && x.releasedAt === undefined)
            if (s === undefined) continue
            offers[round]![k] = Math.max(offers[round]![k] ?? 0, s.offeredRps)
            byteOffers[round]![k] = Math.max(byteOffers[round]![k] ?? 0, s.offeredBytesPerSec)
          }
        }
      })
      await until("delta's crowd to be over", () => delta.detector.state === 'normal' || honest.every(n => n.gov!.isExpelled(delta.peerId)), 20_000)
      t.diagnostic(
        `crowd ${round}: offers ${offers[round]!.join(', ')} req/s, ${byteOffers[round]!.join(', ')} B/s; delta has taken ${alpha.ledgerStore.standing(delta.peerId, Date.now(), alpha.quota).taken} B`
      )
    }

    // Crowd 1: full help; delta takes past its grant (the ledger settles it on every member).
    await crowd(0)
    assert.equal(offers[0]!.filter(o => o > 0).length, 3, `not every peer helped delta in its first crowd: ${offers[0]!.join(', ')}`)
    await until(
      'delta to be over quota in every honest ledger',
      () => honest.every(h => h.ledgerStore.standing(delta.peerId, Date.now(), h.quota).overQuota),
      15_000
    )
    assert.ok(
      honest.every(n => !n.gov!.isExpelled(delta.peerId)),
      'expelled before it was ever limited'
    )
    // What operators see (/api/ledger, reef ledger, the dashboard) is the quota the charter enforces.
    const seen = alpha.views.ledger().members.find(m => m.peer === delta.peerId)!
    const enforced = alpha.ledgerStore.standing(delta.peerId, Date.now(), alpha.quota)
    assert.equal(seen.overQuota, true, "the ledger view does not show delta over the charter's quota")
    assert.ok(Math.abs(seen.quota - enforced.credit) <= 0.01 * enforced.credit, `ledger view quota ${seen.quota}, enforced ${enforced.credit}`)

    // Later crowds: only the optimistic share (10% of 1000 req/s and of the uplink's spare bytes/s), until the expulsion.
    let round = 1
    while (!honest.every(n => n.gov!.isExpelled(delta.peerId)) && round < 8) {
      await crowd(round)
      for (const o of offers[round]!) if (o !== undefined) assert.ok(o <= 100, `offer of ${o} req/s to a member over quota (round ${round})`)
      for (const o of byteOffers[round]!)
        if (o !== undefined) assert.ok(o <= (HELPER_UPLINK * OPTIMISTIC_PCT) / 100, `offer of ${o} B/s to a member over quota (round ${round})`)
      round++
    }
    await until('delta to be expelled on every honest node', () => honest.every(n => n.gov!.isExpelled(delta.peerId)), 20_000)
    const entry = (await alpha.govStore!.entries()).at(-1)!
    assert.deepEqual([entry.body.action.kind, (entry.body.action as { reason: string }).reason], ['expel', 'freeloading'])
    const st = alpha.ledgerStore.standing(delta.peerId, Date.now(), alpha.quota)
    assert.ok(st.taken > (EXPEL_PCT / 100) * st.credit, `expelled at ${st.taken} B taken of ${st.credit} B credit`)
    await until(
      'honest nodes to cut delta off',
      () => honest.every(n => n.libp2p.getConnections(peerIdFromString(delta.peerId)).length === 0 && n.peers.get(delta.peerId) === undefined),
      10_000
    )
  })
})
