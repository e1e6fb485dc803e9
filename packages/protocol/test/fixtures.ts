/**
 * Shared test fixtures for the protocol tests: keys, one valid body per record type, and a raw
 * signer that can sign any payload under any domain (to build records signRecord refuses to).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { canonicalBytes, signingInput } from '../src/index.ts'
import type { RecordBody, RecordType } from '../src/index.ts'

export interface TestKey {
  key: PrivateKey
  id: string
}

export async function newKey(): Promise<TestKey> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

export const SHA = 'ab'.repeat(32)

/**
 * One valid body for every record type; `other` is a peer id named inside the body, `author`
 * the signer, which an invitation's addresses and a join request's member record name.
 */
export function validBodies(other: string, author = other): { [T in RecordType]: RecordBody<T> } {
  return {
    'load-report': {
      site: 'alpha',
      siteUrl: 'http://alpha.example:8080',
      mirrorUrl: 'http://mirror-a.localhost:9101',
      state: 'struck',
      capacityRps: 50,
      demandRps: 400,
      originRps: 48,
      spareRps: 0,
      helping: [{ site: 'beta', rps: 20 }]
    },
    'help-request': {
      session: 'sess-0001',
      site: 'alpha',
      siteUrl: 'https://alpha.example',
      neededRps: 350,
      manifest: [
        { path: '/index.html', size: 1234, type: 'text/html', sha256: SHA },
        { path: '/img/logo.png?v=2', size: 0, type: 'image/png', sha256: 'cd'.repeat(32) }
      ]
    },
    'help-offer': { session: 'sess-0001', to: other, offeredRps: 100, mirrorUrl: 'http://mirror-b.localhost:9102/' },
    'help-accept': { session: 'sess-0001', helpers: [{ peer: other, weightRps: 100, mirrorUrl: 'http://mirror-b.localhost:9102' }] },
    'help-release': { session: 'sess-0001', reason: 'crowd-over' },
    standby: {
      id: 'standby-0001',
      site: 'alpha',
      siteUrl: 'https://alpha.example',
      revision: 1,
      standbys: [other],
      manifest: [{ path: '/index.html', size: 1024, type: 'text/html', sha256: SHA }]
    },
    delegation: { session: 'sess-0001', helper: other, round: 1, requests: 10, bytes: 4096, final: false },
    receipt: { session: 'sess-0001', beneficiary: other, round: 1, delegation: SHA, requests: 10, bytes: 4096 },
    attestation: { session: 'sess-0001', site: 'alpha', path: '/index.html', sha256: SHA },
    'gov-proposal': { entry: { v: 1, consortium: 'reef', height: 1, prev: SHA, action: { kind: 'leave', peer: other }, proposedAt: 1 }, evidence: [] },
    'gov-votes': { consortium: 'reef', proposal: SHA, height: 1, votes: [{ peer: other, sig: 'A'.repeat(86) }] },
    'gov-vote': { consortium: 'reef', proposal: SHA, height: 1, sig: 'A'.repeat(86) },
    'gov-entry': { entry: { body: { v: 1, consortium: 'reef', height: 1, prev: SHA, action: { kind: 'leave', peer: other }, proposedAt: 1 }, sigs: [] } },
    invitation: { consortium: 'reef', charter: SHA, nonce: 'abcdefghijklmnop', expiresAt: 2_000_000_000_000, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${author}`] },
    'join-request': { consortium: 'reef', invitation: SHA, member: { peer: author, site: 'bravo', mirrorUrl: 'http://mirror-b.localhost:9102' } }
  }
}

/** utf8(domain) || 0x00 || canonical(payload), as envelope.ts signs it. */
export function signedBytesFor(domainType: string, payload: unknown): Uint8Array {
  return signingInput(domainType, payload)
}

/** mulberry32: small, fast, seeded PRNG returning [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface RawPayload {
  type: string
  v: number
  author: string
  seq: number
  ts: number
  body: unknown
}

/** Sign any payload, under the domain of `domainType` (default: the payload's own type). */
export async function signRaw(key: PrivateKey, payload: RawPayload, domainType: string = payload.type): Promise<Uint8Array> {
  const sig = await key.sign(signedBytesFor(domainType, payload))
  return canonicalBytes({ payload, sig: Buffer.from(sig).toString('base64url') })
}

export function decodeRecord(bytes: Uint8Array): { payload: RawPayload; sig: string } {
  return JSON.parse(new TextDecoder().decode(bytes)) as { payload: RawPayload; sig: string }
}
