/**
 * Filling from helpers (SPEC.md §Fetch stream): three real libp2p hosts on 127.0.0.1, a
 * beneficiary B serving its objects over the fetch stream, and two helpers whose MirrorFill asks
 * an object's owner first. Each object must cross B's uplink once however many helpers fill it,
 * every body is checked against B's manifest whoever sent it, and a helper whose owner fails or
 * lies gets the object from B.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import type { ManifestEntry } from '@reef/protocol'
import { ContentCache, sha256Hex } from '../../src/origin/content-cache.ts'
import type { CachedObject } from '../../src/origin/content-cache.ts'
import { FetchRefusedError } from '../../src/errors.ts'
import { registerFetchServer } from '../../src/p2p/fetch-stream.ts'
import type { HelpingSession } from '../../src/help/help-coordinator.ts'
import { MAX_PREFETCHES_PER_PEER, OWNER_FETCH_TIMEOUT_MAX_MS, OWNER_FETCH_TIMEOUT_MS } from '../../src/constants.ts'
import { MirrorFill, ownerOf, ownerTimeoutMs, ownersBefore, rankedBelow } from '../../src/help/mirror-fill.ts'
import { createReefLibp2p } from '../../src/p2p/host.ts'
import type { ReefLibp2p } from '../../src/p2p/host.ts'

const SESSION = 'sess-fill-00000001'
const log = pino({ level: 'silent' })

interface Helper {
  node: ReefLibp2p
  id: string
  cache: ContentCache
  fill: MirrorFill
  session: HelpingSession
  served: string[]
}

let B: ReefLibp2p
let helpers: Helper[]
const bodies = new Map<string, Buffer>()
const manifest = new Map<string, ManifestEntry>()
let down = new Set<string>()
/** While set, B holds every object it is asked for until opened; `asked` lists the paths in order. */
let gate: { wait: Promise<void>; open: () => void } | undefined
const asked: string[] = []

function body(path: string): Buffer {
  return Buffer.from(`${path}\n`.repeat(500 + path.length * 37))
}

