/**
 * Evidence (SPEC.md §Evidence): what a member attaches to a proposal so that every other member
 * can decide for itself, without trusting the proposer.
 *
 *   ledger            the accused's own signed ledger records, which the ledger rules reject
 *                     as evidence against it (equivocation, decrease, over-claim) — proven by
 *                     the records alone.
 *   content-signed    the site's signed manifest and the helper's signed attestation of another
 *                     hash for the same session and path — proven by the two signatures.
 *   content-observed  the site's signed manifest and a mirrored URL of the accused whose body
 *                     did not match: each voter fetches the URL itself and votes only if it
 *                     sees the mismatch too.
 *   freeloading       the accused's take past the charter's expulsion share of its credit, as
 *                     the voter's own ledger shows it.
 *   invitation        (admissions) a current member's invitation and the newcomer's join request.
 *
 * Checks are pure apart from signature verification; observation is left to the caller.
 */
import { createHash } from 'node:crypto'
import { canonicalBytes, isProtocolError, verifyRecord } from '@reef/protocol'
import type { EvidenceItem, HelpRequest, Invitation, JoinRequest, Member, Policy, VerifiedRecord } from '@reef/protocol'
import { applyLedgerRecord, pairOf } from './ledger.ts'
import type { DelegationBody, LedgerRecord, PairState, ReceiptBody } from './ledger.ts'
import type { Standing } from './quota.ts'

export type EvidenceCheck =
  | { verdict: 'proven'; detail: string }
  | { verdict: 'observe'; url: string; path: string; expectedSha256: string; detail: string }
  | { verdict: 'invalid'; detail: string }

export interface EvidenceContext {
  /** The peer the proposal accuses (expel) or admits (admit). */
  subject: string
  consortium: string
  /** Current members by peer id. */
  members: ReadonlyMap<string, Member>
  policy: Policy
  now: number
  /** The member record an admission would add (it must be the one the newcomer asked for). */
  member?: Member
  /** The subject's standing in the voter's own ledger (for freeloading). */
  standing?: (peer: string) => Standing
}

export function evidenceHash(item: EvidenceItem): string {
  return createHash('sha256').update(canonicalBytes(item)).digest('hex')
}

export function recordHashHex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function decodeRecord(b64: string, what: string): Promise<{ record: VerifiedRecord; bytes: Uint8Array }> {
  const bytes = Buffer.from(b64, 'base64url')
  try {
    return { record: await verifyRecord(bytes, { ignoreTime: true }), bytes }
  } catch (err) {
    throw new Error(`${what} does not verify: ${isProtocolError(err) ? err.code : (err as Error).message}`)
  }
}

/** The member that owns a site label. */
function ownerOf(members: ReadonlyMap<string, Member>, site: string): string | undefined {
  for (const m of members.values()) if (m.site === site) return m.peer
  return undefined
}

async function manifestOf(b64: string, ctx: EvidenceContext): Promise<HelpRequest> {
  const { record } = await decodeRecord(b64, 'the manifest')
  if (record.type !== 'help-request') throw new Error('the manifest is not a help-request record')
  const body = record.body as HelpRequest
  if (ownerOf(ctx.members, body.site) !== record.author) throw new Error(`the manifest for ${body.site} is not signed by that site's member`)
  return body
}

/** Check one evidence item against a proposal's subject. Never throws. */
export async function checkEvidence(item: EvidenceItem, ctx: EvidenceContext): Promise<EvidenceCheck> {
  try {
    switch (item.kind) {
      case 'ledger':
        return await checkLedger(item.records, ctx)
      case 'content-signed': {
        const manifest = await manifestOf(item.manifest, ctx)
        const { record } = await decodeRecord(item.attestation, 'the attestation')
        if (record.type !== 'attestation') return { verdict: 'invalid', detail: 'the attestation is not an attestation record' }
        if (record.author !== ctx.subject) return { verdict: 'invalid', detail: 'the attestation is not signed by the accused' }
        const a = record.body as { session: string; site: string; path: string; sha256: string }
        if (a.session !== manifest.session || a.site !== manifest.site)
          return { verdict: 'invalid', detail: 'the attestation is for another session or site than the manifest' }
        const entry = manifest.manifest.find(e => e.path === a.path)
        if (entry === undefined) return { verdict: 'invalid', detail: `the manifest does not list ${a.path}` }
        if (entry.sha256 === a.sha256) return { verdict: 'invalid', detail: 'the attested hash matches the manifest' }
        return { verdict: 'proven', detail: `attested ${a.sha256.slice(0, 12)}… for ${a.path}, the site published ${entry.sha256.slice(0, 12)}…` }
      }
      case 'content-observed': {
        const manifest = await manifestOf(item.manifest, ctx)
        const entry = manifest.manifest.find(e => e.path === item.path)
        if (entry === undefined) return { verdict: 'invalid', detail: `the manifest does not list ${item.path}` }
        if (entry.sha256 === item.servedSha256) return { verdict: 'invalid', detail: 'the observed hash matches the manifest' }
        const accused = ctx.members.get(ctx.subject)
        if (accused === undefined) return { verdict: 'invalid', detail: 'the accused is not a member' }
        const expectedUrl = siteUrlOn(accused.mirrorUrl, manifest.site) + item.path.slice(1)
        if (item.url !== expectedUrl) return { verdict: 'invalid', detail: `the observed URL is not the accused's mirror URL for ${manifest.site}${item.path}` }
        return {
          verdict: 'observe',
          url: item.url,
          path: item.path,
          expectedSha256: entry.sha256,
          detail: `served ${item.servedSha256.slice(0, 12)}… for ${item.path}, the site published ${entry.sha256.slice(0, 12)}…`
        }
      }
      case 'freeloading': {
        if (ctx.policy.freeloadExpelPct === 0) return { verdict: 'invalid', detail: 'the charter does not expel for freeloading' }
        const st = ctx.standing?.(ctx.subject)
        if (st === undefined) return { verdict: 'invalid', detail: 'no ledger to check freeloading against' }
        const limit = (st.credit * ctx.policy.freeloadExpelPct) / 100
        if (st.taken <= limit) return { verdict: 'invalid', detail: `took ${st.taken} B of a ${Math.round(limit)} B limit in this ledger` }
        return { verdict: 'proven', detail: `took ${st.taken} B, past ${ctx.policy.freeloadExpelPct}% of its ${st.credit} B credit` }
      }
      case 'invitation':
        return await checkInvitation(item.invitation, item.request, ctx)
    }
  } catch (err) {
    return { verdict: 'invalid', detail: (err as Error).message }
  }
}

