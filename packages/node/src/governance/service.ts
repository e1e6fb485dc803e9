/**
 * Consortium governance on one node (SPEC.md §Governance): the membership log, proposals and
 * votes, log sync and admission.
 *
 * - The log starts at the charter (verified at start) and grows by entries that carry a quorum
 *   of current members' signatures. Every accepted entry is stored before it takes effect.
 * - Proposals travel on the gov topic with their evidence. A node checks the evidence itself
 *   (observing content where needed) and votes automatically when it proves the case; other
 *   proposals wait for the operator. A node signs at most one entry per height, remembered on
 *   disk; it waits `voteSettleMs` after the first proposal for a height and then signs the
 *   lowest-id proposal it would approve, so that members who detect the same fault at once
 *   converge on one entry.
 * - Votes go back along the path the proposal came by, each member passing on what reached it
 *   (r5, SPEC.md §Vote relay), and are gossiped only where that path fails or is slow; whoever
 *   holds a quorum assembles the entry and announces it. Nodes sync
 *   the log over GOV_PROTOCOL when they connect and every `syncIntervalMs` (the longest valid
 *   log wins); a second valid entry at a taken height halts all further change.
 * - Admission: a member's invitation (a signed token) lets a newcomer sync the log and send a
 *   signed join request to the inviter, which proposes its admission.
 */
import { randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import {
  GOV_PROTOCOL,
  MAX_RECORD_BYTES,
  MAX_RELAYED_VOTES,
  MAX_SYNC_ENTRIES,
  VOTE_RELAY_BATCH_MS,
  VOTE_RELAY_FALLBACK_JITTER_MS,
  VOTE_RELAY_FALLBACK_MS,
  decodeGovRequest,
  ed25519Key,
  verifyEd25519,
  decodeGovResponse,
  encodeGovRequest,
  encodeGovResponse,
  canonicalBytes,
  govTopic,
  multiSigInput,
  signDocument,
  signRecord,
  verifyRecord,
  withSignatures,
  SequenceCounter
} from '@reef/protocol'
import type {
  CharterBody,
  EvidenceItem,
  GovEntry,
  GovProposal,
  GovResponse,
  GovVote,
  GovVotes,
  Invitation,
  JoinRequest,
  LogAction,
  LogEntryBody,
  Member,
  MultiSigned,
  VerifiedRecord
} from '@reef/protocol'
import { GovernanceError, applyEntry, bodyHash, checkEvidence, checkProposal, evidenceHash, openCharter, recordHashHex } from '@reef/governance'
import type { EvidenceCheck, MembershipState, Standing } from '@reef/governance'
import type { Logger } from 'pino'
import { ConfigError, NoSuchProposalError, NotMemberError, ReefError } from '../errors.ts'
import type { GovernanceStore } from './store.ts'
import type { RecordChannel } from '../p2p/record-bus.ts'
import {
  FRAME_TIMEOUT_MS,
  GOVERNANCE_DIAL_TIMEOUT_MS,
  JOIN_RESEND_MS,
  LOG_SYNC_INTERVAL_MS,
  LOG_SYNC_SPACING_MS,
  ON_CONNECT_SYNC_GAP_MS,
  MAX_SYNC_ROUNDS,
  PROPOSAL_ENVELOPE_BYTES,
  PROPOSAL_TTL_MS,
  REBROADCAST_FAST_MS,
  REBROADCAST_MS,
  REBROADCAST_SLOWDOWN,
  REBROADCAST_SPACING_MS,
  ENTRY_RELAY_DELAY_MS,
  VOTE_SETTLE_MS
} from '../constants.ts'

export type ProposalDecision = 'pending' | 'auto-yes' | 'needs-operator' | 'rejected'

export interface Proposal {
  id: string
  body: LogEntryBody
  evidence: EvidenceItem[]
  proposer: string
  /** Signatures gathered so far, by voter. */
  sigs: Map<string, string>
  firstSeen: number
  decision: ProposalDecision
  detail: string
  /** Proposed by this node (it re-proposes at the new head if another entry wins the height). */
  own: boolean
  lastBroadcast: number
  /**
   * Vote relay (r5): the peer this node first had the proposal from (gossipsub's propagation
   * source), toward which it passes the votes that reach it; undefined where the proposal came
   * otherwise (its own, a restart, a log sync) or the path failed.
   */
  via?: string | undefined
  /** Votes waiting to go to `via` (voter → signature), and the timer that sends them. */
  up: Map<string, string>
  upTimer?: NodeJS.Timeout | undefined
}

export interface GovernanceOptions {
  consortium: string
  selfId: string
  /** Vote automatically on proposals whose evidence this node verifies. */
  autoVote: boolean
  voteSettleMs?: number
  syncIntervalMs?: number
  rebroadcastMs?: number
  proposalTtlMs?: number
  /** Vote relay (r5): gossip a vote sent up the path if no entry came within this (plus up to half again). */
  voteRelayFallbackMs?: number
}

export interface GovernanceDeps {
  libp2p: Libp2p
  key: PrivateKey
  bus: RecordChannel
  store: GovernanceStore
  log: Logger
  /** A member's standing in this node's ledger under the charter's quota. */
  standing: (peer: string) => Standing
  /** Fetch a URL as a client would; the body's sha256. */
  observe: (url: string) => Promise<{ status: number; sha256: string }>
  /** Called after every accepted entry (and once at start) so the node can enforce the membership. */
  onChange: (state: MembershipState, action: LogAction | undefined) => void
}

export class GovernanceService {
  readonly #o: Required<GovernanceOptions>
  readonly #d: GovernanceDeps
  readonly #topic: string
  readonly #seq = new SequenceCounter()
  #state: MembershipState | undefined
  readonly proposals = new Map<string, Proposal>()
  /** Votes for proposals not seen yet (bounded). */
  readonly #orphanVotes = new Map<string, Map<string, { height: number; sig: string }>>()
  #invitation: { token: string; record: VerifiedRecord; body: Invitation; bytes: Uint8Array } | undefined
  #joinSentAt = 0
  #timer: NodeJS.Timeout | undefined
  #unsubscribe: (() => void) | undefined
  #lastSync = 0
  #syncing = new Set<string>()
  #voting = false
  readonly counters = {
    rejectedVotes: 0,
    rejectedEntries: 0,
    rejectedProposals: 0,
    syncs: 0,
    deniedConnections: 0,
    /** Vote relay (r5): votes passed toward a proposer, those received from below, and own votes gossiped because the path failed or was slow. */
    votesRelayed: 0,
    votesFromBelow: 0,
    voteRelayFallbacks: 0
  }
  readonly events: Array<{ at: number; kind: string; detail: string }> = []

  constructor(opts: GovernanceOptions, deps: GovernanceDeps) {
    this.#o = {
      voteSettleMs: VOTE_SETTLE_MS,
      syncIntervalMs: LOG_SYNC_INTERVAL_MS,
      rebroadcastMs: REBROADCAST_MS,
      proposalTtlMs: PROPOSAL_TTL_MS,
      voteRelayFallbackMs: VOTE_RELAY_FALLBACK_MS,
      ...opts
    }
    this.#d = deps
    this.#topic = govTopic(opts.consortium)
  }

  get state(): MembershipState | undefined {
    return this.#state
  }
  get isMember(): boolean {
    return this.#state?.members.has(this.#o.selfId) ?? false
  }
  isMemberPeer(peer: string): boolean {
    return this.#state?.members.has(peer) ?? false
  }
  isExpelled(peer: string): boolean {
    return this.#state?.expelled.has(peer) ?? false
  }

  #event(kind: string, detail: string): void {
    this.events.push({ at: Date.now(), kind, detail })
    if (this.events.length > 200) this.events.shift()
  }

  /**
   * Load the charter and log (re-verifying every entry), or adopt `charterDoc` on first start.
   * A node with neither must hold an invitation (`reef join`).
   */
  async open(charterDoc: MultiSigned<CharterBody> | undefined): Promise<void> {
    const store = this.#d.store
    let charter = await store.charter()
    if (charterDoc !== undefined) {
      if (charter !== undefined && bodyHash(charter.body) !== bodyHash(charterDoc.body))
        throw new ConfigError('governance.charter: the charter file differs from the charter this node already holds')
      charter ??= charterDoc
    }
    const token = await store.invitation()
    if (token !== undefined) this.#invitation = await decodeInvitation(token)
    if (charter === undefined) {
      if (this.#invitation === undefined)
        throw new ConfigError('governance: no charter and no invitation; run "reef consortium create" (founders) or "reef join <invitation>" (newcomers)')
      return
    }
    await this.#adoptCharter(charter)
    for (const doc of await store.entries()) {
      try {
        this.#state = (await applyEntry(this.#state!, doc)).state
      } catch (err) {
        throw new ConfigError(`governance store: entry ${doc.body.height} does not verify (${(err as Error).message}); the store is damaged`)
      }
    }
    const halted = await store.halted()
    if (halted !== undefined) this.#state = { ...this.#state!, halted }
    // What this node signed at the next height before it stopped: offer it again.
    const signed = await store.signedAt(this.#state!.height + 1)
    if (signed !== undefined) {
      const p = newProposal(signed.body, signed.evidence, this.#o.selfId, false)
      p.sigs.set(this.#o.selfId, signed.sig)
      p.detail = 'signed by this node before a restart'
      this.proposals.set(p.id, p)
    }
  }

  async #adoptCharter(charter: MultiSigned<CharterBody>): Promise<void> {
    if (charter.body.id !== this.#o.consortium)
      throw new ConfigError(`governance.charter: the charter is for consortium "${charter.body.id}" but config consortium is "${this.#o.consortium}"`)
    if (this.#invitation !== undefined && bodyHash(charter.body) !== this.#invitation.body.charter)
      throw new ConfigError('the charter does not match the invitation')
    try {
      this.#state = await openCharter(charter)
    } catch (err) {
      throw new ConfigError(`governance.charter: ${(err as Error).message}`)
    }
    await this.#d.store.putCharter(charter)
  }

  /** Take governance records from the gossip channel (start() does this too). */
  listen(): void {
    this.#unsubscribe ??= this.#d.bus.onRecord((r, via) => {
      void this.#onRecord(r, via)
    })
  }

  async start(): Promise<void> {
    this.listen()
    await this.#d.libp2p.handle(
      GOV_PROTOCOL,
      (stream, connection) => {
        void this.#serve(stream, connection)
      },
      { maxInboundStreams: 32 }
    )
    this.#d.libp2p.addEventListener('peer:connect', this.#onConnect)
    this.#timer = setInterval(() => {
      void this.#tick()
    }, 250)
    this.#timer.unref()
    if (this.#state !== undefined) this.#d.onChange(this.#state, undefined)
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#unsubscribe?.()
    this.#d.libp2p.removeEventListener('peer:connect', this.#onConnect)
    await this.#d.libp2p.unhandle(GOV_PROTOCOL).catch(() => {})
    // Let a change being written finish before the node closes the store.
    await this.#queue.catch(() => {})
  }

  /**
   * A new connection to a member syncs the log with it (a member back from a partition catches
   * up at once), at most once per ON_CONNECT_SYNC_GAP_MS: a hundred voters dialling the proposer
   * at once made it serve a hundred syncs (each with the charter) in the middle of the vote.
   */
  readonly #onConnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString()
    if (this.#state !== undefined && !this.#state.members.has(peer)) return
    const now = Date.now()
    if (this.#state !== undefined && now - this.#lastConnectSync < ON_CONNECT_SYNC_GAP_MS) return
    this.#lastConnectSync = now
    void this.syncWith(peer)
  }
  #lastConnectSync = 0

  // ---- proposals and votes ------------------------------------------------------------------

  /** Propose a change at the current head. Returns the proposal id (the entry body's hash). */
  async propose(action: LogAction, evidence: EvidenceItem[] = []): Promise<string> {
    const s = this.#state
    if (s === undefined || !s.members.has(this.#o.selfId)) throw new NotMemberError('only a member can propose')
    const body: LogEntryBody = { v: 1, consortium: s.consortium, height: s.height + 1, prev: s.history[s.height]!.hash, action, proposedAt: Date.now() }
    checkProposal(s, body)
    // The signed record adds its envelope (about 300 bytes) to the proposal.
    if (canonicalBytes({ entry: body, evidence }).byteLength > MAX_RECORD_BYTES - PROPOSAL_ENVELOPE_BYTES)
      throw new ReefError('ERR_OVERSIZE', 'the proposal with its evidence is too large to gossip')
    const p = newProposal(body, evidence, this.#o.selfId, true)
    const id = p.id
    this.proposals.set(id, p)
    this.#event('proposed', `${describe(action)} (${id.slice(0, 12)})`)
    this.#d.log.info({ id, action: action.kind, height: body.height }, 'governance proposal made')
    await this.#decide(p)
    await this.#broadcast(p)
    return id
  }

  /**
   * Propose an expulsion unless one for the same peer is already pending at this height (then
   * this node's evidence adds nothing the voters cannot check themselves).
   */
  async proposeExpel(peer: string, reason: string, evidence: EvidenceItem[]): Promise<string | undefined> {
    const s = this.#state
    if (s === undefined || !s.members.has(peer) || !s.members.has(this.#o.selfId) || s.halted !== undefined) return undefined
    for (const p of this.proposals.values()) {
      if (p.body.height === s.height + 1 && p.body.action.kind === 'expel' && p.body.action.peer === peer) return undefined
    }
    return this.propose({ kind: 'expel', peer, reason: reason.slice(0, 512), evidence: evidence.map(evidenceHash) }, evidence)
  }

  /** The operator's vote (or an automatic one): sign proposal `id` unless this node signed another entry at its height. */
  async vote(id: string): Promise<void> {
    const p = this.proposals.get(id)
    const s = this.#state
    if (p === undefined || s === undefined) throw new NoSuchProposalError(`no pending proposal ${id}`)
    if (!s.members.has(this.#o.selfId)) throw new NotMemberError('only a member can vote')
    // Check, sign and remember as one step: two concurrent votes must never both sign a height.
    await this.#exclusive(async () => {
      checkProposal(this.#state!, p.body)
      const already = await this.#d.store.votedAt(p.body.height)
      if (already !== undefined && already !== id) throw new ReefError('ERR_ALREADY_VOTED', `this node already signed another entry at height ${p.body.height}`)
      const sig = await signDocument('log-entry', p.body, this.#d.key, this.#o.selfId)
      await this.#d.store.putVote(p.body.height, id, { body: p.body, evidence: p.evidence, sig: sig.sig })
      p.sigs.set(this.#o.selfId, sig.sig)
    })
    this.#event('voted', `${describe(p.body.action)} (${id.slice(0, 12)})`)
    // Its first re-publication is one interval away, spread over a further interval so that a
    // hundred signers do not re-publish in one burst. Set before the vote is sent: the tick,
    // seeing it signed with no re-publication yet, re-published the proposal and the vote at once
    // while a relayed send was under way (37 of 98 members in a 100-member run: a flood).
    if (!p.own) p.lastBroadcast = Date.now() + Math.random() * this.#rebroadcastEvery(p, Date.now())
    // Up the path the proposal came by (r5): gossiped, every vote reached every member, about
    // n² × D encrypted frames a vote round, which at 100 members held an expulsion 9–26 s (pnpm
    // bench scale). Gossiped where there is no such path (the proposer's own vote: r4 members
    // assemble from gossip), or later if the entry is slow to come.
    if (this.#relaying(p)) {
      p.up.set(this.#o.selfId, p.sigs.get(this.#o.selfId)!)
      // A path that fails gossips the vote at once and is dropped; one that took it, gossips it
      // again only if the entry is slow to come.
      await this.#sendUp(p)
      if (p.via !== undefined) {
        const fallback = setTimeout(
          () => {
            if (!this.proposals.has(p.id)) return
            this.#d.log.debug({ proposal: p.id, via: p.via }, 'no entry yet: gossiping the vote sent up the relay path')
            this.counters.voteRelayFallbacks++
            void this.#publishVote(p).catch(() => {})
          },
          this.#o.voteRelayFallbackMs * (1 + (Math.random() * VOTE_RELAY_FALLBACK_JITTER_MS) / VOTE_RELAY_FALLBACK_MS)
        )
        fallback.unref?.()
      }
    } else await this.#publishVote(p)
    await this.#tryAssemble(p)
  }

  /**
   * How often a pending proposal and its votes are re-published: every rebroadcastMs in its first
   * minute, ten times less often after; and never more often than members × REBROADCAST_SPACING_MS
   * (every member that signed re-publishes: at a hundred members, every 2 s was 50 proposals a
   * second on a slow machine, which slowed the vote they were meant to help).
   */
  #rebroadcastEvery(p: Proposal, now: number): number {
    const base = now - p.firstSeen < REBROADCAST_FAST_MS ? this.#o.rebroadcastMs : REBROADCAST_SLOWDOWN * this.#o.rebroadcastMs
    return Math.max(base, (this.#state?.members.size ?? 0) * REBROADCAST_SPACING_MS)
  }

  /** Whether votes reaching this node for `p` go up its relay path (r5). */
  #relaying(p: Proposal): boolean {
    return !p.own && p.via !== undefined && this.#d.bus.sendOnly !== undefined
  }

  /**
   * Send the votes waiting for `p` to its `via` as gov-votes records. If that fails (the
   * connection closed, an r4 peer), the path is dropped: this node's own vote is gossiped at
   * once, and the others' voters gossip theirs after VOTE_RELAY_FALLBACK_MS.
   */
  async #sendUp(p: Proposal): Promise<void> {
    clearTimeout(p.upTimer)
    p.upTimer = undefined
    // Sent on even once this node holds a quorum and has applied the entry: the proposer
    // publishes the entry at once when it assembles one, any other node only after a delay.
    while (p.up.size > 0 && p.via !== undefined) {
      const votes = [...p.up].slice(0, MAX_RELAYED_VOTES).map(([peer, sig]) => ({ peer, sig }))
      for (const v of votes) p.up.delete(v.peer)
      const body: GovVotes = { consortium: this.#o.consortium, proposal: p.id, height: p.body.height, votes }
      if (await this.#d.bus.sendOnly!(p.via, 'gov-votes', body)) {
        this.counters.votesRelayed += votes.length
        continue
      }
      this.#d.log.debug({ proposal: p.id, via: p.via, votes: votes.length }, "vote relay path failed: gossiping this node's vote")
      p.via = undefined
      p.up.clear()
      if (votes.some(v => v.peer === this.#o.selfId)) {
        this.counters.voteRelayFallbacks++
        await this.#publishVote(p)
      }
    }
  }

  async #publishVote(p: Proposal): Promise<void> {
    const sig = p.sigs.get(this.#o.selfId)
    if (sig === undefined) return
    await this.#d.bus.publish(this.#topic, 'gov-vote', { consortium: this.#o.consortium, proposal: p.id, height: p.body.height, sig } satisfies GovVote)
  }

  async #broadcast(p: Proposal): Promise<void> {
    p.lastBroadcast = Date.now()
    const body: GovProposal = { entry: p.body, evidence: p.evidence }
    await this.#d.bus.publish(this.#topic, 'gov-proposal', body)
    await this.#publishVote(p)
  }

  async #onRecord(r: VerifiedRecord, via: string | undefined): Promise<void> {
    try {
      switch (r.type) {
        case 'gov-proposal':
          await this.#onProposal(r.author, r.body as GovProposal, via)
          break
        case 'gov-vote':
          await this.#onVote(r.author, r.body as GovVote)
          break
        case 'gov-votes':
          await this.#onVotesFromBelow(r.body as GovVotes)
          break
        case 'gov-entry':
          await this.#onEntry(r.author, (r.body as GovEntry).entry as MultiSigned<LogEntryBody>)
          break
      }
    } catch (err) {
      this.#d.log.debug({ err, type: r.type, from: r.author }, 'governance record not taken')
    }
  }

  async #onProposal(author: string, g: GovProposal, via: string | undefined): Promise<void> {
    const s = this.#state
    if (s === undefined) return
    const body = g.entry as LogEntryBody
    if (body.height <= s.height) return
    if (body.height > s.height + 1) {
      void this.syncWith(author)
      return
    }
    const id = bodyHash(body)
    if (this.proposals.has(id)) return
    try {
      checkProposal(s, body)
    } catch (err) {
      this.counters.rejectedProposals++
      this.#d.log.info({ id, from: author, err: (err as Error).message }, 'invalid proposal rejected')
      return
    }
    const p = newProposal(body, g.evidence as EvidenceItem[], author, false)
    if (via !== undefined && via !== this.#o.selfId) p.via = via
    this.proposals.set(id, p)
    for (const [voter, v] of this.#orphanVotes.get(id) ?? []) await this.#addVote(p, voter, v.sig)
    this.#orphanVotes.delete(id)
    this.#event('proposal', `${describe(body.action)} by ${author.slice(-8)}`)
    await this.#decide(p)
    await this.#tryAssemble(p)
  }

  /** Check the evidence and decide whether this node votes on its own. */
  async #decide(p: Proposal): Promise<void> {
    const s = this.#state!
    const a = p.body.action
    const subject = a.kind === 'expel' || a.kind === 'leave' ? a.peer : a.kind === 'admit' || a.kind === 'readmit' ? a.member.peer : undefined
    if (a.kind === 'expel' && a.evidence.length !== p.evidence.length) {
      p.decision = 'needs-operator'
      p.detail = 'evidence listed in the entry is missing'
      return
    }
    if (a.kind === 'expel' && p.evidence.some((e, i) => evidenceHash(e) !== a.evidence[i])) {
      p.decision = 'rejected'
      p.detail = 'evidence does not match the hashes in the entry'
      return
    }
    if (subject === undefined || p.evidence.length === 0 || !this.#o.autoVote || (a.kind !== 'expel' && a.kind !== 'admit')) {
      p.decision = 'needs-operator'
      p.detail = p.evidence.length === 0 ? 'no evidence: the operator decides' : 'the operator decides'
      return
    }
    const ctx = {
      subject,
      consortium: s.consortium,
      members: s.members,
      policy: s.policy,
      now: Date.now(),
      standing: this.#d.standing,
      ...(a.kind === 'admit' ? { member: a.member } : {})
    }
    const checks: EvidenceCheck[] = []
    for (const e of p.evidence) {
      let c = await checkEvidence(e, ctx)
      if (c.verdict === 'observe') c = await this.#observe(c)
      checks.push(c)
    }
    const wanted = a.kind === 'admit' ? 'invitation' : undefined
    const proven = checks.filter(
      (c, i) => c.verdict === 'proven' && (wanted === undefined ? p.evidence[i]!.kind !== 'invitation' : p.evidence[i]!.kind === wanted)
    )
    const invalid = checks.filter(c => c.verdict === 'invalid')
    p.detail = checks.map(c => c.detail).join('; ')
    p.decision = proven.length > 0 && invalid.length === 0 ? 'auto-yes' : 'needs-operator'
    this.#d.log.info({ id: p.id, action: a.kind, subject, decision: p.decision, detail: p.detail }, 'proposal checked')
  }

  async #observe(c: Extract<EvidenceCheck, { verdict: 'observe' }>): Promise<EvidenceCheck> {
    // Content can be fetched from a slow mirror; a few tries tell a fault from a hiccup.
    for (let i = 0; i < 3; i++) {
      try {
        const seen = await this.#d.observe(c.url)
        if (seen.status !== 200) continue
        if (seen.sha256 !== c.expectedSha256) return { verdict: 'proven', detail: `observed: ${c.detail}` }
        return { verdict: 'invalid', detail: `this node fetched ${c.url} and got the published content` }
      } catch {}
    }
    return { verdict: 'invalid', detail: `this node could not fetch ${c.url}` }
  }

  async #onVote(author: string, v: GovVote): Promise<void> {
    if (v.consortium !== this.#o.consortium) return
    const p = this.proposals.get(v.proposal)
    if (p === undefined) {
      if (this.#state !== undefined && v.height === this.#state.height + 1) {
        let m = this.#orphanVotes.get(v.proposal)
        if (m === undefined) {
          if (this.#orphanVotes.size >= 64) return
          m = new Map()
          this.#orphanVotes.set(v.proposal, m)
        }
        if (m.size < 256) m.set(author, { height: v.height, sig: v.sig })
      }
      return
    }
    await this.#addVote(p, author, v.sig)
    await this.#tryAssemble(p)
  }

  /**
   * Votes relayed to this node (r5, a gov-votes record from a peer it passed the proposal to):
   * each checked on its own signature like a gossiped vote, only members' counted; those new
   * here go on up this node's path within VOTE_RELAY_BATCH_MS, with any others that arrive
   * meanwhile.
   */
  async #onVotesFromBelow(g: GovVotes): Promise<void> {
    const s = this.#state
    if (g.consortium !== this.#o.consortium || s === undefined) return
    const p = this.proposals.get(g.proposal)
    if (p === undefined) {
      for (const v of g.votes)
        if (s.members.has(v.peer)) await this.#onVote(v.peer, { consortium: g.consortium, proposal: g.proposal, height: g.height, sig: v.sig })
      return
    }
    if (g.height !== p.body.height) return
    let added = 0
    for (const v of g.votes) {
      if (!s.members.has(v.peer) || p.sigs.get(v.peer) === v.sig) continue
      await this.#addVote(p, v.peer, v.sig)
      if (p.sigs.get(v.peer) !== v.sig) continue
      added++
      if (this.#relaying(p)) p.up.set(v.peer, v.sig)
    }
    this.counters.votesFromBelow += added
    if (p.up.size > 0 && p.upTimer === undefined) {
      p.upTimer = setTimeout(() => {
        void this.#sendUp(p).catch(() => {})
      }, VOTE_RELAY_BATCH_MS)
      p.upTimer.unref?.()
    }
    await this.#tryAssemble(p, added > 0)
  }

  /** What a vote signs for each proposal (its entry body, canonical, under the log-entry domain), made once. */
  readonly #signedInput = new WeakMap<Proposal, Uint8Array>()

  async #addVote(p: Proposal, voter: string, sig: string): Promise<void> {
    if (p.sigs.get(voter) === sig) return
    const key = ed25519Key(voter)
    const bytes = Buffer.from(sig, 'base64url')
    let input = this.#signedInput.get(p)
    if (input === undefined) this.#signedInput.set(p, (input = multiSigInput('log-entry', p.body)))
    // Only the canonical spelling: another spelling of a valid signature would verify here but
    // make the assembled entry fail its schema on every node, stalling the height.
    const ok = bytes.byteLength === 64 && bytes.toString('base64url') === sig && key !== undefined && verifyEd25519(key, input, bytes)
    if (!ok) {
      this.counters.rejectedVotes++
      this.#d.log.warn({ proposal: p.id, voter }, 'forged vote rejected: its signature does not verify')
      return
    }
    p.sigs.set(voter, sig)
  }

  /**
   * `relayed`: the quorum was completed by votes relayed to this node (r5). Only the few nodes
   * on the way to the proposer can hold one so, and the proposer may not yet: they publish at
   * once too (in 100-member runs the proposer otherwise waited out such a relay's delay).
   */
  async #tryAssemble(p: Proposal, relayed = false): Promise<void> {
    const s = this.#state
    if (s === undefined || !this.proposals.has(p.id)) return
    let need
    try {
      need = checkProposal(s, p.body)
    } catch {
      return
    }
    const votes = need.voters.filter(v => p.sigs.has(v)).length
    if (votes < need.needed || need.mustSign.some(m => !p.sigs.has(m))) return
    const doc = withSignatures(
      { body: p.body, sigs: [] },
      need.voters.filter(v => p.sigs.has(v)).map(peer => ({ peer, sig: p.sigs.get(peer)! }))
    )
    if (!(await this.#apply(doc, this.#o.selfId))) return
    // Every member holding a quorum applies the entry at once; the copy on the wire is for those
    // that missed votes. The proposer publishes it at once, anyone else only if no copy came by
    // within ENTRY_RELAY_DELAY_MS (random, so that not all fifty members that reached the quorum
    // in the same second publish fifty different copies of one entry: each was a new message to
    // every member).
    const height = doc.body.height
    if (p.own || relayed) {
      await this.#d.bus.publish(this.#topic, 'gov-entry', { entry: doc } satisfies GovEntry)
      return
    }
    const [lo, hi] = ENTRY_RELAY_DELAY_MS
    const timer = setTimeout(
      () => {
        if (this.#entriesSeen.has(height)) return
        this.#d.bus.publish(this.#topic, 'gov-entry', { entry: doc } satisfies GovEntry).catch(() => {})
      },
      lo + Math.random() * (hi - lo)
    )
    timer.unref?.()
  }

  /** Heights of the entries a gov-entry record brought (recent ones). */
  readonly #entriesSeen = new Set<number>()

  async #onEntry(author: string, doc: MultiSigned<LogEntryBody>): Promise<void> {
    const s = this.#state
    if (s === undefined) return
    this.#entriesSeen.add(doc.body.height)
    if (this.#entriesSeen.size > 64) this.#entriesSeen.delete(Math.min(...this.#entriesSeen))
    if (doc.body.height > s.height + 1) {
      void this.syncWith(author)
      return
    }
    await this.#apply(doc, author)
  }

  /** Verify and apply one entry; store it first. True if it was new. */
  async #apply(doc: MultiSigned<LogEntryBody>, from: string): Promise<boolean> {
    const applied = await this.#exclusive(async () => this.#applyLocked(doc, from))
    if (!applied) return false
    const a = doc.body.action
    // Proposals for this height or below are settled; re-propose our own that still apply.
    const stale = [...this.proposals.values()].filter(p => p.body.height <= doc.body.height)
    for (const p of stale) this.proposals.delete(p.id)
    for (const p of stale) {
      if (!p.own || bodyHash(p.body) === bodyHash(doc.body) || sameChange(p.body.action, a)) continue
      try {
        await this.propose(p.body.action, p.evidence)
      } catch {}
    }
    this.#orphanVotes.clear()
    this.#d.onChange(this.#state!, a)
    return true
  }

  #queue: Promise<unknown> = Promise.resolve()
  /** Serialise changes of the log and of this node's votes. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }

  async #applyLocked(doc: MultiSigned<LogEntryBody>, from: string): Promise<boolean> {
    const s = this.#state
    if (s === undefined) return false
    let out
    try {
      out = await applyEntry(s, doc)
    } catch (err) {
      this.counters.rejectedEntries++
      const code = err instanceof GovernanceError ? err.code : (err as { code?: string }).code
      this.#d.log.warn({ from, height: doc.body.height, code, err: (err as Error).message }, 'log entry rejected')
      throw err
    }
    if (out.verdict === 'duplicate') return false
    if (out.verdict === 'fork') {
      this.#state = out.state
      await this.#d.store.putHalted(out.state.halted!)
      this.#event('halted', `two valid entries at height ${out.state.halted!.height}`)
      this.#d.log.fatal(
        { halted: out.state.halted, from },
        'MEMBERSHIP LOG FORKED: two valid entries at one height; this node accepts no further membership change until operators resolve it'
      )
      return false
    }
    await this.#d.store.putEntry(doc)
    this.#state = out.state
    const a = doc.body.action
    this.#event('entry', `#${doc.body.height} ${describe(a)} (${doc.sigs.length} signatures)`)
    this.#d.log.info(
      { height: doc.body.height, action: a.kind, subject: 'peer' in a ? a.peer : 'member' in a ? a.member.peer : undefined },
      'membership log entry accepted'
    )
    return true
  }

  // ---- periodic work --------------------------------------------------------------------

  async #tick(): Promise<void> {
    const now = Date.now()
    try {
      const members = this.#state?.members.size ?? 0
      if (now - this.#lastSync >= Math.max(this.#o.syncIntervalMs, members * LOG_SYNC_SPACING_MS)) {
        this.#lastSync = now
        await this.#syncSomeone()
      }
      const s = this.#state
      if (s === undefined) return
      for (const p of this.proposals.values()) {
        const signed = p.sigs.has(this.#o.selfId)
        // A proposal this node signed stays until its height passes: dropping it could leave the
        // height with signatures nobody offers any more (members away for a while, restarts).
        if (!signed && now - p.firstSeen > this.#o.proposalTtlMs) {
          this.proposals.delete(p.id)
          continue
        }
        // Proposers and signers offer the proposal and their votes again, every rebroadcastMs
        // for a minute, then every ten, until it passes: so members who were away can still sign.
        if (now - p.lastBroadcast >= this.#rebroadcastEvery(p, now) && (p.own || signed)) await this.#broadcast(p)
      }
      await this.#autoVote(now)
    } catch (err) {
      this.#d.log.debug({ err }, 'governance tick failed')
    }
  }

  /** Sign the lowest-id auto-approved proposal at the next height once proposals have settled. */
  async #autoVote(now: number): Promise<void> {
    const s = this.#state!
    if (this.#voting || !s.members.has(this.#o.selfId) || s.halted !== undefined) return
    const height = s.height + 1
    const atHeight = [...this.proposals.values()].filter(p => p.body.height === height)
    if (atHeight.length === 0 || now - Math.min(...atHeight.map(p => p.firstSeen)) < this.#o.voteSettleMs) return
    const voted = await this.#d.store.votedAt(height)
    if (voted !== undefined) return
    const pick = atHeight.filter(p => p.decision === 'auto-yes').sort((a, b) => (a.id < b.id ? -1 : 1))[0]
    if (pick === undefined) return
    this.#voting = true
    try {
      await this.vote(pick.id)
    } finally {
      this.#voting = false
    }
  }

  // ---- log sync and admission ------------------------------------------------------------

  async #syncSomeone(): Promise<void> {
    const inv = this.#invitation
    if (this.#state === undefined || (inv !== undefined && !this.isMember)) {
      await this.#syncWithInviter()
      return
    }
    const members = this.#d.libp2p
      .getConnections()
      .map(c => c.remotePeer.toString())
      .filter(p => this.#state!.members.has(p))
    const peer = members[Math.floor(Math.random() * members.length)]
    if (peer !== undefined) await this.syncWith(peer)
  }

  async #syncWithInviter(): Promise<void> {
    const inv = this.#invitation
    if (inv === undefined) return
    const inviter = inv.record.author
    for (const a of inv.body.addrs) {
      try {
        await this.#d.libp2p.dial(multiaddr(a), { signal: AbortSignal.timeout(GOVERNANCE_DIAL_TIMEOUT_MS) })
        break
      } catch (err) {
        this.#d.log.debug({ addr: a, err: (err as Error).message }, 'cannot reach the inviter at this address')
      }
    }
    await this.syncWith(inviter)
    if (this.#state !== undefined && !this.isMember && !this.#state.expelled.has(this.#o.selfId) && Date.now() - this.#joinSentAt > JOIN_RESEND_MS) {
      await this.#sendJoin(inviter).catch(err => {
        this.#d.log.warn({ err: (err as Error).message }, 'join request failed')
      })
    }
  }

  /** Fetch the charter and log from `peer` and apply what extends ours. */
  async syncWith(peer: string): Promise<void> {
    if (this.#syncing.has(peer) || peer === this.#o.selfId) return
    this.#syncing.add(peer)
    try {
      // A long log comes MAX_SYNC_ENTRIES entries per round: ask again at once while the peer's
      // log is ahead and the last round took us further (a newcomer to a log of 1,000 entries
      // waited a sync interval per 512 of them).
      // A round cut short by the exchange's time-out (10 s: 512 entries of 67 signatures each take
      // longer to verify on a slow machine) keeps what it applied: go on from there.
      for (let round = 0; round < MAX_SYNC_ROUNDS; round++) {
        const from = Math.max(1, this.#state?.height ?? 1)
        let r: { ok: boolean; peerHeight?: number }
        try {
          r = await this.#syncFrom(peer, from)
        } catch (err) {
          if ((this.#state?.height ?? 0) <= from) throw err
          this.counters.syncs++
          continue
        }
        if (!r.ok && from > 1) r = await this.#syncFrom(peer, 1)
        this.counters.syncs++
        const now = this.#state?.height ?? 0
        if (!r.ok || r.peerHeight === undefined || r.peerHeight <= now || now <= from) break
      }
    } catch (err) {
      this.#d.log.debug({ peer, err: (err as Error).message }, 'log sync failed')
    } finally {
      this.#syncing.delete(peer)
    }
  }

  /**
   * ok false if the peer's log does not continue ours from `from` (then sync from 1 to judge a
   * fork); peerHeight: the peer's height, from its `end` frame.
   */
  async #syncFrom(peer: string, from: number): Promise<{ ok: boolean; peerHeight?: number }> {
    const signal = AbortSignal.timeout(FRAME_TIMEOUT_MS)
    const stream = await this.#d.libp2p.dialProtocol(peerIdFromString(peer), GOV_PROTOCOL, { signal })
    let peerHeight: number | undefined
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES })
      await lp.write(encodeGovRequest({ v: 1, kind: 'sync', consortium: this.#o.consortium, from }), { signal })
      for (let n = 0; n <= MAX_SYNC_ENTRIES + 1; n++) {
        const frame = decodeGovResponse((await lp.read({ signal })).subarray())
        if (frame.kind === 'charter') {
          if (this.#state === undefined)
            await this.#exclusive(async () => {
              if (this.#state === undefined) await this.#adoptCharter(frame.charter as MultiSigned<CharterBody>)
            })
          else if (bodyHash(frame.charter.body) !== this.#state.history[0]!.hash) throw new ReefError('ERR_WRONG_CHARTER', `${peer} holds another charter`)
          continue
        }
        if (frame.kind === 'end') {
          peerHeight = frame.height
          break
        }
        if (frame.kind !== 'entry') throw new ReefError('ERR_PROTOCOL', `unexpected ${frame.kind} frame in a sync`)
        try {
          await this.#apply(frame.entry as MultiSigned<LogEntryBody>, peer)
        } catch (err) {
          if (err instanceof GovernanceError && err.code === 'ERR_PREV') return { ok: false }
          throw err
        }
      }
      await stream.close({ signal }).catch(() => {})
      return peerHeight === undefined ? { ok: true } : { ok: true, peerHeight }
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(FRAME_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES })
    const peer = connection.remotePeer.toString()
    try {
      const req = decodeGovRequest((await lp.read({ signal })).subarray())
      const s = this.#state
      if (req.kind === 'sync') {
        if (s !== undefined && req.consortium === s.consortium) {
          const charter = await this.#d.store.charter()
          if (charter !== undefined) await lp.write(encodeGovResponse({ v: 1, kind: 'charter', charter }), { signal })
          const entries = (await this.#d.store.entries()).filter(e => e.body.height >= req.from).slice(0, MAX_SYNC_ENTRIES)
          for (const e of entries) await lp.write(encodeGovResponse({ v: 1, kind: 'entry', entry: e }), { signal })
        }
        await lp.write(encodeGovResponse({ v: 1, kind: 'end', height: s?.height ?? 0 }), { signal })
      } else {
        const result = await this.#onJoin(peer, req.invitation, req.request)
        await lp.write(encodeGovResponse({ v: 1, kind: 'join-result', ...result }), { signal })
      }
      await stream.close({ signal })
    } catch (err) {
      this.#d.log.debug({ peer, err: (err as Error).message }, 'gov stream failed')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** A newcomer asks to join with an invitation: propose its admission. */
  async #onJoin(peer: string, invitation: string, request: string): Promise<{ ok: boolean; code: string; message: string }> {
    const s = this.#state
    if (s === undefined || !this.isMember) return { ok: false, code: 'ERR_NOT_MEMBER', message: 'this node is not a member' }
    let join: JoinRequest
    try {
      const r = await verifyRecord(Buffer.from(request, 'base64url'), { expectType: 'join-request' })
      join = r.body as JoinRequest
      if (r.author !== peer) return { ok: false, code: 'ERR_NOT_AUTHOR', message: 'the join request is not signed by the connecting peer' }
    } catch (err) {
      return { ok: false, code: 'ERR_BAD_REQUEST', message: (err as Error).message }
    }
    if (s.members.has(peer)) return { ok: true, code: 'OK', message: 'already a member' }
    if (s.expelled.has(peer)) return { ok: false, code: 'ERR_EXPELLED', message: 'this identity was expelled; a new identity must be invited' }
    const evidence: EvidenceItem = { kind: 'invitation', invitation, request }
    const check = await checkEvidence(evidence, {
      subject: peer,
      consortium: s.consortium,
      members: s.members,
      policy: s.policy,
      now: Date.now(),
      member: join.member
    })
    if (check.verdict !== 'proven') return { ok: false, code: 'ERR_BAD_INVITATION', message: check.detail }
    // One peer per invitation: a token passed on cannot admit a second identity.
    const invitationHash = recordHashHex(Buffer.from(invitation, 'base64url'))
    const usedBy = await this.#d.store.invitationUsedBy(invitationHash)
    if (usedBy !== undefined && usedBy !== peer) return { ok: false, code: 'ERR_INVITATION_USED', message: 'this invitation was already used by another peer' }
    await this.#d.store.putInvitationUsed(invitationHash, peer)
    for (const p of this.proposals.values()) {
      if (p.body.action.kind === 'admit' && p.body.action.member.peer === peer) return { ok: true, code: 'OK', message: `admission pending as ${p.id}` }
    }
    try {
      const id = await this.propose({ kind: 'admit', member: join.member }, [evidence])
      return { ok: true, code: 'OK', message: `admission proposed as ${id}` }
    } catch (err) {
      return { ok: false, code: (err as { code?: string }).code ?? 'ERR_INVALID', message: (err as Error).message }
    }
  }

  async #sendJoin(inviter: string): Promise<void> {
    const inv = this.#invitation!
    const member = this.selfMember
    if (member === undefined) return
    const req: JoinRequest = { consortium: this.#o.consortium, invitation: recordHashHex(inv.bytes), member }
    const bytes = await signRecord(this.#d.key, this.#o.selfId, 'join-request', req, { seq: this.#seq.next() })
    const signal = AbortSignal.timeout(FRAME_TIMEOUT_MS)
    const stream = await this.#d.libp2p.dialProtocol(peerIdFromString(inviter), GOV_PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES })
    await lp.write(encodeGovRequest({ v: 1, kind: 'join', invitation: inv.token, request: Buffer.from(bytes).toString('base64url') }), { signal })
    const res: GovResponse = decodeGovResponse((await lp.read({ signal })).subarray())
    await stream.close({ signal }).catch(() => {})
    this.#joinSentAt = Date.now()
    if (res.kind !== 'join-result') throw new ReefError('ERR_PROTOCOL', 'unexpected answer to a join request')
    this.#event('join', `${res.ok ? 'sent' : 'refused'}: ${res.message}`)
    if (!res.ok) throw new ReefError(res.code, res.message)
    this.#d.log.info({ inviter, message: res.message }, "join request accepted by the inviter; waiting for the members' votes")
  }

  /** This node's own member record (site and mirror), set by the node. */
  selfMember: Member | undefined

  /** Make an invitation token (a signed invitation record, base64url). */
  async invite(opts: { site?: string; ttlMs?: number; addrs: string[] }): Promise<string> {
    const s = this.#state
    if (s === undefined || !this.isMember) throw new NotMemberError('only a member can invite')
    if (opts.addrs.length === 0) throw new ReefError('ERR_NO_ADDRESS', 'this node has no listen address to put in the invitation')
    const body: Invitation = {
      consortium: s.consortium,
      charter: s.history[0]!.hash,
      nonce: randomBytes(16).toString('base64url'),
      expiresAt: Date.now() + (opts.ttlMs ?? 7 * 86_400_000),
      // Every address names the inviter (SPEC.md §invitation: part of the record's validity).
      addrs: opts.addrs
        .map(a => (a.endsWith(`/p2p/${this.#o.selfId}`) ? a : `${a}/p2p/${this.#o.selfId}`))
        .filter(a => a.length <= 256)
        .slice(0, 8),
      ...(opts.site === undefined ? {} : { site: opts.site })
    }
    const bytes = await signRecord(this.#d.key, this.#o.selfId, 'invitation', body, { seq: this.#seq.next() })
    return Buffer.from(bytes).toString('base64url')
  }
}

/** Decode and verify an invitation token. */
export async function decodeInvitation(token: string): Promise<{ token: string; record: VerifiedRecord; body: Invitation; bytes: Uint8Array }> {
  if (!/^[A-Za-z0-9_-]{40,8000}$/.test(token)) throw new ConfigError('the invitation is not a Reef invitation token (base64url)')
  const bytes = Buffer.from(token, 'base64url')
  try {
    const record = await verifyRecord(bytes, { expectType: 'invitation', ignoreTime: true })
    const body = record.body as Invitation
    if (body.expiresAt < Date.now()) throw new ConfigError('the invitation has expired; ask the member for a new one')
    return { token, record, body, bytes }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`the invitation does not verify: ${(err as Error).message}`)
  }
}

function newProposal(body: LogEntryBody, evidence: EvidenceItem[], proposer: string, own: boolean): Proposal {
  return {
    id: bodyHash(body),
    body,
    evidence,
    proposer,
    sigs: new Map(),
    firstSeen: Date.now(),
    decision: 'pending',
    detail: '',
    own,
    lastBroadcast: 0,
    up: new Map()
  }
}

function sameChange(a: LogAction, b: LogAction): boolean {
  if (a.kind === 'expel' && b.kind === 'expel') return a.peer === b.peer
  if ((a.kind === 'admit' || a.kind === 'readmit') && (b.kind === 'admit' || b.kind === 'readmit')) return a.member.peer === b.member.peer
  return false
}

export function describe(a: LogAction): string {
  switch (a.kind) {
    case 'admit':
      return `admit ${a.member.site} (${a.member.peer.slice(-8)})`
    case 'readmit':
      return `readmit ${a.member.site} (${a.member.peer.slice(-8)})`
    case 'expel':
      return `expel ${a.peer.slice(-8)}: ${a.reason}`
    case 'leave':
      return `${a.peer.slice(-8)} leaves`
    case 'set-policy':
      return 'change the policy'
  }
}
