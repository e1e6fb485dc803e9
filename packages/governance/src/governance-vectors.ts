/**
 * Governance test vectors (SPEC.md §Governance): a charter, a membership log and the state it
 * yields after each entry, charters and entries every implementation must reject (with the
 * error code), evidence items with the verdict a voter must reach, and frames of the
 * governance stream. Deterministic: fixed Ed25519 seeds (Ed25519 signatures are
 * deterministic), fixed timestamps and nonces, so `governanceVectorsJson()` always gives the
 * same bytes and vectors/governance.json is compared byte for byte.
 *
 * `checkGovernanceVectors()` (conformance.ts) runs a vector set through openCharter,
 * applyEntry, checkEvidence and the frame decoders, and lists every mismatch.
 */
import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { DEFAULT_POLICY, canonicalBytes, decodeGovRequest, decodeGovResponse, signDocument, signRecord, signingInput, withSignatures } from '@reef/protocol'
import type {
  Attestation,
  CharterBody,
  Delegation,
  EvidenceItem,
  GovRequest,
  GovResponse,
  HelpRequest,
  Invitation,
  JoinRequest,
  LogAction,
  LogEntryBody,
  Member,
  MultiSigKind,
  MultiSigned,
  Policy,
  Receipt,
  RecordBody,
  RecordType,
  Signature
} from '@reef/protocol'
import { checkEvidence, evidenceHash, siteUrlOn } from './evidence.ts'
import type { EvidenceContext } from './evidence.ts'
import { applyEntry, bodyHash, openCharter } from './membership.ts'
import type { EntryVerdict, MembershipState } from './membership.ts'
import type { Standing } from './quota.ts'

export interface GovVectorKey {
  name: string
  seedHex: string
  peerId: string
}

/** What an implementation must hold after a charter or entry: compare all of it. */
export interface MembershipView {
  height: number
  /** SHA-256 (hex) of the canonical body of the last entry (of the charter at height 0). */
  headHash: string
  /** Current members, sorted by peer id. */
  members: Member[]
  /** Expelled peer ids, sorted. */
  expelled: string[]
  policy: Policy
  halted: { height: number; hashes: [string, string] } | null
}

export interface CharterVector {
  description: string
  charter: MultiSigned<CharterBody>
  hash: string
  state: MembershipView
}
export interface InvalidCharterVector {
  description: string
  charter: MultiSigned<CharterBody>
  error: string
}
export interface LogVector {
  description: string
  entry: MultiSigned<LogEntryBody>
  hash: string
  state: MembershipView
}

/**
 * One step of an entry case: apply `entry` to the state. Either it throws `error` (the state
 * stays as it was) or it returns `verdict` and the state becomes `state`.
 */
export interface EntryStep {
  entry: MultiSigned<LogEntryBody>
  error?: string
  verdict?: EntryVerdict
  state?: MembershipView
}
/** Start from the charter plus the first `after` entries of `log`, then apply the steps in order. */
export interface EntryCase {
  description: string
  after: number
  steps: EntryStep[]
}

export interface EvidenceContextVector {
  subject: string
  consortium: string
  members: Member[]
  policy: Policy
  now: number
  /** The subject's standing in the voter's own ledger (freeloading only). */
  standing?: Standing
  /** The member record the admission proposes (invitation only). */
  member?: Member
}
export interface EvidenceExpectation {
  verdict: 'proven' | 'observe' | 'invalid'
  url?: string
  path?: string
  expectedSha256?: string
}
export interface EvidenceVector {
  description: string
  item: EvidenceItem
  hash: string
  context: EvidenceContextVector
  expected: EvidenceExpectation
}

export interface GovFrameVector {
  description: string
  frame: 'gov-request' | 'gov-response'
  hex: string
  value?: unknown
  error?: string
}

export interface GovernanceVectorSet {
  version: 1
  keys: GovVectorKey[]
  charter: CharterVector
  invalidCharters: InvalidCharterVector[]
  log: LogVector[]
  entries: EntryCase[]
  evidence: EvidenceVector[]
  frames: GovFrameVector[]
}

