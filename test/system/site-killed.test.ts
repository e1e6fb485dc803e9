/**
 * The struck site's own node dies in its crowd (issue 13, item 1: `kill -9` during a crowd).
 *
 * Delta, a small site (4 MB/s declared uplink), runs `reef start` under a stand-in for the shipped
 * systemd unit; a helper (alpha, in this process) serves its crowd. Its node is SIGKILLed either
 * in the crowd, or once the crowd has passed while delta still sheds (its calm period):
 * - the site answers again within ~2 s (the unit's RestartSec, then `reef start`'s pass-through);
 * - every ledger balance its admin API showed before is kept, and its stored balances still
 *   recompute from its records;
 * - in the crowd, the restarted node is struck again and gets help again, in a new session that
 *   replaces the old one at the helper;
 * - after the crowd, the helper releases the session by itself. The restarted node knows no
 *   session and sends no help-release, and it reports again before the helper's view of it
 *   expires: the helper must tell from its calm load reports (SPEC §Help session, r6).
 *
 * Everything on 127.0.0.1; processes are killed and the temp dir removed at the end, also on failure.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { freePort, loopbackDispatcher, runCrowd, startDemoOrigin, startLocalConsortium } from '@reef/node/demo'
import type { ReefNode } from '@reef/node'
import type { CrowdReport, DemoOrigin, LocalConsortium } from '@reef/node/demo'
import { REEF, StandIn, unitRestartMs } from './stand-in.ts'
import { until } from './wait.ts'

const CROWD_RPS = 500
/** Delta's calm period: long enough that it still sheds when it is killed after its crowd. */
const CALM_MS = 15_000

interface Totals {
  given: number
  taken: number
}

