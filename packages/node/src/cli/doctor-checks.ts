/**
 * The checks of `reef doctor`, in the order an operator fixes things: the config, the data dir
 * and identity, a running node, storage (free space; the running node's stores), the listen ports, the origin, the peers, the clock. Each
 * check reports ok, warn, fail or skip with one line of what it found and, unless ok, one line
 * of how to fix it. Later checks use what earlier ones learnt (a running node holds its own
 * ports; the origin's and the admin API's Date headers feed the clock check).
 */
import { access, constants, rm, stat, statfs, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MAX_CLOCK_SKEW_MS } from '@reef/protocol'
import type { LedgerStorageHealth } from '@reef/protocol'
import { loadConfigFile } from '../config/config.ts'
import type { ReefConfig } from '../config/config.ts'
import { STORAGE_RECOVER_FREE_BYTES } from '../constants.ts'
import { ConfigError, ReefError } from '../errors.ts'
import { readAdminToken } from '../http/admin/auth.ts'
import { readIdentity } from '../p2p/host.ts'
import { describeNetworkError, httpGet, listenUrl } from './admin-api.ts'
import { configErrorHint } from './dispatch.ts'
import type { HttpAnswer } from './admin-api.ts'

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface CheckResult {
  name: string
  status: CheckStatus
  /** What the check found, one line. */
  summary: string
  /** How to fix it (warn and fail). */
  fix?: string
  data?: Record<string, unknown>
}

/** Clock skew the doctor warns about; beyond MAX_CLOCK_SKEW_MS peers reject our records. */
export const CLOCK_WARN_MS = 5_000

export interface DoctorOptions {
  configFile: string
  /** Timeout of each HTTP probe, ms. */
  timeoutMs: number
  /** Called before each check runs (progress display). */
  onCheck?: (name: string) => void
}

interface RunningNode {
  url: string
  status: {
    peerId?: string
    site?: string
    state?: string
    connections?: number
    peers?: Array<{ site?: string }>
    uplink?: { sentBytesPerSec?: number }
    storage?: Partial<Record<'ledger' | 'governance', Partial<LedgerStorageHealth> | null>>
  }
}

interface ClockSample {
  source: string
  answer: HttpAnswer
}

export async function runDoctor(opts: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  const step = async (name: string, check: () => Promise<CheckResult | CheckResult[]>): Promise<void> => {
    opts.onCheck?.(name)
    const r = await check()
    results.push(...(Array.isArray(r) ? r : [r]))
  }
  let config: ReefConfig | undefined
  await step('config', async () => {
    const r = await checkConfig(opts.configFile)
    config = r.config
    return r.result
  })
  if (config === undefined) return results
  const c: ReefConfig = config
  let peerId: string | undefined
  await step('public urls', async () => checkPublicUrls(c))
  await step('data dir', async () => checkDataDir(c.dataDir))
  await step('identity', async () => {
    const r = await checkIdentity(c.dataDir)
    peerId = r.peerId
    return r.result
  })
  const clock: ClockSample[] = []
  let running: RunningNode | undefined
  await step('node', async () => {
    const r = await checkRunningNode(c, peerId, opts.timeoutMs)
    running = r.running
    if (r.answer !== undefined) clock.push({ source: 'node admin API', answer: r.answer })
    return r.result
  })
  await step('storage', async () => checkStorage(c.dataDir, running))
  await step('uplink', async () => checkUplink(opts.configFile, c, running))
  await step('ports', async () => checkPorts(c, running !== undefined))
  await step('admin token', async () => checkAdminToken(c))
  await step('governance', async () => checkGovernance(c, peerId, running !== undefined))
  await step('origin', async () => {
    const r = await checkOrigin(c, opts.timeoutMs)
    if (r.answer !== undefined) clock.push({ source: 'origin', answer: r.answer })
    return r.result
  })
  await step('peers', async () => checkPeers(c, peerId, running))
  await step('clock', async () => checkClock(clock))
  return results
}

