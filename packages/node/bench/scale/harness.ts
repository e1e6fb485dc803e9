/**
 * The control-plane scale harness (issue "A consortium of a hundred"): N real Reef nodes, each
 * with its own identity, ledger and governance stores, libp2p over loopback TCP (gossipsub,
 * kad-dht, identify), spread over P processes (worker.ts); one demo origin per process. The
 * HTTP data plane is reduced to one struck site's crowd: requests to its front, redirects not
 * followed.
 *
 * Why TCP and not the memory transport: the memory transport connects nodes of one process
 * only, and one process is one core; TCP lets the consortium use both cores of the machine,
 * and it is the transport members use, Noise and Yamux included, so the bytes and CPU measured
 * are what a member pays.
 *
 * Silence is real: a silent member's process is stopped (SIGSTOP). Its connections stay open,
 * its peers' gossip to it queues, and it answers nothing, as a hung or partitioned machine.
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signRecord } from '@reef/protocol'
import type { CharterBody, EvidenceItem, Member, MultiSigned } from '@reef/protocol'
import { Agent, request } from 'undici'
import { freePort } from '../../demo/consortium.ts'
import { REPORT_WARMUP_MS } from '../../src/constants.ts'
import { seededRandom } from '../../demo/crowd.ts'
import { charterBody, signCharter, writeCharterFile } from '../../src/index.ts'
import type { ReefConfigInput } from '../../src/index.ts'
import type { Ask, FromWorker, NodeSpec, ToWorker, WorkerNodeSample } from './messages.ts'

const WORKER = new URL('./worker.ts', import.meta.url).pathname

export interface ScaleOptions {
  nodes: number
  /** Node processes. */
  procs: number
  /** Members with room to help (mirror capacity); the rest offer nothing. */
  helpers: number
  /** Each node dials this many others at start (its bootstrap list). */
  bootstrapDegree?: number
  note?: (line: string) => void
}

export interface Member1 {
  label: string
  peerId: string
  key: PrivateKey
  proc: number
  front: number
  p2p: number
}

type Reply<K extends FromWorker['op']> = Extract<FromWorker, { op: K }>

/**
 * Where a process's main thread is now, as a stack: SIGUSR1 opens its inspector (which runs on a
 * thread of its own, so a busy process answers), Debugger.pause stops it and the paused event
 * carries the call frames; then it runs on. For a bench worker that stops answering.
 */
export async function busyStack(child: ChildProcess, port: number, timeoutMs = 10_000): Promise<string> {
  try {
    child.kill('SIGUSR1')
    const deadline = Date.now() + timeoutMs
    let url: string | undefined
    while (url === undefined && Date.now() < deadline) {
      try {
        const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl?: string }>
        url = list[0]?.webSocketDebuggerUrl
      } catch {
        await sleep(200)
      }
    }
    if (url === undefined) return '(its inspector did not open)'
    const ws = new WebSocket(url)
    return await new Promise<string>(resolve => {
      const done = (s: string): void => {
        clearTimeout(timer)
        try {
          ws.send(JSON.stringify({ id: 3, method: 'Debugger.resume' }))
          ws.close()
        } catch {}
        resolve(s)
      }
      const timer = setTimeout(() => done('(no pause within the time limit)'), Math.max(1_000, deadline - Date.now()))
      ws.onopen = () => {
        ws.send(JSON.stringify({ id: 1, method: 'Debugger.enable' }))
        ws.send(JSON.stringify({ id: 2, method: 'Debugger.pause' }))
      }
      // Frames name their script by id; the scripts' urls come in scriptParsed events.
      const scripts = new Map<string, string>()
      ws.onmessage = ev => {
        const m = JSON.parse(String(ev.data)) as {
          method?: string
          params?: { scriptId?: string; url?: string; callFrames?: Array<{ functionName: string; location: { scriptId: string; lineNumber: number } }> }
        }
        if (m.method === 'Debugger.scriptParsed') scripts.set(m.params!.scriptId!, m.params!.url!)
        if (m.method !== 'Debugger.paused') return
        const where = (id: string): string => (scripts.get(id) ?? '?').replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/packages\//, '')
        done(m.params!.callFrames!.map(f => `    at ${f.functionName || '(anonymous)'} ${where(f.location.scriptId)}:${f.location.lineNumber + 1}`).join('\n'))
      }
      ws.onerror = () => done('(the inspector connection failed)')
    })
  } catch (err) {
    return `(no stack: ${(err as Error).message})`
  }
}

