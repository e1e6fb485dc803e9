/**
 * Which offers a struck site accepts (SPEC.md §Help session, accept rule). Pure: the same
 * offers give the same helpers on every implementation.
 *
 * Capacity is bytes/s first (a small site's crowd exhausts uplinks, not CPUs) and requests/s
 * second. Helpers already accepted stay first (their caches are warm), then standbys that hold
 * the site's hot content (most held first: they serve at once), then the largest offers in
 * bytes/s, until the accepted capacity covers `headroom` × the need in both units; at least
 * one offer is accepted when any is eligible. Offers from peers that are struck themselves are
 * skipped. A helper already accepted is let go only once the ones kept before it cover
 * ACCEPT_KEEP_FACTOR × that (hysteresis): every change of the list moves objects to new owners,
 * who fetch them from the struck site again, and a need that dips for a second and comes back
 * had helpers dropped and taken again (eight members: 5–28 lists in a 15 s crowd).
 */
export const ACCEPT_KEEP_FACTOR = 2

export interface OfferView {
  peer: string
  offeredRps: number
  /** Bytes/s offered (for an r2 offer without it: the beneficiary's estimate). */
  offeredBytesPerSec: number
  /** The offering peer's own crowd state, from its latest load report (undefined: unknown). */
  peerState?: 'normal' | 'struck' | 'recovering' | undefined
  /** Bytes of the site's hot content the peer already holds (a warm standby's replica; 0 or undefined: none). */
  heldBytes?: number
}

/** A capacity or a need in both units. */
export interface Capacity {
  rps: number
  bytesPerSec: number
}

export function selectHelpers(offers: readonly OfferView[], need: Capacity, headroom: number, current: ReadonlySet<string>): OfferView[] {
  const wantedBytes = need.bytesPerSec * headroom
  const wantedRps = need.rps * headroom
  const ordered = offers
    .filter(o => o.offeredBytesPerSec > 0 && o.offeredRps > 0 && o.peerState !== 'struck')
    .sort(
      (a, b) =>
        Number(current.has(b.peer)) - Number(current.has(a.peer)) ||
        (b.heldBytes ?? 0) - (a.heldBytes ?? 0) ||
        b.offeredBytesPerSec - a.offeredBytesPerSec ||
        b.offeredRps - a.offeredRps ||
        (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
    )
  const chosen: OfferView[] = []
  let bytes = 0
  let rps = 0
  for (const o of ordered) {
    const factor = current.has(o.peer) ? ACCEPT_KEEP_FACTOR : 1
    if (chosen.length > 0 && bytes >= factor * wantedBytes && rps >= factor * wantedRps) break
    chosen.push(o)
    bytes += o.offeredBytesPerSec
    rps += o.offeredRps
  }
  return chosen
}
