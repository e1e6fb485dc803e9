/**
 * The testbed's network: one bridge in the root namespace and, per site, a network namespace
 * joined to it by a veth pair, its uplink (the namespace side of the veth) shaped by tc tbf.
 * Namespaces reach each other and the root namespace by bridging; nothing is routed, no sysctl
 * is touched, and a namespace has no route beyond the run's /16, so nothing in it can reach
 * anything but the testbed.
 *
 *   bridge     rfb<pid>        10.X.0.1/16 in the root namespace (X: the first free of 213…239)
 *   site i     reef<pid>s<i>   eth0 10.X.0.(i+1)/16, lo; host end rf<pid>h<i> on the bridge
 *
 * Names carry the pid of the process that made them, so a later run can remove what a dead run
 * left behind. Everything made is recorded before it is made and removed by cleanup(), which is
 * idempotent and also runs on SIGINT, SIGTERM and at exit (a synchronous last resort).
 */
import { execFile, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A testbed operation that failed (with the command's own words). */
export class TestbedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TestbedError'
  }
}

const COMMAND_TIMEOUT_MS = 15_000
/** tbf burst: at least 64 KiB, else 10 ms worth of the rate. */
const MIN_BURST_BYTES = 64 * 1024
const BURST_MS = 10
/** Third octets of 10.X.0.0/16 ranges tried, in order. */
const RANGE_FIRST = 213
const RANGE_LAST = 239
/** At most this many sites: their addresses are 10.X.0.2 … 10.X.0.(MAX_SITES + 1). */
export const MAX_SITES = 200

function commandError(cmd: string, args: string[], stderr: string, err?: unknown): TestbedError {
  const detail = stderr.trim() === '' ? (err instanceof Error ? err.message : 'failed') : stderr.trim()
  return new TestbedError(`${cmd} ${args.join(' ')}: ${detail}`, err === undefined ? undefined : { cause: err })
}

/** Commands under way (a long `pnpm install` included): clean-up kills them. */
const running = new Set<ChildProcess>()

/** Run a command (no shell); resolves to its stdout, rejects with a TestbedError quoting stderr. */
export function run(cmd: string, args: string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      running.delete(child)
      if (err !== null) reject(commandError(cmd, args, stderr, err))
      else resolve(stdout)
    })
    running.add(child)
  })
}

/** The same, synchronously; for clean-up at exit. Returns stdout, or undefined when it failed. */
function runSync(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS })
  return r.status === 0 ? r.stdout : undefined
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export const names = {
  netns: (pid: number, i: number): string => `reef${pid}s${i}`,
  hostVeth: (pid: number, i: number): string => `rf${pid}h${i}`,
  bridge: (pid: number): string => `rfb${pid}`,
  tmpPrefix: (pid: number): string => `reef-net-${pid}-`
}
const LEFTOVER_NETNS = /^reef(\d+)(?:s\d+|probe)$/
const LEFTOVER_LINK = /^(?:rf(\d+)h\d+|rfb(\d+))$/
const LEFTOVER_TMP = /^reef-net-(\d+)-/

function netnsList(): string[] {
  return (runSync('ip', ['netns', 'list']) ?? '')
    .split('\n')
    .map(l => l.trim().split(/\s+/)[0] ?? '')
    .filter(n => n !== '')
}