/** The charter (complete, for this consortium, naming this node) or a stored invitation. */
async function checkGovernance(c: ReefConfig, peerId: string | undefined, running: boolean): Promise<CheckResult> {
  const name = 'governance'
  if (c.governance === undefined) return { name, status: 'ok', summary: 'open consortium (no governance section): every peer on the topics counts' }
  const file = c.governance.charter
  if (file === undefined) {
    if (running) return { name, status: 'skip', summary: 'no charter file; the running node holds its invitation or log (see "reef members")' }
    const { join } = await import('node:path')
    const { GovernanceStore } = await import('../governance/store.ts')
    try {
      const store = await GovernanceStore.open(join(c.dataDir, 'governance'))
      try {
        if ((await store.charter()) !== undefined) return { name, status: 'ok', summary: 'the node holds the charter and log it synced' }
        if ((await store.invitation()) !== undefined) return { name, status: 'ok', summary: 'an invitation is stored: at start the node asks to join' }
      } finally {
        await store.close()
      }
    } catch (err) {
      return { name, status: 'warn', summary: `cannot read the governance store: ${(err as Error).message}` }
    }
    return {
      name,
      status: 'fail',
      summary: 'governance is on but there is no charter and no invitation',
      fix: 'founders: set governance.charter to the file from "reef consortium create"; newcomers: run "reef join TOKEN --config FILE"'
    }
  }
  try {
    const { readCharterFile } = await import('../governance/charter-file.ts')
    const { openCharter } = await import('@reef/governance')
    const doc = await readCharterFile(file)
    const state = await openCharter(doc)
    if (doc.body.id !== c.consortium)
      return {
        name,
        status: 'fail',
        summary: `the charter is for consortium "${doc.body.id}", the config says "${c.consortium}"`,
        fix: `set "consortium": "${doc.body.id}"`
      }
    if (peerId !== undefined && !state.members.has(peerId))
      return {
        name,
        status: 'warn',
        summary: `this node (${peerId}) is not a founder in ${file}`,
        fix: 'a node that is not a founder joins with an invitation ("reef join"), without governance.charter'
      }
    return { name, status: 'ok', summary: `charter "${doc.body.id}" signed by all ${state.members.size} founders` }
  } catch (err) {
    return {
      name,
      status: 'fail',
      summary: (err as Error).message,
      fix: 'check the file with "reef consortium show FILE"; every founder must sign it ("reef consortium sign")'
    }
  }
}

async function checkConfig(file: string): Promise<{ config?: ReefConfig; result: CheckResult }> {
  try {
    const config = await loadConfigFile(file)
    return {
      config,
      result: { name: 'config', status: 'ok', summary: `site ${config.site.label}, origin ${config.origin.url}, consortium ${config.consortium}` }
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return { result: { name: 'config', status: 'fail', summary: err.message, fix: configErrorHint(err), data: { ...err.location } } }
  }
}

/**
 * The declared uplink: what it means for the node, whether the config sets it (the default
 * is a guess), and with a running node what it sends now.
 */
async function checkUplink(file: string, c: ReefConfig, running: RunningNode | undefined): Promise<CheckResult> {
  const name = 'uplink'
  const { readFile } = await import('node:fs/promises')
  const { parseJsonc } = await import('../config/jsonc.ts')
  const { formatRate } = await import('../config/rate.ts')
  let declared = false
  try {
    const raw = parseJsonc(await readFile(file, 'utf8')) as { uplink?: { bytesPerSec?: unknown } }
    declared = raw.uplink?.bytesPerSec !== undefined
  } catch {}
  const up = c.uplink
  const pct = (x: number): string => `${Math.round(x * 100)} %`
  const meaning = `struck when visitors ask ${pct(c.crowd.strikeShare)} of it, keeps ${pct(up.targetShare)} of it for this site while shedding, offers others what is left of ${pct(up.targetShare)}`
  const sent = running?.status.uplink?.sentBytesPerSec
  const now = sent === undefined ? '' : `; sending ${formatRate(sent)} now (${pct(sent / up.bytesPerSec)})`
  if (!declared) {
    return {
      name,
      status: 'warn',
      summary: `uplink.bytesPerSec not set: the node assumes ${formatRate(up.bytesPerSec)}${now}`,
      fix: "set uplink.bytesPerSec to this machine's upload rate in bytes/s (40 Mbit/s is 5000000): in a crowd a small site runs out of upload long before CPU, and the node sheds, asks for help and offers help by it"
    }
  }
  return { name, status: 'ok', summary: `uplink ${formatRate(up.bytesPerSec)}: ${meaning}${now}` }
}

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h.endsWith('.localhost') || h.startsWith('127.') || h === '::1'
}

