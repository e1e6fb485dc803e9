/**
 * Charter files: the founders' signed charter as pretty JSON. `reef consortium create` writes
 * one signed by the local node; each other founder adds its signature with `reef consortium
 * sign`; the charter is complete when every founder has signed (every node checks at start).
 */
import { readFile, writeFile } from 'node:fs/promises'
import type { PrivateKey } from '@libp2p/interface'
import { CharterBody, DEFAULT_POLICY, canonicalBytes, decodeDocument, signDocument, withSignatures } from '@reef/protocol'
import type { Member, MultiSigned, Policy } from '@reef/protocol'
import { ConfigError } from '../errors.ts'

export interface CharterDraft {
  id: string
  name: string
  founders: Member[]
  policy?: Partial<Policy>
  createdAt?: number
}

/** A charter body from a draft, validated (policy defaults filled in). */
export function charterBody(d: CharterDraft): CharterBody {
  const parsed = CharterBody.safeParse({
    v: 1,
    id: d.id,
    name: d.name,
    createdAt: d.createdAt ?? Date.now(),
    founders: d.founders,
    policy: { ...DEFAULT_POLICY, ...d.policy }
  })
  if (!parsed.success) {
    const i = parsed.error.issues[0]
    throw new ConfigError(`charter ${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'}`)
  }
  return parsed.data
}

/** Add `key`'s signature to a charter (the signer must be a founder). */
export async function signCharter(doc: MultiSigned<CharterBody>, key: PrivateKey, peer: string): Promise<MultiSigned<CharterBody>> {
  if (!doc.body.founders.some(f => f.peer === peer)) throw new ConfigError(`this node (${peer}) is not a founder of ${doc.body.id}`)
  return withSignatures(doc, [await signDocument('charter', doc.body, key, peer)])
}

export async function writeCharterFile(file: string, doc: MultiSigned<CharterBody>): Promise<void> {
  await writeFile(file, JSON.stringify(doc, null, 2) + '\n')
}

/** Founders still missing from a charter's signatures. */
export function unsignedFounders(doc: MultiSigned<CharterBody>): Member[] {
  const signed = new Set(doc.sigs.map(s => s.peer))
  return doc.body.founders.filter(f => !signed.has(f.peer))
}

/** Read and verify the shape of a charter file (signatures are checked when the node opens it). */
export async function readCharterFile(file: string): Promise<MultiSigned<CharterBody>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`governance.charter: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  try {
    return decodeDocument(canonicalBytes(JSON.parse(text)), CharterBody)
  } catch (err) {
    throw new ConfigError(`governance.charter: ${file} is not a charter: ${(err as Error).message}`)
  }
}
