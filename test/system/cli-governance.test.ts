/**
 * The operator's governance workflow through the `reef` CLI against real nodes: two founders
 * write and sign a charter, start under it, invite a third site which joins and is admitted,
 * then a policy change is proposed and voted through by every operator.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ReefNode, cliMain, loadConfigFile, loadOrCreateIdentity } from '@reef/node'
import { freePort, startDemoOrigin } from '@reef/node/demo'
import type { CliIo } from '@reef/node'
import type { DemoOrigin } from '@reef/node/demo'
import { until } from './wait.ts'

async function reef(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const io: CliIo = {
    out: s => {
      out += s
    },
    err: s => {
      err += s
    }
  }
  return { code: await cliMain(argv, io), out, err }
}

const TOKEN = 'operator-token-for-tests-0123456789'

describe('governance through the reef CLI', { timeout: 90_000 }, () => {
  let dir: string
  let origin: DemoOrigin
  const nodes: ReefNode[] = []

  async function writeConfig(label: string, p2pPort: number, bootstrap: string[], charter?: string): Promise<string> {
    const [front, mirror, admin] = [await freePort(), await freePort(), await freePort()]
    const file = join(dir, `${label}.jsonc`)
    await writeFile(
      file,
      `// ${label}'s node\n` +
        JSON.stringify(
          {
            consortium: 'smallsites',
            site: { label, publicUrl: `http://127.0.0.1:${front}` },
            origin: { url: origin.url, capacityRps: 50, maxConcurrent: 8 },
            front: { listen: { host: '127.0.0.1', port: front } },
            mirror: { listen: { host: '127.0.0.1', port: mirror }, publicUrl: `http://mirror-${label}.localhost:${mirror}` },
            admin: { listen: { host: '127.0.0.1', port: admin }, token: TOKEN },
            p2p: { listen: [`/ip4/127.0.0.1/tcp/${p2pPort}`], bootstrap },
            dataDir: join(dir, label),
            governance: charter === undefined ? {} : { charter },
            log: { level: 'error' }
          },
          null,
          2
        )
    )
    return file
  }

  async function startNode(file: string): Promise<ReefNode> {
    const node = await ReefNode.create(await loadConfigFile(file))
    await node.start()
    nodes.push(node)
    return node
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-cli-gov-'))
    origin = await startDemoOrigin({ workers: 8, capacityRps: 50, seed: 5, siteName: 'origin' })
  })
  after(async () => {
    for (const n of nodes) await n.stop()
    await origin?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('founders create and sign a charter, an invited site joins, and a policy change is voted through', async () => {
    const charter = join(dir, 'charter.json')
    const alphaPeer = peerIdFromPrivateKey(await loadOrCreateIdentity(join(dir, 'alpha'))).toString()
    const bravoPeer = peerIdFromPrivateKey(await loadOrCreateIdentity(join(dir, 'bravo'))).toString()
    const alphaP2p = await freePort()
    const alphaFile = await writeConfig('alpha', alphaP2p, [], charter)
    const bravoFile = await writeConfig('bravo', await freePort(), [`/ip4/127.0.0.1/tcp/${alphaP2p}/p2p/${alphaPeer}`], charter)
    const bravoConfig = await loadConfigFile(bravoFile)

    // Founders: alpha writes the charter naming bravo; it is incomplete until bravo signs.
    const created = await reef([
      'consortium',
      'create',
      '--config',
      alphaFile,
      '--id',
      'smallsites',
      '--name',
      'Small sites',
      '--founder',
      `${bravoPeer},bravo,${bravoConfig.mirror.publicUrl}`,
      '--set',
      'auditIntervalMs=5000',
      '--out',
      charter
    ])
    assert.equal(created.code, 0, created.err)
    assert.match(created.out, /Waiting for 1 more signature/)
    const incomplete = await reef(['consortium', 'show', charter])
    assert.equal(incomplete.code, 1)
    assert.match(incomplete.out, /NOT VALID: not signed yet by bravo/)
    assert.equal((await reef(['consortium', 'create', '--config', alphaFile, '--name', 'x', '--out', charter])).code, 2, 'overwrote a charter without --force')

    const signed = await reef(['consortium', 'sign', charter, '--config', bravoFile])
    assert.equal(signed.code, 0, signed.err)
    assert.match(signed.out, /the charter is complete/)
    const shown = await reef(['consortium', 'show', charter, '--json'])
    assert.equal(shown.code, 0)
    assert.equal((JSON.parse(shown.out) as { charter: { policy: { auditIntervalMs: number } } }).charter.policy.auditIntervalMs, 5_000)

    const alpha = await startNode(alphaFile)
    const bravo = await startNode(bravoFile)
    await until('the founders to see each other', () => alpha.peers.get(bravo.peerId) !== undefined, 15_000)

    const members = await reef(['members', '--config', alphaFile])
    assert.equal(members.code, 0, members.err)
    assert.match(members.out, /Consortium "smallsites" \(Small sites\): log height 0/)
    assert.match(members.out, /alpha .*\(this node\)/)
    assert.match(members.out, /bravo/)

    // A third site is invited, joins, and is admitted by the founders' nodes.
    const invite = await reef(['invite', '--config', alphaFile, '--site', 'charlie'])
    assert.equal(invite.code, 0, invite.err)
    const token = /^([A-Za-z0-9_-]{100,})$/m.exec(invite.out)?.[1]
    assert.ok(token !== undefined, invite.out)
    const charlieFile = await writeConfig('charlie', await freePort(), [])
    assert.equal((await reef(['join', 'not-a-token', '--config', charlieFile])).code, 2)
    const joined = await reef(['join', token, '--config', charlieFile])
    assert.equal(joined.code, 0, joined.err)
    const charlie = await startNode(charlieFile)
    await until('charlie to be admitted everywhere', () => [alpha, bravo, charlie].every(n => n.gov!.isMemberPeer(charlie.peerId)), 30_000)

    // A policy change needs every operator now (3 of 3).
    const proposed = await reef(['propose', 'policy', '--set', 'freeloadExpelPct=200', '--config', alphaFile])
    assert.equal(proposed.code, 0, proposed.err)
    const id = /Proposed ([0-9a-f]{64})/.exec(proposed.out)![1]!
    await until('the proposal to reach every node', () => [bravo, charlie].every(n => n.gov!.proposals.has(id)), 10_000)
    const pending = await reef(['members', '--config', bravoFile])
    assert.match(pending.out, /waits for you: reef vote ID/)
    const noToken = await reef(['vote', id.slice(0, 12), '--admin', bravo.adminUrl!])
    assert.equal(noToken.code, 2, 'voted without an operator token')
    for (const f of [alphaFile, bravoFile, charlieFile]) {
      const v = await reef(['vote', id.slice(0, 12), '--config', f])
      if (v.code !== 0) assert.match(v.err, /no open proposal/, v.err) // the last vote may land after the entry was assembled
    }
    await until('the policy change everywhere', () => [alpha, bravo, charlie].every(n => n.gov!.state!.policy.freeloadExpelPct === 200), 10_000)
    const after = await reef(['members', '--config', charlieFile, '--json'])
    assert.equal((JSON.parse(after.out) as { height: number }).height, 2)

    // An expulsion with evidence the voters check themselves: charlie's ledger shows no
    // freeloading, so nobody votes on its own and the operators are asked.
    const evidenceFile = join(dir, 'evidence.json')
    await writeFile(evidenceFile, JSON.stringify([{ kind: 'freeloading', taken: 1, credit: 0 }]))
    const bad = await reef(['propose', 'expel', charlie.peerId, '--reason', 'x', '--evidence', join(dir, 'missing.json'), '--config', alphaFile])
    assert.equal(bad.code, 2)
    const expel = await reef(['propose', 'expel', charlie.peerId, '--reason', 'freeloading, says alpha', '--evidence', evidenceFile, '--config', alphaFile])
    assert.equal(expel.code, 0, expel.err)
    const expelId = /Proposed ([0-9a-f]{64})/.exec(expel.out)![1]!
    await until('bravo to check the evidence', () => bravo.gov!.proposals.get(expelId)?.decision === 'needs-operator', 10_000)
    assert.match(bravo.gov!.proposals.get(expelId)!.detail, /took 0 B of a .* B limit in this ledger/)
    assert.ok(charlie.gov!.isMember)
  })
})