function checkPublicUrls(c: ReefConfig): CheckResult {
  const local: string[] = []
  if (isLoopbackHost(new URL(c.site.publicUrl).hostname)) local.push(`site.publicUrl ${c.site.publicUrl}`)
  if (isLoopbackHost(new URL(c.mirror.publicUrl).hostname)) local.push(`mirror.publicUrl ${c.mirror.publicUrl}`)
  if (local.length === 0) return { name: 'public urls', status: 'ok', summary: `site ${c.site.publicUrl}, mirror ${c.mirror.publicUrl}` }
  return {
    name: 'public urls',
    status: 'warn',
    summary: `${local.join(' and ')} ${local.length === 1 ? 'is' : 'are'} only reachable from this machine`,
    fix: "fine for a local trial; for real clients set site.publicUrl to your site's address and mirror.publicUrl to a host with a wildcard DNS record (*.mirror.example.org)"
  }
}

async function checkDataDir(dataDir: string): Promise<CheckResult> {
  const name = 'data dir'
  let isDir: boolean
  try {
    isDir = (await stat(dataDir)).isDirectory()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      return {
        name,
        status: 'fail',
        summary: `cannot look at ${dataDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        fix: 'check the permissions of its parent directories'
      }
    let parent = dirname(dataDir)
    while (parent !== dirname(parent)) {
      try {
        await stat(parent)
        break
      } catch {
        parent = dirname(parent)
      }
    }
    try {
      await access(parent, constants.W_OK)
      return {
        name,
        status: 'warn',
        summary: `${dataDir} does not exist yet; reef start creates it`,
        fix: `run "reef init --dir ${dirname(dataDir)}" to create it and the identity now`
      }
    } catch {
      return {
        name,
        status: 'fail',
        summary: `${dataDir} does not exist and ${parent} is not writable`,
        fix: `create ${dataDir} owned by the user that runs reef, or set dataDir elsewhere`
      }
    }
  }
  if (!isDir) return { name, status: 'fail', summary: `${dataDir} is not a directory`, fix: 'set dataDir to a directory' }
  const probe = join(dataDir, `.reef-doctor-${process.pid}`)
  try {
    await writeFile(probe, 'probe')
    await rm(probe, { force: true })
    return { name, status: 'ok', summary: `${dataDir} is writable` }
  } catch (err) {
    return {
      name,
      status: 'fail',
      summary: `${dataDir} is not writable: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      fix:
        (err as NodeJS.ErrnoException).code === 'ENOSPC' || (err as NodeJS.ErrnoException).code === 'EDQUOT'
          ? `its volume is full: free space there (the ledger refuses records until it can write)`
          : `chown ${dataDir} to the user that runs reef (it holds the identity and the ledger)`
    }
  }
}

/** Below this much free space on dataDir's volume, doctor warns: the ledger stops writing when it is full. */
const LOW_FREE_BYTES = 64 * 1024 * 1024

