/**
 * Documents signed by several members: a consortium's charter (signed by every founder) and
 * each entry of its membership log (signed by a quorum of members). The document is canonical
 * JSON; each signature is Ed25519 by a member's libp2p key over
 * `utf8(domain) || 0x00 || canonical(body)`, with a domain per document kind, so a signature on
 * a charter can never count for a log entry. Signatures are listed sorted by peer id, one per
 * signer.
 */
import type { PrivateKey } from '@libp2p/interface'
import { z } from 'zod'
import { canonicalBytes, parseCanonical } from './canonical.ts'
import { ed25519Key, verifyEd25519 } from './ed25519.ts'
import { MAX_RECORD_BYTES } from './constants.ts'
import { BadSignatureError, OversizeError, SchemaError } from './errors.ts'
import { PeerIdString } from './primitives.ts'

export const MULTISIG_DOMAINS = { charter: '/reef/charter/1', 'log-entry': '/reef/log-entry/1' } as const
export type MultiSigKind = keyof typeof MULTISIG_DOMAINS

export const Signature = z
  .object({
    peer: PeerIdString,
    sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature is 64 bytes, base64url without padding')
  })
  .strict()
export type Signature = z.infer<typeof Signature>

export interface MultiSigned<B> {
  body: B
  sigs: Signature[]
}

const encoder = new TextEncoder()

export function multiSigInput(kind: MultiSigKind, body: unknown): Uint8Array {
  const domain = encoder.encode(MULTISIG_DOMAINS[kind])
  const bytes = canonicalBytes(body)
  const out = new Uint8Array(domain.length + 1 + bytes.length)
  out.set(domain, 0)
  out.set(bytes, domain.length + 1)
  return out
}

/** One member's signature over a document body. */
export async function signDocument(kind: MultiSigKind, body: unknown, key: PrivateKey, peer: string): Promise<Signature> {
  const sig = await key.sign(multiSigInput(kind, body))
  return { peer, sig: Buffer.from(sig).toString('base64url') }
}

/** Add signatures, keeping one per peer, sorted by peer id (the canonical order). */
export function withSignatures<B>(doc: MultiSigned<B>, sigs: Signature[]): MultiSigned<B> {
  const byPeer = new Map(doc.sigs.map(s => [s.peer, s]))
  for (const s of sigs) byPeer.set(s.peer, s)
  return { body: doc.body, sigs: [...byPeer.values()].sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)) }
}

/**
 * The peers whose signatures on `doc` verify. Throws BadSignatureError if any listed signature
 * does not verify (a forged signature is never silently dropped) and SchemaError for
 * duplicate or unsorted signers.
 */
export async function verifiedSigners(kind: MultiSigKind, doc: MultiSigned<unknown>): Promise<string[]> {
  const input = multiSigInput(kind, doc.body)
  const peers: string[] = []
  for (const s of doc.sigs) {
    if (peers.length > 0 && s.peer <= peers[peers.length - 1]!) throw new SchemaError('signatures must be sorted by peer id, one per signer')
    const key = ed25519Key(s.peer)
    if (key === undefined) throw new SchemaError(`signer ${s.peer} is not an Ed25519 peer id`)
    const bytes = Buffer.from(s.sig, 'base64url')
    if (bytes.byteLength !== 64 || bytes.toString('base64url') !== s.sig) throw new SchemaError('signature is not canonical base64url of 64 bytes')
    if (!verifyEd25519(key, input, bytes)) throw new BadSignatureError(`signature by ${s.peer} does not verify`)
    peers.push(s.peer)
  }
  return peers
}

/** Decode a multi-signed document's bytes against a body schema (size, canonical form, shape). */
export function decodeDocument<S extends z.ZodType>(bytes: Uint8Array, body: S, maxBytes = MAX_RECORD_BYTES): MultiSigned<z.infer<S>> {
  if (bytes.byteLength > maxBytes) throw new OversizeError(`document of ${bytes.byteLength} bytes exceeds ${maxBytes}`)
  const raw = parseCanonical(bytes, maxBytes)
  const parsed = z
    .object({ body, sigs: z.array(Signature).max(256) })
    .strict()
    .safeParse(raw)
  if (!parsed.success) {
    const i = parsed.error.issues[0]
    throw new SchemaError(`document is invalid: ${i === undefined ? 'unknown' : `${i.path.join('.') || '(root)'}: ${i.message}`}`)
  }
  return parsed.data as MultiSigned<z.infer<S>>
}
