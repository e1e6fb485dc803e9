import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatStatus as format } from '../../src/cli/status.ts'
import type { NodeStatus } from '../../src/cli/status.ts'

/** The summary of an answer that may come from an older node: fields it lacks are left out here. */
function formatStatus(s: object): string {
  return format(s as NodeStatus)
}

const BRAVO = '12D3KooWBravoBravoBravoBravoBravoBravoBravoBravo1'
const CHARLIE = '12D3KooWCharlieCharlieCharlieCharlieCharlie12345'

function status(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    peerId: '12D3KooWAlphaAlphaAlphaAlphaAlphaAlphaAlphaAlpha1',
    site: 'alpha',
    state: 'normal',
    demandRps: 12,
    capacityRps: 50,
    arrivalsRps: 12,
    originRps: 10,
    shedRps: 0,
    shedShare: 0,
    originInFlight: 1,
    originQueued: 0,
    originLatencyMs: 3,
    spareRps: 500,
    cache: { bytes: 3 * 1024 * 1024, objects: 12, hits: 30, misses: 10 },
    session: null,
    helping: [],
    peers: [],
    connections: 0,
    relief: { rungs: { 'micro-cache': false, helpers: false }, externalMirror: null },
    ...patch
  }
}

describe('formatStatus', () => {
  test('a quiet node', () => {
    assert.equal(
      formatStatus(status()),
      [
        'site        alpha (peer 12D3KooWAlphaAlphaAlphaAlphaAlphaAlphaAlphaAlpha1)',
        'state       normal',
        'demand      12 req/s of 50 req/s capacity (24%)',
        'origin      10 req/s, 1 in flight, 0 queued, 3 ms latency',
        'shed        0 req/s (share 0%)',
        'relief      none engaged',
        'helpers     none (not asking for help)',
        'helping     nobody; 500 req/s spare',
        'peers       0 live, 0 connections',
        'cache       12 objects, 3.0 MiB, 75% hits',
        'consortium  open (no charter)',
        ''
      ].join('\n')
    )
  })

  test('a chartered node: membership, log height, open proposals, and a halt said loudly', () => {
    const text = formatStatus({ ...status(), governance: { member: true, expelled: false, height: 3, halted: { height: 3 }, members: 4, pending: 1 } })
    assert.match(text, /^consortium +member; 4 members, log height 3, 1 open proposals; HALTED \(fork at height 3\)$/m)
    assert.match(
      formatStatus({ ...status(), governance: { member: false, expelled: true, height: 2, halted: null, members: 3, pending: 0 } }),
      /^consortium +EXPELLED; /m
    )
  })

  test('a struck node shedding to helpers, named by site when they report load', () => {
    const text = formatStatus(
      status({
        state: 'struck',
        demandRps: 400,
        shedRps: 300,
        shedShare: 0.75,
        session: {
          id: 's1',
          neededRps: 360,
          offers: 3,
          helpers: [
            { peer: BRAVO, weightRps: 200 },
            { peer: CHARLIE, weightRps: 160 }
          ]
        },
        peers: [{ peer: BRAVO, site: 'bravo', state: 'normal', demandRps: 5, spareRps: 300 }],
        connections: 2,
        relief: { rungs: { 'micro-cache': true, helpers: true }, externalMirror: null }
      })
    )
    assert.match(text, /^state +struck$/m)
    assert.match(text, /^demand +400 req\/s of 50 req\/s capacity \(800%\)$/m)
    assert.match(text, /^shed +300 req\/s \(share 75%\)$/m)
    assert.match(text, /^relief +micro-cache, helpers$/m)
    assert.match(text, /^helpers +2 of 3 offers accepted for 360 req\/s needed: bravo 200 req\/s, …lie12345 160 req\/s$/m)
    assert.match(text, /^peers +1 live, 2 connections: bravo normal 5 req\/s$/m)
  })

  test('an r3 node: the uplink, and demand, needs and offers in bytes/s', () => {
    // Long rows wrap under their value column: read them unwrapped.
    const text = formatStatus(
      status({
        state: 'struck',
        demandRps: 400,
        demandBytesPerSec: 9_600_000,
        spareBytesPerSec: 0,
        uplink: {
          bytesPerSec: 4_000_000,
          sentBytesPerSec: 3_600_000,
          frontBytesPerSec: 3_200_000,
          mirrorBytesPerSec: 0,
          p2pBytesPerSec: 400_000,
          backlogBytes: 2 * 1024 * 1024
        },
        session: {
          id: 's1',
          neededRps: 360,
          neededBytesPerSec: 6_000_000,
          offers: 2,
          helpers: [
            { peer: BRAVO, weightRps: 200, weightBytesPerSec: 3_600_000 },
            { peer: CHARLIE, weightRps: 160, weightBytesPerSec: 3_600_000, down: true }
          ]
        },
        peers: [{ peer: BRAVO, site: 'bravo', state: 'normal', demandRps: 5, spareRps: 300, spareBytesPerSec: 0 }]
      })
    ).replace(/\n {12}/g, ' ')
    assert.match(text, /^demand +400 req\/s of 50 req\/s capacity \(800%\); 9\.6 MB\/s of 4\.0 MB\/s uplink \(240%\)$/m)
    assert.match(text, /^uplink +sending 3\.6 MB\/s of 4\.0 MB\/s \(90%\): site 3\.2 MB\/s, mirror 0 B\/s, to helpers 400 kB\/s; 2\.0 MiB waiting$/m)
    assert.match(
      text,
      /^helpers +2 of 2 offers accepted for 360 req\/s, 6\.0 MB\/s needed: bravo 200 req\/s 3\.6 MB\/s, …lie12345 160 req\/s 3\.6 MB\/s \(unreachable: none sent\)$/m
    )
    assert.match(text, /^helping +nobody; 500 req\/s 0 B\/s spare$/m)
  })

  test('warm standby: who stands by for this site with how much they hold, and whom this node stands by for', () => {
    const text = formatStatus(
      status({
        peers: [{ peer: BRAVO, site: 'bravo', state: 'normal', demandRps: 5, spareRps: 300 }],
        standby: {
          revision: 4,
          manifestBytes: 4_000_000,
          standbys: [
            { peer: BRAVO, site: 'bravo', revision: 4, heldBytes: 4_000_000 },
            { peer: CHARLIE, heldBytes: 1_000_000 }
          ],
          holding: [{ site: 'delta', revision: 2, heldBytes: 1_500_000, manifestBytes: 3_000_000, ageMs: 90_000 }]
        }
      })
    ).replace(/\n {13}/g, ' ')
    assert.match(text, /^standbys +revision 4: bravo holds 3\.8 MiB of 3\.8 MiB \(100%\), …lie12345 holds 976\.6 KiB of 3\.8 MiB \(25%\)$/m)
    assert.match(text, /^standing by +delta r2, 1\.4 MiB of 2\.9 MiB \(50%\), updated 2 min ago$/m)
    assert.match(formatStatus(status({ standby: { revision: null, manifestBytes: 0, standbys: [], holding: [] } })), /^standbys +none named yet/m)
  })

  test('a node helping others', () => {
    const text = formatStatus(
      status({
        helping: [
          { site: 'bravo', beneficiary: BRAVO, accepted: true, released: false, offeredRps: 200 },
          { site: 'delta', beneficiary: CHARLIE, accepted: true, released: true, offeredRps: 50 }
        ]
      })
    )
    assert.match(text, /^helping +bravo \(accepted, 200 req\/s\)$/m)
  })

  test("the stores: one quiet line while they write, a loud one when a full volume stops the ledger's", () => {
    const health = { writable: true, since: null, error: null, failures: 0, recoveries: 0, freeBytes: 5 * 1024 ** 3 }
    const ok = formatStatus(status({ storage: { ledger: { ...health, backlog: 0, dropped: 0 }, governance: null } }))
    assert.match(ok, /^storage +writable; 5\.0 GiB free$/m)
    const full = formatStatus(
      status({
        storage: {
          ledger: {
            ...health,
            writable: false,
            since: Date.parse('2026-11-30T01:00:00Z'),
            error: 'No space left on device',
            freeBytes: 0,
            backlog: 42,
            dropped: 0
          },
          governance: { ...health, freeBytes: 0 }
        }
      })
    ).replace(/\n {12}/g, ' ')
    assert.match(
      full,
      /^storage +LEDGER REFUSES WRITES since 2026-11-30T01:00:00\.000Z \(No space left on device\), 42 records held; 0 B free: free space on the data volume$/m
    )
    assert.doesNotMatch(formatStatus(status()), /^storage/m, 'an older node without the field: no row')
  })
})
