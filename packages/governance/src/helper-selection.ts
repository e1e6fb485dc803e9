/**
 * Which offers a struck site accepts (SPEC.md §Help session, accept rule). Pure: the same
 * offers give the same helpers on every implementation.
 *
 * Helpers already accepted stay first (their caches are warm), then the largest offers, until
 * the accepted capacity covers `headroom` × the capacity needed; at least one offer is
 * accepted when any is eligible. Offers from peers that are struck themselves are skipped.
 */
export interface OfferView {
  peer: string
  offeredRps: number
  /** The offering peer's own crowd state, from its latest load report (undefined: unknown). */
  peerState?: 'normal' | 'struck' | 'recovering' | undefined
}

export function selectHelpers (offers: readonly OfferView[], neededRps: number, headroom: number, current: ReadonlySet<string>): OfferView[] {
  const wanted = neededRps * headroom
  const ordered = offers
    .filter(o => o.offeredRps > 0 && o.peerState !== 'struck')
    .sort((a, b) => Number(current.has(b.peer)) - Number(current.has(a.peer)) || b.offeredRps - a.offeredRps || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
  const chosen: OfferView[] = []
  let total = 0
  for (const o of ordered) {
    if (chosen.length > 0 && total >= wanted) break
    chosen.push(o)
    total += o.offeredRps
  }
  return chosen
}
