/**
 * A real node (`reef start`) under a heavy settlement load arriving over gossip is killed with
 * SIGKILL and restarted on the same data folder: every balance its admin API had shown is
 * still there, nothing is counted twice (records delivered again after the restart change
 * nothing), and the stored balances equal a recomputation from the stored records.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createHash } from 'node:crypto'
import { request } from 'undici'
import { multiaddr } from '@multiformats/multiaddr'
import { createReefLibp2p } from '@reef/node'
import { freePort, startDemoOrigin } from '@reef/node/demo'
import type { ReefLibp2p } from '@reef/node'
import type { DemoOrigin } from '@reef/node/demo'
import { ledgerTopic, signRecord } from '@reef/protocol'

const REEF = fileURLToPath(new URL('../../packages/node/bin/reef.js', import.meta.url))
const TOPIC = ledgerTopic('reef')

interface Member {
  host: ReefLibp2p
  key: Parameters<typeof signRecord>[0]
  id: string
}

async function member(seed: number): Promise<Member> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
  const host = await createReefLibp2p(key, ['/ip4/127.0.0.1/tcp/0'])
  await host.start()
  host.services.pubsub.subscribe(TOPIC)
  return { host, key, id: peerIdFromPrivateKey(key).toString() }
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

interface Totals {
  given: number
  taken: number
}

describe('ledger across kill -9 of a real node', { timeout: 120_000 }, () => {
  let dir: string
  let origin: DemoOrigin
  let node: ChildProcess | undefined
  const members: Member[] = []
  let config: string
  let admin: number
  let p2pPort: number

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-ledger-crash-'))
    origin = await startDemoOrigin({ workers: 4, capacityRps: 100 })
    const [front, mirror] = [await freePort(), await freePort()]
    p2pPort = await freePort()
    admin = await freePort()
    config = join(dir, 'node.json')
    await writeFile(
      config,
      JSON.stringify({
        site: { label: 'witness', publicUrl: `http://127.0.0.1:${front}` },
        origin: { url: origin.url, capacityRps: 100, maxConcurrent: 4 },
        front: { listen: { host: '127.0.0.1', port: front } },
        mirror: { listen: { host: '127.0.0.1', port: mirror }, publicUrl: `http://mirror.localhost:${mirror}` },
        admin: { listen: { host: '127.0.0.1', port: admin } },
        p2p: { listen: [`/ip4/127.0.0.1/tcp/${p2pPort}`] },
        dataDir: join(dir, 'data'),
        log: { level: 'error' }
      })
    )
    members.push(await member(21), await member(22))
  })

  after(async () => {
    node?.kill('SIGKILL')
    await Promise.allSettled(members.map(async m => m.host.stop()))
    await origin?.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function startNode(): Promise<string> {
    node = spawn(process.execPath, [REEF, 'start', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] })
    const status = await until(
      'the node to come up',
      async () => {
        const res = await request(`http://127.0.0.1:${admin}/api/status`)
        return res.statusCode === 200 ? ((await res.body.json()) as { peerId: string }) : undefined
      },
      30_000
    )
    return status.peerId
  }

  async function connect(peerId: string): Promise<void> {
    for (const m of members) await m.host.dial(multiaddr(`/ip4/127.0.0.1/tcp/${p2pPort}/p2p/${peerId}`))
    await until(
      'the node to subscribe to the ledger topic',
      async () => (members.every(m => m.host.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === peerId)) ? true : undefined),
      15_000
    )
  }

  async function totals(peer: string): Promise<Totals> {
    const res = await request(`http://127.0.0.1:${admin}/api/ledger`)
    const view = (await res.body.json()) as { members: Array<{ peer: string } & Totals> }
    return view.members.find(m => m.peer === peer) ?? { given: 0, taken: 0 }
  }

  let seq = Date.now() * 1000
  /** One settlement round of the (b → h) pair: the delegation, then the receipt. */
  async function round(r: number): Promise<void> {
    const [b, h] = members as [Member, Member]
    const d = await signRecord(
      b.key,
      b.id,
      'delegation',
      { session: 'c3Jhc2gtc2Vzc2lvbg', helper: h.id, round: r, requests: r * 10, bytes: r * 1_000, final: false },
      { seq: ++seq }
    )
    const hash = createHash('sha256').update(d).digest('hex')
    const rc = await signRecord(
      h.key,
      h.id,
      'receipt',
      { session: 'c3Jhc2gtc2Vzc2lvbg', beneficiary: b.id, round: r, delegation: hash, requests: r * 10, bytes: r * 1_000 },
      { seq: ++seq }
    )
    await b.host.services.pubsub.publish(TOPIC, d)
    await h.host.services.pubsub.publish(TOPIC, rc)
  }

  it('keeps every shown balance, counts nothing twice, and stays consistent with its records', async () => {
    const [, h] = members as [Member, Member]
    const peerId = await startNode()
    await connect(peerId)
    // Heavy load: rounds as fast as they can be signed and gossiped, until well into it.
    let r = 0
    let seen: Totals = { given: 0, taken: 0 }
    const loadDeadline = Date.now() + 60_000
    while (Date.now() < loadDeadline && r < 4_000) {
      // ≤ 8,000 records: the records API returns them all
      for (let k = 0; k < 100; k++) await round(++r)
      seen = await totals(h.id)
      if (seen.given >= 1_000 * 1_000) break
    }
    assert.ok(seen.given >= 1_000 * 1_000, `the node settled too little under load (${seen.given} after ${r} rounds)`)
    // Kill it while records are still arriving.
    const more = (async () => {
      for (let k = 0; k < 200; k++) await round(++r).catch(() => {})
    })()
    node!.kill('SIGKILL')
    await once(node!, 'exit')
    await more

    const again = await startNode()
    const after = await totals(h.id)
    assert.ok(after.given >= seen.given, `balance went back from ${seen.given} to ${after.given} across the crash`)
    const check = (await (await request(`http://127.0.0.1:${admin}/api/ledger/check`)).body.json()) as {
      consistent: boolean
      records: number
      mismatches: string[]
    }
    assert.equal(check.consistent, true, `stored balances differ from the records for ${check.mismatches.join(', ')}`)
    // Cumulative records: the helper's balance is exactly its highest settled receipt's amount.
    const recs = (await (await request(`http://127.0.0.1:${admin}/api/ledger/${h.id}/records?limit=10000`)).body.json()) as {
      records: Array<{ type: string; body: { round: number; bytes: number } }>
    }
    const top = Math.max(...recs.records.filter(x => x.type === 'receipt').map(x => x.body.round))
    assert.equal(after.given, top * 1_000)
    const lastRound = Math.max(...recs.records.map(x => x.body.round)) // a delegation may be ahead of its receipt

    // Deliver old rounds again after the restart: nothing counts twice.
    assert.equal(again, peerId, 'the node came back with another identity')
    await connect(again)
    const replaySeq = seq
    for (let k = 1; k <= 20; k++) await round(k)
    assert.ok(seq > replaySeq)
    await round(lastRound + 1)
    const final = await until(
      'the next round to settle',
      async () => {
        const t = await totals(h.id)
        return t.given === (lastRound + 1) * 1_000 ? t : undefined
      },
      15_000
    )
    assert.equal(final.given, (lastRound + 1) * 1_000)
    const check2 = (await (await request(`http://127.0.0.1:${admin}/api/ledger/check`)).body.json()) as { consistent: boolean }
    assert.equal(check2.consistent, true)
  })
})