/** The volume of dataDir (free space), and whether the running node's stores write. */
async function checkStorage(dataDir: string, running: RunningNode | undefined): Promise<CheckResult> {
  const name = 'storage'
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`
  const stores = running?.status.storage
  for (const store of ['ledger', 'governance'] as const) {
    const h = stores?.[store]
    if (h === undefined || h === null || h.writable !== false) continue
    const since = typeof h.since === 'number' ? new Date(h.since).toISOString() : 'an unknown time'
    return {
      name,
      status: 'fail',
      summary: `the running node's ${store} store refuses writes since ${since}: ${h.error ?? 'unknown error'}${
        store === 'ledger' && typeof h.backlog === 'number' ? `; ${h.backlog} records held in memory, ${h.dropped ?? 0} dropped` : ''
      } (the node keeps serving and shedding)`,
      fix: `free space on the volume of ${dataDir}: the node reopens the store and writes what it holds by itself once ${mib(STORAGE_RECOVER_FREE_BYTES)} are free`,
      data: { store, ...h }
    }
  }
  let free: number
  let at = dataDir
  for (;;) {
    try {
      const st = await statfs(at)
      free = st.bavail * st.bsize
      break
    } catch {
      if (dirname(at) === at) return { name, status: 'skip', summary: `cannot read the free space of ${dataDir}'s volume` }
      at = dirname(at)
    }
  }
  const data = { volume: at, freeBytes: free }
  if (free < STORAGE_RECOVER_FREE_BYTES)
    return {
      name,
      status: 'fail',
      summary: `${mib(free)} free on the volume of ${at}: too little for the ledger to write (it refuses records when full)`,
      fix: `free space there (at least ${mib(LOW_FREE_BYTES)}), or set dataDir on a volume with room`,
      data
    }
  if (free < LOW_FREE_BYTES)
    return { name, status: 'warn', summary: `only ${mib(free)} free on the volume of ${at}`, fix: 'free space there before the ledger fills it', data }
  return { name, status: 'ok', summary: `${mib(free)} free on the volume of ${at}${stores === undefined ? '' : '; the running node writes its stores'}`, data }
}

async function checkIdentity(dataDir: string): Promise<{ peerId?: string; result: CheckResult }> {
  try {
    const key = await readIdentity(dataDir)
    if (key === undefined) {
      return {
        result: {
          name: 'identity',
          status: 'warn',
          summary: `no identity in ${dataDir} yet; reef start creates one (a new peer id)`,
          fix: `"reef init --dir ${dirname(dataDir)}" creates it now and prints the peer id other members bootstrap from`
        }
      }
    }
    const peerId = peerIdFromPrivateKey(key).toString()
    return { peerId, result: { name: 'identity', status: 'ok', summary: `peer ${peerId}`, data: { peerId } } }
  } catch (err) {
    if (!(err instanceof ReefError)) throw err
    return { result: { name: 'identity', status: 'fail', summary: err.message, ...(err.hint === undefined ? {} : { fix: err.hint }) } }
  }
}

async function checkRunningNode(
  c: ReefConfig,
  peerId: string | undefined,
  timeoutMs: number
): Promise<{ running?: RunningNode; answer?: HttpAnswer; result: CheckResult }> {
  const name = 'node'
  if (c.admin === undefined) {
    return {
      result: {
        name,
        status: 'warn',
        summary: 'no admin section: reef status, reef ledger and this doctor cannot see a running node',
        fix: 'add "admin": { "listen": { "host": "127.0.0.1", "port": 9180 } }'
      }
    }
  }
  const url = listenUrl(c.admin.listen)
  if (c.admin.listen.port === 0) return { result: { name, status: 'skip', summary: 'admin.listen.port is 0 (ephemeral), so a running node cannot be found' } }
  let answer: HttpAnswer
  try {
    answer = await httpGet(new URL('/api/status', url).href, timeoutMs)
  } catch (err) {
    return { result: { name, status: 'ok', summary: `not running (nothing answers at ${url}: ${describeNetworkError(err, timeoutMs)})` } }
  }
  let status: RunningNode['status'] | undefined
  try {
    status = JSON.parse(answer.body) as RunningNode['status']
  } catch {}
  if (answer.status !== 200 || typeof status?.peerId !== 'string') {
    return {
      answer,
      result: { name, status: 'warn', summary: `something that is not a Reef node answers at ${url} (${answer.status})`, fix: 'see the admin port check below' }
    }
  }
  const running = { url, status }
  const data = { url, peerId: status.peerId, site: status.site, state: status.state }
  if ((peerId !== undefined && status.peerId !== peerId) || status.site !== c.site.label) {
    return {
      answer,
      result: {
        name,
        status: 'warn',
        summary: `another Reef node (site ${String(status.site)}, peer ${status.peerId}) answers at ${url}`,
        fix: "this config's admin.listen is taken by a different node: give each node its own ports",
        data
      }
    }
  }
  return { running, answer, result: { name, status: 'ok', summary: `running at ${url}: site ${status.site}, state ${String(status.state)}`, data } }
}

