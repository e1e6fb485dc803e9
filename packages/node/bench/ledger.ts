/**
 * Ledger benchmarks, each against a baseline measured in the same run. Loopback only; every
 * phase is bounded in count and time.
 *
 *   pnpm bench ledger [--records N] [--runs R] [--seconds S] [--writes N] [--dir DIR]
 *
 * redirect: a real front (demo origin, one helper, share 1: every request for a known path is
 *   a 307) on 127.0.0.1, driven from a worker thread by an undici Pool (32 connections ×
 *   10 pipelined) for S seconds per run (default 2), accounting ON (onRedirect → a real
 *   LedgerService.countRedirect, as reef-node wires it) and OFF (no onRedirect), alternated
 *   ON OFF OFF ON … R times each (default 3); medians and ON/OFF. Afterwards the service
 *   settles, and its signed delegation must claim exactly the redirects made while ON.
 * writes: pre-signed honest records (default 20,000) applied into a fresh store one by one
 *   (store.apply, as the ledger service does) and in batches of 1000 (store.applyMany),
 *   against a bare LevelDB put of the same record JSON, one write per record (the floor).
 * rebuild: N honest records (default 1,000,000; signed by two worker threads, written through
 *   store.applyMany, so the layout is exactly the store's) then, in a fresh child process,
 *   recompute() alone: records/s, RSS after open, peak RSS while rebuilding (sampled, and the
 *   process maximum). Baseline: the previous rebuild (load every record, recomputeBalances)
 *   in another child process, capped at 120 s. --dir DIR keeps the store there; a store that
 *   already holds records is reused as it is (no writing).
 */
import { spawn } from 'node:child_process'
import { createPrivateKey, sign as cryptoSign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { DEFAULT_QUOTA_POLICY, recomputeBalances } from '@reef/governance'
import type { MemberTotals } from '@reef/governance'
import { signRecord, verifyRecord } from '@reef/protocol'
import type { Delegation, Receipt } from '@reef/protocol'
import { Level } from 'level'
import { pino } from 'pino'
import { Pool } from 'undici'
import { LedgerStore, recordHash, toLedgerRecord } from '../src/ledger/store.ts'
import type { StoredRecord } from '../src/ledger/store.ts'

const SELF = fileURLToPath(import.meta.url)
const MEMBERS = 24
const ROUNDS_PER_SESSION = 250
const CHUNK = 2000

interface Member {
  key: PrivateKey
  id: string
}

async function makeMembers(n: number, seedBase: number): Promise<Member[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const seed = new Uint8Array(32)
      seed[0] = seedBase
      seed[1] = i + 1
      const key = await generateKeyPairFromSeed('Ed25519', seed)
      return { key, id: peerIdFromPrivateKey(key).toString() }
    })
  )
}

/**
 * The same key, signing through one cached KeyObject: @libp2p/crypto imports the key again
 * for every signature, over half of the cost of signing a record. Ed25519 is deterministic, so
 * the bytes are identical (checked on samples by verifying them).
 */
async function fastSigner(n: number, seedBase: number): Promise<Member[]> {
  const members = await makeMembers(n, seedBase)
  return members.map((m, i) => {
    const seed = new Uint8Array(32)
    seed[0] = seedBase
    seed[1] = i + 1
    const ko = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' })
    m.key.sign = data => new Uint8Array(cryptoSign(null, data instanceof Uint8Array ? data : data.subarray(), ko))
    return m
  })
}
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

/**
 * Honest records, session by session: session s is between beneficiary s mod M and a helper
 * chosen from s; rounds 1..250 every 10 s, delegation then receipt; sessions 10 min apart.
 * This worker takes sessions ≡ index (mod workers), so each pair's records stay in order.
 */
