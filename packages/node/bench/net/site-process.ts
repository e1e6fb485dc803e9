/**
 * One site of the testbed, run inside its network namespace by the bench:
 *
 *   ip netns exec <ns> node packages/node/bench/net/site-process.ts --spec '<SiteSpec as JSON>'
 *
 * Roles: `origin` (the demo origin alone on 0.0.0.0:80), `nginx` (nginx proxy_cache on
 * 0.0.0.0:80 in front of the origin on loopback), `reef` (a Reef node: front :80, mirror :8081,
 * libp2p :4001 on the namespace's address, the origin on loopback), `bulk` (an endless body on
 * :80, to calibrate the shaped uplink). The origin is the blog-like demo site, with no
 * bandwidth limit of its own: tc shapes the namespace's uplink.
 *
 * Talks to the bench over Node IPC (control.ts); logs go to stdout/stderr, which the bench
 * writes to a file per site. Stops on 'stop', on SIGTERM/SIGINT, and when the channel closes.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { startDemoOrigin } from '../../demo/origin-site.ts'
import type { DemoOrigin } from '../../demo/origin-site.ts'
import { startCachingNginx } from '../nginx.ts'
import type { RunningNginx } from '../nginx.ts'
import type { ChildMessage, LedgerProbe, MemoryProbe, NodeProbe, ParentMessage, ProbedTotals, SiteSpec } from './control.ts'
import { TESTBED_DOMAIN } from './dispatcher.ts'

/** What the bench uses of a Reef node, typed loosely: older and newer code differ. */
interface ReefNodeLike {
  start: () => Promise<void>
  stop: () => Promise<void>
  state?: unknown
  monitor?: { firstShedAt?: unknown; refusedBy?: unknown; helpWaits?: unknown }
  shedder?: { active?: unknown }
  status?: () => unknown
  /** Newer code: the state and the status view live on components. */
  detector?: { state?: unknown }
  views?: { status?: () => unknown }
  libp2p?: { getMultiaddrs?: () => unknown[] }
  peerId?: unknown
  /** The mirror's fills (newer code). */
  fill?: { counts?: unknown }
  /** What the node's content cache holds (its own site's copies, and the sites it helps or stands by for). */
  cache?: { bytes?: unknown }
  ledgerStore?: {
    allTotals?: () => Map<string, ProbedTotals>
    recompute?: () => Promise<{ totals: Map<string, ProbedTotals>; records: number }>
    recordCount?: unknown
  }
}

interface ReefModule {
  ReefNode: { create: (config: unknown) => Promise<ReefNodeLike> }
  parseConfig: (input: unknown) => unknown
  ConfigSchema?: { shape?: Record<string, unknown> }
}

/** The demo origin as the brief's small machine: 8 workers of 20 ms each. */
const ORIGIN_WORKERS = 8
const ORIGIN_CAPACITY_RPS = 400
/** What the Reef node is told about its origin. */
const NODE_ORIGIN_CAPACITY_RPS = 50
const NODE_ORIGIN_MAX_CONCURRENT = 8
const LIBP2P_PORT = 4001
const MIRROR_PORT = 8081
/** Bound on one calibration transfer. */
const BULK_MAX_MS = 30_000

/** Send to the bench; resolves once the message is written (or at once without a channel). */
function send(msg: ChildMessage): Promise<void> {
  return new Promise(resolve => {
    if (!process.connected || process.send === undefined) {
      resolve()
      return
    }
    process.send(msg, undefined, {}, () => {
      resolve()
    })
  })
}

/**
 * Tell the node its uplink. Code that knows the top-level `uplink` section (zod 4 exposes a
 * strict object's fields as `.shape`) gets it there; older code rejects unknown sections and
 * was told about bytes through `origin.bytesPerSec` instead.
 */
function withUplink(
  input: Record<string, unknown> & { origin: Record<string, unknown> },
  mod: ReefModule,
  bytesPerSec: number
): { input: Record<string, unknown>; uplinkSection: boolean } {
  if (mod.ConfigSchema?.shape?.uplink !== undefined) return { input: { ...input, uplink: { bytesPerSec } }, uplinkSection: true }
  return { input: { ...input, origin: { ...input.origin, bytesPerSec } }, uplinkSection: false }
}