interface Listener {
  name: string
  field: string
  host: string
  port: number
}

/** Try to listen on host:port; the error code when that fails (EADDRINUSE, EACCES, …). */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise(resolve => {
    const srv = createServer()
    srv.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? 'EUNKNOWN')
    })
    srv.listen({ host, port, exclusive: true }, () => {
      srv.close(() => {
        resolve(undefined)
      })
    })
  })
}

function listenersOf(c: ReefConfig): { listeners: Listener[]; bad: CheckResult[] } {
  const listeners: Listener[] = [
    { name: 'front', field: 'front.listen', ...c.front.listen },
    { name: 'mirror', field: 'mirror.listen', ...c.mirror.listen }
  ]
  if (c.admin !== undefined) listeners.push({ name: 'admin', field: 'admin.listen', ...c.admin.listen })
  const bad: CheckResult[] = []
  c.p2p.listen.forEach((a, i) => {
    const field = `p2p.listen[${i}]`
    let parts
    try {
      parts = multiaddr(a).getComponents()
    } catch (err) {
      bad.push({
        name: 'p2p port',
        status: 'fail',
        summary: `${field} "${a}" is not a multiaddr: ${(err as Error).message}`,
        fix: `write it like "/ip4/0.0.0.0/tcp/4001"`
      })
      return
    }
    const [ip, tcp] = parts
    if ((ip?.name === 'ip4' || ip?.name === 'ip6') && tcp?.name === 'tcp' && ip.value !== undefined && tcp.value !== undefined) {
      listeners.push({ name: 'p2p', field, host: ip.value, port: Number(tcp.value) })
    }
  })
  return { listeners, bad }
}

function overlaps(a: Listener, b: Listener): boolean {
  if (a.port !== b.port || a.port === 0) return false
  const wild = (h: string): boolean => h === '0.0.0.0' || h === '::' || h === ''
  return a.host === b.host || wild(a.host) || wild(b.host)
}

async function checkPorts(c: ReefConfig, running: boolean): Promise<CheckResult[]> {
  const { listeners, bad } = listenersOf(c)
  const results: CheckResult[] = [...bad]
  for (const [i, l] of listeners.entries()) {
    const name = `${l.name} port`
    const where = `${l.field} ${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`
    const clash = listeners.slice(0, i).find(o => overlaps(o, l))
    if (clash !== undefined) {
      results.push({ name, status: 'fail', summary: `${where} is also ${clash.field}`, fix: `give ${l.field} its own port` })
      continue
    }
    if (l.port === 0) {
      results.push({ name, status: 'ok', summary: `${where}: any free port, chosen at start` })
      continue
    }
    const code = await tryListen(l.host, l.port)
    if (code === undefined) results.push({ name, status: 'ok', summary: `${where} is free` })
    else if (code === 'EADDRINUSE' && running) results.push({ name, status: 'ok', summary: `${where} is held by the running node` })
    else if (code === 'EADDRINUSE')
      results.push({
        name,
        status: 'fail',
        summary: `${where} is in use by another process`,
        fix: `stop it ("ss -ltnp 'sport = :${l.port}'" shows which), or change ${l.field}.port`
      })
    else if (code === 'EACCES')
      results.push({
        name,
        status: 'fail',
        summary: `${where}: no permission to listen there`,
        fix: `ports below 1024 need root or CAP_NET_BIND_SERVICE ("sudo setcap cap_net_bind_service=+ep $(command -v node)"); or use a port from 1024 up behind a proxy`
      })
    else if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      results.push({
        name,
        status: 'fail',
        summary: `${where}: ${l.host} is not an address of this machine`,
        fix: `use 0.0.0.0 (all interfaces), 127.0.0.1 or one of this machine's addresses`
      })
    else results.push({ name, status: 'fail', summary: `${where}: cannot listen (${code})`, fix: `change ${l.field}` })
  }
  return results
}