before(async () => {
  for (let i = 0; i < 48; i++) {
    const path = `/img/${i}.png`
    const b = body(path)
    bodies.set(path, b)
    manifest.set(path, { path, size: b.byteLength, type: 'image/png', sha256: sha256Hex(b) })
  }
  bodies.set('/not-in-manifest.css', body('/not-in-manifest.css'))
  const nodes = await Promise.all([0, 1, 2].map(async () => createReefLibp2p(await generateKeyPair('Ed25519'), ['/ip4/127.0.0.1/tcp/0'])))
  await Promise.all(nodes.map(async n => n.start()))
  B = nodes[0]!
  const ids = nodes
    .slice(1)
    .map(n => n.peerId.toString())
    .sort()
  helpers = nodes.slice(1).map(node => {
    const cache = new ContentCache(64 << 20, 8 << 20)
    const id = node.peerId.toString()
    const session: HelpingSession = {
      session: SESSION,
      beneficiary: B.peerId.toString(),
      site: 'alpha',
      siteUrl: 'http://alpha.example',
      manifest,
      helpers: ids,
      offeredRps: 100,
      offeredBytesPerSec: 1_000_000,
      offerSentAt: 0,
      accepted: true,
      releasedAt: undefined,
      offeredAt: 0,
      acceptedAt: 0,
      servedBaseline: { requests: 0, bytes: 0 }
    }
    const fill = new MirrorFill({ libp2p: node, cache, selfId: id, maxObjectBytes: 8 << 20, log, isDown: peer => down.has(peer) })
    return { node, id, cache, fill, session, served: [] }
  })
  await registerFetchServer(B, {
    log,
    isAcceptedHelper: (session, peer) => session === SESSION && helpers.some(h => h.id === peer),
    load: async path => {
      asked.push(path)
      if (gate !== undefined) await gate.wait
      const b = bodies.get(path)
      if (b === undefined) throw new FetchRefusedError(404, 'no such object')
      return { site: 'alpha', path, headers: { 'content-type': 'image/png' }, body: b, sha256: sha256Hex(b), storedAt: Date.now() }
    }
  })
  for (const h of helpers) {
    await registerFetchServer(h.node, {
      log,
      isAcceptedHelper: () => false,
      load: async () => {
        throw new FetchRefusedError(403, 'not a beneficiary')
      },
      forHelper: (session, peer, path) => {
        if (session !== SESSION || !h.session.helpers.includes(peer) || !manifest.has(path)) return undefined
        h.served.push(path)
        return h.fill.fill(h.session, path, { forPeer: true })
      }
    })
    await h.node.dial(B.getMultiaddrs()[0]!)
  }
  await helpers[0]!.node.dial(helpers[1]!.node.getMultiaddrs()[0]!)
  // Both helpers see their connection before they fill (the accepting side registers it a moment later).
  const deadline = Date.now() + 5_000
  while (!helpers.every(h => h.node.getConnections().length === 2)) {
    if (Date.now() > deadline) throw new Error('helpers did not connect to each other')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
})

after(async () => {
  await Promise.all([B, ...helpers.map(h => h.node)].map(async n => n.stop()))
})

describe('ownerOf', () => {
  test('every helper computes the same owner, whatever order it lists the helpers in, and owners share the paths', () => {
    const peers = ['12D3KooWAaaa', '12D3KooWBbbb', '12D3KooWCccc']
    const counts = new Map<string, number>()
    for (let i = 0; i < 3_000; i++) {
      const path = `/p/${i}`
      const owner = ownerOf(path, peers)!
      assert.equal(ownerOf(path, [...peers].reverse()), owner)
      counts.set(owner, (counts.get(owner) ?? 0) + 1)
    }
    for (const n of counts.values()) assert.ok(n > 850 && n < 1_150, String(n))
    assert.equal(ownerOf('/x', []), undefined)
  })

  test('matches SHA-1(peer ‖ "\\n" ‖ path) compared as big-endian bytes, as SPEC.md says', () => {
    const peers = ['12D3KooWAaaa', '12D3KooWBbbb']
    const score = (p: string): Buffer => createHash('sha1').update(`${p}\n/img/1.png`).digest()
    const expected = Buffer.compare(score(peers[0]!), score(peers[1]!)) > 0 ? peers[0] : peers[1]
    assert.equal(ownerOf('/img/1.png', peers), expected)
  })
})

describe('rankedBelow', () => {
  test('lists the helpers ranked just below a node for a path, best first: the owner when that node leaves the list, and never one ranked above it', () => {
    const peers = Array.from({ length: 8 }, (_, i) => `12D3KooW${String.fromCharCode(65 + i).repeat(4)}`)
    for (let i = 0; i < 200; i++) {
      const path = `/p/${i}`
      const ranked = [...peers].sort((a, b) =>
        Buffer.compare(createHash('sha1').update(`${b}\n${path}`).digest(), createHash('sha1').update(`${a}\n${path}`).digest())
      )
      for (const [k, self] of ranked.entries()) {
        assert.deepEqual(rankedBelow(path, peers, self, 2), ranked.slice(k + 1, k + 3))
        const below = rankedBelow(path, peers, self, 1)[0]
        // The helper just below owned the path before `self` and those above it were accepted,
        // and owns it under no list that names `self`.
        if (below !== undefined) {
          assert.equal(ownerOf(path, ranked.slice(k + 1)), below)
          assert.notEqual(ownerOf(path, [self, below]), below)
        }
      }
      assert.deepEqual(rankedBelow(path, peers, ranked.at(-1)!, 2), [])
    }
  })
})

describe('ownersBefore', () => {
  test('lists the owners of a path under each list of the helpers accepted before a node, latest first, each once', () => {
    const order = Array.from({ length: 8 }, (_, i) => `12D3KooW${String.fromCharCode(65 + i).repeat(4)}`)
    for (let i = 0; i < 200; i++) {
      const path = `/p/${i}`
      for (const [k, self] of order.entries()) {
        const expected: string[] = []
        for (let j = 0; j < k; j++) {
          const o = ownerOf(path, order.slice(0, j + 1))!
          if (!expected.includes(o)) expected.push(o)
        }
        assert.deepEqual(ownersBefore(path, order, self), expected.reverse())
      }
      assert.deepEqual(ownersBefore(path, order, 'not-listed'), [])
    }
  })
})

describe('ownerTimeoutMs', () => {
  test('waits on the owner twice as long as the hot set takes to cross the struck uplink, within bounds', () => {
    const manifest = new Map<string, ManifestEntry>()
    for (let i = 0; i < 33; i++) manifest.set(`/img/${i}.jpg`, { path: `/img/${i}.jpg`, size: 100_000, type: 'image/jpeg', sha256: 'a'.repeat(64) })
    // 3.3 MB over 0.85 of 1 MB/s: 3.88 s to cross, 7.76 s to wait.
    assert.equal(ownerTimeoutMs({ manifest }, 1_000_000), Math.round((2 * 1000 * 3_300_000) / (0.85 * 1_000_000)))
    assert.equal(ownerTimeoutMs({ manifest }, 4_000_000), OWNER_FETCH_TIMEOUT_MS) // a fast uplink: the floor
    assert.equal(ownerTimeoutMs({ manifest }, 100_000), OWNER_FETCH_TIMEOUT_MAX_MS) // a very slow one: the cap
    assert.equal(ownerTimeoutMs({ manifest }, undefined), OWNER_FETCH_TIMEOUT_MS) // no uplink declared (r2)
    // The manifest grows: the wait follows.
    for (let i = 33; i < 66; i++) manifest.set(`/img/${i}.jpg`, { path: `/img/${i}.jpg`, size: 100_000, type: 'image/jpeg', sha256: 'a'.repeat(64) })
    assert.equal(ownerTimeoutMs({ manifest }, 1_000_000), OWNER_FETCH_TIMEOUT_MAX_MS)
  })
})

/**
 * Empty caches; then h1 alone is accepted: it owns every object and fetches them all from B
 * (prefetches); then both are, and h2 owns some of them.
 */
async function h1AloneThenBoth(): Promise<void> {
  const [h1, h2] = helpers as [Helper, Helper]
  const both = h1.session.helpers
  for (const h of helpers) h.cache.dropSite('alpha')
  h1.session.helpers = [h1.id]
  await Promise.all([...manifest.keys()].map(async path => h1.fill.fill(h1.session, path, { prefetch: true })))
  h1.session.helpers = both
  h2.session.helpers = both
}

describe('MirrorFill', () => {
  test('two helpers filling the whole manifest fetch each object from the struck site once, the rest from its owner', async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    await Promise.all([...manifest.keys()].flatMap(path => [h1.fill.fill(h1.session, path), h2.fill.fill(h2.session, path)]))
    for (const h of helpers) {
      for (const [path, e] of manifest) assert.equal(h.cache.peek('alpha', path)?.sha256, e.sha256, path)
    }
    // Each object crossed B's uplink once: the two helpers' fetches from B add up to the manifest.
    assert.equal(h1.fill.counts.fromSite + h2.fill.counts.fromSite, manifest.size)
    assert.equal(h1.fill.counts.fromOwner + h2.fill.counts.fromOwner, manifest.size)
    for (const h of helpers) assert.equal(h.fill.counts.fromSite, [...manifest.keys()].filter(p => ownerOf(p, h.session.helpers) === h.id).length)
  })

  test('an object outside the manifest comes from the struck site (no helper can vouch for it)', async () => {
    const h1 = helpers[0]!
    const before = h1.fill.counts.fromSite
    const obj = await h1.fill.fill(h1.session, '/not-in-manifest.css')
    assert.ok(obj.body.equals(bodies.get('/not-in-manifest.css')!))
    assert.equal(h1.fill.counts.fromSite, before + 1)
  })

  test('a helper refuses what it must not serve: another session, a stranger, a path outside the manifest', async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    const other: HelpingSession = {
      ...h1.session,
      session: 'sess-other-000001',
      manifest: new Map([['/img/99.png', { path: '/img/99.png', size: 1, type: 'image/png', sha256: sha256Hex(Buffer.from('x')) }]])
    }
    const path = [...manifest.keys()].find(p => ownerOf(p, h1.session.helpers) === h2.id)!
    h1.cache.dropSite('alpha')
    const served = h2.served.length
    // Session unknown to h2: it answers 403, h1 falls back to B (which also refuses another session).
    await assert.rejects(h1.fill.fill(other, '/img/99.png'), (err: unknown) => err instanceof FetchRefusedError && err.status === 403)
    assert.equal(h2.served.length, served)
    // The right session: served by the owner.
    const obj = await h1.fill.fill(h1.session, path)
    assert.equal(obj.sha256, manifest.get(path)!.sha256)
    assert.equal(h2.served.length, served + 1)
  })

  test('an owner that is down is not asked; one that sends altered bytes is caught and the struck site asked instead', async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    const owned = [...manifest.keys()].filter(p => ownerOf(p, h1.session.helpers) === h2.id)
    h1.cache.dropSite('alpha')
    down = new Set([h2.id])
    const served = h2.served.length
    const fromSite = h1.fill.counts.fromSite
    await h1.fill.fill(h1.session, owned[0]!)
    assert.equal(h2.served.length, served, 'a down owner was asked')
    assert.equal(h1.fill.counts.fromSite, fromSite + 1)
    down = new Set()
    // h2 holds a tampered copy of the next object: h1 checks it against B's manifest.
    const path = owned[1]!
    const bad = Buffer.from(bodies.get(path)!)
    bad[10] = bad[10]! ^ 0xff
    const tampered: CachedObject = { site: 'alpha', path, headers: {}, body: bad, sha256: sha256Hex(bad), storedAt: Date.now() }
    h2.cache.put(tampered)
    const failed = h1.fill.counts.ownerFailed
    const obj = await h1.fill.fill(h1.session, path)
    assert.ok(obj.body.equals(bodies.get(path)!))
    assert.equal(h1.fill.counts.ownerFailed, failed + 1)
  })

  test("a visitor's fill goes ahead of the prefetches queued for the struck site, and a queued prefetch a visitor asks for is promoted", async () => {
    const h1 = helpers[0]!
    // Nobody holds them: h1 asks h2 (ranked below it) first, which answers 503 at once.
    for (const h of helpers) h.cache.dropSite('alpha')
    const owned = [...manifest.keys()].filter(p => ownerOf(p, h1.session.helpers) === h1.id)
    assert.ok(owned.length >= MAX_PREFETCHES_PER_PEER + 4, `h1 owns ${owned.length} paths`)
    const prefetched = owned.slice(0, MAX_PREFETCHES_PER_PEER + 3)
    const visitor = owned[MAX_PREFETCHES_PER_PEER + 3]!
    const promoted = prefetched.at(-1)!
    let open = (): void => {}
    gate = {
      wait: new Promise<void>(resolve => {
        open = resolve
      }),
      open: () => {
        open()
      }
    }
    asked.length = 0
    try {
      const fills = prefetched.map(async path => h1.fill.fill(h1.session, path, { prefetch: true }))
      const deadline = Date.now() + 5_000
      while (asked.length < MAX_PREFETCHES_PER_PEER) {
        if (Date.now() > deadline) throw new Error(`B was asked for ${asked.length} objects`)
        await new Promise(resolve => setTimeout(resolve, 5))
      }
      fills.push(h1.fill.fill(h1.session, visitor), h1.fill.fill(h1.session, promoted))
      while (!(asked.includes(visitor) && asked.includes(promoted))) {
        if (Date.now() > deadline) throw new Error(`the visitors' fills did not start: B was asked for ${asked.join(' ')}`)
        await new Promise(resolve => setTimeout(resolve, 5))
      }
      // Prefetches are held while a visitor's fill is open: only the first few had started.
      assert.deepEqual(new Set(asked), new Set([...prefetched.slice(0, MAX_PREFETCHES_PER_PEER), visitor, promoted]))
      gate.open()
      const objs = await Promise.all(fills)
      for (const o of objs) assert.equal(o.sha256, manifest.get(o.path)!.sha256)
      assert.equal(new Set(asked).size, prefetched.length + 1, 'every object fetched from B once')
    } finally {
      gate.open()
      gate = undefined
    }
  })

  test('helpers accepted one after the other: a prefetch of an object whose owner changed gets it from its earlier owner, not the struck site again', async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    const both = h1.session.helpers
    try {
      await h1AloneThenBoth()
      h2.session.earlierHelpers = [[h1.id]]
      asked.length = 0
      const before = { ...h2.fill.counts }
      await Promise.all([...manifest.keys()].map(async path => h2.fill.fill(h2.session, path, { prefetch: true })))
      assert.deepEqual(asked, [], 'no object crossed B again')
      const ownsNow = [...manifest.keys()].filter(p => ownerOf(p, both) === h2.id).length
      assert.ok(ownsNow > 0 && ownsNow < manifest.size)
      // Its own objects from h1, the earlier owner (and the helper ranked below it); the rest from their owner, h1.
      assert.equal(h2.fill.counts.fromBelow - before.fromBelow, ownsNow)
      assert.equal(h2.fill.counts.fromOwner - before.fromOwner, manifest.size - ownsNow)
      assert.equal(h2.fill.counts.fromSite, before.fromSite)
      for (const [path, e] of manifest) assert.equal(h2.cache.peek('alpha', path)?.sha256, e.sha256, path)
      // A visitor's fill of an object h2 owns comes from h1 too.
      const own = [...manifest.keys()].find(p => ownerOf(p, both) === h2.id)!
      h2.cache.dropSite('alpha')
      await h2.fill.fill(h2.session, own)
      assert.deepEqual(asked, [])
    } finally {
      h1.session.helpers = both
      h2.session.helpers = both
      delete h2.session.earlierHelpers
    }
  })

  test('accepted after another helper and never told the earlier list, an owner gets its objects from the helper ranked below it, also when asked by a helper', async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    const both = h1.session.helpers
    try {
      await h1AloneThenBoth()
      assert.equal(h2.session.earlierHelpers, undefined)
      const own = [...manifest.keys()].filter(p => ownerOf(p, both) === h2.id)
      assert.ok(own.length >= 2)
      for (const p of own) assert.deepEqual(rankedBelow(p, both, h2.id, 1), [h1.id])
      asked.length = 0
      const before = { ...h2.fill.counts }
      // A visitor's fill, and another helper's request (h1 has dropped its copy: h2 fetches for it).
      assert.equal((await h2.fill.fill(h2.session, own[0]!)).sha256, manifest.get(own[0]!)!.sha256)
      assert.equal((await h2.fill.fill(h2.session, own[1]!, { forPeer: true })).sha256, manifest.get(own[1]!)!.sha256)
      assert.deepEqual(asked, [], 'nothing crossed B again')
      assert.equal(h2.fill.counts.fromBelow - before.fromBelow, 2)
      // Nobody below holds it: B, once, for h2 and the helper that asked it.
      h1.cache.delete('alpha', own[2] ?? own[0]!)
      h2.cache.delete('alpha', own[2] ?? own[0]!)
      const p = own[2] ?? own[0]!
      const [a, b] = await Promise.all([h2.fill.fill(h2.session, p, { forPeer: true }), h2.fill.fill(h2.session, p)])
      assert.equal(a.sha256, manifest.get(p)!.sha256)
      assert.equal(b.sha256, manifest.get(p)!.sha256)
      assert.deepEqual(asked, [p])
    } finally {
      h1.session.helpers = both
      h2.session.helpers = both
    }
  })

  test("with the accept's order, an owner accepted after another asks it first, and an owner accepted first asks nobody before B", async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    const both = h1.session.helpers
    for (const h of helpers) h.cache.dropSite('alpha')
    const own2 = [...manifest.keys()].filter(p => ownerOf(p, both) === h2.id)
    try {
      // h1 was accepted first and filled h2's objects as their owner then.
      await Promise.all(own2.map(async p => h1.fill.fill({ ...h1.session, helpers: [h1.id] }, p)))
      h2.session.acceptOrder = [h1.id, h2.id]
      asked.length = 0
      const served = h1.served.length
      assert.equal((await h2.fill.fill(h2.session, own2[0]!)).sha256, manifest.get(own2[0]!)!.sha256)
      assert.deepEqual(asked, [])
      assert.equal(h1.served.length, served + 1)
      // Accepted first, h2 owned its objects from the start: nobody else fetched them, so it asks B alone.
      h2.session.acceptOrder = [h2.id, h1.id]
      h1.cache.dropSite('alpha')
      await h2.fill.fill(h2.session, own2[1]!)
      assert.deepEqual(asked, [own2[1]])
      assert.equal(h1.served.length, served + 1, 'h1 was not asked')
    } finally {
      delete h2.session.acceptOrder
    }
  })

  test('asked by another helper for an object it neither holds nor owns, a helper answers 503 at once and does not fetch it from B', async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    for (const h of helpers) h.cache.dropSite('alpha')
    const path = [...manifest.keys()].find(p => ownerOf(p, h1.session.helpers) === h1.id)!
    asked.length = 0
    await assert.rejects(h2.fill.fill(h2.session, path, { forPeer: true }), (err: unknown) => err instanceof FetchRefusedError && err.status === 503)
    assert.deepEqual(asked, [])
    // Held, it is served from the cache all the same.
    await h1.fill.fill(h1.session, path)
    h2.cache.put(h1.cache.peek('alpha', path)!)
    assert.equal((await h2.fill.fill(h2.session, path, { forPeer: true })).sha256, manifest.get(path)!.sha256)
    assert.deepEqual(asked, [path])
  })

  test('an owner asking an earlier owner that asks it back for the same object: neither waits on the other, and the object crosses B once', async () => {
    const [h1, h2] = helpers as [Helper, Helper]
    const both = h1.session.helpers
    for (const h of helpers) h.cache.dropSite('alpha')
    // h1 owned everything while alone; now h2 owns `path`, and its prefetch asks h1 first.
    h2.session.earlierHelpers = [[h1.id]]
    const path = [...manifest.keys()].find(p => ownerOf(p, both) === h2.id)!
    asked.length = 0
    const before = { h1: { ...h1.fill.counts }, h2: { ...h2.fill.counts } }
    try {
      // Both fills start before either ask arrives: h2's prefetch asks h1, h1's visitor fill asks h2.
      const [a, b] = await Promise.all([h2.fill.fill(h2.session, path, { prefetch: true }), h1.fill.fill(h1.session, path)])
      assert.equal(a.sha256, manifest.get(path)!.sha256)
      assert.equal(b.sha256, manifest.get(path)!.sha256)
      assert.deepEqual(asked, [path], 'B sent the object once')
      // h1's ask was answered by its owner (it did not time out), which fetched from B for both.
      assert.equal(h1.fill.counts.ownerFailed, before.h1.ownerFailed)
      assert.equal(h1.fill.counts.fromOwner, before.h1.fromOwner + 1)
      assert.equal(h1.fill.counts.fromSite, before.h1.fromSite)
      assert.equal(h2.fill.counts.fromSite, before.h2.fromSite + 1)
    } finally {
      delete h2.session.earlierHelpers
    }
  })
})
