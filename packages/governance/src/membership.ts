/**
 * The membership log (SPEC.md §Governance): a hash chain that starts at the charter. Each
 * entry names the previous one by hash, changes membership or policy, and carries signatures
 * of a quorum of the members current before it (⌊n·num/den⌋ + 1 of n voters, by default
 * ⌊2n/3⌋ + 1; the subject of an expulsion does not vote, and an expulsion still needs
 * ⌈(n + f + 1)/2⌉ of the n members, see signaturesNeeded). Anyone holding the charter can
 * verify the whole log. Two valid entries at one height are a fork: they cannot both arise while
 * fewer than a third of members are faulty, so a node that sees them halts (accepts no further
 * change) and reports it.
 */
import { createHash } from 'node:crypto'
import { canonicalBytes, isProtocolError, verifiedSigners } from '@reef/protocol'
import type { CharterBody, LogEntryBody, Member, MultiSigned, Policy } from '@reef/protocol'

export class GovernanceError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'GovernanceError'
    this.code = code
  }
}

/** One height of the log: its hash, the members after it and the quorum fraction then in force. */
export interface LogPoint {
  hash: string
  members: string[]
  quorum: Pick<Policy, 'quorumNum' | 'quorumDen'>
}

export interface MembershipState {
  consortium: string
  members: ReadonlyMap<string, Member>
  expelled: ReadonlySet<string>
  policy: Policy
  /** Height of the last accepted entry (0: only the charter). */
  height: number
  /** Hash and voters at every height, 0 = the charter. */
  history: readonly LogPoint[]
  /** Set when two valid entries for one height were seen: no further change is accepted. */
  halted: { height: number; hashes: [string, string] } | undefined
}

export type EntryVerdict = 'applied' | 'duplicate' | 'fork'

export function bodyHash(body: unknown): string {
  return createHash('sha256').update(canonicalBytes(body)).digest('hex')
}

/** Signatures needed out of `voters`. */
export function quorumFor(voters: number, policy: Pick<Policy, 'quorumNum' | 'quorumDen'>): number {
  return Math.floor((voters * policy.quorumNum) / policy.quorumDen) + 1
}

/** How many members a quorum of the policy tolerates being faulty: with ⌊2n/3⌋+1 of n, fewer than a third. */
export function faultTolerance(members: number, policy: Pick<Policy, 'quorumNum' | 'quorumDen'>): number {
  return Math.max(0, Math.ceil((members * (policy.quorumDen - policy.quorumNum)) / policy.quorumDen) - 1)
}

/**
 * Signatures an entry needs: a quorum of its voters, and never so few that two entries at one
 * height could both gather theirs unless more than f members sign both. Voter sets differ
 * between entries (the subject of an expulsion does not vote: "A expels B" and "B expels A"),
 * so the bound is taken over the whole membership: two sets of ⌈(n + f + 1)/2⌉ out of n
 * members share at least f + 1, hence an honest member, who signs one entry per height.
 */
export function signaturesNeeded(members: number, voters: number, policy: Pick<Policy, 'quorumNum' | 'quorumDen'>): number {
  return Math.max(quorumFor(voters, policy), Math.ceil((members + faultTolerance(members, policy) + 1) / 2))
}

async function signers(kind: 'charter' | 'log-entry', doc: MultiSigned<unknown>): Promise<string[]> {
  try {
    return await verifiedSigners(kind, doc)
  } catch (err) {
    if (isProtocolError(err)) throw new GovernanceError(err.code, err.message)
    throw err
  }
}

/** Verify a charter (every founder signed it) and start the membership state from it. */
export async function openCharter(doc: MultiSigned<CharterBody>): Promise<MembershipState> {
  const c = doc.body
  const peers = new Set(c.founders.map(f => f.peer))
  if (peers.size !== c.founders.length) throw new GovernanceError('ERR_DUPLICATE_MEMBER', 'a founder is listed twice')
  if (new Set(c.founders.map(f => f.site)).size !== c.founders.length) throw new GovernanceError('ERR_DUPLICATE_MEMBER', 'two founders share a site label')
  const signed = new Set(await signers('charter', doc))
  const missing = [...peers].filter(p => !signed.has(p))
  if (missing.length > 0) throw new GovernanceError('ERR_CHARTER_UNSIGNED', `founders ${missing.join(', ')} did not sign the charter`)
  if ([...signed].some(p => !peers.has(p))) throw new GovernanceError('ERR_NOT_MEMBER', 'the charter is signed by someone who is not a founder')
  return {
    consortium: c.id,
    members: new Map(c.founders.map(f => [f.peer, f])),
    expelled: new Set(),
    policy: c.policy,
    height: 0,
    history: [{ hash: bodyHash(c), members: [...peers].sort(), quorum: { quorumNum: c.policy.quorumNum, quorumDen: c.policy.quorumDen } }],
    halted: undefined
  }
}