for (const when of ['in its crowd', 'after its crowd'] as const)
  describe(`the struck site killed with -9 ${when}`, { timeout: 120_000 }, () => {
    const inCrowd = when === 'in its crowd'
    const crowdMs = inCrowd ? 12_000 : 6_000
    let dir: string
    let c: LocalConsortium
    let helper: ReefNode
    let origin: DemoOrigin
    let node: StandIn
    const dispatcher = loopbackDispatcher()
    let front = ''
    let admin = 0
    let delayMs = 0
    let crowd: CrowdReport
    let session = ''
    let shown: Totals = { given: 0, taken: 0 }
    let killedAt = 0
    let backMs = 0

    const get = async <T>(path: string): Promise<T | undefined> => {
      try {
        const res = await request(`http://127.0.0.1:${admin}${path}`, { headersTimeout: 2_000, bodyTimeout: 2_000 })
        if (res.statusCode !== 200) {
          await res.body.dump()
          return undefined
        }
        return (await res.body.json()) as T
      } catch {
        return undefined
      }
    }
    /** What delta's ledger shows for the helper, `given` the bytes it served (undefined: its admin API does not answer). */
    const totals = async (): Promise<Totals | undefined> => {
      const view = await get<{ members: Array<{ peer: string } & Totals> }>('/api/ledger')
      return view === undefined ? undefined : (view.members.find(m => m.peer === helper.peerId) ?? { given: 0, taken: 0 })
    }
    const answers = async (): Promise<boolean> => {
      try {
        const res = await request(`${front}/`, { headersTimeout: 2_000, bodyTimeout: 2_000 })
        await res.body.dump()
        return res.statusCode === 200
      } catch {
        return false
      }
    }
    const helping = (): { session: string; accepted: boolean; releasedAt: number | undefined } | undefined => helper.help.sessionForSite('delta')

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'reef-site-killed-'))
      c = await startLocalConsortium({ nodes: 1, capacityRps: 50, workers: 4, logLevel: 'warn', uplinkBytesPerSec: 100_000_000, mirrorCapacityRps: 2_000 })
      helper = c.sites[0]!.node!
      origin = await startDemoOrigin({ workers: 4, capacityRps: 200, seed: 21, siteName: 'delta' })
      const port = await freePort()
      front = `http://127.0.0.1:${port}`
      admin = await freePort()
      const mirror = await freePort()
      const config = join(dir, 'delta.json')
      await writeFile(
        config,
        JSON.stringify({
          consortium: 'demo',
          site: { label: 'delta', publicUrl: front },
          origin: { url: origin.url, capacityRps: 50, maxConcurrent: 4 },
          front: { listen: { host: '127.0.0.1', port } },
          mirror: { listen: { host: '127.0.0.1', port: mirror }, publicUrl: `http://mirror-delta.localhost:${mirror}` },
          admin: { listen: { host: '127.0.0.1', port: admin } },
          p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: helper.libp2p.getMultiaddrs().map(String) },
          uplink: { bytesPerSec: 4_000_000 },
          crowd: { calmMs: CALM_MS },
          ledger: { settleIntervalMs: 1_000 },
          dataDir: join(dir, 'data'),
          log: { level: 'error' }
        })
      )
      delayMs = await unitRestartMs()
      node = new StandIn([REEF, 'start', '--config', config], delayMs)
      node.start()
      await until('delta to answer', answers, 30_000)
      await until('the helper to see delta', () => helper.peers.live().some(e => e.report.site === 'delta'), 30_000)

      const expected = new Map([...origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
      const crowdStarted = Date.now()
      const running = runCrowd({
        siteUrl: front,
        pages: origin.pages,
        profile: { kind: 'step', rps: CROWD_RPS, durationMs: crowdMs },
        maxRequests: (CROWD_RPS * crowdMs) / 1000 + 500,
        maxDurationMs: crowdMs + 15_000,
        expected,
        dispatcher,
        seed: 7
      })
      await until('the helper to serve delta', () => helping()?.accepted === true, crowdMs, 10)
      session = helping()!.session
      if (!inCrowd) {
        crowd = await running
        // Its crowd has passed; delta still sheds (calm period) and the helper still serves it.
        const state = await get<{ state: string }>('/api/status')
        assert.notEqual(state?.state, 'normal', 'delta was calm before the kill: the test would show nothing')
      }
      assert.equal(helping()?.session, session)
      assert.equal(helping()?.releasedAt, undefined, 'the helper had released the session before the kill')
      await until(
        'delta to show what the helper gave it',
        async () => {
          const t = await totals()
          if (t !== undefined) shown = t
          return shown.given > 0
        },
        10_000
      ).catch(async err => {
        throw new Error(
          `${(err as Error).message}; delta's ledger: ${JSON.stringify(await get('/api/ledger'))}; crowd by server ${JSON.stringify(crowd.byServer)}`
        )
      })

      const pid = node.child!.pid!
      killedAt = Date.now()
      process.kill(pid, 'SIGKILL')
      await until('the site to answer again', async () => node.child!.pid !== pid && (await answers()), 10_000, 25)
      backMs = Date.now() - killedAt
      if (inCrowd) {
        assert.ok(Date.now() - crowdStarted < crowdMs - 2_000, 'the crowd was nearly over when the site came back: the test would show less')
        crowd = await running
      }
    })

    after(async () => {
      await node?.stop()
      await origin?.close()
      await c?.close()
      await dispatcher.close()
      await rm(dir, { recursive: true, force: true })
    })

    it('the crowd was served with the helper', t => {
      t.diagnostic(
        `crowd: ${crowd.sent} requests, success ${crowd.successRate.toFixed(4)}, by server ${JSON.stringify(crowd.byServer)}; helper session ${session}`
      )
      const failed = new Map<string, number>()
      for (const r of crowd.results)
        if (!r.ok) {
          const k = `${Math.floor((r.start - killedAt) / 1000)}s ${r.status} ${r.error ?? ''}`.slice(0, 80)
          failed.set(k, (failed.get(k) ?? 0) + 1)
        }
      t.diagnostic(`failed, by second after the kill (request start), status and error: ${JSON.stringify([...failed].sort().slice(0, 40))}`)
      // In the crowd, what was in flight at the kill and what came while the node was down are lost
      // (connections reset or refused); once the site answers again, its visitors are served.
      assert.ok(crowd.successRate >= (inCrowd ? 0.8 : 0.95), `success ${crowd.successRate}`)
      // Half a second after the site answers again: until then the crowd client still reuses
      // pooled connections to the killed process and finds them reset one by one (a browser
      // retries a request that fails so on a reused connection; this client does not).
      const later = crowd.results.filter(r => r.start >= killedAt + backMs + 500)
      const laterOk = later.filter(r => r.ok).length
      t.diagnostic(`requests started from 0.5 s after the site answered again: ${laterOk} of ${later.length} ok`)
      if (inCrowd) assert.ok(later.length > 0 && laterOk >= 0.99 * later.length, `after the restart ${laterOk} of ${later.length} ok`)
      assert.ok(shown.given > 0, 'delta showed no bytes served by the helper')
    })

    it('restarted as the systemd unit says, the site answers again within about 2 s', t => {
      t.diagnostic(`answered again ${backMs} ms after kill -9 (RestartSec ${delayMs} ms)`)
      // The same guard as restart.test.ts: 1.4–2.0 s measured here, 3 s allowed on a loaded machine.
      assert.ok(backMs <= 3_000, `the site answered again ${backMs} ms after kill -9`)
      assert.equal(node.starts, 2)
    })

    it('keeps every balance its ledger showed, and what it stores still recomputes', async () => {
      let after: Totals | undefined
      await until('the ledger to answer', async () => (after = await totals()) !== undefined, 30_000)
      assert.ok(after !== undefined)
      assert.ok(after.given >= shown.given, `delta's ledger went back from ${shown.given} to ${after.given} bytes the helper gave`)
      assert.ok(after.taken >= shown.taken)
      let check: { consistent: boolean; mismatches: string[] } | undefined
      await until('the ledger check', async () => (check = await get('/api/ledger/check')) !== undefined, 10_000)
      assert.ok(check !== undefined)
      assert.equal(check.consistent, true, `stored balances differ from the records for ${check.mismatches.join(', ')}`)
    })

    it(
      inCrowd
        ? 'the restarted node, struck again, gets help again in a new session'
        : 'the helper releases the session by itself: the restarted node never does',
      async t => {
        if (inCrowd) {
          const second = helper.help.helpingSessions.find(x => x.site === 'delta' && x.session !== session)
          assert.ok(second !== undefined, 'the restarted node got no help in its crowd')
          assert.equal(
            helper.help.helpingSessions.filter(x => x.session === session && x.releasedAt === undefined).length,
            0,
            'the old session is still served'
          )
          t.diagnostic(
            `new session ${second.session}, accepted ${second.acceptedAt === undefined ? 'never' : `${second.acceptedAt - killedAt} ms after the kill`}`
          )
          assert.ok(second.acceptedAt !== undefined)
          return
        }
        let releasedAt = 0
        await until(
          'the helper to release the session',
          () => {
            const s = helper.help.helpingSessions.find(x => x.session === session)
            if (s !== undefined && s.releasedAt === undefined) return false
            releasedAt = s?.releasedAt ?? Date.now()
            return true
          },
          30_000
        )
        t.diagnostic(`released ${releasedAt - killedAt} ms after the kill`)
        // No other session took its place: the restarted node, calm, asked for none.
        assert.equal(helper.help.helpingSessions.filter(s => s.site === 'delta' && s.releasedAt === undefined).length, 0)
      }
    )
  })
