/**
 * Settlement between real LedgerServices over an in-process channel that signs and verifies
 * every record for real (stub transport, real protocol), each with its own LevelDB store.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { pino } from 'pino'
import { DEFAULT_QUOTA_POLICY } from '@reef/governance'
import type { QuotaPolicy } from '@reef/governance'
import { OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR, offersAtOnce, signRecord, verifyRecord } from '@reef/protocol'
import type { LoadReport, RecordBody, RecordType } from '@reef/protocol'
import type { HelpingSession } from '../../src/help/help-coordinator.ts'
import { LedgerService } from '../../src/ledger/service.ts'
import { LedgerStore } from '../../src/ledger/store.ts'
import { PeerTable } from '../../src/p2p/peer-table.ts'
import type { RecordChannel, RecordListener } from '../../src/p2p/record-bus.ts'

const log = pino({ level: 'silent' })
const dirs: string[] = []
after(async () => {
  await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true })))
})

class SignedNet {
  readonly listeners = new Map<string, Set<RecordListener>>()
  #seq = Date.now() * 1000
  channel(id: string, key: PrivateKey): RecordChannel {
    const ls = new Set<RecordListener>()
    this.listeners.set(id, ls)
    return {
      publish: async <T extends RecordType>(_topic: string, type: T, body: RecordBody<T>) => {
        const bytes = await signRecord(key, id, type, body, { seq: ++this.#seq })
        const record = await verifyRecord(bytes)
        for (const [peer, set] of this.listeners) if (peer !== id) for (const fn of set) fn(record)
        return bytes
      },
      onRecord: fn => {
        ls.add(fn)
        return () => ls.delete(fn)
      }
    }
  }
}

interface Member {
  id: string
  key: PrivateKey
  store: LedgerStore
  service: LedgerService
  peers: PeerTable
  helping: HelpingSession[]
  served: Map<string, { requests: number; bytes: number }>
}

async function member(net: SignedNet, seed: number, policy: QuotaPolicy = DEFAULT_QUOTA_POLICY, offerWindowMs = 3_000): Promise<Member> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
  const id = peerIdFromPrivateKey(key).toString()
  const dir = await mkdtemp(join(tmpdir(), 'reef-ledger-svc-'))
  dirs.push(dir)
  const store = await LedgerStore.open(dir)
  const peers = new PeerTable(60_000)
  const helping: HelpingSession[] = []
  const served = new Map<string, { requests: number; bytes: number }>()
  const service = new LedgerService(
    { consortium: 'test', selfId: id, settleIntervalMs: 60_000, policy, offerWindowMs },
    {
      bus: net.channel(id, key),
      store,
      peers,
      log,
      helpingSessions: () => helping,
      servedNow: site => served.get(site) ?? { requests: 0, bytes: 0 }
    }
  )
  service.start()
  return { id, key, store, service, peers, helping, served }
}

function session(beneficiary: string, sessionId: string, site = 'alpha'): HelpingSession {
  return {
    session: sessionId,
    beneficiary,
    site,
    siteUrl: 'http://alpha.example',
    manifest: new Map(),
    helpers: [],
    offeredRps: 100,
    offeredBytesPerSec: 1_000_000,
    offerSentAt: 0,
    accepted: true,
    releasedAt: undefined,
    offeredAt: Date.now(),
    acceptedAt: Date.now(),
    servedBaseline: { requests: 0, bytes: 0 }
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

async function stopAll(...ms: Member[]): Promise<void> {
  for (const m of ms) {
    await m.service.stop()
    await m.store.close()
  }
}

describe('ledger settlement', () => {
  it('a beneficiary signs what it delegated, the helper receipts no more than it served, a third member agrees', async () => {
    const net = new SignedNet()
    const [b, h, w] = [await member(net, 1), await member(net, 2), await member(net, 3)]
    try {
      h.helping.push(session(b.id, 'session-0001'))
      h.served.set('alpha', { requests: 8, bytes: 8_000 }) // two redirected requests failed before reaching it
      for (let i = 0; i < 10; i++) b.service.countRedirect('session-0001', h.id, 1_000)
      await b.service.settle()
      for (const m of [b, h, w]) await until(() => m.store.totals(h.id).given === 8_000, `${m.id.slice(-4)} to see the receipt`)
      for (const m of [b, h, w]) {
        assert.deepEqual(m.store.totals(b.id), { given: 0, taken: 8_000, givenRequests: 0, takenRequests: 8 })
        const pair = m.store.pair(b.id, h.id, 'session-0001')!
        assert.equal(pair.latestDelegation?.requests, 10)
        assert.equal(pair.receipt?.requests, 8)
      }
      // Serving more than was delegated earns no more than was delegated.
      h.served.set('alpha', { requests: 50, bytes: 50_000 })
      for (let i = 0; i < 5; i++) b.service.countRedirect('session-0001', h.id, 1_000)
      await b.service.settle('session-0001')
      await until(() => w.store.totals(h.id).given === 15_000, 'the final receipt')
      assert.equal(w.store.pair(b.id, h.id, 'session-0001')?.latestDelegation?.final, true)
      assert.deepEqual((await w.store.recompute()).totals.get(h.id), w.store.totals(h.id))
    } finally {
      await stopAll(b, h, w)
    }
  })

  it('signals a member that keeps taking over its quota', async () => {
    const net = new SignedNet()
    const tight = { ...DEFAULT_QUOTA_POLICY, newcomerGrantBytes: 5_000 }
    const [b, h] = [await member(net, 4, tight), await member(net, 5, tight)]
    try {
      h.helping.push(session(b.id, 'session-0002'))
      h.served.set('alpha', { requests: 100, bytes: 100_000 })
      for (let i = 0; i < 10; i++) b.service.countRedirect('session-0002', h.id, 1_000)
      await b.service.settle()
      await until(async () => (await h.store.signals()).some(s => s.kind === 'over-quota' && s.accused === b.id), 'the over-quota signal')
      assert.equal(h.store.standing(b.id, Date.now(), tight).overQuota, true)
      assert.equal(h.store.standing(h.id, Date.now(), tight).overQuota, false)
    } finally {
      await stopAll(b, h)
    }
  })

  it('a struck member signals a peer that advertised spare capacity and did not offer within quota', async () => {
    const net = new SignedNet()
    const [b, lazy, keen] = [await member(net, 6, DEFAULT_QUOTA_POLICY, 50), await member(net, 7), await member(net, 8)]
    try {
      const report = (site: string, spareRps: number): LoadReport => ({
        site,
        siteUrl: `http://${site}.example`,
        mirrorUrl: `http://m-${site}.example`,
        state: 'normal',
        capacityRps: 50,
        demandRps: 1,
        originRps: 1,
        spareRps,
        helping: []
      })
      b.peers.update(lazy.id, report('lazy', 300))
      b.peers.update(keen.id, report('keen', 300))
      b.peers.update('12D3KooWBusyPeerWithNoSpareCapacityxxxxxxxxxxxxxxxxx', report('busy', 0))
      b.service.watchOwnRequest('session-0003', 100_000)
      await net
        .channel(keen.id, keen.key)
        .publish('t', 'help-offer', { session: 'session-0003', to: b.id, offeredRps: 100, mirrorUrl: 'http://m-keen.example' })
      await until(async () => (await b.store.signals()).length > 0, 'a signal')
      const signals = await b.store.signals()
      assert.deepEqual(
        signals.map(s => [s.kind, s.accused]),
        [['declined-with-spare', lazy.id]]
      )
      // A bystander judges nothing: offers go to the requester alone, and it cannot see them.
      assert.equal((await keen.store.signals()).length, 0)
    } finally {
      await stopAll(b, lazy, keen)
    }
  })

  it('does not signal a member that ranked late for the session and held its offer back', async () => {
    const net = new SignedNet()
    const b = await member(net, 10, DEFAULT_QUOTA_POLICY, 50)
    try {
      const peers = Array.from({ length: 12 }, (_, i) => `12D3KooWPeer${String(i).padStart(2, '0')}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`)
      for (const [i, peer] of peers.entries())
        b.peers.update(peer, {
          site: `s${i}`,
          siteUrl: `http://s${i}.example`,
          mirrorUrl: `http://m-s${i}.example`,
          state: 'normal',
          capacityRps: 50,
          demandRps: 0,
          originRps: 0,
          spareRps: 100,
          spareBytesPerSec: 1_000_000,
          helping: []
        })
      b.service.watchOwnRequest('session-0004', 1_000)
      const all = peers.map(peer => ({ peer, spareBytesPerSec: 1_000_000 }))
      const early = peers.filter(peer => offersAtOnce('session-0004', { peer, spareBytesPerSec: 1_000_000 }, all, 1_000, OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR))
      assert.equal(early.length, OFFER_AT_ONCE_MIN)
      // One timer emits every signal at once: when the early members' are stored, all are.
      await until(async () => (await b.store.signals()).length >= early.length, 'the signals')
      assert.deepEqual((await b.store.signals()).map(s => s.accused).sort(), [...early].sort())
    } finally {
      await stopAll(b)
    }
  })

  it('signals a beneficiary that was served and signed no delegation', async () => {
    const net = new SignedNet()
    const [b, h] = [await member(net, 10), await member(net, 11)]
    try {
      const s = session(b.id, 'session-0004')
      h.helping.push(s)
      h.service.checkUnsigned(Date.now() + 600_000)
      assert.deepEqual(await h.store.signals(), [], 'signalled before anything was served')
      h.served.set('alpha', { requests: 30, bytes: 30_000 })
      h.service.checkUnsigned(Date.now() + 600_000)
      await until(async () => (await h.store.signals()).some(x => x.kind === 'unsigned-delegation' && x.accused === b.id), 'the unsigned-delegation signal')
    } finally {
      await stopAll(b, h)
    }
  })
})