/** Who votes on `body` and what the state becomes if it is accepted (throws if the change is invalid). */
function transition(
  s: MembershipState,
  body: LogEntryBody
): { voters: string[]; mustSign: string[]; next: Omit<MembershipState, 'height' | 'history' | 'halted'> } {
  const members = new Map(s.members)
  const expelled = new Set(s.expelled)
  let policy = s.policy
  let voters = [...members.keys()]
  const mustSign: string[] = []
  const a = body.action
  switch (a.kind) {
    case 'admit':
    case 'readmit':
      if (members.has(a.member.peer)) throw new GovernanceError('ERR_INVALID_ACTION', `${a.member.peer} is already a member`)
      if (expelled.has(a.member.peer)) throw new GovernanceError('ERR_EXPELLED', `${a.member.peer} was expelled; a new identity must be admitted`)
      if ([...members.values()].some(m => m.site === a.member.site)) throw new GovernanceError('ERR_DUPLICATE_MEMBER', `site label ${a.member.site} is taken`)
      members.set(a.member.peer, a.member)
      break
    case 'expel':
      if (!members.has(a.peer)) throw new GovernanceError('ERR_INVALID_ACTION', `${a.peer} is not a member`)
      voters = voters.filter(p => p !== a.peer)
      members.delete(a.peer)
      expelled.add(a.peer)
      break
    case 'leave':
      if (!members.has(a.peer)) throw new GovernanceError('ERR_INVALID_ACTION', `${a.peer} is not a member`)
      mustSign.push(a.peer)
      members.delete(a.peer)
      break
    case 'set-policy':
      policy = a.policy
      break
  }
  if (members.size === 0) throw new GovernanceError('ERR_INVALID_ACTION', 'a consortium cannot lose its last member')
  return { voters, mustSign, next: { consortium: s.consortium, members, expelled, policy } }
}

/**
 * Apply one signed log entry. 'duplicate': already in the log; 'fork': a second valid entry for
 * a height already taken (the returned state is halted). Throws GovernanceError for anything
 * invalid: wrong consortium, a gap, a wrong `prev`, no quorum, an invalid change, a bad
 * signature, or any change after a halt.
 */
export async function applyEntry(s: MembershipState, doc: MultiSigned<LogEntryBody>): Promise<{ state: MembershipState; verdict: EntryVerdict }> {
  const body = doc.body
  if (body.consortium !== s.consortium) throw new GovernanceError('ERR_WRONG_CONSORTIUM', `entry for ${body.consortium}, not ${s.consortium}`)
  const hash = bodyHash(body)
  if (body.height <= s.height) {
    if (s.history[body.height]?.hash === hash) return { state: s, verdict: 'duplicate' }
    const before = s.history[body.height - 1]
    if (before === undefined || before.hash !== body.prev) throw new GovernanceError('ERR_PREV', `entry ${body.height} does not follow the log`)
    // A different entry for a taken height: a fork if it carries a valid quorum of that time's
    // voters, under the quorum then in force.
    const { voters } = transitionAt(s, body, before.members)
    await checkQuorum(before.quorum, doc, voters, [], before.members.length)
    return { state: { ...s, halted: { height: body.height, hashes: [s.history[body.height]!.hash, hash] } }, verdict: 'fork' }
  }
  if (s.halted !== undefined)
    throw new GovernanceError('ERR_HALTED', `the log forked at height ${s.halted.height}: no change is accepted until operators resolve it`)
  if (body.height !== s.height + 1) throw new GovernanceError('ERR_GAP', `entry ${body.height} arrives before entry ${s.height + 1}`)
  if (body.prev !== s.history[s.height]!.hash) throw new GovernanceError('ERR_PREV', `entry ${body.height} does not name the log's head`)
  const t = transition(s, body)
  await checkQuorum(s.policy, doc, t.voters, t.mustSign, s.members.size)
  const state: MembershipState = {
    ...t.next,
    height: body.height,
    history: [
      ...s.history,
      { hash, members: [...t.next.members.keys()].sort(), quorum: { quorumNum: t.next.policy.quorumNum, quorumDen: t.next.policy.quorumDen } }
    ],
    halted: undefined
  }
  return { state, verdict: 'applied' }
}

/**
 * Check that `body` is a valid next entry for `s` (consortium, height, prev, the change itself)
 * and say who votes on it and how many signatures it needs. Throws GovernanceError otherwise.
 */
export function checkProposal(s: MembershipState, body: LogEntryBody): { voters: string[]; mustSign: string[]; needed: number } {
  if (body.consortium !== s.consortium) throw new GovernanceError('ERR_WRONG_CONSORTIUM', `entry for ${body.consortium}, not ${s.consortium}`)
  if (s.halted !== undefined)
    throw new GovernanceError('ERR_HALTED', `the log forked at height ${s.halted.height}: no change is accepted until operators resolve it`)
  if (body.height !== s.height + 1) throw new GovernanceError('ERR_GAP', `entry ${body.height} is not the next height (${s.height + 1})`)
  if (body.prev !== s.history[s.height]!.hash) throw new GovernanceError('ERR_PREV', `entry ${body.height} does not name the log's head`)
  const t = transition(s, body)
  return { voters: t.voters, mustSign: t.mustSign, needed: signaturesNeeded(s.members.size, t.voters.length, s.policy) }
}

/** Voters of a past height, from that height's member list (for fork checks). */
function transitionAt(s: MembershipState, body: LogEntryBody, members: string[]): { voters: string[] } {
  const a = body.action
  return { voters: a.kind === 'expel' ? members.filter(p => p !== a.peer) : members }
}

async function checkQuorum(
  quorum: Pick<Policy, 'quorumNum' | 'quorumDen'>,
  doc: MultiSigned<LogEntryBody>,
  voters: string[],
  mustSign: string[],
  members: number
): Promise<void> {
  const signed = new Set(await signers('log-entry', doc))
  const votes = voters.filter(p => signed.has(p)).length
  const needed = signaturesNeeded(members, voters.length, quorum)
  if (votes < needed) throw new GovernanceError('ERR_NO_QUORUM', `${votes} of ${voters.length} members signed; ${needed} needed`)
  for (const p of mustSign) if (!signed.has(p)) throw new GovernanceError('ERR_NO_QUORUM', `${p} must sign its own leave`)
}
