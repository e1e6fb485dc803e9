/** A helper's help sessions as the rest of the node reads them: what it committed, whom it serves. */
import type { Capacity } from '@reef/governance'
import type { CachedObject } from '../origin/content-cache.ts'
import type { HelpingSession } from './help-coordinator.ts'
import type { MirrorFill } from './mirror-fill.ts'
import type { StandbyService } from './standby.ts'

/** What this node offered, in all, in the help sessions it has not released. */
export function offeredIn (sessions: readonly HelpingSession[]): Capacity {
  let rps = 0
  let bytesPerSec = 0
  for (const s of sessions) {
    if (s.releasedAt !== undefined) continue
    rps += s.offeredRps
    bytesPerSec += s.offeredBytesPerSec
  }
  return { rps, bytesPerSec }
}

/** Whether this node serves an accepted help session now. */
export function servingIn (sessions: readonly HelpingSession[]): boolean {
  return sessions.some(s => s.accepted && s.releasedAt === undefined)
}

export interface HelperFetchComponents {
  help: { readonly helpingSessions: HelpingSession[] }
  fill: Pick<MirrorFill, 'fill'>
  standby: Pick<StandbyService, 'serve'>
}

/**
 * Another helper of a session this node serves asks, on the fetch stream, for an object of the
 * manifest (the owner fetches it once: mirror-fill.ts); or one of this site's standbys, in calm
 * times. Undefined: neither (403).
 */
export function objectForHelper (c: HelperFetchComponents): (session: string, peer: string, path: string) => Promise<CachedObject> | undefined {
  return (session, peer, path) => {
    const s = c.help.helpingSessions.find(x => x.session === session && x.releasedAt === undefined)
    if (s === undefined || !s.helpers.includes(peer) || !s.manifest.has(path)) return c.standby.serve(session, peer, path)
    return c.fill.fill(s, path, { forPeer: true })
  }
}
