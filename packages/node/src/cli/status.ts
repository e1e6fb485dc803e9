/** `reef status`: what a running node is doing, as a summary or as the raw /api/status JSON. */
import type { StatusView } from '@reef/protocol'
import { adminGet, resolveAdminUrl } from './admin-api.ts'
import type { Command } from './command.ts'
import { ADMIN_OPTION, CONFIG_OPTION, EXIT, flag, JSON_OPTION, twoColumns } from './command.ts'
import { humanBytes, humanRate, percent, shortPeer } from './format.ts'

/**
 * `GET /api/status` as the admin contract declares it. The summary also reads older nodes'
 * answers, which lack the bytes/s, uplink, standby and governance fields: it checks for them.
 */
export type NodeStatus = StatusView

function list(items: string[], none: string): string {
  return items.length === 0 ? none : items.join(', ')
}

function governanceLine(g: NodeStatus['governance']): string {
  if (g === undefined || g === null) return 'open (no charter)'
  const who = g.expelled ? 'EXPELLED' : g.member ? 'member' : 'not a member yet'
  const halted = g.halted === null ? '' : `; HALTED (fork at height ${g.halted.height})`
  return `${who}; ${g.members} members, log height ${g.height}, ${g.pending} open proposals${halted}`
}

function standbyRows(sb: NodeStatus['standby']): Array<[string, string]> {
  if (sb === undefined) return []
  const held = (h: number, of: number): string => `${humanBytes(h)} of ${humanBytes(of)}${of > 0 ? ` (${percent(h / of)})` : ''}`
  const age = (ms: number): string => (ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`)
  return [
    [
      'standbys',
      sb.revision === null
        ? 'none named yet (the site names them once it is calm and has hot content)'
        : `revision ${sb.revision}: ${list(
            sb.standbys.map(x => `${x.site ?? shortPeer(x.peer)} holds ${held(x.heldBytes, sb.manifestBytes)}`),
            'none'
          )}`
    ],
    [
      'standing by',
      list(
        sb.holding.map(h => `${h.site} r${h.revision}, ${held(h.heldBytes, h.manifestBytes)}, updated ${age(h.ageMs)} ago`),
        'for nobody'
      )
    ]
  ]
}

/** The stores' health: one line, loud when a store refuses writes (older nodes: none). */
function storageRows(st: NodeStatus['storage'] | undefined): Array<[string, string]> {
  if (st === undefined) return []
  const free = st.ledger.freeBytes === null ? '' : `; ${humanBytes(st.ledger.freeBytes)} free`
  const broken = (['ledger', 'governance'] as const).flatMap(name => {
    const h = st[name]
    if (h === null || h.writable) return []
    const held = name === 'ledger' ? `, ${st.ledger.backlog} records held${st.ledger.dropped > 0 ? `, ${st.ledger.dropped} dropped` : ''}` : ''
    return [`${name.toUpperCase()} REFUSES WRITES since ${new Date(h.since ?? 0).toISOString()} (${h.error ?? 'unknown'})${held}`]
  })
  return [['storage', broken.length === 0 ? `writable${free}` : `${broken.join('; ')}${free}: free space on the data volume`]]
}

/** The human summary of a node's status. */
export function formatStatus(s: NodeStatus): string {
  const siteOf = new Map(s.peers.map(p => [p.peer, p.site]))
  const load = s.capacityRps > 0 ? ` (${percent(s.demandRps / s.capacityRps)})` : ''
  const up = s.uplink
  const bytes = (b: number | undefined): string => (b === undefined ? '' : ` ${humanRate(b)}`)
  const demandBytes =
    up === undefined || s.demandBytesPerSec === undefined
      ? ''
      : `; ${humanRate(s.demandBytesPerSec)} of ${humanRate(up.bytesPerSec)} uplink (${percent(s.demandBytesPerSec / up.bytesPerSec)})`
  const helpers = s.session?.helpers ?? []
  const helping = s.helping.filter(h => !h.released)
  const engaged = Object.entries(s.relief.rungs)
    .filter(([, on]) => on)
    .map(([rung]) => rung)
  const lookups = s.cache.hits + s.cache.misses
  const rows: Array<[string, string]> = [
    ['site', `${s.site} (peer ${s.peerId})`],
    ['state', s.state],
    ['demand', `${s.demandRps} req/s of ${s.capacityRps} req/s capacity${load}${demandBytes}`],
    ...(up === undefined
      ? []
      : [
          [
            'uplink',
            `sending ${humanRate(up.sentBytesPerSec)} of ${humanRate(up.bytesPerSec)} (${percent(up.sentBytesPerSec / up.bytesPerSec)}): site ${humanRate(up.frontBytesPerSec)}, mirror ${humanRate(up.mirrorBytesPerSec)}, to helpers ${humanRate(up.p2pBytesPerSec)}${up.backlogBytes > 0 ? `; ${humanBytes(up.backlogBytes)} waiting` : ''}`
          ] as [string, string]
        ]),
    ['origin', `${s.originRps} req/s, ${s.originInFlight} in flight, ${s.originQueued} queued, ${s.originLatencyMs} ms latency`],
    ['shed', `${s.shedRps} req/s (share ${percent(s.shedShare)})`],
    ['relief', list(engaged, 'none engaged')],
    [
      'helpers',
      s.session === null
        ? 'none (not asking for help)'
        : `${helpers.length} of ${s.session.offers} offers accepted for ${s.session.neededRps} req/s${s.session.neededBytesPerSec === undefined ? '' : `, ${humanRate(s.session.neededBytesPerSec)}`} needed${helpers.length === 0 ? '' : ': '}${helpers.map(h => `${siteOf.get(h.peer) ?? shortPeer(h.peer)} ${h.weightRps} req/s${bytes(h.weightBytesPerSec)}${h.down === true ? ' (unreachable: none sent)' : ''}`).join(', ')}`
    ],
    [
      'helping',
      list(
        helping.map(h => `${h.site} (${h.accepted ? 'accepted' : 'offered'}, ${h.offeredRps} req/s${bytes(h.offeredBytesPerSec)})`),
        `nobody; ${s.spareRps} req/s${bytes(s.spareBytesPerSec)} spare`
      )
    ],
    [
      'peers',
      `${s.peers.length} live, ${s.connections} connections${s.peers.length === 0 ? '' : ': '}${s.peers.map(p => `${p.site} ${p.state} ${p.demandRps} req/s`).join(', ')}`
    ],
    ...standbyRows(s.standby),
    ...storageRows(s.storage),
    ['cache', `${s.cache.objects} objects, ${humanBytes(s.cache.bytes)}${lookups === 0 ? '' : `, ${percent(s.cache.hits / lookups)} hits`}`],
    ['consortium', governanceLine(s.governance)]
  ]
  return twoColumns(rows, 0) + '\n'
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'what a running node is doing: state, demand, shedding, helpers, peers',
  synopsis: 'status [--admin URL | --config FILE] [--json]',
  description: `Ask a running node (its admin API) what it is doing: the site's crowd state, demand
against the origin's capacity, what is shed and to which helpers, which sites it helps, its live
peers and its cache. --json prints the node's /api/status as it is, for scripts.`,
  options: { admin: ADMIN_OPTION, config: CONFIG_OPTION, json: JSON_OPTION },
  examples: ['reef status --config /etc/reef/reef.jsonc', 'reef status --admin http://127.0.0.1:9180 --json | jq .state'],
  async run(args, io) {
    const { url } = await resolveAdminUrl('status', args)
    const { data } = await adminGet(url, '/api/status')
    io.out(flag(args, 'json') ? JSON.stringify(data, null, 2) + '\n' : formatStatus(data as NodeStatus))
    return EXIT.ok
  }
}