async function checkLedger(records: string[], ctx: EvidenceContext): Promise<EvidenceCheck> {
  const decoded: LedgerRecord[] = []
  for (const b64 of records) {
    const { record, bytes } = await decodeRecord(b64, 'a ledger record')
    if (record.type !== 'delegation' && record.type !== 'receipt') return { verdict: 'invalid', detail: `a ${record.type} record is not a ledger record` }
    decoded.push({
      type: record.type,
      author: record.author,
      seq: record.seq,
      ts: record.ts,
      hash: recordHashHex(bytes),
      body: record.body as DelegationBody | ReceiptBody
    })
  }
  // One pair only: records of different pairs never contradict each other (a beneficiary
  // signs a round-1 delegation to each of its helpers, and that is no equivocation).
  if (new Set(decoded.map(r => pairOf(r).key)).size !== 1) return { verdict: 'invalid', detail: 'the records belong to different pairs' }
  // Delegations first (a receipt is judged against the delegation it names), then as given.
  const ordered = [...decoded.filter(r => r.type === 'delegation'), ...decoded.filter(r => r.type === 'receipt')]
  let pair: PairState | undefined
  for (const r of ordered) {
    const out = applyLedgerRecord(pair, r)
    if (out.verdict.kind === 'evidence') {
      if (out.verdict.evidence.accused !== ctx.subject) return { verdict: 'invalid', detail: 'the records incriminate someone else' }
      return { verdict: 'proven', detail: `ledger ${out.verdict.evidence.kind} in session ${r.body.session}` }
    }
    pair = out.pair
  }
  return { verdict: 'invalid', detail: 'the records are consistent' }
}

async function checkInvitation(invB64: string, reqB64: string, ctx: EvidenceContext): Promise<EvidenceCheck> {
  const inv = await decodeRecord(invB64, 'the invitation')
  const req = await decodeRecord(reqB64, 'the join request')
  if (inv.record.type !== 'invitation' || req.record.type !== 'join-request') return { verdict: 'invalid', detail: 'not an invitation and a join request' }
  const i = inv.record.body as Invitation
  const j = req.record.body as JoinRequest
  if (!ctx.members.has(inv.record.author)) return { verdict: 'invalid', detail: 'the invitation is not signed by a current member' }
  if (i.consortium !== ctx.consortium || j.consortium !== ctx.consortium) return { verdict: 'invalid', detail: 'the invitation is for another consortium' }
  if (i.expiresAt < ctx.now) return { verdict: 'invalid', detail: 'the invitation has expired' }
  if (j.invitation !== recordHashHex(inv.bytes)) return { verdict: 'invalid', detail: 'the join request names another invitation' }
  if (req.record.author !== j.member.peer || j.member.peer !== ctx.subject)
    return { verdict: 'invalid', detail: 'the join request is not signed by the newcomer' }
  if (i.site !== undefined && i.site !== j.member.site) return { verdict: 'invalid', detail: `the invitation is for site ${i.site}, not ${j.member.site}` }
  if (ctx.member !== undefined && (ctx.member.peer !== j.member.peer || ctx.member.site !== j.member.site || ctx.member.mirrorUrl !== j.member.mirrorUrl)) {
    return { verdict: 'invalid', detail: 'the admission names another site or mirror than the newcomer asked for' }
  }
  return { verdict: 'proven', detail: `invited by ${inv.record.author.slice(-8)}` }
}

/** `http://<site>.<mirror host>[:port]/` for a member's mirror base URL. */
export function siteUrlOn(mirrorUrl: string, site: string): string {
  const u = new URL(mirrorUrl)
  u.hostname = `${site}.${u.hostname}`
  u.pathname = '/'
  return u.href
}
