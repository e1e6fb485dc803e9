/**
 * Governance between real nodes (four founders, then a newcomer): a helper that tampers with
 * what it mirrors is caught by audits through its public mirror URL, voted out on verifiable
 * evidence, cut off at the connection gater and no longer sent clients; forged votes and
 * replayed or re-signed entries are rejected; a newcomer is admitted while a member is
 * partitioned away, and once the partition heals every node holds one membership.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { peerIdFromString } from '@libp2p/peer-id'
import { GovernanceStore, ReefNode, loadOrCreateIdentity, parseConfig } from '@reef/node'
import { freePort, loopbackDispatcher, runCrowd, startLocalConsortium, waitForMesh } from '@reef/node/demo'
import type { LocalConsortium, RequestResult } from '@reef/node/demo'
import { signDocument } from '@reef/protocol'
import type { LogEntryBody, MultiSigned } from '@reef/protocol'
import { until } from './wait.ts'

let token = ''
async function post(base: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(new URL(path, base), {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }
  })
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> }
}

describe('consortium governance between real nodes', { timeout: 180_000 }, () => {
  let c: LocalConsortium
  const dispatcher = loopbackDispatcher()
  const node = (i: number): ReefNode => c.sites[i]!.node!

  before(async () => {
    c = await startLocalConsortium({
      // Mirrors of 150 req/s: a crowd of 400 req/s needs all three helpers, the tamperer included.
      nodes: 4,
      capacityRps: 50,
      workers: 8,
      logLevel: 'error',
      mirrorCapacityRps: 150,
      governance: { policy: { auditIntervalMs: 1_000, settleIntervalMs: 500 } }
    })
    token = c.adminToken
    await waitForMesh(c)
  })
  after(async () => {
    await c?.close()
    await dispatcher.close()
  })

  it('catches a tampering helper by audit, expels it on evidence, cuts it off and stops sending it clients', async () => {
    const [alpha, bravo, charlie, delta] = [0, 1, 2, 3].map(node) as [ReefNode, ReefNode, ReefNode, ReefNode]
    const site = c.sites[0]!
    // delta turns bad: whatever it caches for alpha, it serves altered (its attestation still
    // names the hash it verified, so the lie shows only in the bytes).
    const corrupted = new Set<string>()
    const ac = new AbortController()
    const tamper = (async () => {
      for (let i = 0; i < 2_000 && !ac.signal.aborted; i++) {
        for (const path of site.origin.files.keys()) {
          const obj = delta.cache.peek('alpha', path)
          if (obj === undefined || corrupted.has(path) || obj.body.byteLength === 0) continue
          const body = Buffer.from(obj.body)
          body[0] = body[0]! ^ 0x20
          delta.cache.put({ ...obj, body })
          corrupted.add(path)
        }
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    })()
    const results: RequestResult[] = []
    const crowd = runCrowd({
      siteUrl: site.url,
      pages: site.origin.pages,
      profile: { kind: 'step', rps: 400, durationMs: 12_000 },
      maxRequests: 6_000,
      maxDurationMs: 25_000,
      dispatcher,
      seed: 11,
      onResult: r => {
        results.push(r)
      }
    })
    const honest = [alpha, bravo, charlie]
    await until('delta to be expelled on every honest node', () => honest.every(n => n.gov!.isExpelled(delta.peerId)), 40_000).catch(async err => {
      for (const n of honest)
        console.error(
          n.config.site.label,
          JSON.stringify({
            audits: n.auditor!.results.slice(-5),
            gov: ((await n.views.governance()) as { proposals: unknown }).proposals,
            events: n.gov!.events.slice(-10),
            helpers: n.shedder.helpers.map(h => h.peer.slice(-6))
          })
        )
      console.error('corrupted', corrupted.size, 'delta', delta.peerId.slice(-6))
      throw err
    })
    const expelledAt = Date.now()
    assert.ok(corrupted.size > 0, 'delta never held anything to tamper with')
    const view = (await alpha.views.governance()) as { log: Array<{ kind: string; subject: string }> }
    assert.equal(view.log[0]!.kind, 'expel')
    assert.equal(view.log[0]!.subject, delta.peerId)
    const entry = (await alpha.govStore!.entries()).at(-1)!
    assert.equal(entry.body.action.kind, 'expel')
    assert.match((entry.body.action as { reason: string }).reason, /tampered content/)
    // Every honest node holds the same log head.
    assert.equal(new Set(honest.map(n => n.gov!.state!.history.at(-1)!.hash)).size, 1)
    // Monitoring sees it: the expulsion, the audits that found it, no halt.
    const metrics = await (await request(`${alpha.adminUrl!}/metrics`)).body.text()
    assert.match(metrics, /^reef_governance_expelled 1$/m)
    assert.match(metrics, /^reef_governance_halted 0$/m)
    assert.match(metrics, /^reef_governance_log_height 1$/m)
    assert.ok(
      honest.some(n => n.auditor!.counts.mismatch > 0),
      'no audit counted a mismatch'
    )

    await crowd
    ac.abort()
    await tamper
    // No client was sent to delta once the expulsion took effect (allow the accept round trip).
    const late = results.filter(r => r.start > expelledAt + 1_000 && r.finalUrl.includes('mirror-delta'))
    assert.equal(late.length, 0, `${late.length} requests were redirected to the expelled helper`)
    assert.ok(!alpha.shedder.helpers.some(h => h.peer === delta.peerId))

    // Cut off: connections closed, and a redial is refused by the gater.
    await until(
      'honest nodes to drop their connections to delta',
      () => honest.every(n => n.libp2p.getConnections(peerIdFromString(delta.peerId)).length === 0),
      10_000
    )
    // The expelled node restarts with the same identity and redials its bootstrap peers.
    await delta.stop()
    const deniedBefore = alpha.gov!.counters.deniedConnections
    const reborn = await ReefNode.create(parseConfig(c.sites[3]!.configInput))
    try {
      await reborn.start()
      await until("alpha's gater to refuse the restarted delta", () => alpha.gov!.counters.deniedConnections > deniedBefore, 15_000)
      assert.equal(alpha.libp2p.getConnections(peerIdFromString(delta.peerId)).length, 0, 'a connection from the expelled identity survived')
      assert.equal(alpha.peers.get(delta.peerId), undefined, 'the expelled node is still in the peer table')
      assert.ok(honest.every(n => !n.gov!.isMemberPeer(reborn.peerId)))
    } finally {
      await reborn.stop()
    }
  })

  it('rejects forged votes and replayed or re-signed entries, and applies an entry once a quorum votes', async () => {
    const [alpha, bravo, charlie] = [0, 1, 2].map(node) as [ReefNode, ReefNode, ReefNode]
    const admin = (n: ReefNode): string => n.adminUrl!
    const heightBefore = alpha.gov!.state!.height
    const policy = { ...alpha.gov!.state!.policy, auditIntervalMs: 2_000 }
    const unauthenticated = await request(new URL('/api/governance/propose', admin(alpha)), {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' }
    })
    assert.equal(unauthenticated.statusCode, 401, 'a proposal without the operator token must be refused')
    await unauthenticated.body.dump()
    const proposed = await post(admin(alpha), '/api/governance/propose', { action: { kind: 'set-policy', policy } })
    assert.equal(proposed.status, 200, JSON.stringify(proposed.json))
    const id = proposed.json.id as string
    await until('the proposal to reach bravo and charlie', () => [bravo, charlie].every(n => n.gov!.proposals.has(id)), 10_000)
    assert.equal(bravo.gov!.proposals.get(id)!.decision, 'needs-operator', 'a proposal without evidence must wait for the operator')

    // Forged vote: bravo's record carries charlie's signature over the body (not bravo's own).
    const body = bravo.gov!.proposals.get(id)!.body
    const rejectedBefore = alpha.gov!.counters.rejectedVotes
    const charlieSig = await signDocument('log-entry', body, await loadOrCreateIdentity(c.sites[2]!.configInput.dataDir), charlie.peerId)
    await bravo.bus.publish(`/reef/demo/gov/1`, 'gov-vote', { consortium: 'demo', proposal: id, height: body.height, sig: charlieSig.sig })
    await until('alpha to reject the forged vote', () => alpha.gov!.counters.rejectedVotes > rejectedBefore, 10_000)
    assert.ok(!alpha.gov!.proposals.get(id)!.sigs.has(bravo.peerId))

    // Replayed entry: the last accepted entry again changes nothing.
    const last = (await alpha.govStore!.entries()).at(-1)!
    await charlie.bus.publish('/reef/demo/gov/1', 'gov-entry', { entry: last })
    // Re-signed entry: the expulsion's signatures pasted onto the pending policy change.
    const rejectedEntries = alpha.gov!.counters.rejectedEntries
    const forged: MultiSigned<LogEntryBody> = { body, sigs: last.sigs }
    await charlie.bus.publish('/reef/demo/gov/1', 'gov-entry', { entry: forged })
    await until('alpha to reject the re-signed entry', () => alpha.gov!.counters.rejectedEntries > rejectedEntries, 10_000)
    assert.equal(alpha.gov!.state!.height, heightBefore)

    // The operators vote; at three of three the entry is accepted everywhere.
    for (const n of [alpha, bravo, charlie]) {
      const v = await post(admin(n), `/api/governance/proposals/${id}/vote`, {})
      if (n.gov!.state!.height === heightBefore) assert.equal(v.status, 200, JSON.stringify(v.json))
    }
    await until('the policy change to be accepted by all', () => [alpha, bravo, charlie].every(n => n.gov!.state!.height === heightBefore + 1), 10_000)
    assert.equal(charlie.gov!.state!.policy.auditIntervalMs, 2_000)
    // A second vote at the same height for anything else is refused.
    assert.equal((await post(admin(alpha), `/api/governance/proposals/${'0'.repeat(64)}/vote`, {})).status, 404)
  })

  it('admits a newcomer while a member is partitioned away; after the partition heals all hold one membership', async () => {
    const [alpha, bravo] = [0, 1].map(node) as [ReefNode, ReefNode]
    const invite = await post(alpha.adminUrl!, '/api/invitations', { site: 'echo' })
    assert.equal(invite.status, 200, JSON.stringify(invite.json))
    const token = invite.json.token as string

    // Partition: alpha and bravo on one side, every other member on the other (a quorum of
    // ⌊2n/3⌋+1 needs more than two).
    const others = c.sites
      .slice(2)
      .map(s => s.node!)
      .filter(n => alpha.gov!.isMemberPeer(n.peerId))
    const cut: Array<[ReefNode, ReefNode]> = []
    for (const o of others) for (const m of [alpha, bravo]) cut.push([o, m], [m, o])
    for (const [a, b] of cut) await a.peerGate.block(b.peerId)

    const dir = await mkdtemp(join(tmpdir(), 'reef-echo-'))
    const [front, mirror] = [await freePort(), await freePort()]
    const store = await GovernanceStore.open(join(dir, 'governance'))
    await store.putInvitation(token)
    await store.close()
    const echo = await ReefNode.create(
      parseConfig({
        ...c.sites[0]!.configInput,
        site: { label: 'echo', publicUrl: `http://127.0.0.1:${front}` },
        front: { listen: { host: '127.0.0.1', port: front } },
        mirror: { listen: { host: '127.0.0.1', port: mirror }, publicUrl: `http://mirror-echo.localhost:${mirror}` },
        admin: undefined,
        p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] },
        dataDir: dir,
        governance: { autoVote: true },
        log: { level: (process.env.ECHO_LOG ?? 'error') as 'error' }
      })
    )
    // The newcomer sits on the majority side too (else it would bridge the partition).
    for (const o of others) cut.push([o, echo], [echo, o])
    for (const o of others) {
      await o.peerGate.block(echo.peerId)
      await echo.peerGate.block(o.peerId)
    }
    try {
      await echo.start()
      await until(
        'the admission to be proposed and signed on the majority side',
        () => [...alpha.gov!.proposals.values()].some(p => p.body.action.kind === 'admit' && p.sigs.size >= 2),
        20_000
      ).catch(async err => {
        for (const n of [alpha, bravo, echo])
          console.error(
            n.config.site.label,
            JSON.stringify({
              gov: ((await n.views.governance()) as { proposals: unknown }).proposals,
              events: n.gov!.events.slice(-10),
              conns: n.libp2p.getConnections().map(x => x.remotePeer.toString().slice(-6))
            })
          )
        throw err
      })
      assert.ok(!alpha.gov!.isMemberPeer(echo.peerId), 'admitted without a quorum')
      assert.equal(echo.gov!.isMember, false)

      // Heal.
      for (const [a, b] of cut) a.peerGate.unblock(b.peerId)
      await until(
        'every node, the newcomer included, to hold one membership with echo in it',
        () => {
          const all = [alpha, bravo, ...others, echo]
          return all.every(n => n.gov!.isMemberPeer(echo.peerId)) && new Set(all.map(n => n.gov!.state!.history.at(-1)!.hash)).size === 1
        },
        30_000
      ).catch(async err => {
        for (const n of [alpha, bravo, ...others, echo])
          console.error(
            n.config.site.label,
            JSON.stringify({
              h: n.gov!.state!.height,
              gov: ((await n.views.governance()) as { proposals: unknown }).proposals,
              events: n.gov!.events.slice(-6),
              conns: n.libp2p.getConnections().map(x => x.remotePeer.toString().slice(-6))
            })
          )
        throw err
      })
      // The newcomer starts with the newcomer credit and nothing taken.
      const st = alpha.ledgerStore.standing(echo.peerId, Date.now(), alpha.quota)
      assert.equal(st.taken, 0)
      assert.equal(st.credit, alpha.gov!.state!.policy.newcomerGrantBytes)
      // And its load reports now count: it joins the live consortium.
      await until("echo's load reports to be accepted", () => alpha.peers.get(echo.peerId) !== undefined, 15_000)
    } finally {
      await echo.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