export class Worker {
  readonly child: ChildProcess
  readonly index: number
  #next = 1
  readonly #pending = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>()
  started: Promise<Reply<'started'>>
  stopped = false
  readonly inspectPort: number

  constructor(index: number, logDir: string) {
    this.index = index
    // REEF_SCALE_CPU_PROF=DIR: each process writes a V8 CPU profile there when it stops.
    const prof = process.env.REEF_SCALE_CPU_PROF
    // Its own inspector port, opened only on SIGUSR1 (busyStack), so that a worker that stops
    // answering can say where it is busy.
    this.inspectPort = 19_300 + index
    const execArgv = [
      '--max-old-space-size=4096',
      `--inspect-port=127.0.0.1:${this.inspectPort}`,
      ...(prof === undefined || prof === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`])
    ]
    this.child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv })
    let err = ''
    this.child.stderr?.on('data', (d: Buffer) => {
      err = (err + String(d)).slice(-4000)
    })
    let resolveStarted!: (m: Reply<'started'>) => void
    let rejectStarted!: (e: Error) => void
    this.started = new Promise((res, rej) => {
      resolveStarted = res
      rejectStarted = rej
    })
    this.child.on('message', (m: FromWorker) => {
      if (m.op === 'started') return resolveStarted(m)
      if (m.op === 'error' && m.id === 0) return rejectStarted(new Error(`worker ${index}: ${m.message}`))
      const p = this.#pending.get(m.id)
      if (p === undefined) return
      this.#pending.delete(m.id)
      if (m.op === 'error') p.reject(new Error(`worker ${index}: ${m.message}`))
      else p.resolve(m)
    })
    this.child.on('exit', code => {
      const e = new Error(`worker ${index} exited (${code}); logs in ${logDir}; ${err}`)
      rejectStarted(e)
      for (const p of this.#pending.values()) p.reject(e)
      this.#pending.clear()
    })
  }

  post(m: ToWorker): void {
    this.child.send(m)
  }

  async ask<K extends FromWorker['op']>(m: Ask, timeoutMs = 30_000): Promise<Reply<K>> {
    const id = this.#next++
    return await new Promise<Reply<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        void busyStack(this.child, this.inspectPort).then(where =>
          reject(new Error(`worker ${this.index}: no answer to ${m.op} within ${timeoutMs} ms; its main thread was in:\n${where}`))
        )
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: r => {
          clearTimeout(timer)
          resolve(r as Reply<K>)
        },
        reject: e => {
          clearTimeout(timer)
          reject(e)
        }
      })
      this.child.send({ ...m, id } as ToWorker)
    })
  }
}

export interface Snapshot {
  at: number
  rssBytes: number[]
  heapBytes: number[]
  cpuMs: number
  wallMs: number
  /** Records delivered to all nodes since the previous snapshot, by type. */
  records: Record<string, number>
  nodes: WorkerNodeSample[]
}

export interface StrikeResult {
  label: string
  /** Observers that were live (not silent) and how many of them saw the strike. */
  observers: number
  saw: number
  /**
   * Ms from the strike (the struck node's detector saying so) to the struck state's arrival in
   * each live observer's load view: p50 / p99 / max over the observers.
   */
  viewP50: number
  viewP99: number
  viewMax: number
  /**
   * Ms from the strike to when the record that brought the struck state to each observer was
   * made (its `ts`, the struck node's clock; the same machine here): p50 / max. Tells a report
   * made late from one delivered late.
   */
  viewMadeP50: number
  viewMadeMax: number
  /** Ms from the strike to the help request (the node's own session opened). */
  requestMs: number | undefined
  /** Ms after the strike: the first offer the struck node held, its first accept. */
  firstOfferMs: number | undefined
  firstAcceptMs: number | undefined
  coveredMs: number | undefined
  offers: number
  helpers: number
  needBytesPerSec: number
  crowd: { sent: number; statuses: Record<string, number> }
  /** Mean libp2p bytes sent per node per second while struck. */
  gossipBytesPerSecPerNode: number
  /** Records each live node took in per second over the crowd, by type (after gossip's dedup). */
  recordsPerSecPerNode: Record<string, number>
}

/** A p-quantile of `xs` (nearest rank). */
export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
}

const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms))

/** Bytes sent so far on each established TCP socket with an end on one of `ports` (ss -ti). */
export function tcpBytesSent(ports: ReadonlySet<number>): Map<string, number> {
  const out = new Map<string, number>()
  const r = spawnSync('ss', ['-tinH'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 10_000 })
  if (r.status !== 0) return out
  const lines = r.stdout.split('\n')
  for (let i = 0; i < lines.length - 1; i++) {
    const head = lines[i]!
    if (head.startsWith('\t') || head.startsWith(' ')) continue
    const f = head.trim().split(/\s+/)
    const local = f[3]
    const peer = f[4]
    if (local === undefined || peer === undefined) continue
    const lp = Number(local.slice(local.lastIndexOf(':') + 1))
    const pp = Number(peer.slice(peer.lastIndexOf(':') + 1))
    if (!ports.has(lp) && !ports.has(pp)) continue
    const m = /bytes_sent:(\d+)/.exec(lines[i + 1] ?? '')
    out.set(`${local}>${peer}`, Number(m?.[1] ?? 0))
  }
  return out
}

function bytesBetween(a: Map<string, number>, b: Map<string, number>): number {
  let sum = 0
  for (const [k, v] of b) sum += v - (a.get(k) ?? 0)
  return sum
}

export class ScaleConsortium {
  readonly opts: Required<Omit<ScaleOptions, 'note'>> & Pick<ScaleOptions, 'note'>
  readonly dir: string
  readonly members: Member1[]
  readonly workers: Worker[]
  readonly charter: MultiSigned<CharterBody>
  readonly p2pPorts: Set<number>
  readonly startMs: number
  /** When every node had started. */
  readonly #upAt = Date.now()
  /** The first member's admin API (the dashboard's and the CLI's source). */
  readonly admin: { url: string; token: string }
  #silent = new Set<number>()

  private constructor(
    o: ScaleConsortium['opts'],
    dir: string,
    members: Member1[],
    workers: Worker[],
    charter: MultiSigned<CharterBody>,
    startMs: number,
    admin: { url: string; token: string }
  ) {
    this.admin = admin
    this.opts = o
    this.dir = dir
    this.members = members
    this.workers = workers
    this.charter = charter
    this.p2pPorts = new Set(members.map(m => m.p2p))
    this.startMs = startMs
  }

  static async start(opts: ScaleOptions): Promise<ScaleConsortium> {
    const o = { bootstrapDegree: 6, ...opts }
    if (o.nodes < 3 || o.nodes > 200) throw new RangeError('--nodes must be 3..200')
    if (o.procs < 1 || o.procs > o.nodes) throw new RangeError('--procs must be 1..nodes')
    const note = o.note ?? (() => {})
    const dir = await mkdtemp(join(tmpdir(), 'reef-scale-'))
    const workers: Worker[] = []
    try {
      const members: Member1[] = []
      for (let i = 0; i < o.nodes; i++) {
        const key = await generateKeyPair('Ed25519')
        const label = `m${String(i).padStart(3, '0')}`
        await mkdir(join(dir, label), { recursive: true })
        await writeFile(join(dir, label, 'identity.key'), privateKeyToProtobuf(key), { mode: 0o600 })
        members.push({ label, key, peerId: peerIdFromPrivateKey(key).toString(), proc: i % o.procs, front: await freePort(), p2p: await freePort() })
      }
      const mirrorPorts = await Promise.all(members.map(async () => freePort()))
      const admin = { port: await freePort(), token: randomBytes(24).toString('base64url') }
      const founders: Member[] = members.map((m, i) => ({ peer: m.peerId, site: m.label, mirrorUrl: `http://mirror-${m.label}.localhost:${mirrorPorts[i]}` }))
      let charter: MultiSigned<CharterBody> = { body: charterBody({ id: 'scale', name: `Scale harness, ${o.nodes} members`, founders }), sigs: [] }
      for (const m of members) charter = await signCharter(charter, m.key, m.peerId)
      const charterFile = join(dir, 'charter.json')
      await writeCharterFile(charterFile, charter)
      // Bootstrap: each node dials `bootstrapDegree` others chosen at random (a sparse, connected graph).
      const rand = seededRandom(7)
      const specs: NodeSpec[][] = Array.from({ length: o.procs }, () => [])
      for (const [i, m] of members.entries()) {
        const others = new Set<number>()
        while (others.size < Math.min(o.bootstrapDegree, o.nodes - 1)) {
          const j = Math.floor(rand() * o.nodes)
          if (j !== i) others.add(j)
        }
        const config: ReefConfigInput = {
          consortium: 'scale',
          site: { label: m.label, publicUrl: `http://127.0.0.1:${m.front}` },
          origin: { url: 'http://127.0.0.1:1', capacityRps: 20, maxConcurrent: 4 },
          front: { listen: { host: '127.0.0.1', port: m.front } },
          mirror: {
            listen: { host: '127.0.0.1', port: mirrorPorts[i]! },
            publicUrl: founders[i]!.mirrorUrl,
            // The first `helpers` members other than m000 have room; the rest offer nothing.
            capacityRps: i >= 1 && i <= o.helpers ? 1000 : 0
          },
          p2p: {
            listen: [`/ip4/127.0.0.1/tcp/${m.p2p}`],
            bootstrap: [...others].map(j => `/ip4/127.0.0.1/tcp/${members[j]!.p2p}/p2p/${members[j]!.peerId}`)
          },
          uplink: { bytesPerSec: 20_000_000 },
          dataDir: join(dir, m.label),
          governance: { charter: charterFile, autoVote: true },
          ...(i === 0 ? { admin: { listen: { host: '127.0.0.1', port: admin.port }, token: admin.token } } : {}),
          log: { level: 'warn' }
        }
        specs[m.proc]!.push({ label: m.label, config })
      }
      const t0 = Date.now()
      for (let p = 0; p < o.procs; p++) {
        const w = new Worker(p, dir)
        workers.push(w)
        w.post({
          op: 'start',
          specs: specs[p]!,
          origin: { workers: 4, capacityRps: 200, seed: p + 1, siteName: `proc${p}` },
          logFile: join(dir, `worker-${p}.log`)
        })
      }
      await Promise.all(workers.map(async w => w.started))
      note(`${o.nodes} nodes in ${o.procs} processes up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${dir})`)
      return new ScaleConsortium(o, dir, members, workers, charter, Date.now() - t0, { url: `http://127.0.0.1:${admin.port}`, token: admin.token })
    } catch (err) {
      await Promise.allSettled(workers.map(async w => killWorker(w)))
      await rm(dir, { recursive: true, force: true })
      throw err
    }
  }

  member(label: string): Member1 {
    const m = this.members.find(x => x.label === label)
    if (m === undefined) throw new Error(`no member ${label}`)
    return m
  }

  #live(): Worker[] {
    return this.workers.filter(w => !this.#silent.has(w.index))
  }

  /** Members that are neither silent nor expelled. */
  liveMembers(): Member1[] {
    return this.members.filter(m => !this.#silent.has(m.proc) && !this.#expelled.has(m.label))
  }

  readonly #expelled = new Set<string>()

  async snapshot(): Promise<Snapshot> {
    const rs = await Promise.all(this.#live().map(async w => w.ask<'sample'>({ op: 'sample' })))
    return {
      at: Date.now(),
      rssBytes: rs.map(r => r.rssBytes),
      heapBytes: rs.map(r => r.heapBytes),
      cpuMs: rs.reduce((a, r) => a + r.cpuMs, 0),
      wallMs: Math.max(...rs.map(r => r.wallMs)),
      records: rs.reduce<Record<string, number>>((a, r) => {
        for (const [k, v] of Object.entries(r.records)) a[k] = (a[k] ?? 0) + v
        return a
      }, {}),
      nodes: rs.flatMap(r => r.nodes)
    }
  }

  /** Wait until every live node's load view holds at least `share` of the other live nodes. */
  async formed(share = 1, timeoutMs = 180_000): Promise<number> {
    const t0 = Date.now()
    const want = Math.ceil(share * (this.liveMembers().length - 1))
    let last = ''
    while (Date.now() - t0 < timeoutMs) {
      const s = await this.snapshot()
      const low = s.nodes.filter(n => n.livePeers < want)
      if (low.length === 0) return Date.now() - t0
      last = `${low.length} nodes see fewer than ${want} peers (lowest ${Math.min(...low.map(n => n.livePeers))})`
      await sleep(500)
    }
    throw new Error(`the consortium did not form within ${timeoutMs} ms: ${last}`)
  }

  /**
   * Wait until the members' CPU, over windows of `windowMs`, is at most `cpuPerNode` (a share of a
   * core per node), or `timeoutMs` passes: what a phase leaves behind (a strike's sessions
   * winding down) is work for the same two cores, which members on their own machines would not
   * share. Returns the time waited and the last window's CPU per node.
   */
  async settled(cpuPerNode: number, windowMs = 1_000, timeoutMs = 30_000): Promise<{ ms: number; cpuPerNode: number }> {
    const t0 = Date.now()
    await this.snapshot()
    for (;;) {
      await sleep(windowMs)
      const s = await this.snapshot()
      const cpu = s.cpuMs / s.wallMs / s.nodes.length
      if (cpu <= cpuPerNode || Date.now() - t0 >= timeoutMs) return { ms: Date.now() - t0, cpuPerNode: cpu }
    }
  }

  /** Calm-time figures over `windowMs`: gossip bytes, CPU and RSS per node, report transit. */
  async calm(windowMs: number): Promise<{
    gossipBytesPerSecPerNode: number
    cpuPerNode: number
    rssPerNodeBytes: number
    rssPerProcBytes: number[]
    transitP50: number
    transitP99: number
    livePeersMin: number
    topicPeersMean: number
    connectionsMean: number
  }> {
    // Calm is after every node's warm-up (it reports every second for its first 10 s).
    const calmFrom = this.#upAt + REPORT_WARMUP_MS + 2_000
    if (Date.now() < calmFrom) await sleep(calmFrom - Date.now())
    await this.snapshot()
    const b0 = tcpBytesSent(this.p2pPorts)
    const t0 = Date.now()
    await sleep(windowMs)
    const b1 = tcpBytesSent(this.p2pPorts)
    const secs = (Date.now() - t0) / 1000
    const s = await this.snapshot()
    const n = s.nodes.length
    const transit = s.nodes.flatMap(x => x.transit)
    return {
      gossipBytesPerSecPerNode: bytesBetween(b0, b1) / secs / n,
      cpuPerNode: s.cpuMs / s.wallMs / n,
      rssPerNodeBytes: s.rssBytes.reduce((a, b) => a + b, 0) / n,
      rssPerProcBytes: s.rssBytes,
      transitP50: quantile(transit, 0.5),
      transitP99: quantile(transit, 0.99),
      livePeersMin: Math.min(...s.nodes.map(x => x.livePeers)),
      topicPeersMean: s.nodes.reduce((a, x) => a + x.topicPeers, 0) / n,
      connectionsMean: s.nodes.reduce((a, x) => a + x.connections, 0) / n
    }
  }

  /**
   * Strike `label`: a crowd of `rps` requests/s to its front for `seconds` (redirects not
   * followed). Measures when its help is engaged and covered, and how fast every live member's
   * load view shows it struck. Returns once it is calm again.
   */
  async strike(label: string, rps: number, seconds: number): Promise<StrikeResult> {
    const m = this.member(label)
    const w = this.workers[m.proc]!
    await w.ask({ op: 'track-help', label })
    const agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 })
    const paths = ['/', '/css/site.css', '/js/app.js', '/about.html', '/gallery.html']
    const crowd = { sent: 0, statuses: {} as Record<string, number> }
    await this.snapshot() // counts records from here
    const b0 = tcpBytesSent(this.p2pPorts)
    const tb0 = Date.now()
    let b1: Map<string, number> | undefined
    let tb1 = 0
    const crowdDone = (async () => {
      const t0 = Date.now()
      const inflight = new Set<Promise<void>>()
      for (let i = 0; i < rps * seconds; i++) {
        const due = t0 + (i * 1000) / rps
        if (due > Date.now()) await sleep(due - Date.now())
        const p = (async () => {
          try {
            const res = await request(`http://127.0.0.1:${m.front}${paths[i % paths.length]}`, { dispatcher: agent, signal: AbortSignal.timeout(10_000) })
            await res.body.dump()
            crowd.statuses[res.statusCode] = (crowd.statuses[res.statusCode] ?? 0) + 1
          } catch (err) {
            const code = (err as { code?: string }).code ?? 'error'
            crowd.statuses[code] = (crowd.statuses[code] ?? 0) + 1
          }
        })()
        crowd.sent++
        inflight.add(p)
        void p.finally(() => inflight.delete(p))
        if (i === Math.floor((rps * seconds) / 2)) {
          b1 = tcpBytesSent(this.p2pPorts)
          tb1 = Date.now()
        }
      }
      await Promise.allSettled(inflight)
    })()
    // Help: engaged and covered, polled from the struck node's process.
    let help: Reply<'help'> | undefined
    const deadline = Date.now() + seconds * 1000
    while (Date.now() < deadline) {
      help = await w.ask<'help'>({ op: 'help', label })
      if (help.coveredAt !== undefined) break
      await sleep(50)
    }
    // The load view: how long until the live members' views show it struck.
    const observers = this.liveMembers().filter(x => x.label !== label)
    let seenAt: number[] = []
    let madeAt: number[] = []
    const viewDeadline = Date.now() + 10_000
    while (Date.now() < viewDeadline) {
      const views = await Promise.all(this.#live().map(async x => x.ask<'view'>({ op: 'view', author: m.peerId, state: 'struck', since: tb0 })))
      const seen = views.flatMap(v => v.seen).filter(s => s.at !== undefined)
      seenAt = seen.map(s => s.at!)
      madeAt = seen.flatMap(s => (s.ts === undefined ? [] : [s.ts]))
      if (seenAt.length >= observers.length) break
      await sleep(100)
    }
    await crowdDone
    const during = await this.snapshot()
    const perNode = ((during.at - tb0) / 1000) * this.liveMembers().length
    const recordsPerSecPerNode = Object.fromEntries(Object.entries(during.records).map(([k, v]) => [k, Math.round((v / perNode) * 10) / 10]))
    await agent.close()
    const bytes = b1 === undefined ? 0 : bytesBetween(b0, b1) / ((tb1 - tb0) / 1000) / this.liveMembers().length
    help = await w.ask<'help'>({ op: 'help', label })
    // Calm again before the next phase.
    const calmDeadline = Date.now() + 30_000
    while (Date.now() < calmDeadline && (await w.ask<'help'>({ op: 'help', label })).state !== 'normal') await sleep(200)
    // Timed from the strike; from the help request when the detector's moment was missed.
    const started = help.struckAt ?? help.startedAt
    const lat = started === undefined ? [] : seenAt.map(at => at - started)
    return {
      label,
      observers: observers.length,
      saw: lat.length,
      viewP50: quantile(lat, 0.5),
      viewP99: quantile(lat, 0.99),
      viewMax: lat.length === 0 ? Number.NaN : Math.max(...lat),
      viewMadeP50:
        started === undefined
          ? Number.NaN
          : quantile(
              madeAt.map(t => t - started),
              0.5
            ),
      viewMadeMax: started === undefined || madeAt.length === 0 ? Number.NaN : Math.max(...madeAt) - started,
      requestMs: started === undefined || help.startedAt === undefined ? undefined : help.startedAt - started,
      firstOfferMs: started === undefined || help.firstOfferAt === undefined ? undefined : help.firstOfferAt - started,
      firstAcceptMs: started === undefined || help.firstAcceptAt === undefined ? undefined : help.firstAcceptAt - started,
      coveredMs: started === undefined || help.coveredAt === undefined ? undefined : help.coveredAt - started,
      offers: help.offers,
      helpers: help.helpers,
      needBytesPerSec: help.needBytes,
      crowd,
      gossipBytesPerSecPerNode: bytes,
      recordsPerSecPerNode
    }
  }

  /**
   * An expulsion: `proposer` proposes expelling `cheater` on ledger evidence (two different
   * delegations it signed for one round: equivocation, provable by the records alone). Every
   * member checks and votes by itself. Measures when each live member applies the entry.
   */
  async expel(
    proposer: string,
    cheater: string
  ): Promise<{
    appliedP50: number
    appliedMax: number
    applied: number
    members: number
    proposalP50: number
    proposalMax: number
    votedP50: number
    votedMax: number
    /** Vote relay (r5): votes the proposer got from below, and members that gossiped their vote (path failed or slow). */
    proposerFromBelow: number
    fallbacks: number
    /** Ms from the proposal to the entry applied at the proposer (it assembles the quorum). */
    proposerAppliedMs: number
    /** Event-loop delay over the expulsion, per process: the highest p99 and the highest max, ms. */
    loopDelayP99Ms: number
    loopDelayMaxMs: number
  }> {
    const c = this.member(cheater)
    const p = this.member(proposer)
    const helper = this.members.find(x => x.label !== cheater && x.label !== proposer)!
    const d = async (requests: number): Promise<string> =>
      Buffer.from(
        await signRecord(
          c.key,
          c.peerId,
          'delegation',
          { session: 'c2NhbGUtc2Vzc2lvbg', helper: helper.peerId, round: 1, requests, bytes: requests * 1000, final: false },
          { seq: requests, ts: Date.now() }
        )
      ).toString('base64url')
    const evidence: EvidenceItem[] = [{ kind: 'ledger', records: [await d(100), await d(10)] }]
    const live = this.#live()
    await Promise.all(live.map(async w => w.ask({ op: 'watch-expel', peer: c.peerId })))
    const proposed = await this.workers[p.proc]!.ask<'proposed'>({
      op: 'propose-expel',
      label: proposer,
      peer: c.peerId,
      reason: 'ledger: equivocation',
      evidence
    })
    if (proposed.proposal === null) throw new Error('the expulsion was not proposed')
    const members = this.liveMembers().filter(x => x.label !== cheater).length
    this.#expelled.add(cheater)
    const deadline = Date.now() + 30_000
    let at: number[] = []
    let rows: Reply<'expelled'>['at'] = []
    let delays: Array<{ p99: number; max: number }> = []
    while (Date.now() < deadline) {
      const rs = await Promise.all(live.map(async w => w.ask<'expelled'>({ op: 'expelled', peer: c.peerId, since: proposed.at })))
      rows = rs.flatMap(r => r.at)
      delays = rs.map(r => r.loopDelayMs)
      at = rows.filter(x => x.at !== undefined).map(x => x.at! - proposed.at)
      if (at.length >= members) break
      await sleep(100)
    }
    // Where the time goes: the proposal reaching each member, and its vote.
    const proposal = rows.filter(x => x.proposalAt !== undefined).map(x => x.proposalAt! - proposed.at)
    const voted = rows.filter(x => x.votedAt !== undefined).map(x => x.votedAt! - proposed.at)
    const max = (xs: number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs))
    return {
      appliedP50: quantile(at, 0.5),
      appliedMax: max(at),
      applied: at.length,
      members,
      proposalP50: quantile(proposal, 0.5),
      proposalMax: max(proposal),
      votedP50: quantile(voted, 0.5),
      votedMax: max(voted),
      proposerFromBelow: rows.find(x => x.label === proposer)?.relay.fromBelow ?? 0,
      fallbacks: rows.reduce((n, x) => n + x.relay.fallbacks, 0),
      proposerAppliedMs: (rows.find(x => x.label === proposer)?.at ?? Number.NaN) - proposed.at,
      loopDelayP99Ms: Math.max(...delays.map(d => d.p99)),
      loopDelayMaxMs: Math.max(...delays.map(d => d.max))
    }
  }

  /**
   * What the dashboard and the CLI (`reef status`, `reef members`) read from the first member's
   * admin API at this size: each route's answer size and time (median of `n`).
   */
  async adminApi(n = 10): Promise<Array<{ path: string; bytes: number; ms: number; items: number }>> {
    const out = []
    for (const path of ['/api/status', '/api/governance', '/api/ledger']) {
      const times: number[] = []
      let bytes = 0
      let items = 0
      for (let i = 0; i < n; i++) {
        const t0 = performance.now()
        const res = await request(`${this.admin.url}${path}`, { headers: { authorization: `Bearer ${this.admin.token}` }, signal: AbortSignal.timeout(10_000) })
        const text = await res.body.text()
        times.push(performance.now() - t0)
        if (res.statusCode !== 200) throw new Error(`${path}: ${res.statusCode} ${text.slice(0, 200)}`)
        bytes = Buffer.byteLength(text)
        const body = JSON.parse(text) as { peers?: unknown[]; members?: unknown[]; balances?: unknown[] }
        items = (body.peers ?? body.members ?? body.balances ?? []).length
      }
      out.push({ path, bytes, ms: quantile(times, 0.5), items })
    }
    return out
  }

  /** A V8 CPU profile of every live process over `ms`, written to `dir`. */
  async profile(ms: number, dir: string, intervalUs?: number): Promise<void> {
    await mkdir(dir, { recursive: true })
    await Promise.all(
      this.#live().map(async w =>
        w.ask({ op: 'profile', ms, file: join(dir, `worker-${w.index}.cpuprofile`), ...(intervalUs === undefined ? {} : { intervalUs }) }, ms + 30_000)
      )
    )
  }