async function* honestRecords(members: Member[], total: number, index: number, workers: number, epoch: number): AsyncGenerator<StoredRecord> {
  const perSession = 2 * ROUNDS_PER_SESSION
  const sessions = Math.ceil(total / perSession)
  for (let s = index; s < sessions; s += workers) {
    const b = members[s % MEMBERS]!
    const h = members[((s % MEMBERS) + 1 + (Math.floor(s / MEMBERS) % (MEMBERS - 1))) % MEMBERS]!
    const session = `bench-session-${String(s).padStart(6, '0')}`
    const count = Math.min(perSession, total - s * perSession)
    const start = epoch + s * 600_000
    let lastDelegation = ''
    for (let i = 0; i < count; i++) {
      const round = Math.floor(i / 2) + 1
      const ts = start + round * 10_000
      const seq = 1_700_000_000_000_000 + s * 1000 + i
      let author: Member
      let type: 'delegation' | 'receipt'
      let body: Delegation | Receipt
      if (i % 2 === 0) {
        author = b
        type = 'delegation'
        body = { session, helper: h.id, round, requests: round * 10, bytes: round * 40_000, final: round === ROUNDS_PER_SESSION }
      } else {
        author = h
        type = 'receipt'
        body = { session, beneficiary: b.id, round, delegation: lastDelegation, requests: round * 10 - 1, bytes: round * 40_000 - 4_000 }
      }
      const bytes = await signRecord(author.key, author.id, type, body as never, { seq, ts })
      // What toLedgerRecord(verifyRecord(bytes)) gives, without the verification (checked on samples).
      const rec: StoredRecord = { type, author: author.id, seq, ts, hash: recordHash(bytes), body, bytes: Buffer.from(bytes).toString('base64') }
      if (type === 'delegation') lastDelegation = rec.hash
      yield rec
    }
  }
}
// ---------------------------------------------------------------------------------------------
// Worker threads: a signer (honest records, a chunk per request) and the HTTP load generator.

interface SignerData {
  role: 'sign'
  total: number
  index: number
  workers: number
  epoch: number
}
interface LoadData {
  role: 'load'
}

if (!isMainThread) {
  const data = workerData as SignerData | LoadData
  const port = parentPort!
  if (data.role === 'sign') {
    const members = await fastSigner(MEMBERS, 77)
    const gen = honestRecords(members, data.total, data.index, data.workers, data.epoch)
    let chain: Promise<unknown> = Promise.resolve()
    port.on('message', (n: number) => {
      chain = chain.then(async () => {
        const out: StoredRecord[] = []
        while (out.length < n) {
          const next = await gen.next()
          if (next.done === true) break
          out.push(next.value)
        }
        port.postMessage(out)
      })
    })
  } else {
    port.on('message', (m: { url: string; paths: string[]; ms: number }) => {
      void drive(m.url, m.paths, m.ms).then(r => {
        port.postMessage(r)
      })
    })
  }
}

/** Keep 32 × 10 requests in flight for `ms`; count answers by status. Bounded by time and count. */
async function drive(url: string, paths: string[], ms: number): Promise<{ redirects: number; other: number; errors: number; ms: number }> {
  const pool = new Pool(url, { connections: 32, pipelining: 10 })
  let redirects = 0
  let other = 0
  let errors = 0
  const started = performance.now()
  const deadline = started + ms
  const maxRequests = ms * 200 // far above any loopback rate: a bound, not a target
  let sent = 0
  let i = 0
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline && sent < maxRequests) {
      sent++
      try {
        const res = await pool.request({ method: 'GET', path: paths[i++ % paths.length]! })
        await res.body.dump()
        if (res.statusCode === 307) redirects++
        else other++
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: 320 }, loop))
  const elapsed = performance.now() - started
  await pool.close()
  return { redirects, other, errors, ms: elapsed }
}

// ---------------------------------------------------------------------------------------------
// Child process: rebuild from a closed store, and report time and memory as JSON.

interface RebuildResult {
  mode: string
  ms: number
  records: number
  rssAfterOpen: number
  peakRss: number
  maxRss: number
  anonAfterOpen: number
  peakAnon: number
  equal: boolean
  error?: string
}

/**
 * Private (anonymous) resident memory, from /proc (Linux; NaN elsewhere). RSS also counts the
 * pages of LevelDB's table files that it maps to read them: file cache, not held memory.
 */
function rssAnon(): number {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return m === null ? NaN : Number(m[1]) * 1024
  } catch {
    return NaN
  }
}

async function rebuildChild(dir: string, mode: 'stream' | 'load-all'): Promise<void> {
  const store = await LedgerStore.open(dir)
  const rssAfterOpen = process.memoryUsage.rss()
  const anonAfterOpen = rssAnon()
  let peakRss = rssAfterOpen
  let peakAnon = anonAfterOpen
  const sample = (): void => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss())
    peakAnon = Math.max(peakAnon, rssAnon())
  }
  const sampler = setInterval(sample, 20)
  const t0 = performance.now()
  let totals: Map<string, MemberTotals>
  let records = 0
  if (mode === 'stream') {
    const r = await store.recompute()
    totals = r.totals
    records = r.records
  } else {
    // The previous rebuild: every record in memory, then the pure recomputation.
    const all: StoredRecord[] = []
    for await (const r of store.records()) all.push(r)
    records = all.length
    sample()
    totals = recomputeBalances(all).totals
  }
  const ms = performance.now() - t0
  clearInterval(sampler)
  sample()
  const stored = store.allTotals()
  const equal = stored.size === totals.size && [...stored].every(([m, t]) => JSON.stringify(totals.get(m)) === JSON.stringify(t))
  await store.close()
  const result: RebuildResult = { mode, ms, records, rssAfterOpen, peakRss, maxRss: process.resourceUsage().maxRSS * 1024, anonAfterOpen, peakAnon, equal }
  process.stdout.write(JSON.stringify(result) + '\n')
}