function probe(node: ReefNodeLike | undefined, full: boolean): NodeProbe {
  const out: NodeProbe = {}
  if (node === undefined) return out
  try {
    const state = node.detector?.state ?? node.state
    if (typeof state === 'string') out.state = state
    if (typeof node.shedder?.active === 'boolean') out.shedding = node.shedder.active
    if (typeof node.monitor?.firstShedAt === 'number') out.firstShedAt = node.monitor.firstShedAt
    const refused = node.monitor?.refusedBy
    if (refused !== null && typeof refused === 'object') out.refusedBy = { ...(refused as Record<string, number>) }
    const waits = node.monitor?.helpWaits
    if (waits !== null && typeof waits === 'object') out.helpWaits = { ...(waits as Record<string, number>) }
    const fills = node.fill?.counts
    if (fills !== null && typeof fills === 'object') out.fills = { ...(fills as Record<string, number>) }
    const status: unknown = node.views?.status?.() ?? node.status?.()
    if (status !== null && typeof status === 'object') {
      const peers = (status as { peers?: unknown }).peers
      if (Array.isArray(peers)) out.peers = peers.length
      if (full) out.status = JSON.parse(JSON.stringify(status)) as Record<string, unknown>
    }
  } catch (err) {
    out.error = err instanceof Error ? err.message : String(err)
  }
  return out
}

/** The node's ledger: stored totals and what its records rebuild to (code without them: an error). */
async function ledgerProbe(node: ReefNodeLike | undefined): Promise<LedgerProbe> {
  const store = node?.ledgerStore
  if (store?.allTotals === undefined || store.recompute === undefined) return { error: 'this node has no ledger store to read' }
  try {
    const rebuilt = await store.recompute()
    return {
      ...(typeof node?.peerId === 'string' ? { peerId: node.peerId } : {}),
      stored: Object.fromEntries(store.allTotals()),
      rebuilt: Object.fromEntries(rebuilt.totals),
      records: rebuilt.records
    }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) }
  }
}

/** Memory after a full GC (`gc` made reachable at run time: the process starts without --expose-gc). */
function memoryProbe(node: ReefNodeLike | undefined): MemoryProbe {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  gc?.()
  const m = process.memoryUsage()
  const cached = node?.cache?.bytes
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, ...(typeof cached === 'number' ? { cacheBytes: cached } : {}) }
}

async function startBulk(): Promise<Server> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a)
  const server = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' })
    const until = Date.now() + BULK_MAX_MS
    const pump = (): void => {
      while (!res.destroyed && Date.now() < until)
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      if (!res.destroyed) res.end()
    }
    pump()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(80, '0.0.0.0', resolve)
  })
  return server
}