async function checkAdminToken(c: ReefConfig): Promise<CheckResult> {
  const name = 'admin token'
  if (c.admin === undefined) return { name, status: 'skip', summary: 'no admin section' }
  const { token, tokenFile } = c.admin
  if (token === undefined && tokenFile === undefined) {
    if (c.governance === undefined) return { name, status: 'ok', summary: 'none set: the admin API only reads' }
    return {
      name,
      status: 'warn',
      summary: 'none set: governance votes, proposals and invitations through the admin API are refused',
      fix: 'put a token of 16 or more printable characters in a file only the reef user reads and set admin.tokenFile to it'
    }
  }
  if (tokenFile?.startsWith('/run/credentials/') === true) {
    try {
      await stat(tokenFile)
    } catch {
      return { name, status: 'skip', summary: `${tokenFile} is a systemd credential, there only while the service runs (LoadCredential=)` }
    }
  }
  try {
    await readAdminToken({ token, tokenFile })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return {
      name,
      status: 'fail',
      summary: err.message,
      fix: 'reef start stops on this: make admin.tokenFile readable by the user that runs reef, holding one token of 16 to 1024 printable characters'
    }
  }
  if (tokenFile === undefined)
    return {
      name,
      status: 'warn',
      summary: 'admin.token is in the config file itself',
      fix: 'move it to a file only the reef user reads and set admin.tokenFile instead'
    }
  const mode = (await stat(tokenFile)).mode & 0o777
  if ((mode & 0o007) !== 0)
    return { name, status: 'warn', summary: `${tokenFile} is open to every user (mode ${mode.toString(8)})`, fix: `chmod o-rwx ${tokenFile}` }
  return { name, status: 'ok', summary: `read from ${tokenFile}` }
}

async function checkOrigin(c: ReefConfig, timeoutMs: number): Promise<{ answer?: HttpAnswer; result: CheckResult }> {
  const name = 'origin'
  const url = new URL('/', c.origin.url).href
  const timeout = Math.min(timeoutMs, c.origin.timeoutMs)
  let answer: HttpAnswer
  try {
    answer = await httpGet(url, timeout, 64 * 1024)
  } catch (err) {
    return {
      result: {
        name,
        status: 'fail',
        summary: `GET ${url}: no answer (${describeNetworkError(err, timeout)})`,
        fix: 'start the origin web server, or correct origin.url: the front forwards every request there'
      }
    }
  }
  const ms = Math.round(answer.latencyMs)
  const data = { url, status: answer.status, latencyMs: ms }
  const said = `GET ${url} answered ${answer.status} in ${ms} ms`
  if (answer.status >= 500) return { answer, result: { name, status: 'fail', summary: said, fix: 'the origin is up but failing: see its logs', data } }
  if (answer.status >= 400)
    return {
      answer,
      result: { name, status: 'warn', summary: said, fix: "the origin answers, but not with a page at /: check that origin.url is this site's server", data }
    }
  const location = answer.headers.get('location')
  return { answer, result: { name, status: 'ok', summary: location === null ? said : `${said} (→ ${location})`, data } }
}