function runChild(dir: string, mode: 'stream' | 'load-all', capMs: number): Promise<RebuildResult> {
  return new Promise(resolve => {
    const child = spawn(process.execPath, [SELF, '--child', mode, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', d => {
      out += String(d)
    })
    child.stderr.on('data', d => {
      err += String(d)
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
    }, capMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const line = out.trim().split('\n').pop() ?? ''
      if (code === 0 && line.startsWith('{')) {
        resolve(JSON.parse(line) as RebuildResult)
        return
      }
      const why = signal === 'SIGKILL' ? `killed after the ${capMs / 1000} s cap` : `exit ${code ?? signal}: ${err.trim().split('\n').slice(-1)[0] ?? ''}`
      resolve({ mode, ms: NaN, records: 0, rssAfterOpen: NaN, peakRss: NaN, maxRss: NaN, anonAfterOpen: NaN, peakAnon: NaN, equal: false, error: why })
    })
  })
}

// ---------------------------------------------------------------------------------------------
// Main.

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '–'
const mib = (b: number): string => (Number.isFinite(b) ? `${fmt(b / 2 ** 20)} MiB` : '–')
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

interface Signer {
  w: Worker
  ahead: Array<Promise<StoredRecord[]>>
  waiting: Array<(r: StoredRecord[]) => void>
  done: boolean
}

/** Signer threads, each with up to two chunks requested ahead; chunks taken round robin. */
class Signers {
  readonly #workers: Signer[]
  #turn = 0
  constructor(total: number, count: number, epoch: number) {
    this.#workers = Array.from({ length: count }, (_, index) => {
      const w = new Worker(SELF, { workerData: { role: 'sign', total, index, workers: count, epoch } satisfies SignerData })
      const s: Signer = { w, ahead: [], waiting: [], done: false }
      w.on('message', (chunk: StoredRecord[]) => {
        s.waiting.shift()?.(chunk)
      })
      return s
    })
    for (const s of this.#workers) {
      this.#request(s)
      this.#request(s)
    }
  }

  #request(s: Signer): void {
    s.ahead.push(
      new Promise(resolve => {
        s.waiting.push(resolve)
      })
    )
    s.w.postMessage(CHUNK)
  }

  /** The next chunk, or undefined when every signer is done. */
  async next(): Promise<StoredRecord[] | undefined> {
    for (let tries = 0; tries < this.#workers.length; tries++) {
      const s = this.#workers[this.#turn++ % this.#workers.length]!
      if (s.done) continue
      const chunk = await s.ahead.shift()!
      if (chunk.length === 0) {
        s.done = true
        continue
      }
      this.#request(s)
      return chunk
    }
    return undefined
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map(async s => s.w.terminate()))
  }
}

