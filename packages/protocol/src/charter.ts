/**
 * The consortium's founding document and its membership log entries (SPEC.md §Governance).
 * Both are multi-signed documents (multisig.ts): the charter by every founder, each log entry
 * by a quorum of the members current before it.
 */
import { z } from 'zod'
import { MAX_STANDBYS } from './constants.ts'
import { BaseUrl, PeerIdString, Sha256Hex, SiteLabel } from './primitives.ts'

export const ConsortiumId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a consortium id is lower-case letters, digits and -')

export const Member = z
  .object({
    peer: PeerIdString,
    site: SiteLabel,
    mirrorUrl: BaseUrl
  })
  .strict()
export type Member = z.infer<typeof Member>

export const Policy = z
  .object({
    /** Quorum numerator and denominator: a change needs ⌊n·num/den⌋ + 1 signatures of n voters. */
    quorumNum: z.number().int().min(1).max(100),
    quorumDen: z.number().int().min(1).max(100),
    newcomerGrantBytes: z.number().int().min(0),
    takeMultiple: z.number().int().min(0).max(100),
    windowMs: z.number().int().positive(),
    optimisticSharePct: z.number().int().min(0).max(100),
    settleIntervalMs: z.number().int().min(100),
    auditIntervalMs: z.number().int().min(1_000),
    /** A member whose take passes this share of its credit (percent) is expelled for freeloading; 0: never. */
    freeloadExpelPct: z.number().int().min(0).max(100_000),
    /** r3 (warm standby): how many standbys every member names; absent: each member's own `standby.replicas`. */
    standbyReplicas: z.number().int().min(0).max(MAX_STANDBYS).optional()
  })
  .strict()
  .refine(p => p.quorumNum < p.quorumDen, 'the quorum is a fraction below 1')
export type Policy = z.infer<typeof Policy>

export const DEFAULT_POLICY: Policy = Object.freeze({
  quorumNum: 2,
  quorumDen: 3,
  newcomerGrantBytes: 1024 * 1024 * 1024,
  takeMultiple: 2,
  windowMs: 30 * 24 * 3600 * 1000,
  optimisticSharePct: 10,
  settleIntervalMs: 5_000,
  auditIntervalMs: 60_000,
  freeloadExpelPct: 150
})

export const CharterBody = z
  .object({
    v: z.literal(1),
    id: ConsortiumId,
    name: z.string().min(1).max(128),
    createdAt: z.number().int().min(0),
    founders: z.array(Member).min(1).max(256),
    policy: Policy
  })
  .strict()
export type CharterBody = z.infer<typeof CharterBody>

export const LogAction = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('admit'), member: Member }).strict(),
  z.object({ kind: z.literal('readmit'), member: Member }).strict(),
  z.object({ kind: z.literal('expel'), peer: PeerIdString, reason: z.string().max(512), evidence: z.array(Sha256Hex).max(64) }).strict(),
  z.object({ kind: z.literal('leave'), peer: PeerIdString }).strict(),
  z.object({ kind: z.literal('set-policy'), policy: Policy }).strict()
])
export type LogAction = z.infer<typeof LogAction>

export const LogEntryBody = z
  .object({
    v: z.literal(1),
    consortium: ConsortiumId,
    /** 1 for the first entry after the charter. */
    height: z.number().int().min(1),
    /** SHA-256 of the previous entry's canonical bytes (the charter's for height 1). */
    prev: Sha256Hex,
    action: LogAction,
    proposedAt: z.number().int().min(0)
  })
  .strict()
export type LogEntryBody = z.infer<typeof LogEntryBody>