function linkList(): string[] {
  // "7: rf123h1@if2: <…>": the name is before '@' or ':'.
  return (runSync('ip', ['-o', 'link', 'show']) ?? '')
    .split('\n')
    .map(l => /^\d+:\s*([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter(n => n !== '')
}

/** SIGKILL every process in namespace `ns` (a site process's own children included). */
function killNamespacePids(ns: string): void {
  for (const p of (runSync('ip', ['netns', 'pids', ns]) ?? '').split('\n')) {
    const pid = Number(p.trim())
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  }
}

/**
 * Remove namespaces, links and temp dirs that runs whose process is gone left behind (a run
 * killed with SIGKILL cannot clean up after itself). Returns what was removed.
 */
export function removeLeftovers(repoRoot?: string): string[] {
  const removed: string[] = []
  const dead = (pid: string | undefined): boolean => pid !== undefined && Number(pid) !== process.pid && !pidAlive(Number(pid))
  for (const ns of netnsList()) {
    if (!dead(LEFTOVER_NETNS.exec(ns)?.[1])) continue
    killNamespacePids(ns)
    if (runSync('ip', ['netns', 'del', ns]) !== undefined) removed.push(`netns ${ns}`)
  }
  if (existsSync('/etc/netns')) {
    for (const ns of readdirSync('/etc/netns')) {
      if (!dead(LEFTOVER_NETNS.exec(ns)?.[1])) continue
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true })
      removed.push(`/etc/netns/${ns}`)
    }
  }
  for (const link of linkList()) {
    const m = LEFTOVER_LINK.exec(link)
    if (!dead(m?.[1] ?? m?.[2])) continue
    if (runSync('ip', ['link', 'del', link]) !== undefined) removed.push(`link ${link}`)
  }
  let worktreesGone = false
  for (const entry of readdirSync(tmpdir())) {
    if (!dead(LEFTOVER_TMP.exec(entry)?.[1])) continue
    const dir = join(tmpdir(), entry)
    worktreesGone ||= existsSync(join(dir, 'baseline'))
    rmSync(dir, { recursive: true, force: true })
    removed.push(`dir ${dir}`)
  }
  // A dead run's baseline worktree is registered in the repository: forget it now its directory is gone.
  if (worktreesGone && repoRoot !== undefined) runSync('git', ['-C', repoRoot, 'worktree', 'prune'])
  return removed
}

/** Why network namespaces cannot be made here, or undefined when they can. */
export async function namespacesUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'network namespaces need root (this process is not root)'
  const ns = `reef${process.pid}probe`
  try {
    await run('ip', ['netns', 'add', ns])
  } catch (err) {
    return `cannot make a network namespace: ${(err as Error).message}`
  }
  try {
    await run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', '8000000bit', 'burst', '65536', 'latency', '100ms'])
  } catch (err) {
    return `cannot shape a link with tc tbf: ${(err as Error).message}`
  } finally {
    await run('ip', ['netns', 'del', ns]).catch(() => {})
  }
  return undefined
}

/** Whether two IPv4 CIDRs (a bare address is a /32) share an address. */
export function overlaps(a: string, b: string): boolean {
  const parse = (c: string): [number, number] => {
    const [ip = '', len = '32'] = c.split('/')
    return [ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0), Number(len)]
  }
  const [na, la] = parse(a)
  const [nb, lb] = parse(b)
  const block = 2 ** (32 - Math.min(la, lb))
  return Math.floor(na / block) === Math.floor(nb / block)
}

/** Destinations of this machine's IPv4 routes (all tables) but the default route, with their devices. */
async function routes(): Promise<Array<{ dest: string; dev: string }>> {
  const out: Array<{ dest: string; dev: string }> = []
  for (const line of (await run('ip', ['-4', 'route', 'show', 'table', 'all'])).split('\n')) {
    const t = line.trim().split(/\s+/)
    let dest = t[0] ?? ''
    if (['local', 'broadcast', 'unicast', 'multicast', 'anycast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat'].includes(dest)) dest = t[1] ?? ''
    if (dest === '' || dest === 'default' || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dest)) continue
    out.push({ dest, dev: t[t.indexOf('dev') + 1] ?? '' })
  }
  return out
}

/** The first 10.X.0.0/16 (X from 213) that no route on this machine but the default one covers. */
async function chooseRange(): Promise<string> {
  const dests = (await routes()).map(r => r.dest)
  for (let x = RANGE_FIRST; x <= RANGE_LAST; x++) {
    if (!dests.some(d => overlaps(d, `10.${x}.0.0/16`))) return `10.${x}`
  }
  throw new TestbedError(`every range 10.${RANGE_FIRST}.0.0/16 … 10.${RANGE_LAST}.0.0/16 is already routed here (ip route); remove what uses them or free one`)
}

export interface TestbedSite {
  index: number
  netns: string
  hostVeth: string
  address: string
  uplinkBytesPerSec: number
}

/** Something that must be stopped at clean-up (a site process). */
export interface Stoppable {
  /** Stop gracefully, then SIGKILL after `graceMs`. */
  stop: (graceMs: number) => Promise<void>
  /** SIGKILL now. */
  kill: () => void
}

export interface TestbedOptions {
  /** The repository, for `git worktree prune` of dead runs' baseline worktrees. */
  repoRoot?: string
  /** Clean up on SIGINT/SIGTERM and exit (130/143). Default true. */
  handleSignals?: boolean
  /** Where a line about leftovers or an interruption goes. Default stderr. */
  note?: (line: string) => void
}