async function redirectPhase(
  runs: number,
  seconds: number
): Promise<{ on: number[]; off: number[]; accounted: number; redirectsOn: number; errors: number; other: number }> {
  const [
    { startDemoOrigin },
    { buildFront },
    { ContentCache },
    { HotSet },
    { LoadMonitor },
    { OriginClient },
    { OriginGate },
    { Shedder },
    { LedgerService },
    { PeerTable }
  ] = await Promise.all([
    import('../demo/origin-site.ts'),
    import('../src/http/front.ts'),
    import('../src/origin/content-cache.ts'),
    import('../src/origin/hot-set.ts'),
    import('../src/load/monitor.ts'),
    import('../src/origin/client.ts'),
    import('../src/origin/gate.ts'),
    import('../src/load/shedder.ts'),
    import('../src/ledger/service.ts'),
    import('../src/p2p/peer-table.ts')
  ])
  const log = pino({ level: 'silent' })
  const [self, helperMember] = (await makeMembers(2, 91)) as [Member, Member]
  const dir = await mkdtemp(join(tmpdir(), 'reef-bench-redirect-'))
  const store = await LedgerStore.open(dir)
  let seq = 0
  const ledger = new LedgerService(
    { consortium: 'bench', selfId: self.id, settleIntervalMs: 3_600_000, policy: DEFAULT_QUOTA_POLICY },
    {
      // The channel signs for real (settle verifies and stores its own record); nobody listens.
      bus: { publish: async (_topic, type, body) => signRecord(self.key, self.id, type, body, { seq: ++seq }), onRecord: () => () => {} },
      store,
      peers: new PeerTable(5_000),
      log,
      helpingSessions: () => [],
      servedNow: () => ({ requests: 0, bytes: 0 })
    }
  )
  const session = 'bench-redirect-session'
  const help = { ownSessionId: session as string | undefined }

  const origin = await startDemoOrigin({ workers: 8, capacityRps: 2_000 })
  const monitor = new LoadMonitor()
  const cache = new ContentCache(64 * 1024 * 1024, 8 * 1024 * 1024)
  const hotSet = new HotSet()
  const shedder = new Shedder()
  const gate = new OriginGate<string | null>({ capacityRps: 10_000, maxConcurrent: 16, queueLimit: 100 })
  const originClient = new OriginClient({ url: origin.url, site: 'alpha', maxConcurrent: 16, timeoutMs: 5_000 }, gate, cache, hotSet, monitor, log)
  // As reef-node wires it. Toggled between runs (buildFront reads deps.onRedirect per redirect;
  // the settlement check below fails if it ever stops doing so).
  const accountingOn = (helper: { peer: string }, bytes: number): void => {
    const s = help.ownSessionId
    if (s !== undefined) ledger.countRedirect(s, helper.peer, bytes)
  }
  const deps: Parameters<typeof buildFront>[1] = { gate, origin: originClient, cache, hotSet, shedder, monitor, log, onRedirect: undefined }
  const app = buildFront({ site: 'alpha', queueTimeoutMs: 1_000, retryAfterS: 7, maxBodyBytes: 1024 * 1024, originTimeoutMs: 5_000 }, deps)
  const load = new Worker(SELF, { workerData: { role: 'load' } satisfies LoadData })
  try {
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    // Known paths: every public file small enough to keep, fetched once through the origin.
    const paths = [...origin.files.values()].filter(f => !f.private && f.body.byteLength <= 1024 * 1024).map(f => f.path)
    const warm = new Pool(url, { connections: 4 })
    for (const p of paths) {
      const r = await warm.request({ method: 'GET', path: p })
      await r.body.dump()
    }
    await warm.close()
    const known = paths.filter(p => hotSet.isShareable(p))
    if (known.length === 0) throw new Error('no path became shareable')
    shedder.setHelpers([
      {
        peer: helperMember.id,
        weightRps: 100,
        weightBytesPerSec: 1_000_000,
        mirrorUrl: 'http://mirror-b.localhost:9102',
        siteBase: 'http://alpha.mirror-b.localhost:9102'
      }
    ])
    shedder.share = 1

    const run = async (on: boolean, ms: number): Promise<{ rps: number; redirects: number; other: number; errors: number }> => {
      deps.onRedirect = on ? accountingOn : undefined
      const result = new Promise<{ redirects: number; other: number; errors: number; ms: number }>(resolve => {
        load.once('message', resolve)
      })
      load.postMessage({ url, paths: known, ms })
      const r = await result
      return { rps: (r.redirects * 1000) / r.ms, redirects: r.redirects, other: r.other, errors: r.errors }
    }
    let redirectsOn = 0
    let other = 0
    let errors = 0
    // Warm both paths (JIT, connections) before measuring.
    redirectsOn += (await run(true, 1_500)).redirects
    await run(false, 1_500)
    const on: number[] = []
    const off: number[] = []
    for (let i = 0; i < runs; i++) {
      for (const mode of i % 2 === 0 ? [true, false] : [false, true]) {
        const r = await run(mode, seconds * 1000)
        if (mode) {
          on.push(r.rps)
          redirectsOn += r.redirects
        } else off.push(r.rps)
        other += r.other
        errors += r.errors
      }
    }
    await ledger.settle(session)
    const accounted = store.pair(self.id, helperMember.id, session)?.latestDelegation?.requests ?? 0
    return { on, off, accounted, redirectsOn, errors, other }
  } finally {
    await load.terminate()
    gate.close()
    await app.close()
    await originClient.close()
    await origin.close()
    await ledger.stop()
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
}

async function rate(n: number, capMs: number, fn: (i: number) => Promise<number>): Promise<{ perS: number; done: number }> {
  const t0 = performance.now()
  let done = 0
  while (done < n && performance.now() - t0 < capMs) done += await fn(done)
  return { perS: (done * 1000) / (performance.now() - t0), done }
}

async function collect(total: number, epoch: number): Promise<StoredRecord[]> {
  const signers = new Signers(total, 2, epoch)
  const out: StoredRecord[] = []
  try {
    for (let c = await signers.next(); c !== undefined; c = await signers.next()) out.push(...c)
  } finally {
    await signers.close()
  }
  return out
}

/** The constructed records must be exactly what verification gives (checked on a sample). */
async function checkSample(records: StoredRecord[]): Promise<void> {
  for (const r of [...records.slice(0, 4), ...records.slice(-4)]) {
    const v = toLedgerRecord(await verifyRecord(Buffer.from(r.bytes, 'base64'), { ignoreTime: true }))
    if (JSON.stringify(v) !== JSON.stringify(r)) throw new Error(`constructed record ${r.hash} differs from the verified one`)
  }
}

async function writesPhase(n: number): Promise<{ floor: number; one: number; many: number; n: number }> {
  const records = await collect(n, Date.now() - 30 * 86_400_000)
  await checkSample(records)
  const capMs = 8_000
  const dirs: string[] = []
  const temp = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'reef-bench-writes-'))
    dirs.push(d)
    return d
  }
  try {
    const db = new Level<string, string>(await temp(), { valueEncoding: 'utf8' })
    await db.open()
    const sub = db.sublevel<string, string>('records', { valueEncoding: 'utf8' })
    const floor = await rate(records.length, capMs, async i => {
      const r = records[i]!
      await sub.put(r.hash, JSON.stringify(r))
      return 1
    })
    await db.close()
    let store = await LedgerStore.open(await temp())
    const one = await rate(records.length, capMs, async i => {
      await store.apply(records[i]!)
      return 1
    })
    await store.close()
    store = await LedgerStore.open(await temp())
    const many = await rate(records.length, capMs, async i => {
      const c = records.slice(i, i + 1000)
      await store.applyMany(c)
      return c.length
    })
    await store.close()
    return { floor: floor.perS, one: one.perS, many: many.perS, n: records.length }
  } finally {
    await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true })))
  }
}

