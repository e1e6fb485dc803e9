/**
 * A newcomer's sync of a long membership log: a holder node keeps a charter of `members`
 * founders and `entries` entries after it, each signed by a quorum (as a consortium of that
 * size signs them); a founder with an empty store connects to it and syncs. Measured: from the
 * newcomer's start to its log's height reaching the holder's, node start-up included.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { DEFAULT_POLICY, canonicalBytes, signDocument, withSignatures } from '@reef/protocol'
import type { CharterBody, LogEntryBody, Member, MultiSigned } from '@reef/protocol'
import { bodyHash, signaturesNeeded } from '@reef/governance'
import { freePort } from '../../demo/consortium.ts'
import { GovernanceStore, charterBody, signCharter, writeCharterFile } from '../../src/index.ts'
import type { ReefConfigInput } from '../../src/index.ts'
import { Worker, killWorker } from './harness.ts'

export async function measureLogSync(o: {
  members: number
  entries: number
  note?: (s: string) => void
}): Promise<{ ms: number; signaturesPerEntry: number; logBytes: number; entries: number }> {
  const note = o.note ?? (() => {})
  const dir = await mkdtemp(join(tmpdir(), 'reef-logsync-'))
  const workers: Worker[] = []
  try {
    const keys: Array<{ key: PrivateKey; peer: string }> = []
    for (let i = 0; i < o.members; i++) {
      const key = await generateKeyPair('Ed25519')
      keys.push({ key, peer: peerIdFromPrivateKey(key).toString() })
    }
    const founders: Member[] = keys.map((k, i) => ({ peer: k.peer, site: `f${i}`, mirrorUrl: `http://mirror-f${i}.localhost:1` }))
    let charter: MultiSigned<CharterBody> = { body: charterBody({ id: 'scale-sync', name: 'Log sync', founders }), sigs: [] }
    for (const k of keys) charter = await signCharter(charter, k.key, k.peer)
    const charterFile = join(dir, 'charter.json')
    await writeCharterFile(charterFile, charter)
    const quorum = signaturesNeeded(o.members, o.members, DEFAULT_POLICY)
    const t0 = Date.now()
    const holderDir = join(dir, 'holder')
    const store = await GovernanceStore.open(join(holderDir, 'governance'))
    let logBytes = 0
    try {
      await store.putCharter(charter)
      let prev = bodyHash(charter.body)
      for (let h = 1; h <= o.entries; h++) {
        const body: LogEntryBody = {
          v: 1,
          consortium: 'scale-sync',
          height: h,
          prev,
          action: { kind: 'set-policy', policy: { ...DEFAULT_POLICY, auditIntervalMs: 60_000 + h } },
          proposedAt: Date.now()
        }
        const doc = withSignatures({ body, sigs: [] }, await Promise.all(keys.slice(0, quorum).map(async k => signDocument('log-entry', body, k.key, k.peer))))
        await store.putEntry(doc)
        logBytes += canonicalBytes(doc).byteLength
        prev = bodyHash(body)
      }
    } finally {
      await store.close()
    }
    note(`log sync: ${o.entries} entries × ${quorum} signatures (${(logBytes / 1e6).toFixed(1)} MB) made in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const specFor = async (i: number, label: string, bootstrap: string[]): Promise<{ label: string; config: ReefConfigInput; p2p: number }> => {
      const dataDir = join(dir, label)
      await mkdir(dataDir, { recursive: true })
      await writeFile(join(dataDir, 'identity.key'), privateKeyToProtobuf(keys[i]!.key), { mode: 0o600 })
      const p2p = await freePort()
      const config: ReefConfigInput = {
        consortium: 'scale-sync',
        site: { label: `f${i}`, publicUrl: `http://127.0.0.1:${await freePort()}` },
        origin: { url: 'http://127.0.0.1:1', capacityRps: 20, maxConcurrent: 4 },
        front: { listen: { host: '127.0.0.1', port: await freePort() } },
        mirror: { listen: { host: '127.0.0.1', port: await freePort() }, publicUrl: founders[i]!.mirrorUrl },
        p2p: { listen: [`/ip4/127.0.0.1/tcp/${p2p}`], bootstrap },
        dataDir,
        governance: { charter: charterFile, autoVote: true },
        log: { level: 'warn' }
      }
      return { label, config, p2p }
    }
    const holder = await specFor(0, 'holder', [])
    const wh = new Worker(0, dir)
    workers.push(wh)
    wh.post({ op: 'start', specs: [{ label: holder.label, config: holder.config }], origin: { workers: 1, capacityRps: 10 }, logFile: join(dir, 'holder.log') })
    await wh.started
    const height = async (w: Worker): Promise<number> => (await w.ask<'height'>({ op: 'height' })).heights[0]?.height ?? -1
    if ((await height(wh)) !== o.entries) throw new Error(`the holder opened its log at height ${await height(wh)}, not ${o.entries}`)
    const newcomer = await specFor(1, 'newcomer', [`/ip4/127.0.0.1/tcp/${holder.p2p}/p2p/${keys[0]!.peer}`])
    const wn = new Worker(1, dir)
    workers.push(wn)
    const start = Date.now()
    wn.post({
      op: 'start',
      specs: [{ label: newcomer.label, config: newcomer.config }],
      origin: { workers: 1, capacityRps: 10 },
      logFile: join(dir, 'newcomer.log')
    })
    await wn.started
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline && (await height(wn)) < o.entries) await new Promise(r => setTimeout(r, 20))
    const ms = Date.now() - start
    const reached = await height(wn)
    if (reached < o.entries) throw new Error(`the newcomer reached height ${reached} of ${o.entries} within 120 s`)
    note(`log sync: the newcomer holds all ${o.entries} entries ${ms} ms after its start`)
    return { ms, signaturesPerEntry: quorum, logBytes, entries: o.entries }
  } finally {
    await Promise.allSettled(
      workers.map(async w => {
        try {
          await w.ask({ op: 'stop' }, 20_000)
        } catch {
          await killWorker(w)
        }
      })
    )
    await rm(dir, { recursive: true, force: true })
  }
}
