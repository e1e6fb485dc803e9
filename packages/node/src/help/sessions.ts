/** A helper's help sessions as the rest of the node reads them: what it committed, whom it serves. */
import type { Capacity } from '@reef/governance'
import type { Libp2p } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { UplinkMeter } from '../load/uplink-meter.ts'
import type { OriginClient } from '../origin/client.ts'
import type { CachedObject } from '../origin/content-cache.ts'
import { FetchRefusedError } from '../errors.ts'
import { registerFetchServer } from '../p2p/fetch-stream.ts'
import type { HelpCoordinator, HelpingSession } from './help-coordinator.ts'
import type { MirrorFill } from './mirror-fill.ts'
import type { StandbyService } from './standby.ts'

/** What this node offered, in all, in the help sessions it has not released. */
export function offeredIn(sessions: readonly HelpingSession[]): Capacity {
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
export function servingIn(sessions: readonly HelpingSession[]): boolean {
  return sessions.some(s => s.accepted && s.releasedAt === undefined)
}

/** The beneficiaries of the sessions this node serves (accepted, not released). */
export function beneficiariesIn(sessions: readonly HelpingSession[]): string[] {
  return [...new Set(sessions.filter(s => s.accepted && s.releasedAt === undefined).map(s => s.beneficiary))]
}

export interface HelperFetchComponents {
  help: { readonly helpingSessions: HelpingSession[] } & Pick<HelpCoordinator, 'awaitHelper'>
  fill: Pick<MirrorFill, 'fill'>
  standby: Pick<StandbyService, 'serve'>
}

/**
 * Another helper of a session this node serves asks, on the fetch stream, for an object of the
 * manifest (the owner fetches it once: mirror-fill.ts); or one of this site's standbys, in calm
 * times. Undefined: neither (403). A peer the session's latest accept here does not name yet is
 * answered once an accept that names it arrives (HELPER_LIST_WAIT_MS; else 403): it was accepted
 * in an accept that has not reached this node yet.
 */
export function objectForHelper(c: HelperFetchComponents): (session: string, peer: string, path: string) => Promise<CachedObject> | undefined {
  return (session, peer, path) => {
    const s = c.help.helpingSessions.find(x => x.session === session && x.releasedAt === undefined)
    if (s === undefined || !s.manifest.has(path)) return c.standby.serve(session, peer, path)
    if (s.helpers.includes(peer)) return c.fill.fill(s, path, { forPeer: true })
    return c.help.awaitHelper(session, peer).then(named => {
      if (named === undefined) throw new FetchRefusedError(403, 'not a helper of this session')
      return c.fill.fill(named, path, { forPeer: true })
    })
  }
}

export interface FetchStreamComponents extends HelperFetchComponents {
  help: HelperFetchComponents['help'] & Pick<HelpCoordinator, 'isAcceptedHelper' | 'noteFetched'>
  origin: Pick<OriginClient, 'load'>
  uplink: Pick<UplinkMeter, 'add' | 'pendingP2pBytes'>
  log: Logger
}

/**
 * Answer the fetch streams (SPEC.md §Fetch stream): this site's accepted helpers get its
 * objects (cache or origin), other helpers of a session this node serves and this site's
 * standbys get theirs (`objectForHelper`); every byte sent counts against the uplink.
 */
export async function serveFetchStreams(libp2p: Libp2p, c: FetchStreamComponents): Promise<void> {
  await registerFetchServer(libp2p, {
    log: c.log,
    isAcceptedHelper: (session, peer) => c.help.isAcceptedHelper(session, peer),
    load: async (path, session) => {
      c.help.noteFetched(session, path)
      return c.origin.load(path)
    },
    forHelper: objectForHelper(c),
    onSent: bytes => {
      c.uplink.add('p2p', bytes)
    },
    onPending: bytes => {
      c.uplink.pendingP2pBytes += bytes
    }
  })
}