interface RebuildPhase {
  written: number
  reused: number
  writeS: number
  stream: RebuildResult
  loadAll: RebuildResult
}

/** Write n honest records (unless `keep` already holds a store), then rebuild in child processes. */
async function rebuildPhase(n: number, keep: string | undefined): Promise<RebuildPhase> {
  const dir = keep ?? (await mkdtemp(join(tmpdir(), 'reef-bench-rebuild-')))
  try {
    const store = await LedgerStore.open(dir)
    const reused = store.recordCount
    let written = 0
    const t0 = performance.now()
    if (reused === 0) {
      const signers = new Signers(n, 2, Date.now() - Math.ceil(n / (2 * ROUNDS_PER_SESSION)) * 600_000 - 86_400_000)
      const capMs = 150_000
      let checked = false
      try {
        for (let c = await signers.next(); c !== undefined && performance.now() - t0 < capMs; c = await signers.next()) {
          if (!checked) {
            await checkSample(c)
            checked = true
          }
          const verdicts = await store.applyMany(c)
          if (verdicts.some(v => v.kind !== 'applied')) throw new Error('an honest record was not applied')
          written += c.length
        }
      } finally {
        await signers.close()
      }
    }
    const writeS = (performance.now() - t0) / 1000
    await store.close()
    const stream = await runChild(dir, 'stream', 120_000)
    const loadAll = await runChild(dir, 'load-all', 120_000)
    return { written, reused, writeS, stream, loadAll }
  } finally {
    if (keep === undefined) await rm(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: { records: { type: 'string' }, runs: { type: 'string' }, seconds: { type: 'string' }, writes: { type: 'string' }, dir: { type: 'string' } },
    strict: true
  })
  const records = Number(values.records ?? 1_000_000)
  const runs = Number(values.runs ?? 3)
  const seconds = Number(values.seconds ?? 2)
  const writes = Number(values.writes ?? 20_000)
  if (
    !(
      Number.isInteger(records) &&
      records >= 2 &&
      records <= 5_000_000 &&
      Number.isInteger(runs) &&
      runs >= 1 &&
      runs <= 10 &&
      seconds > 0 &&
      seconds <= 30 &&
      Number.isInteger(writes) &&
      writes >= 1000 &&
      writes <= 200_000
    )
  ) {
    process.stderr.write('bench ledger: --records 2..5000000, --runs 1..10, --seconds (0, 30], --writes 1000..200000\n')
    process.exit(2)
  }
  const t0 = performance.now()
  const r = await redirectPhase(runs, seconds)
  const w = await writesPhase(writes)
  const b = await rebuildPhase(records, values.dir)
  const on = median(r.on)
  const off = median(r.off)
  const perS = (x: RebuildResult): number => (x.records * 1000) / x.ms
  const summary = (x: RebuildResult): string =>
    x.error !== undefined ? x.error : `${fmt(perS(x))} records/s, peak RSS ${mib(x.peakRss)} (private ${mib(x.peakAnon)})`
  const rebuildRow = (name: string, x: RebuildResult): string =>
    x.error !== undefined
      ? `| ${name} | ${x.error} | – | – | – | – |`
      : `| ${name} | ${fmt(x.records)} in ${fmt(x.ms / 1000, 1)} s: **${fmt(perS(x))}/s** | ${mib(x.rssAfterOpen)} (${mib(x.anonAfterOpen)}) | **${mib(x.peakRss)} (${mib(x.peakAnon)})** | ${mib(x.maxRss)} | ${x.equal ? 'equal' : '**DIFFERENT**'} |`
  const load =
    b.reused > 0
      ? `| bulk load | reused ${fmt(b.reused)} records in ${values.dir ?? ''} | | |`
      : `| bulk load: sign (2 worker threads) + store.applyMany(${CHUNK}) | ${fmt(b.written)} records in ${fmt(b.writeS, 1)} s: ${fmt(b.written / b.writeS)}/s | | |`
  process.stdout.write(
    [
      `Ledger bench: \`pnpm bench ledger ${process.argv.slice(3).join(' ')}\`, Node ${process.version}, ${new Date().toISOString()}, ${fmt((performance.now() - t0) / 1000)} s in all`,
      '',
      '| measurement | result | baseline (same run) | ratio |',
      '| --- | ---: | ---: | ---: |',
      `| redirects/s with ledger accounting ON (median of ${runs} × ${seconds} s) | ${fmt(on)} (${r.on.map(x => fmt(x)).join(', ')}) | OFF: ${fmt(off)} (${r.off.map(x => fmt(x)).join(', ')}) | **${(on / off).toFixed(3)}** |`,
      `| redirects claimed by the settled delegation | ${fmt(r.accounted)} | made while ON: ${fmt(r.redirectsOn)} | ${r.accounted === r.redirectsOn ? 'exact' : '**MISMATCH**'} |`,
      `| ledger writes/s, store.apply one by one (${fmt(w.n)} pre-signed records, ≤ 8 s) | ${fmt(w.one)} | bare LevelDB put of the record JSON: ${fmt(w.floor)} | ${(w.one / w.floor).toFixed(2)} |`,
      `| ledger writes/s, store.applyMany, batches of 1000 | ${fmt(w.many)} | bare LevelDB put of the record JSON: ${fmt(w.floor)} | ${(w.many / w.floor).toFixed(2)} |`,
      load,
      `| rebuild balances from ${fmt(b.stream.records || b.written + b.reused)} records: streaming recompute() | ${summary(b.stream)} | load all + recomputeBalances: ${summary(b.loadAll)} | ${(perS(b.stream) / perS(b.loadAll)).toFixed(2)} |`,
      ...(r.errors + r.other > 0 ? ['', `During the redirect runs: ${r.errors} request errors, ${r.other} answers other than 307.`] : []),
      '',
      'Rebuild detail: each in a fresh child process that opens the store and rebuilds; memory as RSS (private anonymous memory in parentheses: RSS also counts the pages of table files LevelDB maps to read them).',
      '',
      '| rebuild | records, time, rate | after open | peak while rebuilding (sampled / 20 ms) | process max RSS | totals vs stored |',
      '| --- | ---: | ---: | ---: | ---: | --- |',
      rebuildRow('streaming recompute() over `order`', b.stream),
      rebuildRow('previous: load all records, recomputeBalances', b.loadAll)
    ].join('\n') + '\n'
  )
}

if (isMainThread) {
  if (process.argv[2] === '--child') await rebuildChild(process.argv[4]!, process.argv[3] as 'stream' | 'load-all')
  else await main()
}
