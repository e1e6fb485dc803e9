/**
 * Ed25519 verification with keys imported once (src/ed25519.ts): the same answers as
 * @libp2p/crypto, for a good signature, a tampered one and a wrong length; a peer id that is
 * not an Ed25519 key has no key.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ed25519Key, verifyEd25519 } from '../src/index.ts'

describe('ed25519 with cached keys', () => {
  it('verifies as @libp2p/crypto does, with the key imported once per peer', async () => {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(3))
    const peer = peerIdFromPrivateKey(key).toString()
    const msg = new TextEncoder().encode('a record to sign')
    const sig = await key.sign(msg)
    const k = ed25519Key(peer)!
    assert.equal(ed25519Key(peer), k, 'the same key object the second time')
    for (const [what, m, s] of [
      ['good', msg, sig],
      ['tampered message', new TextEncoder().encode('a record to sigN'), sig],
      ['tampered signature', msg, Uint8Array.from(sig, (b, i) => (i === 5 ? b ^ 1 : b))],
      ['short signature', msg, sig.subarray(0, 63)]
    ] as const) {
      const libp2p = s.byteLength === 64 ? await key.publicKey.verify(m, s) : false
      assert.equal(verifyEd25519(k, m, s), libp2p, what)
    }
    assert.equal(verifyEd25519(k, msg, sig), true)
  })

  it('has no key for a peer id that is not one of an Ed25519 key, or not a peer id', async () => {
    const other = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(4))
    assert.notEqual(ed25519Key(peerIdFromPrivateKey(other).toString()), undefined)
    assert.equal(ed25519Key('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'), undefined, 'an RSA-style (sha256 multihash) id carries no key')
    assert.equal(ed25519Key('not a peer id'), undefined)
  })
})
