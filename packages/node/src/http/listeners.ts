/**
 * The node's two public listeners (SPEC.md §HTTP behaviour): the front, in front of the
 * site's origin, and the mirror, which serves the sites this node helps. Both count what they
 * send against the uplink.
 */
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { ReefConfig } from '../config/config.ts'
import type { HelpCoordinator } from '../help/help-coordinator.ts'
import type { MirrorFill } from '../help/mirror-fill.ts'
import { PageWeigher } from '../help/page-weight.ts'
import type { StandbyService } from '../help/standby.ts'
import type { LedgerService } from '../ledger/service.ts'
import type { ControlLoop } from '../control/control-loop.ts'
import type { DemandMeter } from '../control/demand.ts'
import type { ReliefLadder } from '../control/relief-ladder.ts'
import type { UplinkMeter } from '../load/uplink-meter.ts'
import { buildFront } from './front.ts'
import type { FrontDeps } from './front.ts'
import { buildMirror } from './mirror.ts'
import { attachUpgradeTunnel } from './upgrade-tunnel.ts'
import { STANDBY_ACCEPT_WAIT_MS, UPGRADE_CONNECT_TIMEOUT_MS } from '../constants.ts'
import type { MirrorDeps } from './mirror.ts'

export interface ListenerComponents extends Pick<FrontDeps, 'gate' | 'origin' | 'cache' | 'hotSet' | 'shedder' | 'monitor'> {
  config: Pick<ReefConfig, 'site' | 'front' | 'origin' | 'mirror' | 'http' | 'crowd'>
  selfId: string
  relief: Pick<ReliefLadder, 'switches'>
  demand: Pick<DemandMeter, 'meanObjectBytes'>
  control: Pick<ControlLoop, 'onRefused' | 'strikeNow'>
  help: Pick<HelpCoordinator, 'ownSessionId' | 'sessionForSite' | 'awaitSession'>
  ledger: Pick<LedgerService, 'countRedirect'>
  standby: Pick<StandbyService, 'holds'>
  fill: Pick<MirrorFill, 'fill'>
  attest: NonNullable<MirrorDeps['attest']>
  uplink: Pick<UplinkMeter, 'watch'>
  log: Logger
  /** Whether help can come soon: members in view not struck themselves, or an external mirror. */
  helpMayCome: () => boolean
}

export function buildListeners(c: ListenerComponents): { front: FastifyInstance; mirror: FastifyInstance } {
  const { config, cache, monitor, help, control } = c
  const weigher = new PageWeigher(cache, config.site.label)
  const front = buildFront(
    {
      site: config.site.label,
      queueTimeoutMs: config.front.queueTimeoutMs,
      retryAfterS: config.front.retryAfterS,
      maxBodyBytes: config.front.maxBodyBytes,
      originTimeoutMs: config.origin.timeoutMs,
      trustedProxies: config.front.trustedProxies,
      limits: config.http,
      helpWaitMs: config.crowd.helpWaitMs
    },
    {
      gate: c.gate,
      origin: c.origin,
      cache,
      hotSet: c.hotSet,
      shedder: c.shedder,
      monitor,
      log: c.log.child({ component: 'front' }),
      ladder: c.relief.switches,
      weigh: obj => weigher.weigh(obj, c.demand.meanObjectBytes()),
      onRefused: () => {
        control.onRefused()
      },
      strikeNow: async () => control.strikeNow(),
      helpMayCome: c.helpMayCome,
      onRedirect: (helper, bytes) => {
        const session = help.ownSessionId
        if (session !== undefined && helper.location === undefined) c.ledger.countRedirect(session, helper.peer, bytes)
      }
    }
  )
  const mirror = buildMirror(
    { publicUrl: config.mirror.publicUrl, selfId: c.selfId, limits: config.http, trustedProxies: config.front.trustedProxies },
    {
      cache,
      monitor,
      log: c.log.child({ component: 'mirror' }),
      sessionForSite: site => help.sessionForSite(site) ?? (c.standby.holds(site) ? help.awaitSession(site) : undefined),
      awaitFreshSession: async site => (c.standby.holds(site) ? help.awaitSession(site, STANDBY_ACCEPT_WAIT_MS, true) : undefined),
      fetch: async (s, path) => c.fill.fill(s, path),
      attest: c.attest
    }
  )
  c.uplink.watch(front.server, 'front')
  c.uplink.watch(mirror.server, 'mirror')
  return { front, mirror }
}

/** Pass WebSocket and other upgrades on the front through to the origin (upgrade-tunnel.ts). */
export function tunnelUpgrades(
  front: FastifyInstance,
  config: Pick<ReefConfig, 'origin' | 'front'>,
  log: Logger
): { readonly open: number; close: () => void } {
  return attachUpgradeTunnel(front.server, {
    originUrl: config.origin.url,
    maxConnections: config.front.maxUpgrades,
    trustedProxies: config.front.trustedProxies,
    connectTimeoutMs: Math.min(config.origin.timeoutMs, UPGRADE_CONNECT_TIMEOUT_MS),
    log: log.child({ component: 'upgrade' })
  })
}

/** Where `app` listens, as a URL on `host`; undefined before it does. */
export function urlOf(app: FastifyInstance | undefined, host: string): string | undefined {
  const a = app?.server.address()
  return typeof a === 'object' && a !== null ? `http://${host}:${a.port}` : undefined
}
