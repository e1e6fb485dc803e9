/**
 * Warm standby between StandbyServices wired through an in-process record channel (records are
 * delivered as if verified) and a fetch that reads the site's objects directly: who is named,
 * what a standby fetches and keeps (hottest first, within its fair share, conditional by hash),
 * what the site refuses (strangers, busy times, over its background budget).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import type { LoadReport, ManifestEntry } from '@reef/protocol'
import { ContentCache, sha256Hex } from '../../src/origin/content-cache.ts'
import type { CachedObject } from '../../src/origin/content-cache.ts'
import { FetchRefusedError } from '../../src/errors.ts'
import { PeerTable } from '../../src/p2p/peer-table.ts'
import { Net } from '../fixtures/record-net.ts'
import { StandbyService, chooseStandbys } from '../../src/help/standby.ts'

const log = pino({ level: 'silent' })

const report = (site: string, state: LoadReport['state'] = 'normal'): LoadReport => ({
  site,
  siteUrl: `http://${site}.example`,
  mirrorUrl: `http://mirror-${site}.example`,
  state,
  capacityRps: 50,
  demandRps: 0,
  originRps: 0,
  spareRps: 100,
  helping: [],
  uplinkBytesPerSec: 1_000_000_000,
  spareBytesPerSec: 500_000_000
})

function object(site: string, path: string, size: number, fill = 1): CachedObject {
  const body = Buffer.alloc(size, fill)
  return { site, path, headers: { 'content-type': 'image/png' }, body, sha256: sha256Hex(body), storedAt: Date.now() }
}
const entry = (o: CachedObject): ManifestEntry => ({ path: o.path, size: o.body.byteLength, type: 'image/png', sha256: o.sha256 })

interface Node {
  id: string
  site: string
  sb: StandbyService
  peers: PeerTable
  objects: Map<string, CachedObject>
  calm: { v: boolean }
  fetched: string[]
}

function node(
  net: Net,
  nodes: Map<string, Node>,
  id: string,
  site: string,
  opts: { replicas?: number | (() => number); maxBytes?: number; uplinkShare?: number } = {}
): Node {
  const peers = new PeerTable(60_000)
  const objects = new Map<string, CachedObject>()
  const calm = { v: true }
  const fetched: string[] = []
  const sb = new StandbyService(
    {
      selfId: id,
      site,
      siteUrl: `http://${site}.example`,
      topic: 't',
      replicas: opts.replicas ?? 1,
      uplinkShare: opts.uplinkShare ?? 1,
      maxBytes: opts.maxBytes ?? 1 << 20
    },
    {
      bus: net.channel(id),
      peers,
      log,
      manifest: () => [...objects.values()].map(entry),
      calm: () => calm.v,
      uplinkBytesPerSec: () => 1_000_000_000,
      load: async path => objects.get(path)!,
      fetch: async (peer, sid, e) => {
        const from = nodes.get(peer)!
        const obj = await (from.sb.serve(sid, id, e.path) ?? Promise.reject(new FetchRefusedError(403, 'not a standby')))
        fetched.push(e.path)
        return { headers: obj.headers, body: obj.body, sha256: obj.sha256 }
      }
    }
  )
  const n = { id, site, sb, peers, objects, calm, fetched }
  nodes.set(id, n)
  return n
}

function knowEachOther(ns: Node[]): void {
  for (const a of ns) for (const b of ns) if (a !== b) a.peers.update(b.id, report(b.site))
}

async function until(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('warm standby', () => {
  it('chooses standbys by rendezvous hashing: the same k for everyone, stable when others join', () => {
    const peers = ['p1', 'p2', 'p3', 'p4', 'p5']
    const two = chooseStandbys('alpha', peers, 2)
    assert.equal(two.length, 2)
    assert.deepEqual(chooseStandbys('alpha', [...peers].reverse(), 2), two)
    // A newcomer displaces at most one of them.
    const withNew = chooseStandbys('alpha', [...peers, 'p6'], 2)
    assert.ok(withNew.filter(p => two.includes(p)).length >= 1)
    assert.notDeepEqual(chooseStandbys('bravo', peers, 5), chooseStandbys('alpha', peers, 5))
  })

  it("names as many standbys as the charter's policy says when it sets one (read at every tick), and none for 0", async () => {
    const { Policy, DEFAULT_POLICY } = await import('@reef/protocol')
    assert.equal(Policy.safeParse({ ...DEFAULT_POLICY, standbyReplicas: 3 }).success, true)
    assert.equal(Policy.safeParse({ ...DEFAULT_POLICY, standbyReplicas: 9 }).success, false, 'more than MAX_STANDBYS')
    assert.equal(Policy.safeParse(DEFAULT_POLICY).success, true, "absent: each member's own config")
    const net = new Net()
    const nodes = new Map<string, Node>()
    let k = 0
    const a = node(net, nodes, 'A', 'alpha', { replicas: () => k })
    const others = ['B', 'C', 'D'].map((id, i) => node(net, nodes, id, ['bravo', 'charlie', 'delta'][i]!))
    knowEachOther([a, ...others])
    const o = object('alpha', '/x', 1_000)
    a.objects.set(o.path, o)
    const named = (): number | undefined => a.sb.mine?.standbys.length
    await a.sb.tick()
    assert.equal(named(), undefined)
    k = 2
    await a.sb.tick()
    assert.equal(named(), 2)
    k = 3
    await a.sb.tick(Date.now() + 10)
    assert.equal(named(), 3)
  })

  it('a named standby fetches the hot set, verified, hottest first; a stranger is refused; nothing moves while the site is busy', async () => {
    const net = new Net()
    const nodes = new Map<string, Node>()
    const a = node(net, nodes, 'A', 'alpha')
    const b = node(net, nodes, 'B', 'bravo')
    const c = node(net, nodes, 'C', 'charlie')
    knowEachOther([a, b, c])
    for (const [i, size] of [30_000, 20_000, 10_000].entries()) {
      const o = object('alpha', `/img/${i}.png`, size, i + 1)
      a.objects.set(o.path, o)
    }
    b.sb.start()
    c.sb.start()
    a.calm.v = false
    await a.sb.tick()
    assert.equal(a.sb.mine, undefined, 'published while busy')
    a.calm.v = true
    await a.sb.tick()
    const mine = a.sb.mine!
    const standby = mine.standbys[0] === 'B' ? b : c
    const other = standby === b ? c : b
    try {
      await until(() => standby.sb.replicas()[0]?.heldBytes === 60_000, 'the replica complete')
      assert.deepEqual(standby.fetched, ['/img/0.png', '/img/1.png', '/img/2.png'])
      assert.equal(other.sb.replicas().length, 0)
      assert.equal(a.sb.serve(mine.id, other.id, '/img/0.png'), undefined, 'a stranger was served')
      assert.equal(a.sb.serve('another-id-0', standby.id, '/img/0.png'), undefined, 'a wrong standby id was served')
      assert.equal(a.sb.serve(mine.id, standby.id, '/not/in/manifest'), undefined, 'a path outside the manifest was served')
      a.calm.v = false
      await assert.rejects(a.sb.serve(mine.id, standby.id, '/img/0.png')!, (err: unknown) => err instanceof FetchRefusedError && err.status === 503)
      // Its load report says what it holds; the site counts it.
      standby.peers.update('A', report('alpha'))
      a.peers.update(standby.id, { ...report(standby.site), standingBy: standby.sb.standingBy() })
      assert.equal(a.sb.heldBy(standby.id), 60_000)
      assert.deepEqual(
        a.sb.ready().map(r => r.peer),
        [standby.id]
      )
      // Seeding a session's cache: only objects whose hash matches the session's manifest.
      const cache = new ContentCache(1 << 20, 1 << 20)
      const manifest = new Map([...a.objects.values()].map(o => [o.path, entry(o)]))
      manifest.set('/img/2.png', { ...manifest.get('/img/2.png')!, sha256: 'f'.repeat(64) })
      assert.equal(standby.sb.seed('alpha', manifest, cache), 50_000)
      assert.equal(cache.peek('alpha', '/img/2.png'), undefined)
    } finally {
      b.sb.stop()
      c.sb.stop()
    }
  })

  it('keeps what did not change across revisions (by hash), and shares its space fairly, hottest prefixes first', async () => {
    const net = new Net()
    const nodes = new Map<string, Node>()
    const s = node(net, nodes, 'S', 'sierra', { maxBytes: 60_000 })
    const a = node(net, nodes, 'A', 'alpha')
    const b = node(net, nodes, 'B', 'bravo')
    knowEachOther([s, a, b])
    for (const [i, size] of [20_000, 20_000].entries()) {
      const o = object('alpha', `/a/${i}`, size, i + 1)
      a.objects.set(o.path, o)
    }
    for (const [i, size] of [20_000, 20_000].entries()) {
      const o = object('bravo', `/b/${i}`, size, i + 5)
      b.objects.set(o.path, o)
    }
    // Only S can be the standby of each: the others are not live to one another here.
    a.peers.remove('B')
    b.peers.remove('A')
    s.sb.start()
    try {
      await a.sb.tick()
      await until(() => s.sb.replicas().find(r => r.site === 'alpha')?.heldBytes === 40_000, 'alpha replicated')
      await b.sb.tick()
      // Two replicas in 60 000 bytes: 30 000 each, so one object of each (the hotter one).
      await until(() => s.sb.replicas().find(r => r.site === 'bravo')?.heldBytes === 20_000, 'bravo replicated within its share')
      assert.equal(s.sb.replicas().find(r => r.site === 'alpha')!.heldBytes, 20_000, 'alpha not trimmed to its share')
      // A new revision of alpha: /a/0 changed, so it is fetched again; nothing else is.
      const before = s.fetched.length
      const changed = object('alpha', '/a/0', 20_000, 9)
      a.objects.set('/a/0', changed)
      await a.sb.tick(Date.now() + 6_000)
      await until(() => s.fetched.length > before, 'the changed object fetched')
      assert.deepEqual(s.fetched.slice(before), ['/a/0'])
    } finally {
      s.sb.stop()
    }
  })
})
