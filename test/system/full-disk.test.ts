/**
 * A full disk under a struck node (issue 13, item 5). Alpha's data dir is on a 32 MiB tmpfs the
 * test mounts (root only, as in CI) and fills with a file while a crowd is on. Then:
 * - alpha keeps serving and shedding to its helpers (the crowd is served);
 * - it says so: /api/status `storage.ledger`, the `reef_storage_writable` metric, `reef doctor`;
 * - its ledger refuses records cleanly and holds them, and catches up once the file is gone:
 *   alpha's ledger then agrees with its helpers', rebuilds to what it stores, and keeps all of
 *   it across a reopen.
 * Everything runs on 127.0.0.1; the mount is removed at the end, also on failure.
 */
import assert from 'node:assert/strict'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { LedgerStore, cliMain } from '@reef/node'
import type { CliIo, ReefNode } from '@reef/node'
import { canMountVolume, loopbackDispatcher, mountSmallVolume, runCrowd, startLocalConsortium, waitForMesh } from '@reef/node/demo'
import type { LocalConsortium, SmallVolume } from '@reef/node/demo'
import { until } from './wait.ts'

async function reef(argv: string[]): Promise<{ code: number; out: string }> {
  let out = ''
  const io: CliIo = {
    out: s => {
      out += s
    },
    err: () => {}
  }
  return { code: await cliMain(argv, io), out }
}

describe('a full disk under a struck node', { skip: canMountVolume ? false : 'needs root to mount a tmpfs (CI runs as root)', timeout: 120_000 }, () => {
  let c: LocalConsortium | undefined
  let volume: SmallVolume | undefined
  const dispatcher = loopbackDispatcher()

  before(async () => {
    volume = await mountSmallVolume(32)
    const alphaDir = join(volume.path, 'alpha')
    c = await startLocalConsortium({
      nodes: 3,
      capacityRps: 40,
      workers: 4,
      logLevel: 'silent',
      // Alpha's uplink cannot carry the crowd: it sheds for as long as the crowd lasts.
      uplinkOf: label => (label === 'alpha' ? 1_000_000 : undefined),
      dataDirOf: label => (label === 'alpha' ? alphaDir : undefined),
      overrides: { ledger: { settleIntervalMs: 300 } }
    })
    await waitForMesh(c)
  })

  after(async () => {
    await c?.close()
    await dispatcher.close()
    await volume?.close()
  })

  it('keeps serving and shedding, says so, refuses ledger records cleanly, and catches up when space returns', async t => {
    const t0 = Date.now()
    const site = c!.sites[0]!
    const [alpha, bravo, charlie] = c!.sites.map(s => s.node!) as [ReefNode, ReefNode, ReefNode]
    const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))

    // A crowd of 5× the origin's capacity; the volume fills once alpha has helpers.
    const crowd = runCrowd({
      siteUrl: site.url,
      pages: site.origin.pages,
      profile: { kind: 'step', rps: 200, durationMs: 15_000 },
      maxRequests: 3_500,
      maxDurationMs: 30_000,
      expected,
      dispatcher,
      seed: 5
    })
    await until('alpha sheds to helpers', () => alpha.monitor.totals.shed > 50, 15_000)
    await volume!.fill()
    await until('alpha’s ledger refuses writes', () => !alpha.ledgerStore.health().writable, 15_000)
    const shedWhenFull = alpha.monitor.totals.shed
    t.diagnostic(`alpha's ledger refused writes ${Date.now() - t0} ms into the crowd, after ${shedWhenFull} requests shed`)

    // Said in the status, the metric and the doctor.
    const status = (await (await request(`${alpha.adminUrl!}/api/status`)).body.json()) as {
      storage: { ledger: { writable: boolean; error: string | null; backlog: number } }
    }
    assert.equal(status.storage.ledger.writable, false)
    assert.match(status.storage.ledger.error ?? '', /space/i)
    const metrics = await (await request(`${alpha.adminUrl!}/metrics`)).body.text()
    assert.match(metrics, /^reef_storage_writable\{store="ledger"\} 0$/m)
    const configFile = join(tmpdir(), `reef-full-disk-${process.pid}.json`)
    await writeFile(configFile, JSON.stringify(site.configInput))
    try {
      const doctor = await reef(['doctor', '--config', configFile, '--json', '--timeout', '2000'])
      const storage = (JSON.parse(doctor.out) as { checks: Array<{ name: string; status: string; summary: string }> }).checks.find(x => x.name === 'storage')
      assert.equal(storage?.status, 'fail', `doctor's storage check: ${JSON.stringify(storage)}`)
      assert.match(storage.summary, /ledger store refuses writes/)
      assert.equal(doctor.code, 1)
    } finally {
      await rm(configFile, { force: true })
    }

    // Serving and shedding go on while full; records wait in memory.
    await until('alpha holds refused records', () => alpha.ledgerStore.health().backlog > 0, 10_000)
    const report = await crowd
    const shedWhileFull = alpha.monitor.totals.shed - shedWhenFull
    t.diagnostic(
      `crowd: ${report.sent} requests, success ${report.successRate}; ${shedWhileFull} shed while the disk was full; ${alpha.ledgerStore.health().backlog} records held`
    )
    assert.ok(shedWhileFull > 100, `alpha shed only ${shedWhileFull} requests while its disk was full`)
    assert.ok(report.successRate >= 0.95, `the crowd was served at ${report.successRate} while alpha's disk was full`)

    // Space returns: the ledger reopens by itself and writes what it held.
    await volume!.unfill()
    await until(
      'alpha’s ledger writes again and holds nothing back',
      () => alpha.ledgerStore.health().writable && alpha.ledgerStore.health().backlog === 0,
      20_000
    )
    assert.equal(alpha.ledgerStore.health().dropped, 0)

    // Members agree about alpha once the final settlement is in; alpha's store rebuilds to itself.
    const taken = (n: ReefNode): number => n.ledgerStore.totals(alpha.peerId).taken
    await until(
      'alpha’s ledger agrees with its helpers’ about what alpha took',
      () => taken(alpha) > 0 && taken(alpha) === taken(bravo) && taken(alpha) === taken(charlie),
      30_000
    )
    const rebuilt = await alpha.ledgerStore.recompute()
    assert.deepEqual(rebuilt.totals.get(alpha.peerId), alpha.ledgerStore.totals(alpha.peerId))
    assert.equal(rebuilt.records, alpha.ledgerStore.recordCount)

    // Nothing of it is lost across a reopen of alpha's ledger.
    const dataDir = join(volume!.path, 'alpha')
    await c!.close()
    c = undefined
    // What alpha's store held when it closed (its memory follows only durable writes).
    const before = { records: alpha.ledgerStore.recordCount, totals: alpha.ledgerStore.allTotals() }
    const store = await LedgerStore.open(join(dataDir, 'ledger'))
    try {
      assert.equal(store.recordCount, before.records)
      assert.deepEqual(store.allTotals(), before.totals)
    } finally {
      await store.close()
    }
  })
})