function checkPeers(c: ReefConfig, self: string | undefined, running: RunningNode | undefined): CheckResult {
  const name = 'peers'
  const noId: string[] = []
  for (const [i, a] of c.p2p.bootstrap.entries()) {
    let parts
    try {
      parts = multiaddr(a).getComponents()
    } catch (err) {
      return {
        name,
        status: 'fail',
        summary: `p2p.bootstrap[${i}] "${a}" is not a multiaddr: ${(err as Error).message}`,
        fix: 'copy the member\'s address as "reef init" printed it: /ip4/…/tcp/4001/p2p/12D3KooW… or /dns4/…'
      }
    }
    const id = parts.find(p => p.name === 'p2p')?.value
    if (id === undefined) noId.push(`p2p.bootstrap[${i}]`)
    else if (id === self) return { name, status: 'warn', summary: `p2p.bootstrap[${i}] is this node itself`, fix: "list the other members' addresses" }
  }
  const n = c.p2p.bootstrap.length
  if (noId.length > 0)
    return {
      name,
      status: 'warn',
      summary: `${noId.join(', ')} name${noId.length === 1 ? 's' : ''} no peer id, so the dial cannot check who answers`,
      fix: "append /p2p/<the member's peer id>"
    }
  if (running === undefined) {
    if (n === 0)
      return {
        name,
        status: 'warn',
        summary: 'no bootstrap peers: this node will be alone unless members dial it (the micro-cache and an external mirror still help)',
        fix: "add members' p2p addresses to p2p.bootstrap"
      }
    return { name, status: 'ok', summary: `${n} bootstrap address${n === 1 ? '' : 'es'}; start the node to see connections` }
  }
  const connections = running.status.connections ?? 0
  const peers = running.status.peers ?? []
  const data = { bootstrap: n, connections, peers: peers.length }
  const sites = peers.map(p => p.site ?? '?').join(', ')
  if (peers.length > 0)
    return {
      name,
      status: 'ok',
      summary: `${connections} connection${connections === 1 ? '' : 's'}, ${peers.length} member${peers.length === 1 ? '' : 's'} reporting load: ${sites}`,
      data
    }
  if (connections > 0)
    return {
      name,
      status: 'warn',
      summary: `${connections} connection${connections === 1 ? '' : 's'} but no member reports load`,
      fix: `check that every member uses consortium "${c.consortium}" and that their clocks are right`,
      data
    }
  if (n === 0)
    return {
      name,
      status: 'warn',
      summary: 'running alone: no connections and no bootstrap peers',
      fix: "add members' p2p addresses to p2p.bootstrap and restart",
      data
    }
  return {
    name,
    status: 'warn',
    summary: `not connected to any of ${n} bootstrap peer${n === 1 ? '' : 's'}`,
    fix: 'check that the addresses are right and that firewalls let their TCP ports through',
    data
  }
}

/** Skew of a server's clock from ours, from its Date header (one-second resolution), ms. */
export function clockSkewMs(answer: Pick<HttpAnswer, 'headers' | 'sentAt' | 'receivedAt'>): number | undefined {
  const date = answer.headers.get('date')
  if (date === null) return undefined
  const theirs = Date.parse(date)
  if (Number.isNaN(theirs)) return undefined
  // The header drops milliseconds: the server's clock read somewhere in [theirs, theirs + 1 s).
  return theirs + 500 - (answer.sentAt + answer.receivedAt) / 2
}

function checkClock(samples: readonly ClockSample[]): CheckResult {
  const name = 'clock'
  const measured = samples.flatMap(s => {
    const skew = clockSkewMs(s.answer)
    return skew === undefined ? [] : [{ source: s.source, skewMs: Math.round(skew) }]
  })
  if (measured.length === 0) return { name, status: 'skip', summary: 'nothing to compare with (no Date header from the origin or the node)' }
  const worst = measured.reduce((a, b) => (Math.abs(b.skewMs) > Math.abs(a.skewMs) ? b : a))
  const words = measured
    .map(m => `${m.source} ${Math.abs(m.skewMs) < 1000 ? 'within 1 s' : `${(Math.abs(m.skewMs) / 1000).toFixed(1)} s ${m.skewMs > 0 ? 'ahead' : 'behind'}`}`)
    .join(', ')
  const fix = `run time synchronisation (chrony, systemd-timesyncd or ntpd) here and on the origin; peers reject records dated over ${MAX_CLOCK_SKEW_MS / 1000} s ahead of their clock`
  const data = { samples: measured, warnMs: CLOCK_WARN_MS, failMs: MAX_CLOCK_SKEW_MS }
  if (Math.abs(worst.skewMs) > MAX_CLOCK_SKEW_MS)
    return { name, status: 'fail', summary: `clocks differ beyond the protocol's ${MAX_CLOCK_SKEW_MS / 1000} s limit: ${words}`, fix, data }
  if (Math.abs(worst.skewMs) > CLOCK_WARN_MS) return { name, status: 'warn', summary: `clocks differ by over ${CLOCK_WARN_MS / 1000} s: ${words}`, fix, data }
  return { name, status: 'ok', summary: `compared with ${words}`, data }
}
