/**
 * Warm standby between real nodes: in calm times a standby keeps a verified copy of a site's hot
 * content, fetched at a background rate; when the crowd strikes, the site accepts that standby
 * first and the standby serves at once, so the hot set does not cross the struck uplink again.
 * One standby (replicas 1), so the other member shows what a non-standby may not do.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { FetchRefusedError, fetchFromPeer } from '@reef/node'
import { loopbackDispatcher, runCrowd, startLocalConsortium, waitForMesh } from '@reef/node/demo'
import type { ReefNode } from '@reef/node'
import type { CrowdReport, LocalConsortium } from '@reef/node/demo'
import { until } from './wait.ts'

const CROWD_RPS = 600
const CROWD_MS = 5_000

describe('warm standby', { timeout: 150_000 }, () => {
  let c: LocalConsortium
  let alpha: ReefNode
  let standby: ReefNode
  let other: ReefNode
  let report: CrowdReport
  let manifestBytes = 0
  let sentToHelpers = 0
  const firstAccepted: string[] = []
  const dispatcher = loopbackDispatcher()

  before(async () => {
    c = await startLocalConsortium({
      nodes: 3,
      capacityRps: 50,
      workers: 8,
      logLevel: 'warn',
      // Alpha is a small site (4 MB/s); its peers have room.
      uplinkOf: l => (l === 'alpha' ? 4_000_000 : 50_000_000),
      overrides: { standby: { replicas: 1, uplinkShare: 0.25, maxBytes: 64 * 1024 * 1024 } }
    })
    await waitForMesh(c)
    alpha = c.sites[0]!.node!
    // Calm traffic: every public object of alpha, once, so that its hot set is known.
    for (const [path, f] of c.sites[0]!.origin.files) {
      if (f.private) continue
      const res = await request(c.sites[0]!.url + path, { dispatcher })
      await res.body.dump()
    }
    await until('alpha to name a standby', () => alpha.standby.mine !== undefined, 20_000)
    const mine = alpha.standby.mine!
    standby = c.sites.find(s => s.node!.peerId === mine.standbys[0])!.node!
    other = c.sites.find(s => s.node !== alpha && s.node !== standby)!.node!
    await until(
      "the standby to hold all of alpha's hot content and report it",
      () => {
        const m = alpha.standby.mine!
        return alpha.standby.heldBy(standby.peerId) >= m.manifestBytes
      },
      40_000
    )
    manifestBytes = alpha.standby.mine!.manifestBytes
  })

  after(async () => {
    await c?.close()
    await dispatcher.close()
  })

  it('names standbys by rendezvous hashing, and the standby holds a verified copy paced at the background share', async () => {
    const mine = alpha.standby.mine!
    assert.equal(mine.standbys.length, 1)
    const held = standby.standby.replicas().find(r => r.site === 'alpha')!
    assert.ok(held !== undefined, 'the standby holds no replica of alpha')
    assert.equal(held.heldBytes, held.manifestBytes)
    assert.ok(manifestBytes > 100_000, `a hot set of ${manifestBytes} bytes`)
    assert.equal(other.standby.replicas().length, 0, 'a member not named keeps no replica')
    // (Each object was verified against the signed manifest as it arrived; the crowd below checks every body.)
    // Nothing of it entered the ledger: no delegation vouches for standby transfers.
    assert.equal(alpha.ledgerStore.totals(alpha.peerId).taken, 0)
    assert.equal(alpha.ledgerStore.totals(standby.peerId).given, 0)
  })

  it('refuses the standby fetch to a member that is not a standby', async () => {
    const mine = alpha.standby.mine!
    const path = [...c.sites[0]!.origin.files.keys()].find(p => !c.sites[0]!.origin.files.get(p)!.private)!
    await assert.rejects(
      fetchFromPeer(other.libp2p, alpha.peerId, mine.id, path, 8 * 1024 * 1024),
      (err: unknown) => err instanceof FetchRefusedError && err.status === 403
    )
  })

  it('shows who stands by for whom, and how much they hold, in the admin API', async () => {
    const res = await request(`${alpha.adminUrl!}/api/status`, { dispatcher, headers: { authorization: `Bearer ${c.adminToken}` } })
    const st = (await res.body.json()) as { standby: { revision: number; standbys: Array<{ peer: string; heldBytes: number }> } }
    assert.ok(st.standby.revision >= 1)
    assert.deepEqual(
      st.standby.standbys.map(s => s.peer),
      [standby.peerId]
    )
    assert.ok(st.standby.standbys[0]!.heldBytes >= manifestBytes)
    const res2 = await request(`${standby.adminUrl!}/api/status`, { dispatcher, headers: { authorization: `Bearer ${c.adminToken}` } })
    const st2 = (await res2.body.json()) as { standby: { holding: Array<{ site: string; heldBytes: number; ageMs: number }> } }
    assert.equal(st2.standby.holding[0]?.site, 'alpha')
    assert.ok(st2.standby.holding[0]!.ageMs >= 0)
  })

  it("in a crowd, accepts the standby first and it serves at once: the hot set does not cross alpha's uplink again", async () => {
    const site = c.sites[0]!
    const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    const watch = setInterval(() => {
      if (firstAccepted.length === 0 && alpha.shedder.helpers.length > 0) firstAccepted.push(...alpha.shedder.helpers.map(h => h.peer))
    }, 5)
    try {
      report = await runCrowd({
        siteUrl: site.url,
        pages: site.origin.pages,
        profile: { kind: 'step', rps: CROWD_RPS, durationMs: CROWD_MS },
        maxRequests: (CROWD_RPS * CROWD_MS) / 1000 + 500,
        maxDurationMs: CROWD_MS + 15_000,
        expected,
        dispatcher,
        seed: 11
      })
      const st = alpha.views.status() as { session: { sentToHelpers: number } | null }
      sentToHelpers = st.session?.sentToHelpers ?? 0
    } finally {
      clearInterval(watch)
    }
    assert.deepEqual(firstAccepted, [standby.peerId], `first accepted: ${firstAccepted.join(', ')}`)
    const failures = new Map<string, number>()
    for (const r of report.results) {
      if (r.ok) continue
      const k = `${r.status} ${new URL(r.finalUrl).host.split('.')[1] ?? ''} +${Math.floor((r.start - report.results[0]!.start) / 1000)}s`
      failures.set(k, (failures.get(k) ?? 0) + 1)
    }
    assert.ok(report.successRate >= 0.99, `success ${report.successRate}: ${JSON.stringify([...failures])}`)
    assert.ok(report.byServer.helper > 0.3 * report.sent, `helpers served ${report.byServer.helper} of ${report.sent}`)
    assert.ok(sentToHelpers < 0.2 * manifestBytes, `alpha sent its helpers ${sentToHelpers} B over libp2p for a hot set of ${manifestBytes} B`)
  })
})