/** Stops whatever main() started; replaced by main() once it has something to stop. */
let stopAll = async (): Promise<void> => {}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { spec: { type: 'string' } }, strict: true })
  if (values.spec === undefined) throw new Error('site-process: --spec is required')
  const spec = JSON.parse(values.spec) as SiteSpec

  let origin: DemoOrigin | undefined
  let nginx: RunningNginx | undefined
  let node: ReefNodeLike | undefined
  let bulk: Server | undefined
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      await node?.stop().catch(() => {})
      await nginx?.stop().catch(() => {})
      await origin?.close().catch(() => {})
      if (bulk !== undefined) {
        bulk.closeAllConnections()
        await new Promise(resolve => bulk?.close(resolve))
      }
    })()
    return stopping
  }
  stopAll = stop
  const stopAndExit = (): void => {
    void stop().finally(() => process.exit())
  }
  process.once('SIGTERM', stopAndExit)
  process.once('SIGINT', stopAndExit)
  process.once('disconnect', stopAndExit)
  process.on('message', (raw: unknown) => {
    const msg = raw as ParentMessage
    if (msg.kind === 'probe') void send({ kind: 'reply', id: msg.id, value: probe(node, msg.full) })
    else if (msg.kind === 'memory') void send({ kind: 'reply', id: msg.id, value: memoryProbe(node) })
    else if (msg.kind === 'ledger') void ledgerProbe(node).then(async value => send({ kind: 'reply', id: msg.id, value }))
    else if (msg.kind === 'stop-origin') {
      void (origin?.close() ?? Promise.resolve())
        .catch(() => {})
        .then(async () => {
          await send({ kind: 'reply', id: msg.id, value: null })
        })
    } else if (msg.kind === 'stop') {
      void stop()
        .then(async () => {
          await send({ kind: 'reply', id: msg.id, value: null })
        })
        .finally(() => process.exit())
    }
  })

  if (spec.role === 'bulk') {
    bulk = await startBulk()
    await send({ kind: 'ready', pid: process.pid, pages: [], multiaddrs: [] })
    return
  }

  const site = { workers: ORIGIN_WORKERS, capacityRps: ORIGIN_CAPACITY_RPS, seed: spec.seed, siteName: spec.label, profile: 'blog' as const }
  if (spec.role === 'origin') {
    origin = await startDemoOrigin({ ...site, host: '0.0.0.0', port: 80 })
    await send({ kind: 'ready', pid: process.pid, pages: origin.pages, multiaddrs: [] })
    return
  }
  origin = await startDemoOrigin(site)
  if (spec.role === 'nginx') {
    nginx = await startCachingNginx(origin.url, { host: '0.0.0.0', port: 80 })
    await send({ kind: 'ready', pid: process.pid, pages: origin.pages, multiaddrs: [] })
    return
  }
  if (spec.role !== 'reef') throw new Error(`site-process: unknown role "${String(spec.role)}"`)
  if (spec.reefRoot === undefined || spec.dataDir === undefined) throw new Error('site-process: role reef needs reefRoot and dataDir')
  const mod = (await import(pathToFileURL(join(spec.reefRoot, 'packages/node/src/index.ts')).href)) as ReefModule
  const base = {
    consortium: 'bench',
    site: { label: spec.label, publicUrl: `http://${spec.label}.${TESTBED_DOMAIN}` },
    origin: { url: origin.url, capacityRps: NODE_ORIGIN_CAPACITY_RPS, maxConcurrent: NODE_ORIGIN_MAX_CONCURRENT },
    front: { listen: { host: '0.0.0.0', port: 80 } },
    mirror: {
      listen: { host: '0.0.0.0', port: MIRROR_PORT },
      publicUrl: `http://mirror-${spec.label}.${TESTBED_DOMAIN}:${MIRROR_PORT}`,
      ...(spec.mirrorCapacityRps === undefined ? {} : { capacityRps: spec.mirrorCapacityRps })
    },
    p2p: { listen: [`/ip4/${spec.address}/tcp/${LIBP2P_PORT}`], bootstrap: spec.bootstrap ?? [] },
    dataDir: spec.dataDir,
    // The whole crowd comes from one address (the root namespace's): no per-address limit.
    http: { maxConnectionsPerIp: 1_000_000 },
    log: { level: process.env.REEF_TESTBED_LOG_LEVEL ?? 'warn' }
  }
  const { input, uplinkSection } = withUplink(base, mod, spec.uplinkBytesPerSec)
  // Warm standby, where the code has it (the `standby` section).
  if (spec.standbyReplicas !== undefined && mod.ConfigSchema?.shape?.standby !== undefined)
    input.standby = { replicas: spec.standbyReplicas, ...(spec.standbyUplinkShare === undefined ? {} : { uplinkShare: spec.standbyUplinkShare }) }
  node = await mod.ReefNode.create(mod.parseConfig(input))
  await node.start()
  const addrs = node.libp2p?.getMultiaddrs?.() ?? []
  await send({ kind: 'ready', pid: process.pid, pages: origin.pages, multiaddrs: addrs.map(String), uplinkSection })
}

main().catch(async (err: unknown) => {
  process.exitCode = 1
  process.stderr.write(`site-process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  await send({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) })
  await stopAll()
  process.exit()
})