const TS = 1_790_000_000_000
const CONSORTIUM = 'smallsites'
const SESSION = 'c2Vzc2lvbi0wMDAx'
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url')
const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

interface Key {
  name: string
  key: PrivateKey
  id: string
  seedHex: string
  member: Member
}

async function keyFromSeed(name: string, fill: number): Promise<Key> {
  const seed = new Uint8Array(32).fill(fill)
  const key = await generateKeyPairFromSeed('Ed25519', seed)
  const id = peerIdFromPrivateKey(key).toString()
  return { name, key, id, seedHex: hex(seed), member: { peer: id, site: name, mirrorUrl: `https://mirror.${name}.example` } }
}

/** The state as a plain, comparable value. */
export function membershipView(s: MembershipState): MembershipView {
  return {
    height: s.height,
    headHash: s.history[s.height]!.hash,
    members: [...s.members.values()].sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)),
    expelled: [...s.expelled].sort(),
    policy: s.policy,
    halted: s.halted ?? null
  }
}

async function signed<B>(kind: MultiSigKind, body: B, signers: Key[]): Promise<MultiSigned<B>> {
  return withSignatures({ body, sigs: [] }, await Promise.all(signers.map(async k => signDocument(kind, body, k.key, k.id))))
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    return (err as { code?: string }).code ?? `(no code: ${(err as Error).message})`
  }
}

