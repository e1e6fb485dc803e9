/**
 * Record throughput: encode + sign and decode + verify, records/s, per record type, against
 * the bare Ed25519 sign / verify of the same bytes measured in the same run (the floor: what
 * the crypto alone costs). Bounded: each measurement runs for `--ms` (default 1000) or
 * 200,000 operations, whichever comes first.
 *
 *   pnpm bench protocol [--ms 1000]
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { parseArgs } from 'node:util'
import {
  ReplayGuard,
  canonicalBytes,
  ed25519Key,
  signDocument,
  signRecord,
  verifiedSigners,
  verifyEd25519,
  verifyRecord,
  withSignatures
} from '../src/index.ts'
import type { RecordBody, RecordType } from '../src/index.ts'

const { values } = parseArgs({ args: process.argv.slice(3), options: { ms: { type: 'string' } }, strict: true })
const budgetMs = Number(values.ms ?? 1000)
if (!(budgetMs >= 50 && budgetMs <= 60_000)) {
  process.stderr.write('bench protocol: --ms must be 50..60000\n')
  process.exit(2)
}

const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7))
const id = peerIdFromPrivateKey(key).toString()
const other = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(8))).toString()

const manifest = Array.from({ length: 512 }, (_, i) => ({
  path: `/articles/post-${i}.html`,
  size: 10_000 + i,
  type: 'text/html; charset=utf-8',
  sha256: (i % 16).toString(16).repeat(64)
}))
const bodies: Array<[string, RecordType, RecordBody<RecordType>]> = [
  [
    'load-report',
    'load-report',
    {
      site: 'alpha',
      siteUrl: 'https://alpha.example',
      mirrorUrl: 'https://mirror.alpha.example',
      state: 'normal',
      capacityRps: 50,
      demandRps: 12,
      originRps: 12,
      spareRps: 400,
      helping: [{ site: 'bravo', rps: 120 }]
    }
  ],
  ['help-offer', 'help-offer', { session: 'c2Vzc2lvbi0wMDAx', to: other, offeredRps: 400, mirrorUrl: 'https://mirror.alpha.example' }],
  [
    'help-request (512-entry manifest)',
    'help-request',
    { session: 'c2Vzc2lvbi0wMDAx', site: 'alpha', siteUrl: 'https://alpha.example', neededRps: 900, manifest }
  ]
]

async function rate(fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(i) // warm up
  const start = performance.now()
  let n = 0
  while (n < 200_000 && performance.now() - start < budgetMs) {
    await fn(n)
    n++
  }
  return (n * 1000) / (performance.now() - start)
}

const rows: string[] = []
for (const [name, type, body] of bodies) {
  let seq = 1
  const sample = await signRecord(key, id, type, body as never, { seq: 1 })
  const signOps = await rate(async () => signRecord(key, id, type, body as never, { seq: ++seq }))
  const records = await Promise.all(Array.from({ length: 1000 }, async (_, i) => signRecord(key, id, type, body as never, { seq: 10_000 + i })))
  // Verify each pre-signed record once per guard, so the replay check does its real work.
  let guard = new ReplayGuard()
  let j = 0
  const verifyOps = await rate(async () => {
    if (j % records.length === 0) guard = new ReplayGuard()
    return verifyRecord(records[j++ % records.length]!, { replay: guard })
  })
  const raw = sample
  const sig = await key.sign(raw)
  const rawSign = await rate(async () => key.sign(raw))
  const rawVerifyImport = await rate(async () => key.publicKey.verify(raw, sig))
  const pub = ed25519Key(id)!
  const rawVerify = await rate(async () => verifyEd25519(pub, raw, sig))
  rows.push(
    `| ${name} | ${sample.byteLength} | ${Math.round(signOps).toLocaleString('en')} | ${(signOps / rawSign).toFixed(2)} | ${Math.round(verifyOps).toLocaleString('en')} | ${(verifyOps / rawVerify).toFixed(2)} | ${Math.round(rawVerifyImport).toLocaleString('en')} |`
  )
}

// A membership log entry with a quorum of 67 signatures (a hundred members), verified whole.
const signers = await Promise.all(Array.from({ length: 67 }, async (_, i) => generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(20 + i))))
const entryBody = { v: 1, consortium: 'bench', height: 2, prev: 'ab'.repeat(32), action: { kind: 'leave', peer: other }, proposedAt: 1 }
const entry = withSignatures(
  { body: entryBody, sigs: [] },
  await Promise.all(signers.map(async k => signDocument('log-entry', entryBody, k, peerIdFromPrivateKey(k).toString())))
)
const entryOps = await rate(async () => verifiedSigners('log-entry', entry))
rows.push(`| log entry, 67 signatures (verify all) | ${canonicalBytes(entry).byteLength} | – | – | ${Math.round(entryOps).toLocaleString('en')} | – | – |`)

process.stdout.write(
  [
    `Record throughput, ${budgetMs} ms per figure, Node ${process.version}, ${new Date().toISOString()}`,
    '',
    '| record | bytes | encode + sign /s | ratio to bare Ed25519 sign | decode + verify /s | ratio to bare Ed25519 verify (key imported once) | bare verify importing the key each time (@libp2p/crypto) /s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows
  ].join('\n') + '\n'
)