/** tc arguments shaping at `bytesPerSec` (explicit bit units: tc's `kb` and `mbps` are bytes). */
export function tbfArgs(bytesPerSec: number, latencyMs: number): string[] {
  const burst = Math.max(MIN_BURST_BYTES, Math.round((bytesPerSec * BURST_MS) / 1000))
  return ['tbf', 'rate', `${Math.round(bytesPerSec * 8)}bit`, 'burst', String(burst), 'latency', `${latencyMs}ms`]
}

export class Testbed {
  readonly pid = process.pid
  readonly bridge: string
  #prefix = ''
  /** The run's temp dir (logs, data dirs, nginx prefixes, a baseline worktree). */
  readonly tmpDir: string
  readonly #sites = new Map<number, TestbedSite>()
  readonly #procs = new Set<Stoppable>()
  readonly #hooks: Array<{ what: string; fn: () => void }> = []
  readonly #note: (line: string) => void
  #cleanup: Promise<void> | undefined
  #cleanedSync = false
  #unhook: () => void = () => {}

  private constructor(tmpDir: string, note: (line: string) => void) {
    this.tmpDir = tmpDir
    this.bridge = names.bridge(this.pid)
    this.#note = note
  }

  /** Remove dead runs' leftovers, pick a free range and make the bridge. */
  static async create(opts: TestbedOptions = {}): Promise<Testbed> {
    const note =
      opts.note ??
      ((line: string) => {
        process.stderr.write(line + '\n')
      })
    const removed = removeLeftovers(opts.repoRoot)
    if (removed.length > 0) note(`testbed: removed leftovers of earlier runs: ${removed.join(', ')}`)
    const tb = new Testbed(mkdtempSync(join(tmpdir(), names.tmpPrefix(process.pid))), note)
    if (opts.handleSignals !== false) tb.#installHandlers()
    try {
      await run('ip', ['link', 'add', tb.bridge, 'type', 'bridge'])
      // No IPv6 link-local address: nothing but the run's IPv4 traffic on the bridge.
      await run('ip', ['link', 'set', 'dev', tb.bridge, 'addrgenmode', 'none'])
      // Another run starting at the same moment may pick the same range: then give it up and pick again.
      for (let attempt = 0; ; attempt++) {
        tb.#prefix = await chooseRange()
        await run('ip', ['addr', 'add', `${tb.address(0)}/16`, 'dev', tb.bridge])
        const range = `${tb.#prefix}.0.0/16`
        if (!(await routes()).some(r => r.dev !== tb.bridge && overlaps(r.dest, range))) break
        await run('ip', ['addr', 'del', `${tb.address(0)}/16`, 'dev', tb.bridge])
        if (attempt >= 3) throw new TestbedError(`${range} was taken by another run while this one set up; try again`)
      }
      await run('ip', ['link', 'set', 'dev', tb.bridge, 'up'])
    } catch (err) {
      await tb.cleanup()
      throw err
    }
    return tb
  }

  /** First two octets of the run's /16, e.g. "10.213". */
  get prefix(): string {
    return this.#prefix
  }

  /** 10.X.0.(i+1): 0 is the bridge, site i ≥ 1. */
  address(i: number): string {
    return `${this.prefix}.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`
  }

