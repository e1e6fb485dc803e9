/**
 * A local consortium on loopback: N demo origins, each behind its own Reef node, all peered
 * over real libp2p TCP. Used by the demo, the system tests and the benchmarks.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { ReefNode, charterBody, loadOrCreateIdentity, parseConfig, signCharter, writeCharterFile } from '../src/index.ts'
import type { ReefConfigInput } from '../src/index.ts'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { CharterBody, MultiSigned, Policy } from '@reef/protocol'
import { startDemoOrigin } from './origin-site.ts'
import type { DemoOrigin } from './origin-site.ts'

export const SITE_LABELS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'] as const

const handedOut = new Set<number>()

/**
 * A port that was free a moment ago on 127.0.0.1, chosen below the kernel's ephemeral range
 * (32768–60999 on Linux): a port the kernel hands out with listen(0) is also what outgoing
 * connections get, so under heavy loopback traffic one of them could take it before we listen.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    // Never the same port twice in one process: a caller may not listen on it before the next call.
    if (handedOut.has(port)) continue
    if (await canListen(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error('no free port found in 20000-31999 on 127.0.0.1')
}

function canListen(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const srv = createServer()
    srv.once('error', () => {
      resolve(false)
    })
    srv.listen(port, '127.0.0.1', () => {
      srv.close(() => {
        resolve(true)
      })
    })
  })
}

export interface LocalConsortiumOptions {
  nodes: number
  capacityRps: number
  workers: number
  /** The demo origins' bandwidth, bytes/s (also given to the nodes as the origin's capacity). */
  originBytesPerSec?: number
  /**
   * Each node's declared uplink, bytes/s. Default 20 MB/s (160 Mbit/s): on loopback nothing
   * limits bytes, so each node holds itself to the uplink it declares (it keeps the page loads
   * its uplink can send and sheds or refuses the rest), as it would behind a real one.
   */
  uplinkBytesPerSec?: number
  /** Per-site declared uplink, bytes/s (e.g. a small site among larger ones). */
  uplinkOf?: (label: string) => number | undefined
  mirrorCapacityRps?: number
  /** Per-site mirror capacity (e.g. 0 for a member that never helps). */
  mirrorCapacityOf?: (label: string) => number | undefined
  logLevel?: 'silent' | 'error' | 'warn' | 'info' | 'debug'
  logger?: Logger
  /** Extra config applied to every node (deep-merged per section). */
  overrides?: Partial<ReefConfigInput>
  /** A site's data dir, instead of one in the consortium's temp dir (e.g. on a small volume); not removed by close(). */
  dataDirOf?: (label: string) => string | undefined
  /** Start nodes? (false: origins only, e.g. for an "origin alone" baseline.) */
  reef?: boolean
  /**
   * Run under a charter signed by every node (governed consortium): charter policy overrides
   * and whether nodes vote automatically on verifiable evidence.
   */
  governance?: { policy?: Partial<Policy>; autoVote?: boolean; name?: string }
}

export interface LocalSite {
  label: string
  origin: DemoOrigin
  node: ReefNode | undefined
  /** Where clients reach the site: the Reef front, or the origin itself without Reef. */
  url: string
  configInput: ReefConfigInput
}

export interface LocalConsortium {
  sites: LocalSite[]
  dataDir: string
  /** The operator token of every node's admin API. */
  adminToken: string
  /** The charter file, when the consortium is governed. */
  charterFile: string | undefined
  close(): Promise<void>
}

