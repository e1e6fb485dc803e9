/**
 * Ed25519 verification with each author's public key imported once. @libp2p/crypto imports
 * the key (a JWK) on every verification; at 100 members a vote round and an entry's 67
 * signatures made that a tenth of every member's CPU (V8 profiles of `pnpm bench scale`). The
 * result is node:crypto's verify, as before.
 */
import { createPublicKey, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 key bytes follow. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
/** Keys kept, most recently used last; a consortium has at most a few hundred members. */
const MAX_KEYS = 4096
const keys = new Map<string, KeyObject>()

/** The Ed25519 public key of `peer` (a peer id string), or undefined if it is not one. */
export function ed25519Key(peer: string): KeyObject | undefined {
  const hit = keys.get(peer)
  if (hit !== undefined) {
    keys.delete(peer)
    keys.set(peer, hit)
    return hit
  }
  let raw: Uint8Array
  try {
    const id = peerIdFromString(peer)
    if (id.type !== 'Ed25519' || id.publicKey == null) return undefined
    raw = id.publicKey.raw
  } catch {
    return undefined
  }
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
  keys.set(peer, key)
  if (keys.size > MAX_KEYS) keys.delete(keys.keys().next().value!)
  return key
}

/** Whether `sig` (64 bytes) is `key`'s Ed25519 signature over `msg`. */
export function verifyEd25519(key: KeyObject, msg: Uint8Array, sig: Uint8Array): boolean {
  return sig.byteLength === 64 && verify(null, msg, key, sig)
}
