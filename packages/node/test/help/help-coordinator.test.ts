/**
 * The help session between coordinators wired through an in-process record channel (stub
 * components: records are delivered as if verified, in publish order). Covers what the system
 * test cannot force: offers that grow with the crowd, helpers that go silent or get struck,
 * silent beneficiaries, and a site label claimed by two peers.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR, OFFER_HOLDBACK_JITTER_MS, helpTopic, offersAtOnce } from '@reef/protocol'
import type { HelpAccept, HelpRequest, LoadReport, ManifestEntry } from '@reef/protocol'
import { ContentCache } from '../../src/origin/content-cache.ts'
import { HelpCoordinator } from '../../src/help/help-coordinator.ts'
import type { HelpCoordinatorDeps, HelpCoordinatorOptions } from '../../src/help/help-coordinator.ts'
import { PeerTable } from '../../src/p2p/peer-table.ts'
import { Net } from '../fixtures/record-net.ts'
import { Shedder } from '../../src/load/shedder.ts'

const log = pino({ level: 'silent' })
const HELP_TOPIC = helpTopic('test')

function report(site: string, state: LoadReport['state'] = 'normal'): LoadReport {
  return {
    site,
    siteUrl: `http://${site}.example`,
    mirrorUrl: `http://mirror-${site}.example`,
    state,
    capacityRps: 50,
    demandRps: 0,
    originRps: 0,
    spareRps: 100,
    helping: []
  }
}

/** Bytes per request in these tests: a need or spare of n req/s is n × this in bytes/s. */
const OBJ = 10_000
const need = (rps: number): { rps: number; bytesPerSec: number } => ({ rps, bytesPerSec: rps * OBJ })

interface Uplink {
  budgetBytesPerSec: number
  saturated: boolean
  slowerThanDeclared: boolean
}

interface Member {
  id: string
  site: string
  help: HelpCoordinator
  shedder: Shedder
  peers: PeerTable
  spare: { rps: number; bytes: number }
  uplink: Uplink
  served: Map<string, number>
  unreachable: Map<string, number>
}

function member(
  net: Net,
  id: string,
  site: string,
  spareRps = 100,
  distrusted: ReadonlySet<string> = new Set(),
  extra: Partial<HelpCoordinatorDeps> = {},
  opts: Partial<HelpCoordinatorOptions> = {}
): Member {
  const shedder = new Shedder()
  const peers = new PeerTable(5_000)
  const spare = { rps: spareRps, bytes: spareRps * OBJ }
  const uplink: Uplink = { budgetBytesPerSec: spare.bytes, saturated: false, slowerThanDeclared: false }
  const served = new Map<string, number>()
  const unreachable = new Map<string, number>()
  // What the node can spare: its capacity less what it has offered in sessions not released.
  const committed = (): { rps: number; bytes: number } => {
    let rps = 0
    let bytes = 0
    for (const x of help.helpingSessions)
      if (x.releasedAt === undefined) {
        rps += x.offeredRps
        bytes += x.offeredBytesPerSec
      }
    return { rps, bytes }
  }
  const help: HelpCoordinator = new HelpCoordinator(
    { consortium: 'test', selfId: id, site, siteUrl: `http://${site}.example`, mirrorUrl: `http://mirror-${site}.example`, releaseGraceMs: 1_000, ...opts },
    {
      bus: net.channel(id),
      peers,
      shedder,
      cache: new ContentCache(1 << 20, 1 << 20),
      log,
      manifest: () => [],
      prefetch: async () => {},
      spare: () => ({ rps: Math.max(0, spare.rps - committed().rps), bytesPerSec: Math.max(0, spare.bytes - committed().bytes) }),
      trusts: peer => !distrusted.has(peer),
      meanObjectBytes: () => OBJ,
      uplink: () => uplink,
      servedRate: s => ({ rps: (served.get(s) ?? 0) / OBJ, bytesPerSec: served.get(s) ?? 0 }),
      unreachableMs: peer => unreachable.get(peer),
      ...extra
    }
  )
  help.start()
  return { id, site, help, shedder, peers, spare, uplink, served, unreachable }
}

