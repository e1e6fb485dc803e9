/**
 * The libp2p host of a Reef node: TCP (and the in-memory transport for large in-process
 * simulations), Noise, Yamux, identify, gossipsub for load and help records, and a kad-dht
 * under Reef's private protocol id for peer routing. Bootstrap peers are dialled at start and
 * redialled while disconnected.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { memory } from '@libp2p/memory'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { DHT_PROTOCOL, GOSSIP_D, GOSSIP_D_HIGH, GOSSIP_D_LOW, MAX_RECORD_BYTES } from '@reef/protocol'
import { ConfigError } from '../errors.ts'

export type ReefLibp2p = Libp2p<{ pubsub: GossipSub; identify: Identify; ping: Ping; dht: KadDHT }>

/** Where a node keeps its identity key inside its data dir. */
export function identityFile(dataDir: string): string {
  return join(dataDir, 'identity.key')
}

/** The node's identity from `dataDir/identity.key`, or undefined when there is none yet. */
export async function readIdentity(dataDir: string): Promise<PrivateKey | undefined> {
  const file = identityFile(dataDir)
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`identity file ${file} is unreadable or corrupt: ${(err as Error).message}`, {
      hint: `check its owner and mode (0600, the user that runs reef); if it is lost for good, move it away and a new identity (a new peer id, with no ledger history) is made`
    })
  }
}

/** Load the node's Ed25519 identity from `dataDir/identity.key`, creating it on first start. */
export async function loadOrCreateIdentity(dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true })
  const existing = await readIdentity(dataDir)
  if (existing !== undefined) return existing
  const key = await generateKeyPair('Ed25519')
  await writeIdentityOnce(identityFile(dataDir), privateKeyToProtobuf(key))
  const stored = await readIdentity(dataDir)
  return stored ?? key
}

/**
 * Write the identity whole or not at all: a temporary file, synced, then linked into place,
 * which fails if an identity is already there (never replaced). A process killed at any instant
 * leaves no half-written identity that would keep the node from starting again.
 */
async function writeIdentityOnce(file: string, bytes: Uint8Array): Promise<void> {
  // Unique per call: two callers in one process must not share (truncate, link, remove) one file.
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await link(tmp, file).catch((err: NodeJS.ErrnoException) => {
      // Another process made it first: the caller reads theirs.
      if (err.code !== 'EEXIST') throw err
    })
  } finally {
    await rm(tmp, { force: true })
  }
}

export interface Libp2pOptions {
  /** Peers the connection gater refuses (expelled or blocked by the operator). */
  deny?: (peer: string) => boolean
  onDenied?: (peer: string) => void
}

export async function createReefLibp2p(key: PrivateKey, listen: string[], opts: Libp2pOptions = {}): Promise<ReefLibp2p> {
  for (const a of listen) {
    try {
      multiaddr(a)
    } catch {
      throw new ConfigError(`config field p2p.listen: "${a}" is not a multiaddr`, { field: 'p2p.listen' })
    }
  }
  const denied = (peer: { toString: () => string }): boolean => {
    const id = peer.toString()
    const no = opts.deny?.(id) ?? false
    if (no) opts.onDenied?.(id)
    return no
  }
  return createLibp2p({
    privateKey: key,
    addresses: { listen },
    // A consortium is tens of peers, often several behind one address (and all on loopback in
    // tests): libp2p's default of 5 inbound connections per second per host would make an
    // expelled peer's refused redials lock honest newcomers out.
    connectionManager: { inboundConnectionThreshold: 100 },
    // libp2p pings every connection every 10 s and, by default, aborts one whose ping times out.
    // A struck site's uplink is full by definition: its pings queue behind the crowd for
    // seconds, and aborting the connection then cut every fetch stream its helpers had open
    // (they fell back to the same starved uplink, and the crowd's visits timed out). Liveness
    // of helpers is judged by Reef itself (helper-health.ts); a dead peer's connection closes.
    // Not aborting, the monitor only measures round trips, which nothing here reads: it is off.
    // Its pings opened a stream per connection and side every 10 s (negotiation and a peer-store
    // update each), about 120 streams/s for 100 members on one machine.
    connectionMonitor: { enabled: false },
    connectionGater: {
      denyDialPeer: async peer => denied(peer),
      denyInboundEncryptedConnection: async peer => denied(peer),
      denyOutboundEncryptedConnection: async peer => denied(peer)
    },
    transports: [tcp(), memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        // Gossipsub v1.1 scores down peers that share an IP address (-5 × (peers beyond 10)²):
        // a Sybil defence for open networks. A consortium is closed (the charter and the log say
        // who is a member; records of others are ignored), and members do share addresses (a
        // hosting provider's NAT, a test on loopback): the 11th peer on one address took every
        // one of them below the graylist threshold and the consortium's gossip stopped.
        scoreParams: { IPColocationFactorWeight: 0 },
        // Without it gossipsub verifies the signature of every copy a message arrives in (one per
        // mesh peer) before it finds the copy is a duplicate: with StrictSign the message id is
        // from + seqno, known before any verification, and the cache is filled only by a copy that
        // verified, so a forged first copy cannot shadow the genuine one.
        fastMsgIdFn: msg =>
          msg.from === undefined || msg.seqno === undefined ? '' : `${Buffer.from(msg.from).toString('base64')}.${Buffer.from(msg.seqno).toString('base64')}`,
        // IDONTWANT (gossipsub 1.2) saves sending a large message to a peer that has it; for Reef's
        // records of a few hundred bytes it costs as much as the duplicate it saves.
        idontwantMinDataSize: 16 * 1024,
        // A smaller mesh than the library's 6 (4–12): every message crosses each mesh link once or
        // twice, so the degree is the gossip cost per member. A closed consortium of tens to
        // hundreds of members needs less redundancy than an open network; lazy gossip (IHAVE to 6
        // others every heartbeat) repairs what a mesh path misses.
        D: GOSSIP_D,
        Dlo: GOSSIP_D_LOW,
        Dhi: GOSSIP_D_HIGH,
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // The library's 1 s (it was 0.5 s): the heartbeat's mesh upkeep and lazy gossip cost every
        // member, and at fifty members on two cores half a second took 1.2 % of a core per member
        // against 0.8 % (pnpm bench scale); Reef's records do not wait on it (mesh push is at once).
        heartbeatInterval: 1_000,
        maxInboundDataLength: MAX_RECORD_BYTES + 4096
      }),
      dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper, allowQueryWithZeroPeers: true })
    }
  })
}

/** Keep dialling bootstrap peers that are not connected, every `intervalMs`, until stopped. */
export function keepBootstrapped(node: Libp2p, bootstrap: string[], intervalMs = 2_000): () => void {
  const addrs = bootstrap.map(a => {
    try {
      return multiaddr(a)
    } catch {
      throw new ConfigError(`config field p2p.bootstrap: "${a}" is not a multiaddr`, { field: 'p2p.bootstrap' })
    }
  })
  let stopped = false
  const dialAll = (): void => {
    for (const ma of addrs) {
      const id = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (id === node.peerId.toString()) continue
      if (id !== undefined && node.getConnections().some(c => c.remotePeer.toString() === id)) continue
      node.dial(ma, { signal: AbortSignal.timeout(5_000) }).catch(() => {})
    }
  }
  dialAll()
  const timer = setInterval(() => {
    if (!stopped) dialAll()
  }, intervalMs)
  timer.unref()
  return () => {
    stopped = true
    clearInterval(timer)
  }
}