  /** Stop (SIGSTOP) whole processes until at least `share` of the members are silent. */
  silence(share: number, keep: ReadonlySet<number> = new Set([0])): number {
    const want = Math.round(share * this.members.length)
    for (let p = this.workers.length - 1; p >= 0 && this.members.filter(m => this.#silent.has(m.proc)).length < want; p--) {
      if (keep.has(p) || this.#silent.has(p)) continue
      this.workers[p]!.child.kill('SIGSTOP')
      this.#silent.add(p)
    }
    return this.members.filter(m => this.#silent.has(m.proc)).length
  }

  wake(): void {
    for (const p of this.#silent) this.workers[p]!.child.kill('SIGCONT')
    this.#silent.clear()
  }

  async close(): Promise<void> {
    this.wake()
    await Promise.allSettled(
      this.workers.map(async w => {
        try {
          await w.ask({ op: 'stop' }, 20_000)
        } catch {
          await killWorker(w)
        }
      })
    )
    if (process.env.REEF_SCALE_DEBUG === undefined) await rm(this.dir, { recursive: true, force: true })
    else process.stderr.write(`REEF_SCALE_DEBUG: logs kept in ${this.dir}\n`)
  }
}

export async function killWorker(w: Worker): Promise<void> {
  if (w.child.exitCode !== null) return
  w.child.kill('SIGCONT')
  w.child.kill('SIGKILL')
  await new Promise(r => w.child.once('exit', r))
}
