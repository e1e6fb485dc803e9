/**
 * What a node holds open besides its listeners: its identity, the ledger's and the governance
 * log's stores, the charter and the libp2p host (not started) with its peer gate. Opened before
 * the node is built and closed again, in reverse, when building it fails.
 */
import { join } from 'node:path'
import { pino } from 'pino'
import type { Logger } from 'pino'
import type { PrivateKey } from '@libp2p/interface'
import type { CharterBody, MultiSigned } from '@reef/protocol'
import type { ReefConfig } from './config/config.ts'
import { readCharterFile } from './governance/charter-file.ts'
import { GovernanceStore } from './governance/store.ts'
import { LedgerStore } from './ledger/store.ts'
import { createReefLibp2p, loadOrCreateIdentity } from './p2p/host.ts'
import type { ReefLibp2p } from './p2p/host.ts'
import { PeerGate } from './p2p/peer-gate.ts'

export interface NodeResources {
  key: PrivateKey
  log: Logger
  store: LedgerStore
  govStore: GovernanceStore | undefined
  /** The configured charter file's charter (a governed consortium's founders). */
  charter: MultiSigned<CharterBody> | undefined
  libp2p: ReefLibp2p
  peerGate: PeerGate
}

export async function openResources(config: ReefConfig, logger?: Logger): Promise<NodeResources> {
  const key = await loadOrCreateIdentity(config.dataDir)
  const log = logger ?? pino({ level: config.log.level, base: { site: config.site.label } })
  const store = await LedgerStore.open(join(config.dataDir, 'ledger'), { log })
  let govStore: GovernanceStore | undefined
  try {
    const charter = config.governance?.charter === undefined ? undefined : await readCharterFile(config.governance.charter)
    if (config.governance !== undefined) govStore = await GovernanceStore.open(join(config.dataDir, 'governance'), { log })
    // The gater asks the gate about every connection, so the gate comes first.
    const peerGate = new PeerGate()
    const libp2p = await createReefLibp2p(key, [...config.p2p.listen], peerGate)
    peerGate.bind(libp2p)
    return { key, log, store, govStore, charter, libp2p, peerGate }
  } catch (err) {
    await closeResources({ store, govStore })
    throw err
  }
}

/** Close what `openResources` opened (the host stopped first, when there is one). */
export async function closeResources(r: Pick<NodeResources, 'store' | 'govStore'> & { libp2p?: ReefLibp2p }): Promise<void> {
  try {
    await r.libp2p?.stop()
  } catch {}
  await r.store.close()
  await r.govStore?.close()
}