export async function makeGovernanceVectors(): Promise<GovernanceVectorSet> {
  const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'outsider']
  const keys = await Promise.all(names.map(async (n, i) => keyFromSeed(n, 0x20 + i)))
  const [alpha, bravo, charlie, delta, echo, outsider] = keys as [Key, Key, Key, Key, Key, Key]
  // Records are numbered in the order they are made: seq and ts both follow that number.
  let n = 0
  const record = async <T extends RecordType>(k: Key, type: T, body: RecordBody<T>): Promise<Uint8Array> => {
    n += 1
    return signRecord(k.key, k.id, type, body, { seq: TS * 1000 + n, ts: TS + n })
  }
  // A record signRecord refuses (it contradicts its own author), signed as is.
  const rawRecord = async (k: Key, type: RecordType, body: unknown): Promise<Uint8Array> => {
    n += 1
    const payload = { type, v: 1, author: k.id, seq: TS * 1000 + n, ts: TS + n, body }
    return canonicalBytes({ payload, sig: Buffer.from(await k.key.sign(signingInput(type, payload))).toString('base64url') })
  }

  // ---- charter ------------------------------------------------------------------------------
  const charterBody: CharterBody = {
    v: 1,
    id: CONSORTIUM,
    name: 'Small sites',
    createdAt: TS,
    founders: [alpha.member, bravo.member, charlie.member],
    policy: { ...DEFAULT_POLICY }
  }
  const charterDoc = await signed('charter', charterBody, [alpha, bravo, charlie])
  const s0 = await openCharter(charterDoc)
  const charter: CharterVector = {
    description: 'three founders, default policy, signed by every founder',
    charter: charterDoc,
    hash: bodyHash(charterBody),
    state: membershipView(s0)
  }

  const invalidCharters: InvalidCharterVector[] = []
  const badCharter = async (description: string, doc: MultiSigned<CharterBody>): Promise<void> => {
    const error = await codeOf(openCharter(doc))
    if (error === undefined) throw new Error(`charter vector accepted: ${description}`)
    invalidCharters.push({ description, charter: doc, error })
  }
  await badCharter('a founder (charlie) did not sign', await signed('charter', charterBody, [alpha, bravo]))
  {
    const body: CharterBody = { ...charterBody, founders: [alpha.member, bravo.member, alpha.member] }
    await badCharter('a founder listed twice', await signed('charter', body, [alpha, bravo]))
  }
  {
    const body: CharterBody = { ...charterBody, founders: [alpha.member, bravo.member, { ...charlie.member, site: 'alpha' }] }
    await badCharter('two founders share a site label', await signed('charter', body, [alpha, bravo, charlie]))
  }
  {
    const good = await signed('charter', charterBody, [alpha, bravo])
    await badCharter(
      'charlie signed under the log-entry domain (/reef/log-entry/1)',
      withSignatures(good, [await signDocument('log-entry', charterBody, charlie.key, charlie.id)])
    )
  }
  await badCharter('the name was changed after every founder signed', { body: { ...charterBody, name: 'Small sites!' }, sigs: charterDoc.sigs })
  await badCharter('also signed by a peer that is not a founder', await signed('charter', charterBody, [alpha, bravo, charlie, outsider]))
  await badCharter('signatures not sorted by peer id', { body: charterBody, sigs: [...charterDoc.sigs].reverse() })

  // ---- evidence -----------------------------------------------------------------------------
  // The manifest: alpha's help request; the accused: charlie, a helper of alpha's session.
  const hashA = createHash('sha256').update('the published page').digest('hex')
  const hashB = createHash('sha256').update('the published image').digest('hex')
  const hashX = createHash('sha256').update('what the helper served').digest('hex')
  const manifestBody: HelpRequest = {
    session: SESSION,
    site: 'alpha',
    siteUrl: 'https://alpha.example',
    neededRps: 400,
    manifest: [
      { path: '/', size: 5120, type: 'text/html; charset=utf-8', sha256: hashA },
      { path: '/img/hero.jpg', size: 81920, type: 'image/jpeg', sha256: hashB }
    ]
  }
  const manifest = await record(alpha, 'help-request', manifestBody)
  const attest = async (k: Key, a: Partial<Attestation>): Promise<string> =>
    b64u(await record(k, 'attestation', { session: SESSION, site: 'alpha', path: '/img/hero.jpg', sha256: hashX, ...a }))
  const delegation = async (k: Key, d: Partial<Delegation>): Promise<Uint8Array> =>
    record(k, 'delegation', { session: SESSION, helper: alpha.id, round: 1, requests: 100, bytes: 1_000_000, final: false, ...d })
  const receipt = async (k: Key, d: Uint8Array, r: Partial<Receipt>): Promise<Uint8Array> =>
    record(k, 'receipt', { session: SESSION, beneficiary: charlie.id, round: 1, delegation: sha256Hex(d), requests: 100, bytes: 1_000_000, ...r })

  // The membership when charlie is accused (after log entry 2: alpha, bravo, charlie, delta, echo).
  const atExpel = [alpha, bravo, charlie, delta, echo].map(k => k.member).sort((a, b) => (a.peer < b.peer ? -1 : 1))
  const expelCtx = (extra: Partial<EvidenceContextVector> = {}): EvidenceContextVector => ({
    subject: charlie.id,
    consortium: CONSORTIUM,
    members: atExpel,
    policy: { ...DEFAULT_POLICY },
    now: TS + 60_000,
    ...extra
  })
  const evidenceCases: Array<{ description: string; item: EvidenceItem; context: EvidenceContextVector }> = []
  const ev = (description: string, item: EvidenceItem, context: EvidenceContextVector): void => {
    evidenceCases.push({ description, item, context })
  }

  const equivocation: EvidenceItem = {
    kind: 'ledger',
    records: [await delegation(charlie, {}), await delegation(charlie, { requests: 10, bytes: 100_000 })].map(b64u)
  }
  ev('ledger: the accused signed two delegations for one round of one pair (equivocation)', equivocation, expelCtx())
  {
    const d = await delegation(charlie, { helper: bravo.id })
    ev(
      'ledger: the accused signed a delegation with lower amounts than the round before (decrease)',
      { kind: 'ledger', records: [b64u(d), b64u(await delegation(charlie, { helper: bravo.id, round: 2, requests: 50, bytes: 500_000 }))] },
      expelCtx()
    )
  }
  {
    const d = await delegation(charlie, { helper: delta.id })
    const r = await receipt(delta, d, { requests: 98, bytes: 980_000 })
    ev('ledger: a delegation and a receipt within it are consistent', { kind: 'ledger', records: [b64u(d), b64u(r)] }, expelCtx())
    const over = await receipt(delta, d, { requests: 150 })
    ev('ledger: the records prove an over-claim by the helper (delta), not by the accused', { kind: 'ledger', records: [b64u(d), b64u(over)] }, expelCtx())
  }
  ev(
    'ledger: round-1 delegations of one session to two different helpers are two pairs, not an equivocation',
    { kind: 'ledger', records: [await delegation(charlie, { helper: alpha.id }), await delegation(charlie, { helper: bravo.id })].map(b64u) },
    expelCtx()
  )
  ev('ledger: a record that is not a ledger record', { kind: 'ledger', records: [b64u(manifest)] }, expelCtx())
  ev(
    'content-signed: the accused attested another hash than the site published for the path',
    { kind: 'content-signed', manifest: b64u(manifest), attestation: await attest(charlie, {}) },
    expelCtx()
  )
  ev(
    'content-signed: the attested hash matches the manifest',
    { kind: 'content-signed', manifest: b64u(manifest), attestation: await attest(charlie, { sha256: hashB }) },
    expelCtx()
  )
  ev(
    'content-signed: the attestation is signed by another member than the accused',
    { kind: 'content-signed', manifest: b64u(manifest), attestation: await attest(bravo, {}) },
    expelCtx()
  )
  ev(
    'content-signed: the attestation names another session',
    { kind: 'content-signed', manifest: b64u(manifest), attestation: await attest(charlie, { session: 'c2Vzc2lvbi0wMDAy' }) },
    expelCtx()
  )
  ev(
    'content-signed: the manifest is not signed by the member that owns its site label',
    { kind: 'content-signed', manifest: b64u(await record(bravo, 'help-request', manifestBody)), attestation: await attest(charlie, {}) },
    expelCtx()
  )
  const observedUrl = siteUrlOn(charlie.member.mirrorUrl, 'alpha') + 'img/hero.jpg'
  ev(
    "content-observed: a mismatch at the accused's mirror URL: every voter fetches it itself",
    { kind: 'content-observed', manifest: b64u(manifest), url: observedUrl, path: '/img/hero.jpg', servedSha256: hashX },
    expelCtx()
  )
  ev(
    "content-observed: the URL is another member's mirror",
    {
      kind: 'content-observed',
      manifest: b64u(manifest),
      url: siteUrlOn(bravo.member.mirrorUrl, 'alpha') + 'img/hero.jpg',
      path: '/img/hero.jpg',
      servedSha256: hashX
    },
    expelCtx()
  )
  ev(
    'content-observed: the served hash is the published one',
    { kind: 'content-observed', manifest: b64u(manifest), url: observedUrl, path: '/img/hero.jpg', servedSha256: hashB },
    expelCtx()
  )
  {
    const gib = 1024 * 1024 * 1024
    const st = (taken: number): Standing => ({ given: 0, taken, credit: gib, headroom: gib - taken, overQuota: taken > gib })
    ev(
      'freeloading: took 2 GiB of a 1 GiB credit, past 150 % (the numbers in the item are ignored)',
      { kind: 'freeloading', taken: 0, credit: 0 },
      expelCtx({ standing: st(2 * gib) })
    )
    ev(
      'freeloading: took exactly 150 % of its credit (not past it)',
      { kind: 'freeloading', taken: 1.5 * gib, credit: gib },
      expelCtx({ standing: st(1.5 * gib) })
    )
    ev(
      'freeloading: the charter does not expel for freeloading (freeloadExpelPct 0)',
      { kind: 'freeloading', taken: 2 * gib, credit: gib },
      expelCtx({ standing: st(2 * gib), policy: { ...DEFAULT_POLICY, freeloadExpelPct: 0 } })
    )
    ev('freeloading: the voter holds no ledger for the accused', { kind: 'freeloading', taken: 2 * gib, credit: gib }, expelCtx())
  }
  // Admission of delta under alpha's invitation, at height 0 (the founders).
  const founders = [alpha, bravo, charlie].map(k => k.member).sort((a, b) => (a.peer < b.peer ? -1 : 1))
  const joinCtx = (extra: Partial<EvidenceContextVector> = {}): EvidenceContextVector => ({
    subject: delta.id,
    consortium: CONSORTIUM,
    members: founders,
    policy: { ...DEFAULT_POLICY },
    now: TS + 60_000,
    ...extra
  })
  const invitationBody: Invitation = {
    consortium: CONSORTIUM,
    charter: bodyHash(charterBody),
    nonce: 'bm9uY2UtMDAwMDAwMDAx',
    expiresAt: TS + 7 * 86_400_000,
    addrs: [`/ip4/192.0.2.1/tcp/4001/p2p/${alpha.id}`],
    site: 'delta'
  }
  const invitation = await record(alpha, 'invitation', invitationBody)
  const joinRequest = async (k: Key, inv: Uint8Array, member: Member = delta.member): Promise<Uint8Array> =>
    (k.id === member.peer ? record : rawRecord)(k, 'join-request', { consortium: CONSORTIUM, invitation: sha256Hex(inv), member } satisfies JoinRequest)
  const request = await joinRequest(delta, invitation)
  const admission: EvidenceItem = { kind: 'invitation', invitation: b64u(invitation), request: b64u(request) }
  ev("invitation: a founder's invitation and the newcomer's join request", admission, joinCtx())
  ev('invitation: expired (now is past expiresAt)', admission, joinCtx({ now: invitationBody.expiresAt + 1 }))
  {
    const foreign = await record(outsider, 'invitation', { ...invitationBody, addrs: [`/ip4/192.0.2.9/tcp/4001/p2p/${outsider.id}`] })
    ev(
      'invitation: signed by a peer that is not a member',
      { kind: 'invitation', invitation: b64u(foreign), request: b64u(await joinRequest(delta, foreign)) },
      joinCtx()
    )
  }
  ev(
    'invitation: the join request is signed by another peer than the newcomer (a join request whose member.peer is not its author is ERR_SCHEMA)',
    { kind: 'invitation', invitation: b64u(invitation), request: b64u(await joinRequest(echo, invitation)) },
    joinCtx()
  )
  ev(
    'invitation: the join request names another invitation',
    {
      kind: 'invitation',
      invitation: b64u(invitation),
      request: b64u(await record(delta, 'join-request', { consortium: CONSORTIUM, invitation: 'f'.repeat(64), member: delta.member }))
    },
    joinCtx()
  )
  ev(
    'invitation: the newcomer asks for another site label than the invitation fixed',
    { kind: 'invitation', invitation: b64u(invitation), request: b64u(await joinRequest(delta, invitation, { ...delta.member, site: 'delta2' })) },
    joinCtx()
  )
  ev('invitation: for another consortium', admission, joinCtx({ consortium: 'othersites' }))
  ev('invitation: the admission proposes the member the newcomer asked for', admission, joinCtx({ member: delta.member }))
  ev(
    'invitation: the admission proposes another mirror URL than the newcomer asked for',
    admission,
    joinCtx({ member: { ...delta.member, mirrorUrl: 'https://mirror.elsewhere.example' } })
  )

  // r3 (made last, so that the records above keep their seq and bytes).
  {
    const misaddressed = await rawRecord(alpha, 'invitation', { ...invitationBody, addrs: [`/ip4/192.0.2.1/tcp/4001/p2p/${bravo.id}`] })
    ev(
      'invitation: an address of the invitation does not end in /p2p/<inviter> (the invitation is ERR_SCHEMA)',
      { kind: 'invitation', invitation: b64u(misaddressed), request: b64u(await joinRequest(delta, misaddressed)) },
      joinCtx()
    )
  }
  const evidence: EvidenceVector[] = []
  for (const c of evidenceCases) {
    const check = await checkEvidence(c.item, evidenceContext(c.context))
    const expected: EvidenceExpectation =
      check.verdict === 'observe' ? { verdict: 'observe', url: check.url, path: check.path, expectedSha256: check.expectedSha256 } : { verdict: check.verdict }
    evidence.push({ description: c.description, item: c.item, hash: evidenceHash(c.item), context: c.context, expected })
  }

  // ---- the log ------------------------------------------------------------------------------
  const log: LogVector[] = []
  const states: MembershipState[] = [s0]
  const body = (s: MembershipState, action: LogAction, over: Partial<LogEntryBody> = {}): LogEntryBody => ({
    v: 1,
    consortium: s.consortium,
    height: s.height + 1,
    prev: s.history[s.height]!.hash,
    action,
    proposedAt: TS + 1_000 * (s.height + 1),
    ...over
  })
  const append = async (description: string, action: LogAction, signers: Key[]): Promise<void> => {
    const s = states[states.length - 1]!
    const doc = await signed('log-entry', body(s, action), signers)
    const out = await applyEntry(s, doc)
    if (out.verdict !== 'applied') throw new Error(`log vector not applied: ${description}`)
    states.push(out.state)
    log.push({ description, entry: doc, hash: bodyHash(doc.body), state: membershipView(out.state) })
  }
  await append('admit delta (invited by alpha): 3 voters, ⌊3·2/3⌋+1 = 3 signatures', { kind: 'admit', member: delta.member }, [alpha, bravo, charlie])
  await append('admit echo: 4 voters, 3 of them sign', { kind: 'admit', member: echo.member }, [alpha, bravo, delta])
  await append(
    'expel charlie on ledger evidence: charlie does not vote; of 5 members, ⌈(5 + 1 + 1)/2⌉ = 4 must sign: all 4 others',
    { kind: 'expel', peer: charlie.id, reason: 'ledger: equivocation', evidence: [evidenceHash(equivocation)] },
    [alpha, bravo, delta, echo]
  )
  const strict: Policy = { ...DEFAULT_POLICY, quorumNum: 3, quorumDen: 4, freeloadExpelPct: 200 }
  await append('set-policy: quorum 3/4, freeloading past 200 %', { kind: 'set-policy', policy: strict }, [alpha, bravo, delta])
  await append('echo leaves: signed by echo; under the new policy ⌊4·3/4⌋+1 = 4 of 4', { kind: 'leave', peer: echo.id }, [alpha, bravo, delta, echo])

  // ---- entries to judge ---------------------------------------------------------------------
  const entries: EntryCase[] = []
  const judge = async (description: string, after: number, steps: Array<MultiSigned<LogEntryBody>>): Promise<void> => {
    let s = states[after]!
    const out: EntryStep[] = []
    for (const entry of steps) {
      try {
        const r = await applyEntry(s, entry)
        s = r.state
        out.push({ entry, verdict: r.verdict, state: membershipView(s) })
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code === undefined) throw err
        out.push({ entry, error: code })
      }
    }
    entries.push({ description, after, steps: out })
  }
  const at = (h: number): MembershipState => states[h]!
  await judge('2 of 3 founders sign an admission (3 needed)', 0, [
    await signed('log-entry', body(at(0), { kind: 'admit', member: delta.member }), [alpha, bravo])
  ])
  await judge('signatures of non-members do not count (alpha, bravo, outsider: 2 of 4 voters, 3 needed)', 1, [
    await signed('log-entry', body(at(1), { kind: 'admit', member: echo.member }), [alpha, bravo, outsider])
  ])
  await judge('the subject of an expulsion does not vote (alpha, bravo, charlie: 2 of 4 voters, 3 needed)', 2, [
    await signed('log-entry', body(at(2), { kind: 'expel', peer: charlie.id, reason: 'ledger: equivocation', evidence: [] }), [alpha, bravo, charlie])
  ])
  await judge(
    'an expulsion signed by 3 of the 4 other members: a quorum of its voters, but of 5 members ⌈(n + f + 1)/2⌉ = 4 must sign so that two expulsions at one height cannot both pass',
    2,
    [await signed('log-entry', body(at(2), { kind: 'expel', peer: charlie.id, reason: 'ledger: equivocation', evidence: [] }), [alpha, bravo, delta])]
  )
  await judge("a leave has a quorum (4 of 5) but not the leaver's signature", 2, [
    await signed('log-entry', body(at(2), { kind: 'leave', peer: echo.id }), [alpha, bravo, charlie, delta])
  ])
  await judge('prev does not name the head (names the charter at height 2)', 1, [
    await signed('log-entry', body(at(1), { kind: 'admit', member: echo.member }, { prev: charter.hash }), [alpha, bravo, charlie, delta])
  ])
  await judge('height 3 when the log is at height 1 (a gap)', 1, [
    await signed('log-entry', body(at(1), { kind: 'admit', member: echo.member }, { height: 3 }), [alpha, bravo, charlie, delta])
  ])
  await judge('an expelled identity admitted again', 3, [
    await signed('log-entry', body(at(3), { kind: 'admit', member: { ...charlie.member, site: 'charlie2' } }), [alpha, bravo, delta, echo])
  ])
  await judge('an expelled identity readmitted', 3, [
    await signed('log-entry', body(at(3), { kind: 'readmit', member: charlie.member }), [alpha, bravo, delta, echo])
  ])
  await judge('an entry for another consortium', 1, [
    await signed('log-entry', body(at(1), { kind: 'admit', member: echo.member }, { consortium: 'othersites' }), [alpha, bravo, charlie, delta])
  ])
  await judge('a newcomer under a site label already taken', 1, [
    await signed('log-entry', body(at(1), { kind: 'admit', member: { ...echo.member, site: 'alpha' } }), [alpha, bravo, charlie, delta])
  ])
  await judge('admitting a current member', 1, [
    await signed('log-entry', body(at(1), { kind: 'admit', member: bravo.member }), [alpha, bravo, charlie, delta])
  ])
  await judge('expelling a peer that is not a member', 1, [
    await signed('log-entry', body(at(1), { kind: 'expel', peer: outsider.id, reason: 'not a member', evidence: [] }), [alpha, bravo, charlie, delta])
  ])
  await judge('an entry already in the log, delivered again', 2, [log[1]!.entry])
  {
    const rival = await signed('log-entry', body(at(0), { kind: 'admit', member: echo.member }), [alpha, bravo, charlie])
    await judge('a second entry with a valid quorum for a taken height: a fork; then nothing more is accepted', 1, [rival, log[1]!.entry])
    const weak = await signed('log-entry', body(at(0), { kind: 'admit', member: echo.member }), [alpha])
    await judge('a second entry for a taken height without a quorum is no fork', 1, [weak])
    // The quorum of a past height is the policy in force then, not today's: at height 2 the
    // four members under 2/3 need 3 signatures; the head's policy (3/4) would need 4.
    const past = await signed('log-entry', body(at(1), { kind: 'admit', member: { ...outsider.member, site: 'foxtrot' } }), [alpha, bravo, delta])
    await judge(
      "after set-policy 3/4, a rival entry for height 2 signed by 3 of its 4 voters: a fork under the policy in force at height 2 (2/3), though today's would need 4; halted lists the log's hash first, then the rival's",
      5,
      [past]
    )
  }
  {
    const good = await signed('log-entry', body(at(0), { kind: 'admit', member: delta.member }), [alpha, bravo])
    const forged: Signature = { peer: charlie.id, sig: (await signDocument('log-entry', good.body, outsider.key, outsider.id)).sig }
    await judge('a signature listed under charlie was made by another key', 0, [withSignatures(good, [forged])])
    const other = await signed('log-entry', body(at(0), { kind: 'admit', member: echo.member }), [alpha, bravo, charlie])
    await judge('signatures copied from another entry (admit echo) onto admit delta', 0, [{ body: log[0]!.entry.body, sigs: other.sigs }])
    await judge('a signature made under the charter domain', 0, [withSignatures(good, [await signDocument('charter', good.body, charlie.key, charlie.id)])])
    await judge('signatures not sorted by peer id', 0, [{ body: log[0]!.entry.body, sigs: [...log[0]!.entry.sigs].reverse() }])
  }

  // ---- frames of the governance stream ------------------------------------------------------
  const frames: GovFrameVector[] = []
  const frameOk = (description: string, frame: GovFrameVector['frame'], value: GovRequest | GovResponse): void => {
    frames.push({ description, frame, hex: hex(canonicalBytes(value)), value })
  }
  frameOk('sync from height 2', 'gov-request', { v: 1, kind: 'sync', consortium: CONSORTIUM, from: 2 })
  frameOk('join: the invitation token and the signed join request', 'gov-request', { v: 1, kind: 'join', invitation: b64u(invitation), request: b64u(request) })
  frameOk('the charter, first answer to a sync', 'gov-response', { v: 1, kind: 'charter', charter: charterDoc })
  frameOk('one log entry', 'gov-response', { v: 1, kind: 'entry', entry: log[1]!.entry })
  frameOk("end of a sync: the responder's height", 'gov-response', { v: 1, kind: 'end', height: 5 })
  frameOk('answer to a join request', 'gov-response', { v: 1, kind: 'join-result', ok: true, code: 'OK', message: 'admission proposed' })
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
  const frameBad = (description: string, frame: GovFrameVector['frame'], bytes: Uint8Array): void => {
    frames.push({ description, frame, hex: hex(bytes), error: '' })
  }
  frameBad('sync with an unknown field', 'gov-request', canonicalBytes({ v: 1, kind: 'sync', consortium: CONSORTIUM, from: 0, x: 1 }))
  frameBad('sync of version 2', 'gov-request', canonicalBytes({ v: 2, kind: 'sync', consortium: CONSORTIUM, from: 0 }))
  frameBad('a request of an unknown kind', 'gov-request', canonicalBytes({ v: 1, kind: 'push', consortium: CONSORTIUM }))
  frameBad('a negative sync height', 'gov-request', canonicalBytes({ v: 1, kind: 'sync', consortium: CONSORTIUM, from: -1 }))
  frameBad('an entry frame whose document has an extra field', 'gov-response', canonicalBytes({ v: 1, kind: 'entry', entry: { ...log[1]!.entry, note: 'x' } }))
  frameBad('a response that is not canonical JSON', 'gov-response', utf8('{"v":1, "kind":"end","height":0}'))
  frameBad(
    'sync of version 2 with an unknown field: the version is checked first',
    'gov-request',
    canonicalBytes({ v: 2, kind: 'sync', consortium: CONSORTIUM, from: 0, x: 1 })
  )
  frameBad('an end frame whose v is the string "1"', 'gov-response', canonicalBytes({ v: '1', kind: 'end', height: 0 }))
  for (const f of frames) {
    if (f.error === undefined) continue
    const decode = f.frame === 'gov-request' ? decodeGovRequest : decodeGovResponse
    const code = await codeOf(Promise.resolve().then(() => decode(Buffer.from(f.hex, 'hex'))))
    if (code === undefined) throw new Error(`frame vector accepted: ${f.description}`)
    f.error = code
  }

  return {
    version: 1,
    keys: keys.map(k => ({ name: k.name, seedHex: k.seedHex, peerId: k.id })),
    charter,
    invalidCharters,
    log,
    entries,
    evidence,
    frames
  }
}

/** The vectors as the exact text of vectors/governance.json. */
export async function governanceVectorsJson(): Promise<string> {
  return JSON.stringify(await makeGovernanceVectors(), null, 2) + '\n'
}

/** A voter's evidence context from its vector form. */
export function evidenceContext(c: EvidenceContextVector): EvidenceContext {
  const st = c.standing
  return {
    subject: c.subject,
    consortium: c.consortium,
    members: new Map(c.members.map(m => [m.peer, m])),
    policy: c.policy,
    now: c.now,
    ...(c.member === undefined ? {} : { member: c.member }),
    ...(st === undefined
      ? {}
      : {
          standing: (peer: string) => {
            if (peer !== c.subject) throw new Error('standing asked for another peer')
            return st
          }
        })
  }
}