async function until(cond: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

function knowEachOther(ms: Member[], now = Date.now()): void {
  for (const a of ms) for (const b of ms) if (a !== b) a.peers.update(b.id, report(b.site), now)
}

describe('help coordinator', () => {
  it('a struck site asks, peers offer, it accepts and sheds to them; normal releases them', async () => {
    const net = new Net()
    const [a, b, c] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo'), member(net, 'C', 'charlie')]
    knowEachOther([a, b, c])
    await a.help.tick('struck', need(100))
    // Each offers all it can spare, 100; one does not cover 100 × 1.25, so both are taken.
    await until(() => a.shedder.helpers.length === 2, 'both helpers accepted')
    assert.deepEqual(a.shedder.helpers.map(h => h.siteBase).sort(), ['http://alpha.mirror-bravo.example', 'http://alpha.mirror-charlie.example'])
    await until(() => b.help.sessionForSite('alpha')?.accepted === true && c.help.sessionForSite('alpha')?.accepted === true, 'helpers know they are accepted')
    assert.ok(a.help.isAcceptedHelper(a.help.ownSession!.session, 'B'))
    assert.equal(a.help.isAcceptedHelper('some-other-session', 'B'), false)
    await a.help.tick('normal', need(0))
    assert.equal(a.shedder.active, false)
    await until(() => b.help.sessionForSite('alpha')?.releasedAt !== undefined, 'helper released')
    assert.ok(net.sent.some(r => r.type === 'help-release'))
  })

  it('helpers offer all they can spare, whatever the first need, and more once they have more room; the weights follow', async () => {
    const net = new Net()
    const [a, b] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo', 100)]
    knowEachOther([a, b])
    await a.help.tick('struck', need(40))
    await until(() => a.shedder.helpers[0]?.weightRps === 100 && a.shedder.helpers[0].weightBytesPerSec === 100 * OBJ, 'first offer accepted')
    // B's own site calms down: it has 400 more. At the next help request it offers that too.
    b.spare.rps = 500
    b.spare.bytes = 500 * OBJ
    await a.help.tick('struck', need(300), Date.now() + 2_100)
    await until(() => a.shedder.helpers[0]?.weightRps === 500 && a.shedder.helpers[0].weightBytesPerSec === 500 * OBJ, 'raised offer accepted')
  })

  it("a helper remembers its session's earlier helper lists: their owners may already hold the objects that moved to it", async () => {
    const net = new Net()
    const [a, b, c] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo', 100), member(net, 'C', 'charlie', 100)]
    knowEachOther([a, b, c])
    await a.help.tick('struck', need(40))
    await until(() => a.shedder.helpers.length === 1, 'one helper')
    const first = a.shedder.helpers[0]!.peer
    const h = first === 'B' ? b : c
    await until(() => h.help.sessionForSite('alpha')?.accepted === true, 'the first helper knows it is accepted')
    await a.help.tick('struck', need(150), Date.now() + 2_100)
    await until(() => h.help.sessionForSite('alpha')?.helpers.length === 2, 'the first helper sees the new list')
    assert.deepEqual(h.help.sessionForSite('alpha')?.earlierHelpers, [[first]])
  })

  it('drops a helper at once when told to (expelled, or caught altering content) and takes no more offers from one it distrusts', async () => {
    const net = new Net()
    const distrusted = new Set<string>()
    const [a, b, c] = [member(net, 'A', 'alpha', 100, distrusted), member(net, 'B', 'bravo', 1_000), member(net, 'C', 'charlie', 1_000)]
    knowEachOther([a, b, c])
    await a.help.tick('struck', need(1_000))
    await until(() => a.shedder.helpers.length === 2, 'two helpers')
    distrusted.add('C')
    a.help.dropPeer('C')
    await until(() => a.shedder.helpers.length === 1, 'the distrusted helper dropped')
    assert.equal(a.shedder.helpers[0]!.peer, 'B')
    // The next crowd: a new session; both offer again, B is taken, C refused.
    await a.help.tick('normal', need(0))
    await a.help.tick('struck', need(1_000))
    await until(() => a.shedder.helpers.length === 1, 'a helper for the new session')
    const session = a.help.ownSession!.session
    assert.ok(
      net.sent.some(r => r.type === 'help-offer' && r.author === 'C' && (r.body as { session: string }).session === session),
      'C did not offer in the new session'
    )
    assert.deepEqual(
      a.shedder.helpers.map(h => h.peer),
      ['B']
    )
  })

  it('drops a helper whose load reports stop or who is struck itself', async () => {
    const net = new Net()
    const [a, b, c] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo', 1_000), member(net, 'C', 'charlie', 1_000)]
    knowEachOther([a, b, c])
    await a.help.tick('struck', need(1_000))
    await until(() => a.shedder.helpers.length === 2, 'two helpers')
    const later = Date.now() + 6_000
    a.peers.update('C', report('charlie', 'struck'), later) // C got struck; B went silent
    await a.help.tick('struck', need(1_000), later)
    await until(() => a.shedder.helpers.length === 0, 'both helpers dropped')
  })

  it('a helper releases a session whose beneficiary went silent', async () => {
    const net = new Net()
    const [a, b] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo')]
    knowEachOther([a, b])
    await a.help.tick('struck', need(50))
    await until(() => b.help.sessionForSite('alpha')?.accepted === true, 'accepted')
    await b.help.tick('normal', need(0), Date.now() + 11_000) // no report from A for 11 s
    assert.notEqual(b.help.helpingSessions.find(s => s.site === 'alpha')?.releasedAt, undefined)
  })

  it('a helper releases a session whose beneficiary reports normal without releasing it (restarted mid-crowd), and not one whose beneficiary still sheds', async () => {
    const net = new Net()
    const [a, b] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo')]
    knowEachOther([a, b])
    await a.help.tick('struck', need(50))
    await until(() => b.help.sessionForSite('alpha')?.accepted === true, 'accepted')
    const session = b.help.sessionForSite('alpha')!.session
    // A was killed and restarted: its new process reports again at once, calm, and knows no session.
    const t0 = Date.now() + 1
    for (let t = t0; t <= t0 + 6_000; t += 1_000) {
      b.peers.update('A', report('alpha', 'normal'), t)
      await b.help.tick('normal', need(0), t)
    }
    assert.equal(b.help.sessionForSite('alpha')?.releasedAt, undefined, 'six seconds of calm reports: still serving')
    for (let t = t0 + 7_000; t <= t0 + 11_000; t += 1_000) {
      b.peers.update('A', report('alpha', 'normal'), t)
      await b.help.tick('normal', need(0), t)
    }
    const released = b.help.helpingSessions.find(s => s.session === session)
    assert.notEqual(released?.releasedAt, undefined, 'released by the helper itself after the beneficiary was calm for 10 s')
    assert.equal(net.sent.filter(r => r.type === 'help-release').length, 0, 'no help-release was ever sent')

    // A beneficiary that still sheds (recovering) keeps its helpers however long it takes.
    const net2 = new Net()
    const [c, d] = [member(net2, 'C', 'charlie'), member(net2, 'D', 'delta')]
    knowEachOther([c, d])
    await c.help.tick('struck', need(50))
    await until(() => d.help.sessionForSite('charlie')?.accepted === true, 'accepted')
    const t1 = Date.now() + 1
    for (let t = t1; t <= t1 + 30_000; t += 1_000) {
      d.peers.update('C', report('charlie', 'recovering'), t)
      await d.help.tick('normal', need(0), t)
    }
    assert.equal(d.help.sessionForSite('charlie')?.releasedAt, undefined)
  })

  it('a beneficiary asking in a new session (restarted mid-crowd) gets an offer: its old session is released; a late copy of the old request changes nothing', async () => {
    const net = new Net()
    const [a, b] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo')]
    knowEachOther([a, b])
    await a.help.tick('struck', need(50))
    await until(() => b.help.sessionForSite('alpha')?.accepted === true, 'accepted')
    const old = b.help.sessionForSite('alpha')!.session
    const oldRequest = net.sent.find(r => r.type === 'help-request' && r.author === 'A')!
    // B offered all it can spare to the old session: nothing is left for another.
    assert.equal(net.sent.filter(r => r.type === 'help-offer' && r.author === 'B').length, 1)
    // A's node is killed and restarted: the new process, same identity, knows no session and asks afresh.
    a.help.stop()
    await new Promise(resolve => setTimeout(resolve, 2))
    const a2 = member(net, 'A', 'alpha')
    knowEachOther([a2, b])
    await a2.help.tick('struck', need(50))
    await until(() => a2.shedder.helpers.some(h => h.peer === 'B'), 'the restarted site accepts B')
    const fresh = b.help.sessionForSite('alpha')!
    assert.notEqual(fresh.session, old)
    assert.equal(fresh.accepted, true)
    assert.equal(
      b.help.helpingSessions.some(s => s.session === old && s.releasedAt === undefined),
      false,
      'the old session still holds its spare'
    )
    // The old session's request, delivered late (gossip), neither ends the new session nor revives the old.
    for (const fn of net.members.get('B')!) fn(oldRequest)
    assert.equal(b.help.sessionForSite('alpha')?.session, fresh.session)
    assert.equal(b.help.sessionForSite('alpha')?.releasedAt, undefined)
    a2.help.stop()
    b.help.stop()
  })

  it('offers nothing while it has no spare capacity, and never for a label another peer holds', async () => {
    const net = new Net()
    const [a, b] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo', 0)]
    const impostor = member(net, 'X', 'xray', 0)
    knowEachOther([a, b, impostor])
    await a.help.tick('struck', need(50))
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(net.sent.filter(r => r.type === 'help-offer').length, 0)
    b.spare.rps = 100
    b.spare.bytes = 100 * OBJ
    await a.help.tick('struck', need(50), Date.now() + 2_100)
    await until(() => b.help.sessionForSite('alpha') !== undefined, 'B offers once it has room')
    // X, a different peer, now asks for help for the label "alpha" that A holds at B: refused.
    const offersBefore = net.sent.filter(r => r.type === 'help-offer' && r.author === 'B').length
    await net
      .channel('X')
      .publish('t', 'help-request', { session: 'impostor-session', site: 'alpha', siteUrl: 'http://evil.example', neededRps: 50, manifest: [] })
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(b.help.sessionForSite('alpha')?.beneficiary, 'A')
    assert.equal(net.sent.filter(r => r.type === 'help-offer' && r.author === 'B').length, offersBefore)
  })

  it('accepts by bytes/s: a helper with a small uplink but many requests/s does not cover the need alone', async () => {
    const net = new Net()
    const [a, b, c] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo', 1_000), member(net, 'C', 'charlie', 1_000)]
    b.spare.bytes = 1_000_000 // 1 MB/s for 1000 req/s
    c.spare.bytes = 4_000_000
    knowEachOther([a, b, c])
    await a.help.tick('struck', { rps: 100, bytesPerSec: 4_000_000 })
    await until(() => a.shedder.helpers.length === 2, 'both helpers: neither covers 1.25 × 4 MB/s alone')
    const w = Object.fromEntries(a.shedder.helpers.map(h => [h.peer, h.weightBytesPerSec]))
    assert.deepEqual(w, { B: 1_000_000, C: 4_000_000 })
    const accept = net.sent.findLast(r => r.type === 'help-accept')!.body as { helpers: Array<{ peer: string; weightBytesPerSec?: number }> }
    assert.deepEqual(Object.fromEntries(accept.helpers.map(h => [h.peer, h.weightBytesPerSec])), w)
  })

  it('a helper whose uplink saturates lowers its offer at once, and the beneficiary re-weights', async () => {
    const net = new Net()
    const [a, b, c] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo', 400), member(net, 'C', 'charlie', 400)]
    knowEachOther([a, b, c])
    await a.help.tick('struck', need(600))
    await until(() => a.shedder.helpers.length === 2 && b.help.sessionForSite('alpha')?.accepted === true, 'both helpers accepted')
    assert.equal(a.shedder.helpers.find(h => h.peer === 'B')?.weightBytesPerSec, 400 * OBJ)
    // B's own site got busier: only 1.5 MB/s left for others, while it serves alpha 3 MB/s.
    b.uplink.saturated = true
    b.uplink.budgetBytesPerSec = 1_500_000
    b.served.set('alpha', 3_000_000)
    const t0 = Date.now()
    await b.help.tick('normal', need(0), t0 + 1_000)
    await until(() => a.shedder.helpers.find(h => h.peer === 'B')?.weightBytesPerSec === 1_500_000, 'the beneficiary re-weights B')
    assert.ok(Date.now() - t0 < 1_000)
    assert.equal(a.shedder.helpers.find(h => h.peer === 'C')?.weightBytesPerSec, 400 * OBJ)
    // Not again within the refit time, and never upwards while saturated.
    const offers = net.sent.filter(r => r.type === 'help-offer' && r.author === 'B').length
    b.uplink.budgetBytesPerSec = 1_000_000
    await b.help.tick('normal', need(0), t0 + 1_100)
    assert.equal(net.sent.filter(r => r.type === 'help-offer' && r.author === 'B').length, offers)
    // C is merely busy at its offer: saturated, within its budget: its offer stands.
    c.uplink.saturated = true
    c.served.set('alpha', 4_000_000)
    await c.help.tick('normal', need(0), t0 + 2_000)
    assert.equal(net.sent.filter(r => r.type === 'help-offer' && r.author === 'C').length, 1)
    // Then C backs up while sending less than its target: its real uplink is slower than
    // declared, and it offers 90 % of what it manages to send.
    c.uplink.slowerThanDeclared = true
    c.served.set('alpha', 2_000_000)
    await c.help.tick('normal', need(0), t0 + 2_600)
    await until(() => a.shedder.helpers.find(h => h.peer === 'C')?.weightBytesPerSec === 1_800_000, 'the beneficiary re-weights C')
  })

  it('covers for a helper that is down with another offer at once, and drops it once it stays unreachable', async () => {
    const net = new Net()
    const [a, b, c, d] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo', 1_000), member(net, 'C', 'charlie', 1_000), member(net, 'D', 'delta', 100)]
    knowEachOther([a, b, c, d])
    await a.help.tick('struck', need(900))
    await until(() => a.shedder.helpers.length === 2 && !a.shedder.helpers.some(h => h.peer === 'D'), 'the two large helpers accepted')
    // C is down, not yet for the drop time: it keeps its place, and D's offer is taken at once
    // so that helpers that are up cover the need.
    a.unreachable.set('C', 400)
    await a.help.tick('struck', need(900))
    await until(() => a.shedder.helpers.some(h => h.peer === 'D'), 'D accepted while C is down')
    assert.ok(a.shedder.helpers.some(h => h.peer === 'C'))
    a.unreachable.set('C', 1_200)
    await a.help.tick('struck', need(900))
    await until(() => !a.shedder.helpers.some(h => h.peer === 'C') && a.shedder.helpers.some(h => h.peer === 'D'), 'the unreachable helper replaced')
    const last = net.sent.findLast(r => r.type === 'help-accept')!.body as { helpers: Array<{ peer: string }> }
    assert.deepEqual(last.helpers.map(h => h.peer).sort(), ['B', 'D'])
    // C is back: at the next help request it offers afresh and is taken again.
    a.unreachable.delete('C')
    await until(() => c.help.sessionForSite('alpha')?.dropped === true, 'C knows it was left out')
    await a.help.tick('struck', need(900), Date.now() + 2_100)
    await until(() => a.shedder.helpers.some(h => h.peer === 'C'), 'C accepted again')
  })

  it('accepts the first offer of a session at once; the offers that follow it are batched into one accept', async () => {
    const net = new Net()
    const [a, b, c, d] = [member(net, 'A', 'alpha'), member(net, 'B', 'bravo'), member(net, 'C', 'charlie'), member(net, 'D', 'delta')]
    knowEachOther([a, b, c, d])
    // 250 × 2 (the onset's headroom) needs all three offers of 100.
    await a.help.tick('struck', need(250))
    await until(() => a.shedder.helpers.length === 3, 'all three accepted')
    const steps = net.sent.filter(r => r.type === 'help-offer' || r.type === 'help-accept')
    assert.deepEqual(
      steps.map(r => r.type),
      ['help-offer', 'help-accept', 'help-offer', 'help-offer', 'help-accept'],
      'the first accept comes before the next offer, then one accept for the two later offers'
    )
    assert.deepEqual(
      (steps[1]!.body as HelpAccept).helpers.map(h => h.peer),
      [steps[0]!.author]
    )
  })

  it('lists its helpers in the order it first accepted them, whatever they offer, and each helper knows that order', async () => {
    const net = new Net()
    const a = member(net, 'A', 'alpha', 100, new Set(), {}, { requestIntervalMs: 50 })
    const [b, c, d] = [member(net, 'B', 'bravo', 100), member(net, 'C', 'charlie', 300), member(net, 'D', 'delta', 300)]
    knowEachOther([a, b, c, d])
    // 450 × 2 (the onset's headroom) needs all three offers.
    await a.help.tick('struck', need(450))
    await until(() => a.shedder.helpers.length === 3, 'all three accepted')
    // D has more room now and offers it when asked again: the next accept weighs it most.
    d.spare.rps = 900
    d.spare.bytes = 900 * OBJ
    await new Promise(resolve => setTimeout(resolve, 60))
    await a.help.tick('struck', need(450))
    await until(() => a.shedder.helpers.find(h => h.peer === 'D')?.weightRps === 900, "D's larger offer accepted")
    const accepts = net.sent.filter(r => r.type === 'help-accept').map(r => (r.body as HelpAccept).helpers.map(h => h.peer))
    const first = accepts[0]![0]!
    const last = accepts.at(-1)!
    assert.equal(last[0], first, `the first accepted stays first: ${JSON.stringify(accepts)}`)
    assert.deepEqual(
      a.shedder.helpers.map(h => h.peer),
      last
    )
    for (const h of [b, c, d]) assert.deepEqual(h.help.helpingSessions[0]?.acceptOrder, last, h.id)
    // The one that offered least was accepted first: an order by offer would have put it last.
    assert.equal(first, 'B')
    await a.help.tick('normal', need(0))
  })

  it("in a session's first two seconds accepts offers until they cover 2 × the need (it lags the onset), then 1.25 ×", async () => {
    const early = new Net()
    const [a, b, c] = [member(early, 'A', 'alpha'), member(early, 'B', 'bravo', 1_000), member(early, 'C', 'charlie', 1_000)]
    knowEachOther([a, b, c])
    await a.help.tick('struck', need(600))
    await until(() => a.shedder.helpers.length === 2, 'both offers accepted at the onset')
    // A session begun 3 s ago: 1.25 × 600 is covered by one offer of 1 000.
    const later = new Net()
    const [d, e, f] = [member(later, 'D', 'delta'), member(later, 'E', 'echo', 1_000), member(later, 'F', 'foxtrot', 1_000)]
    knowEachOther([d, e, f])
    await d.help.tick('struck', need(600), Date.now() - 3_000)
    await until(() => d.shedder.helpers.length === 1, 'one offer accepted')
    await new Promise(resolve => setTimeout(resolve, 120))
    assert.equal(d.shedder.helpers.length, 1)
  })

  it('accepts its ready standbys at once, before they offer, and drops one that never offers', async () => {
    const net = new Net()
    const ready = [{ peer: 'B', mirrorUrl: 'http://mirror-bravo.example', spareRps: 300, spareBytesPerSec: 3_000_000 }]
    // B has nothing to spare now: it will not offer.
    const [a, b] = [member(net, 'A', 'alpha', 100, new Set(), { readyStandbys: () => ready }), member(net, 'B', 'bravo', 0)]
    knowEachOther([a, b])
    const t0 = Date.now()
    await a.help.tick('struck', need(100), t0)
    // Accepted in the same tick as the first help request, at what its load report offers.
    assert.deepEqual(
      a.shedder.helpers.map(h => [h.peer, h.weightBytesPerSec]),
      [['B', 3_000_000]]
    )
    const types = net.sent.filter(r => r.author === 'A').map(r => r.type)
    assert.deepEqual(types.slice(0, 2), ['help-request', 'help-accept'])
    await a.help.tick('struck', need(100), t0 + 2_100)
    await until(() => a.shedder.helpers.length === 0, 'the silent standby dropped')
  })

  it('in the onset takes every standby that holds its content, however small the need measured so far', async () => {
    const net = new Net()
    const ready = ['B', 'C'].map(peer => ({ peer, mirrorUrl: `http://mirror-${peer}.example`, spareRps: 300, spareBytesPerSec: 3_000_000 }))
    const held = new Map([
      ['B', 2_000_000],
      ['C', 1_000_000]
    ])
    const [a, b, c] = [
      member(net, 'A', 'alpha', 100, new Set(), { readyStandbys: () => ready, heldBy: peer => held.get(peer) ?? 0 }),
      member(net, 'B', 'bravo', 0),
      member(net, 'C', 'charlie', 0)
    ]
    knowEachOther([a, b, c])
    // A need one standby covers 300 times over: both standbys are accepted with the first request.
    await a.help.tick('struck', need(1))
    assert.deepEqual(a.shedder.helpers.map(h => h.peer).sort(), ['B', 'C'])
  })

  it('a standby named in an accept before it offered takes the session with its replica, and offers', async () => {
    const net = new Net()
    const manifest = [{ path: '/', size: 100, type: 'text/html', sha256: 'a'.repeat(64) }]
    const seeded: string[] = []
    const b = member(net, 'B', 'bravo', 100, new Set(), {
      replicaOf: beneficiary => (beneficiary === 'A' ? { site: 'alpha', siteUrl: 'http://alpha.example', manifest } : undefined),
      seed: s => {
        seeded.push(s.site)
        return 100
      }
    })
    const a = member(net, 'A', 'alpha')
    knowEachOther([a, b])
    // The accept arrives first (as gossip may deliver it), then the request.
    await net.channel('A2').publish('t', 'help-accept', {
      session: 'c2Vzc2lvbi0wMDA5',
      helpers: [{ peer: 'B', weightRps: 10, weightBytesPerSec: 100_000, mirrorUrl: 'http://mirror-bravo.example' }]
    })
    void a
    const s = b.help.sessionForSite('alpha')
    assert.equal(s, undefined, 'took a session from a peer it holds no replica for')
    net.members.delete('A2')
    await net.channel('A').publish('t', 'help-accept', {
      session: 'c2Vzc2lvbi0wMDA5',
      helpers: [{ peer: 'B', weightRps: 10, weightBytesPerSec: 100_000, mirrorUrl: 'http://mirror-bravo.example' }]
    })
    const taken = b.help.sessionForSite('alpha')
    assert.ok(taken?.accepted === true, 'the standby did not take the session')
    assert.deepEqual([...taken.manifest.keys()], ['/'])
    assert.deepEqual(seeded, ['alpha'])
    assert.ok(
      net.sent.some(r => r.author === 'B' && r.type === 'help-offer'),
      'the standby sent no offer'
    )
  })

  /** B (bravo), a standby of A (alpha) holding its one-page replica, both members of `net`. */
  function alphaWithStandbyB(): { net: Net; b: Member } {
    const net = new Net()
    const manifest = [{ path: '/', size: 100, type: 'text/html', sha256: 'a'.repeat(64) }]
    const b = member(net, 'B', 'bravo', 100, new Set(), {
      replicaOf: beneficiary => (beneficiary === 'A' ? { site: 'alpha', siteUrl: 'http://alpha.example', manifest } : undefined),
      standsByFor: site => site === 'alpha',
      seed: () => 100
    })
    const a = member(net, 'A', 'alpha')
    knowEachOther([a, b])
    return { net, b }
  }

  it("a standby holds a visitor who arrives before the accept, until its session opens (also past a released one); a stranger's site is not waited for", async () => {
    const { net, b } = alphaWithStandbyB()
    const t0 = Date.now()
    assert.equal(await b.help.awaitSession('charlie', 1_000), undefined)
    assert.ok(Date.now() - t0 < 500, 'waited for a site it does not stand by for')
    const waiting = b.help.awaitSession('alpha', 2_000)
    await net.channel('A').publish('t', 'help-accept', {
      session: 'c2Vzc2lvbi0wMDEw',
      helpers: [{ peer: 'B', weightRps: 10, weightBytesPerSec: 100_000, mirrorUrl: 'http://mirror-bravo.example' }]
    })
    const s = await waiting
    assert.equal(s?.session, 'c2Vzc2lvbi0wMDEw')
    assert.equal(s?.beneficiary, 'A')
    // The crowd ends and A releases the session (kept through its grace). Asked for a fresh one,
    // the standby does not offer the released session; it waits for A's next crowd's accept.
    await net.channel('A').publish('t', 'help-release', { session: 'c2Vzc2lvbi0wMDEw', reason: 'crowd-over' })
    assert.ok(b.help.sessionForSite('alpha')?.releasedAt !== undefined)
    assert.equal((await b.help.awaitSession('alpha', 1_000))?.session, 'c2Vzc2lvbi0wMDEw', 'without fresh: the released one')
    assert.equal(await b.help.awaitSession('alpha', 50, true), undefined)
    const next = b.help.awaitSession('alpha', 2_000, true)
    await net.channel('A').publish('t', 'help-accept', {
      session: 'c2Vzc2lvbi0wMDEx',
      helpers: [{ peer: 'B', weightRps: 10, weightBytesPerSec: 100_000, mirrorUrl: 'http://mirror-bravo.example' }]
    })
    const s2 = await next
    assert.equal(s2?.session, 'c2Vzc2lvbi0wMDEx')
    assert.equal(s2?.releasedAt, undefined)
    // Nothing arrives for a site it stands by for: the wait ends empty at its time-out.
    const c = member(net, 'C', 'charlie', 100, new Set(), { standsByFor: () => true })
    assert.equal(await c.help.awaitSession('delta', 50), undefined)
  })

  it('a helper asked by a peer its latest accept does not name yet answers once an accept naming it arrives, not at once with 403', async () => {
    const { net, b } = alphaWithStandbyB()
    const session = 'c2Vzc2lvbi0wMDIw'
    const helper = (peer: string) => ({ peer, weightRps: 10, weightBytesPerSec: 100_000, mirrorUrl: `http://mirror-${peer}.example` })
    await net.channel('A').publish('t', 'help-accept', { session, helpers: [helper('B')] })
    await until(() => b.help.sessionForSite('alpha')?.accepted === true, 'B serves the session')
    assert.equal(await b.help.awaitHelper('c2Vzc2lvbi0wMDk5', 'C', 1_000), undefined, 'a session B does not serve: no wait')
    assert.equal((await b.help.awaitHelper(session, 'B', 1_000))?.session, session, 'named already: at once')
    // A accepts C too; C asks B before that accept reaches B.
    const asked = b.help.awaitHelper(session, 'C', 2_000)
    await net.channel('A').publish('t', 'help-accept', { session, helpers: [helper('B'), helper('C')] })
    const s = await asked
    assert.equal(s?.session, session)
    assert.ok(s?.helpers.includes('C'))
    // No accept naming D comes: the wait ends empty at its time-out.
    const t0 = Date.now()
    assert.equal(await b.help.awaitHelper(session, 'D', 100), undefined)
    assert.ok(Date.now() - t0 >= 90)
  })

  it('takes r2 offers (requests/s only) at their requests/s × the mean object size', async () => {
    const net = new Net()
    const a = member(net, 'A', 'alpha')
    knowEachOther([a])
    await a.help.tick('struck', need(100))
    const session = a.help.ownSession!.session
    a.peers.update('OLD', report('oldie'))
    await net.channel('OLD').publish('t', 'help-offer', { session, to: 'A', offeredRps: 80, mirrorUrl: 'http://mirror-oldie.example' })
    await until(() => a.shedder.helpers.length === 1, 'the r2 offer accepted')
    assert.equal(a.shedder.helpers[0]!.weightBytesPerSec, 80 * OBJ)
  })

  describe('offer hold-back: a hundred members must not all offer to one struck site', () => {
    const HOLD = 100
    const offersBy = (net: Net): Set<string> => new Set(net.sent.filter(r => r.type === 'help-offer').map(r => r.author))
    const holdsEnded = (hs: Member[]): boolean => hs.every(h => h.help.heldRequests.every(x => !x.holding))

    it('the members that rank first offer at once, the rest hold back and stay silent while the need is covered; a grown need is asked for again and brings more', async () => {
      const net = new Net()
      const a = member(net, 'A', 'alpha')
      const hs = Array.from({ length: 20 }, (_, i) => member(net, `H${String(i).padStart(2, '0')}`, `site${i}`, 100, new Set(), {}, { offerHoldbackMs: HOLD }))
      knowEachOther([a, ...hs])
      await a.help.tick('struck', need(100))
      // Need 100 req/s (1 MB/s); each helper spares 1 MB/s: OFFER_AT_ONCE_MIN offer at once.
      await until(() => a.shedder.helpers.length > 0, 'helpers accepted')
      await until(() => holdsEnded(hs), 'every hold ended', HOLD + OFFER_HOLDBACK_JITTER_MS + 2_000)
      const first = offersBy(net)
      assert.equal(first.size, OFFER_AT_ONCE_MIN)
      assert.equal(hs.filter(h => h.help.heldRequests.length === 1).length, 20 - OFFER_AT_ONCE_MIN, 'the others held theirs back')
      // The crowd grows fourfold: the site asks again before its request interval, and more offer.
      const deadline = Date.now() + 3_000
      while (offersBy(net).size <= first.size && Date.now() < deadline) {
        await a.help.tick('struck', need(400))
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      assert.equal(net.sent.filter(r => r.type === 'help-request').length, 2, 'asked once more')
      await until(() => a.help.ownSession!.helpers.reduce((x, h) => x + h.weightBytesPerSec, 0) >= 400 * OBJ, 'the grown need covered')
      await until(() => holdsEnded(hs), 'every hold ended', HOLD + OFFER_HOLDBACK_JITTER_MS + 2_000)
      // Those before a member now spare 1 MB/s each: members with fewer than OFFER_COVER_FACTOR × 4 before them offer.
      assert.equal(offersBy(net).size, OFFER_COVER_FACTOR * 4)
      // The crowd ends: the held requests are dropped with the session.
      await a.help.tick('normal', need(0))
      await until(() => hs.every(h => h.help.heldRequests.length === 0), 'holds dropped on release')
    })

    it('members with bytes to spare but no requests/s (they can offer nothing) do not hold back those that can', async () => {
      const net = new Net()
      const a = member(net, 'A', 'alpha')
      const slow = { offerHoldbackMs: 10_000 }
      const none = Array.from({ length: 16 }, (_, i) => member(net, `N${String(i).padStart(2, '0')}`, `none${i}`, 0, new Set(), {}, slow))
      const able = Array.from({ length: OFFER_AT_ONCE_MIN }, (_, i) => member(net, `H${i}`, `site${i}`, 100, new Set(), {}, slow))
      const all = [a, ...none, ...able]
      knowEachOther(all)
      // Their reports: uplinks with room (ten times an able member's), no request capacity.
      const now = Date.now()
      for (const x of all) for (const n of none) if (x !== n) x.peers.update(n.id, { ...report(n.site), spareRps: 0, spareBytesPerSec: 1_000 * OBJ }, now)
      await a.help.tick('struck', need(100))
      // Holds last 10 s: offers within 2 s were made at once.
      await until(() => offersBy(net).size === OFFER_AT_ONCE_MIN, 'every able member offered at once', 2_000)
      assert.deepEqual([...offersBy(net)].sort(), able.map(h => h.id).sort())
      assert.equal(
        able.every(h => h.help.heldRequests.length === 0),
        true,
        'none of them held back'
      )
      await a.help.tick('normal', need(0))
    })

    it('held members offer once their hold ends when the members that rank first never offer', async () => {
      // Two holds pass before a held member offers here (the first wave's circle is the silent
      // members'): at least 2 s with this hold, so every member is seen holding at once even on a
      // loaded machine (with HOLD, the first could offer 200 ms in, before the last was seen).
      const hold = 1_000
      const net = new Net()
      const a = member(net, 'A', 'alpha')
      const hs = Array.from({ length: 6 }, (_, i) => member(net, `H${i}`, `site${i}`, 100, new Set(), {}, { offerHoldbackMs: hold }))
      knowEachOther([a, ...hs])
      // Silent members (in every view, with a thousand times the spare: they rank first) that never answer.
      const silent = Array.from({ length: 8 }, (_, i) => `S${i}`)
      for (const h of hs) for (const id of silent) h.peers.update(id, { ...report(`silent${id}`), spareRps: 100_000 }, Date.now())
      await a.help.tick('struck', need(100))
      await until(() => hs.every(h => h.help.heldRequests.length === 1), 'every live helper holds back')
      const session = a.help.ownSession!.session
      const views = silent.map(id => ({ peer: id, spareBytesPerSec: 100_000 * OBJ }))
      for (const h of hs)
        assert.equal(offersAtOnce(session, { peer: h.id, spareBytesPerSec: 100 * OBJ }, views, 100 * OBJ, OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR), false)
      assert.equal(offersBy(net).size, 0)
      await until(() => a.shedder.helpers.length > 0, 'helpers accepted after the hold', 2 * (hold + OFFER_HOLDBACK_JITTER_MS) + 2_000)
      assert.ok(a.help.ownSession!.helpers.every(h => h.peer.startsWith('H')))
    })

    it("a held member offers for a site's new session while its last session there is released but in its grace", async () => {
      const net = new Net()
      const a = member(net, 'A', 'alpha')
      // A hold of 1 s. (Failures this test had: the whole first crowd can pass within one
      // millisecond, and the new session's request, with the old one's ts, was taken for a late
      // copy of it; requests are ordered by seq now. And it polled H's held requests, which a
      // stall of the test's process past the hold, in a loaded full run, let end unseen; the
      // records' times say whether H held back.)
      const hold = 1_000
      const h = member(net, 'H', 'hotel', 100, new Set(), {}, { offerHoldbackMs: hold, releaseGraceMs: 60_000 })
      knowEachOther([a, h])
      // The first crowd: H alone, it offers at once; the crowd ends and A releases it.
      await a.help.tick('struck', need(50))
      await until(() => a.shedder.helpers.length === 1, 'H accepted')
      await a.help.tick('normal', need(0))
      await until(() => h.help.sessionForSite('alpha')?.releasedAt !== undefined, 'released, in its grace')
      const first = h.help.sessionForSite('alpha')!.session
      // The next crowd, within the grace: silent members that never answer rank before H, so it holds back.
      for (const id of Array.from({ length: 8 }, (_, i) => `S${i}`)) h.peers.update(id, { ...report(`silent${id}`), spareRps: 100_000 }, Date.now())
      await a.help.tick('struck', need(50))
      await until(() => a.shedder.helpers.length === 1, 'H offers once its holds end', 4 * (hold + OFFER_HOLDBACK_JITTER_MS) + 2_000)
      const second = h.help.sessionForSite('alpha')!.session
      assert.notEqual(second, first)
      const request = net.sent.find(r => r.type === 'help-request' && (r.body as HelpRequest).session === second)!
      const offer = net.sent.find(r => r.type === 'help-offer' && r.author === 'H' && (r.body as { session: string }).session === second)!
      assert.ok(offer.ts - request.ts >= hold - 5, `H offered ${offer.ts - request.ts} ms after the request: it did not hold back`)
    })

    it('while no accept covers the need, each hold end doubles the circle of members that offer', async t => {
      t.mock.timers.enable({ apis: ['setTimeout'] })
      const net = new Net()
      const hs = Array.from({ length: 40 }, (_, i) => member(net, `H${String(i).padStart(2, '0')}`, `site${i}`, 100, new Set(), {}, { offerHoldbackMs: 1_000 }))
      knowEachOther(hs)
      // An overloaded beneficiary: it asks, and accepts nothing.
      await net.channel('B').publish(HELP_TOPIC, 'help-request', {
        session: 'session-overloaded',
        site: 'bravo',
        siteUrl: 'http://bravo.example/',
        neededRps: 1,
        neededBytesPerSec: OBJ,
        manifest: []
      })
      const counts = [offersBy(net).size]
      for (let wave = 1; wave <= 5; wave++) {
        t.mock.timers.tick(1_000 + OFFER_HOLDBACK_JITTER_MS)
        counts.push(offersBy(net).size)
      }
      assert.deepEqual(
        counts,
        counts.map((_, wave) => Math.min(40, OFFER_AT_ONCE_MIN * 2 ** wave))
      )
    })

    it('an accept that arrives before its request (another gossip path) still tells a held member the need is covered', async t => {
      t.mock.timers.enable({ apis: ['setTimeout'] })
      const net = new Net()
      const hs = Array.from({ length: 12 }, (_, i) => member(net, `H${String(i).padStart(2, '0')}`, `site${i}`, 100, new Set(), {}, { offerHoldbackMs: 1_000 }))
      knowEachOther(hs)
      const b = net.channel('B')
      const session = 'session-accept-first'
      // The accept names one helper that covers the need; the request comes after it.
      await b.publish(HELP_TOPIC, 'help-accept', {
        session,
        helpers: [{ peer: 'Z', weightRps: 100, weightBytesPerSec: 100 * OBJ, mirrorUrl: 'http://mirror-z.example/' }]
      })
      await b.publish(HELP_TOPIC, 'help-request', {
        session,
        site: 'bravo',
        siteUrl: 'http://bravo.example/',
        neededRps: 1,
        neededBytesPerSec: OBJ,
        manifest: []
      })
      const first = offersBy(net).size
      assert.equal(first, OFFER_AT_ONCE_MIN)
      for (let i = 0; i < 4; i++) t.mock.timers.tick(1_000 + OFFER_HOLDBACK_JITTER_MS)
      assert.equal(offersBy(net).size, first, 'no wave: the need was covered')
    })

    it('members that offered report their spare committed; a later request of the session does not call the next ones early', async () => {
      const net = new Net()
      const a = member(net, 'A', 'alpha', 100, new Set(), {}, { requestIntervalMs: 50 })
      const hs = Array.from({ length: 20 }, (_, i) =>
        member(net, `H${String(i).padStart(2, '0')}`, `site${i}`, 100, new Set(), {}, { offerHoldbackMs: 60_000 })
      )
      knowEachOther([a, ...hs])
      await a.help.tick('struck', need(100))
      await until(() => offersBy(net).size === OFFER_AT_ONCE_MIN, 'the first offers')
      // The offerers' next load reports show their spare committed.
      const offered = offersBy(net)
      for (const h of hs) for (const id of offered) if (id !== h.id) h.peers.update(id, { ...report(hs.find(x => x.id === id)!.site), spareRps: 0 }, Date.now())
      const requests = net.sent.filter(r => r.type === 'help-request').length
      await new Promise(resolve => setTimeout(resolve, 60))
      await a.help.tick('struck', need(100))
      await until(() => net.sent.filter(r => r.type === 'help-request').length > requests, 'a second request')
      assert.equal(offersBy(net).size, OFFER_AT_ONCE_MIN, 'nobody else offered')
      await a.help.tick('normal', need(0))
    })

    it('a standby of the struck site offers at once, whatever its rank', async () => {
      const net = new Net()
      const a = member(net, 'A', 'alpha')
      const hs = Array.from({ length: 12 }, (_, i) =>
        member(
          net,
          `H${String(i).padStart(2, '0')}`,
          `site${i}`,
          100,
          new Set(),
          { standsByFor: site => site === 'alpha' && i === 11 },
          { offerHoldbackMs: 60_000 }
        )
      )
      knowEachOther([a, ...hs])
      await a.help.tick('struck', need(10))
      await until(() => offersBy(net).has('H11'), 'the standby offered')
      assert.equal(hs[11]!.help.heldRequests.length, 0)
      await a.help.tick('normal', need(0))
    })
  })
})

describe('help requests while struck', () => {
  it('a helper fetching an object no manifest listed yet brings the next request, which lists it, forward to 500 ms; listed objects do not', async () => {
    const net = new Net()
    const listed: ManifestEntry[] = [{ path: '/', size: 1_000, type: 'text/html', sha256: 'a'.repeat(64) }]
    const a = member(net, 'A', 'alpha', 100, new Set(), { manifest: () => [...listed] })
    const requests = (): HelpRequest[] => net.sent.filter(r => r.type === 'help-request').map(r => r.body as HelpRequest)
    const t0 = Date.now()
    await a.help.tick('struck', need(10), t0)
    assert.equal(requests().length, 1)
    const session = requests()[0]!.session
    // A listed object, another session's: nothing sooner than the interval (2 s).
    a.help.noteFetched(session, '/')
    a.help.noteFetched('another-session-000', '/img/new.png')
    await a.help.tick('struck', need(10), t0 + 600)
    assert.equal(requests().length, 1)
    // An unlisted one, now in the cache: the next request goes 500 ms after the last, and lists it.
    a.help.noteFetched(session, '/img/new.png')
    listed.push({ path: '/img/new.png', size: 2_000, type: 'image/png', sha256: 'b'.repeat(64) })
    await a.help.tick('struck', need(10), t0 + 700)
    assert.equal(requests().length, 2)
    assert.deepEqual(
      requests()[1]!.manifest.map(e => e.path),
      ['/', '/img/new.png']
    )
    // Asked again for it: listed now, so the interval holds.
    a.help.noteFetched(session, '/img/new.png')
    await a.help.tick('struck', need(10), t0 + 1_300)
    assert.equal(requests().length, 2)
    await a.help.tick('struck', need(10), t0 + 2_800)
    assert.equal(requests().length, 3)
    await a.help.tick('normal', need(0), t0 + 2_900)
  })
})