  get sites(): TestbedSite[] {
    return [...this.#sites.values()]
  }

  /** Make site i's namespace, veth pair and shaped uplink. */
  async addSite(i: number, uplinkBytesPerSec: number, latencyMs: number): Promise<TestbedSite> {
    if (!Number.isInteger(i) || i < 1 || i > MAX_SITES) throw new RangeError(`site index must be 1..${MAX_SITES}`)
    if (this.#sites.has(i)) throw new TestbedError(`site ${i} already exists`)
    if (this.#cleanup !== undefined || this.#cleanedSync) throw new TestbedError('the testbed is cleaned up')
    const site: TestbedSite = { index: i, netns: names.netns(this.pid, i), hostVeth: names.hostVeth(this.pid, i), address: this.address(i), uplinkBytesPerSec }
    this.#sites.set(i, site)
    const ns = site.netns
    await run('ip', ['netns', 'add', ns])
    await run('ip', ['link', 'add', site.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    await run('ip', ['link', 'set', 'dev', site.hostVeth, 'addrgenmode', 'none'])
    await run('ip', ['link', 'set', 'dev', site.hostVeth, 'master', this.bridge])
    await run('ip', ['link', 'set', 'dev', site.hostVeth, 'up'])
    await run('ip', ['-n', ns, 'link', 'set', 'dev', 'lo', 'up'])
    await run('ip', ['-n', ns, 'link', 'set', 'dev', 'eth0', 'addrgenmode', 'none'])
    await run('ip', ['-n', ns, 'addr', 'add', `${site.address}/16`, 'dev', 'eth0'])
    await run('ip', ['-n', ns, 'link', 'set', 'dev', 'eth0', 'up'])
    await run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'eth0', 'root', ...tbfArgs(uplinkBytesPerSec, latencyMs)])
    return site
  }

  /**
   * Name resolution inside the namespaces, as DNS gives it in production: `ip netns exec`
   * bind-mounts /etc/netns/<ns>/hosts over /etc/hosts, so each site's processes resolve every
   * site's and mirror's name to its namespace address (mirror probes, audits). Written before
   * the sites' processes start; removed with the namespaces.
   */
  writeHosts(names: ReadonlyMap<string, string>): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost', ...[...names].map(([name, address]) => `${address} ${name}`)]
    for (const site of this.#sites.values()) {
      mkdirSync(`/etc/netns/${site.netns}`, { recursive: true })
      writeFileSync(`/etc/netns/${site.netns}/hosts`, lines.join('\n') + '\n')
    }
  }

  /** Kill whatever still runs in site i's namespace and remove it, its veth pair first. */
  async removeSite(i: number): Promise<void> {
    const site = this.#sites.get(i)
    if (site === undefined) return
    killNamespacePids(site.netns)
    await run('ip', ['link', 'del', site.hostVeth]).catch(() => {})
    await run('ip', ['netns', 'del', site.netns]).catch(() => {})
    rmSync(`/etc/netns/${site.netns}`, { recursive: true, force: true })
    this.#sites.delete(i)
  }

  /** Processes still running in site i's namespace. */
  async pidsIn(i: number): Promise<number[]> {
    const site = this.#sites.get(i)
    if (site === undefined) return []
    const out = await run('ip', ['netns', 'pids', site.netns]).catch(() => '')
    return out
      .split('\n')
      .map(Number)
      .filter(n => Number.isInteger(n) && n > 0)
  }

  /** Bytes site i's namespace has sent (its host-side veth's rx_bytes). */
  sentBytes(site: TestbedSite): number {
    return Number(readFileSync(`/sys/class/net/${site.hostVeth}/statistics/rx_bytes`, 'utf8'))
  }

  /** A fresh directory under the run's temp dir. */
  dir(name: string): string {
    const d = join(this.tmpDir, name)
    mkdirSync(d, { recursive: true })
    return d
  }

  track(p: Stoppable): void {
    this.#procs.add(p)
  }
  untrack(p: Stoppable): void {
    this.#procs.delete(p)
  }

  /** Run `fn` (synchronous, must not throw) at clean-up, before the namespaces go; last added runs first. */
  onCleanup(what: string, fn: () => void): void {
    this.#hooks.push({ what, fn })
  }

  /** Stop the processes (gracefully, then SIGKILL), then remove everything. Idempotent. */
  cleanup(): Promise<void> {
    this.#cleanup ??= (async () => {
      await Promise.allSettled(
        [...this.#procs].map(async p => {
          await p.stop(3_000)
        })
      )
      this.cleanupSync()
    })()
    return this.#cleanup
  }

  /** Remove everything at once (SIGKILL any process left). Idempotent; safe in an 'exit' handler. */
  cleanupSync(): void {
    if (this.#cleanedSync) return
    this.#cleanedSync = true
    for (const p of this.#procs) p.kill()
    this.#procs.clear()
    for (const c of running) c.kill('SIGKILL')
    for (const site of this.#sites.values()) killNamespacePids(site.netns)
    for (const h of this.#hooks.splice(0).reverse()) {
      try {
        h.fn()
      } catch (err) {
        this.#note(`testbed: clean-up step "${h.what}" failed: ${(err as Error).message}`)
      }
    }
    for (const site of this.#sites.values()) {
      runSync('ip', ['link', 'del', site.hostVeth])
      runSync('ip', ['netns', 'del', site.netns])
      rmSync(`/etc/netns/${site.netns}`, { recursive: true, force: true })
    }
    this.#sites.clear()
    runSync('ip', ['link', 'del', this.bridge])
    rmSync(this.tmpDir, { recursive: true, force: true })
    this.#unhook()
  }

  #installHandlers(): void {
    let signalled = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        this.cleanupSync()
        process.exit(signal === 'SIGINT' ? 130 : 143)
      }
      signalled = true
      this.#note(`testbed: ${signal}: stopping the sites and removing the namespaces`)
      void this.cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
    }
    const onExit = (): void => {
      this.cleanupSync()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.on('exit', onExit)
    this.#unhook = () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('exit', onExit)
    }
  }
}
