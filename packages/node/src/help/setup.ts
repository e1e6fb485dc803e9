/**
 * Help as one node runs it (SPEC.md §Help session, §Warm standby): the help coordinator (its
 * own sessions as a struck site, and the sessions it serves as a helper), the mirror fill that
 * gets a helped site's objects (from their owner, a standby or the site) and the warm standby
 * service. They read one another only through the narrow functions given here.
 */
import type { Capacity, QuotaPolicy } from '@reef/governance'
import { helpTopic } from '@reef/protocol'
import type { Logger } from 'pino'
import type { ReefConfig } from '../config/config.ts'
import { CO_HELPER_SILENCE_MS } from '../constants.ts'
import type { Accuser } from '../governance/accuser.ts'
import { ledgerOffer } from '../ledger/offer-policy.ts'
import type { LedgerStore } from '../ledger/store.ts'
import type { LoadMonitor } from '../load/monitor.ts'
import type { Shedder } from '../load/shedder.ts'
import type { OriginClient } from '../origin/client.ts'
import type { ContentCache } from '../origin/content-cache.ts'
import type { HotSet } from '../origin/hot-set.ts'
import { fetchFromPeer } from '../p2p/fetch-stream.ts'
import type { ReefLibp2p } from '../p2p/host.ts'
import type { PeerTable } from '../p2p/peer-table.ts'
import type { RecordBus } from '../p2p/record-bus.ts'
import { HelpCoordinator } from './help-coordinator.ts'
import type { HelpCoordinatorDeps } from './help-coordinator.ts'
import type { HelperHealth } from './helper-health.ts'
import { MirrorFill } from './mirror-fill.ts'
import { StandbyService } from './standby.ts'

export interface HelpComponents {
  config: Pick<ReefConfig, 'consortium' | 'site' | 'mirror' | 'cache' | 'standby' | 'uplink'>
  selfId: string
  libp2p: ReefLibp2p
  bus: RecordBus
  peers: PeerTable
  shedder: Shedder
  cache: ContentCache
  hotSet: Pick<HotSet, 'manifest'>
  origin: Pick<OriginClient, 'load'>
  monitor: Pick<LoadMonitor, 'servedRate'>
  /** The site's demand as a helper needs it (control/demand.ts). */
  demand: { spare: HelpCoordinatorDeps['spare']; calm: () => boolean; meanObjectBytes: () => number; uplinkState: NonNullable<HelpCoordinatorDeps['uplink']> }
  helperHealth: Pick<HelperHealth, 'isDown' | 'unreachableSince'>
  accuser: Pick<Accuser, 'trusts'>
  ledgerStore: Pick<LedgerStore, 'standing' | 'owed'>
  quota: QuotaPolicy
  /** The charter's standby replicas, when it sets them. */
  charterReplicas: () => number | undefined
  /** What this node's mirror has served for a site so far. */
  servedNow: (site: string) => { requests: number; bytes: number }
  /** This node asked for help in a new session: the ledger watches who should offer (ledger/service.ts). */
  onOwnRequest?: (session: string, needBytesPerSec: number) => void
  log: Logger
}

export interface Help {
  help: HelpCoordinator
  fill: MirrorFill
  standby: StandbyService
}

export function setUpHelp(c: HelpComponents): Help {
  const { config, selfId, libp2p, bus, peers, cache, demand, helperHealth, log } = c
  const child = (component: string): Logger => log.child({ component })
  const manifest = (): ReturnType<HotSet['manifest']> => c.hotSet.manifest(config.site.label, cache)
  let standby: StandbyService | undefined
  const fill = new MirrorFill({
    libp2p,
    cache,
    selfId,
    maxObjectBytes: config.cache.maxObjectBytes,
    log: child('fill'),
    // A co-helper hears the owner's gossiped report once a second (its serving reports go to the
    // beneficiary alone): down after three missed, or at once on a closed connection.
    isDown: peer => helperHealth.isDown(peer, Date.now(), CO_HELPER_SILENCE_MS),
    standbysOf: site => standby!.standbysOf(site),
    uplinkOf: peer => peers.get(peer)?.report.uplinkBytesPerSec
  })
  standby = new StandbyService(
    {
      selfId,
      site: config.site.label,
      siteUrl: config.site.publicUrl,
      topic: helpTopic(config.consortium),
      // The charter's policy, when it sets one, else this node's config.
      replicas: () => c.charterReplicas() ?? config.standby.replicas,
      uplinkShare: config.standby.uplinkShare,
      maxBytes: config.standby.maxBytes
    },
    {
      bus,
      peers,
      log: child('standby'),
      manifest,
      calm: () => demand.calm(),
      uplinkBytesPerSec: () => config.uplink.bytesPerSec,
      load: async path => c.origin.load(path),
      fetch: async (peer, id, entry) => fetchFromPeer(libp2p, peer, id, entry.path, config.cache.maxObjectBytes, entry)
    }
  )
  const sb = standby
  const help = new HelpCoordinator(
    {
      consortium: config.consortium,
      selfId,
      site: config.site.label,
      siteUrl: config.site.publicUrl,
      mirrorUrl: config.mirror.publicUrl,
      releaseGraceMs: config.mirror.releaseGraceMs
    },
    {
      bus,
      peers,
      shedder: c.shedder,
      cache,
      log: child('help'),
      manifest,
      spare: (): Capacity => demand.spare(),
      prefetch: async (s, entry) => {
        await fill.fill(s, entry.path, { prefetch: true })
      },
      owns: (s, path) => fill.owns(s, path),
      seed: s => sb.seed(s.site, s.manifest, cache),
      heldBy: peer => sb.heldBy(peer),
      readyStandbys: () => sb.ready(),
      replicaOf: beneficiary => sb.replicaOf(beneficiary),
      standsByFor: site => sb.holds(site),
      offerFor: ledgerOffer(c),
      meanObjectBytes: () => demand.meanObjectBytes(),
      servedRate: site => c.monitor.servedRate(site),
      uplink: () => demand.uplinkState(),
      // On the full silence limit, not the cadence: every new helper list moves objects' owners
      // and has new helpers fetch.
      unreachableMs: (peer, now) => {
        const since = helperHealth.unreachableSince(peer, now)
        return since === undefined ? undefined : now - since
      },
      servedNow: c.servedNow,
      trusts: peer => c.accuser.trusts(peer),
      ...(c.onOwnRequest === undefined ? {} : { onOwnRequest: c.onOwnRequest })
    }
  )
  return { help, fill, standby: sb }
}
