/**
 * The gossipsub validator's decision for one record (SPEC.md §Verification, §Gossip verdicts).
 * Steps 1–7 of record verification, with the topic (ERR_WRONG_TOPIC) and the message's
 * `from` (ERR_WRONG_AUTHOR) as context; then, in a governed consortium, the author's standing
 * (an expelled author is Reject, a non-member Ignore); then the replay check (step 8), last,
 * so that only an accepted record raises the bar for its author. Every failure maps to Ignore
 * or Reject by `gossipVerdictFor`.
 */
import { verifyRecord } from './envelope.ts'
import type { VerifiedRecord } from './envelope.ts'
import { gossipVerdictFor, isProtocolError } from './errors.ts'

export type AuthorStanding = 'member' | 'non-member' | 'expelled'

export type GossipDecision = { verdict: 'accept'; record: VerifiedRecord } | { verdict: 'ignore' | 'reject'; code: string; message: string }

export interface GossipContext {
  /**
   * The topic the message arrived on. Omitted for a record that came over a direct stream
   * (SPEC.md §Direct records), whose receiver checks the record's type against the stream's
   * protocol itself.
   */
  topic?: string
  /** The gossipsub message's `from` (its author under StrictSign). */
  from: string
  now?: number
  /** Replay protection: throws ReplayError for a seq not above the last accepted; records the seq otherwise. */
  replay?: { check(author: string, type: string, seq: number): void }
  /** Governed consortia: the author's standing in the receiver's membership log (open consortia: everyone is 'member'). */
  standing?: (author: string) => AuthorStanding
}

export async function validateGossip(bytes: Uint8Array, ctx: GossipContext): Promise<GossipDecision> {
  try {
    const record = await verifyRecord(bytes, {
      ...(ctx.topic === undefined ? {} : { topic: ctx.topic }),
      from: ctx.from,
      ...(ctx.now === undefined ? {} : { now: ctx.now })
    })
    const standing = ctx.standing?.(record.author) ?? 'member'
    if (standing === 'expelled') return { verdict: 'reject', code: 'ERR_EXPELLED', message: `${record.author} was expelled` }
    if (standing === 'non-member') return { verdict: 'ignore', code: 'ERR_NOT_MEMBER', message: `${record.author} is not a member in this log` }
    ctx.replay?.check(record.author, record.type, record.seq)
    return { verdict: 'accept', record }
  } catch (err) {
    if (!isProtocolError(err)) throw err
    return { verdict: gossipVerdictFor(err.code), code: err.code, message: err.message }
  }
}
