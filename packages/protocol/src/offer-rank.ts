/**
 * Offer hold-back ranking (SPEC.md §help-offer, r4): which members offer help at once.
 *
 * Each member with spare capacity draws a key for the session: an exponential race weighted by
 * its spare bytes/s, so the first place falls to a member with probability proportional to what it
 * can spare, a fresh draw for every session (no member is always first), and every member computes
 * every other's key alike from the session id and peer ids alone.
 */
import { createHash } from 'node:crypto'

/**
 * The rank key of `peer` for `session` with `spareBytesPerSec` to offer: −ln(u) ÷ spare, where u
 * is the first 48 bits of SHA-256(session ‖ "\n" ‖ peer) plus ½, over 2^48 (so 0 < u < 1).
 * Smaller keys rank first; a member with nothing to spare ranks last (Infinity).
 */
export function offerRankKey(session: string, peer: string, spareBytesPerSec: number): number {
  if (!(spareBytesPerSec > 0)) return Number.POSITIVE_INFINITY
  const h = createHash('sha256').update(`${session}\n${peer}`).digest()
  const u = (h.readUIntBE(0, 6) + 0.5) / 2 ** 48
  return -Math.log(u) / spareBytesPerSec
}

/**
 * Whether `self`, able to offer `mine` bytes/s, offers at once for a session needing
 * `needBytesPerSec`, given the others its load view shows with spare capacity: when fewer than
 * `atOnceMin` of them rank before it, or those before it spare less than `coverFactor` × the need.
 */
export function offersAtOnce(
  session: string,
  self: { peer: string; spareBytesPerSec: number },
  others: ReadonlyArray<{ peer: string; spareBytesPerSec: number }>,
  needBytesPerSec: number,
  atOnceMin: number,
  coverFactor: number
): boolean {
  const mine = offerRankKey(session, self.peer, self.spareBytesPerSec)
  let ahead = 0
  let before = 0
  for (const o of others) {
    if (o.peer === self.peer || !(o.spareBytesPerSec > 0)) continue
    const key = offerRankKey(session, o.peer, o.spareBytesPerSec)
    // Ties (equal keys) go to the smaller peer id, so two members never both defer to each other.
    if (key < mine || (key === mine && o.peer < self.peer)) {
      ahead++
      before += o.spareBytesPerSec
    }
  }
  return ahead < atOnceMin || before < coverFactor * needBytesPerSec
}