export async function startLocalConsortium(opts: LocalConsortiumOptions): Promise<LocalConsortium> {
  if (opts.nodes < 1 || opts.nodes > SITE_LABELS.length) throw new RangeError(`nodes must be 1..${SITE_LABELS.length}`)
  const dataDir = await mkdtemp(join(tmpdir(), 'reef-consortium-'))
  const sites: LocalSite[] = []
  const adminToken = randomBytes(24).toString('base64url')
  let charterFile: string | undefined
  try {
    for (let i = 0; i < opts.nodes; i++) {
      const label = SITE_LABELS[i]!
      const origin = await startDemoOrigin({
        workers: opts.workers,
        capacityRps: opts.capacityRps,
        seed: i + 1,
        siteName: label,
        ...(opts.originBytesPerSec !== undefined ? { bytesPerSec: opts.originBytesPerSec } : {})
      })
      const [front, mirror, admin] = [await freePort(), await freePort(), await freePort()]
      const o = opts.overrides ?? {}
      const configInput: ReefConfigInput = {
        consortium: 'demo',
        site: { label, publicUrl: `http://127.0.0.1:${front}` },
        origin: {
          url: origin.url,
          capacityRps: opts.capacityRps,
          maxConcurrent: opts.workers,
          ...(opts.originBytesPerSec !== undefined ? { bytesPerSec: opts.originBytesPerSec } : {}),
          ...o.origin
        },
        front: { listen: { host: '127.0.0.1', port: front }, ...o.front },
        mirror: {
          listen: { host: '127.0.0.1', port: mirror },
          publicUrl: `http://mirror-${label}.localhost:${mirror}`,
          capacityRps: opts.mirrorCapacityOf?.(label) ?? opts.mirrorCapacityRps ?? 1000,
          ...o.mirror
        },
        admin: { listen: { host: '127.0.0.1', port: admin }, token: adminToken },
        p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] },
        uplink: { bytesPerSec: opts.uplinkOf?.(label) ?? opts.uplinkBytesPerSec ?? 20_000_000, ...o.uplink },
        dataDir: opts.dataDirOf?.(label) ?? join(dataDir, label),
        ...(o.cache !== undefined ? { cache: o.cache } : {}),
        ...(o.crowd !== undefined ? { crowd: o.crowd } : {}),
        ...(o.gossip !== undefined ? { gossip: o.gossip } : {}),
        ...(o.ledger !== undefined ? { ledger: o.ledger } : {}),
        ...(o.relief !== undefined ? { relief: o.relief } : {}),
        ...(o.standby !== undefined ? { standby: o.standby } : {}),
        ...(o.http !== undefined ? { http: o.http } : {}),
        log: { level: opts.logLevel ?? 'warn' }
      }
      sites.push({ label, origin, node: undefined, url: opts.reef === false ? origin.url : `http://127.0.0.1:${front}`, configInput })
    }
    if (opts.governance !== undefined && opts.reef !== false) {
      charterFile = join(dataDir, 'charter.json')
      const keys = await Promise.all(sites.map(async s => loadOrCreateIdentity(s.configInput.dataDir)))
      const founders = sites.map((s, i) => ({ peer: peerIdFromPrivateKey(keys[i]!).toString(), site: s.label, mirrorUrl: s.configInput.mirror.publicUrl }))
      let doc: MultiSigned<CharterBody> = {
        body: charterBody({
          id: 'demo',
          name: opts.governance.name ?? 'Reef demo consortium',
          founders,
          ...(opts.governance.policy === undefined ? {} : { policy: opts.governance.policy })
        }),
        sigs: []
      }
      for (const [i, k] of keys.entries()) doc = await signCharter(doc, k, founders[i]!.peer)
      await writeCharterFile(charterFile, doc)
      for (const s of sites) s.configInput = { ...s.configInput, governance: { charter: charterFile, autoVote: opts.governance.autoVote ?? true } }
    }
    if (opts.reef !== false) {
      const known: string[] = []
      for (const s of sites) {
        const input = { ...s.configInput, p2p: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [...known] } }
        s.configInput = input
        const node = await ReefNode.create(parseConfig(input), opts.logger === undefined ? {} : { logger: opts.logger.child({ site: s.label }) })
        await node.start()
        s.node = node
        known.push(...node.libp2p.getMultiaddrs().map(String))
      }
    }
  } catch (err) {
    await closeAll(sites, dataDir)
    throw err
  }
  return {
    sites,
    dataDir,
    charterFile,
    adminToken,
    close: async () => {
      await closeAll(sites, dataDir)
    }
  }
}

async function closeAll(sites: LocalSite[], dataDir: string): Promise<void> {
  await Promise.allSettled(
    sites.map(async s => {
      await s.node?.stop()
    })
  )
  await Promise.allSettled(
    sites.map(async s => {
      await s.origin.close()
    })
  )
  await rm(dataDir, { recursive: true, force: true })
}

/** Wait until every node sees every other node's load report (the consortium has formed). */
export async function waitForMesh(c: LocalConsortium, timeoutMs = 20_000): Promise<void> {
  const nodes = c.sites.map(s => s.node).filter(n => n !== undefined)
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (nodes.every(n => n.peers.live().length >= nodes.length - 1)) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`consortium did not form within ${timeoutMs} ms: ${nodes.map(n => n.peers.live().length).join(',')} peers seen`)
}
