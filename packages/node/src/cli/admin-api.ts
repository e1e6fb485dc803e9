/**
 * HTTP from the command line: the node's admin API (status, ledger) and plain GETs for the
 * doctor's probes. Every request has a timeout; failures become errors that say what to do.
 */
import type { ReefConfig } from '../config/config.ts'
import { AdminResponseError, AdminUnreachableError, ConfigError, UsageError } from '../errors.ts'
import type { CommandArgs } from './command.ts'
import { stringOption } from './command.ts'

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9180'

/** A URL that reaches a listener: a wildcard host (0.0.0.0, ::) is reached on loopback. */
export function listenUrl(listen: { host: string; port: number }): string {
  const host = listen.host === '0.0.0.0' || listen.host === '' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`
}

/** The admin URL a command talks to: --admin, else admin.listen of --config, else the default. */
export async function resolveAdminUrl(command: string, args: CommandArgs): Promise<{ url: string; config?: ReefConfig }> {
  const admin = stringOption(args, 'admin')
  if (admin !== undefined) {
    let url: URL
    try {
      url = new URL(admin)
    } catch {
      throw new UsageError(`${command}: --admin "${admin}" is not a URL`, {
        command,
        hint: "give the admin API's base URL, e.g. --admin http://127.0.0.1:9180"
      })
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${command}: --admin "${admin}" is not an http(s) URL`, { command })
    return { url: admin }
  }
  const file = stringOption(args, 'config')
  if (file === undefined) return { url: DEFAULT_ADMIN_URL }
  const { loadConfigFile } = await import('../config/config.ts')
  const config = await loadConfigFile(file)
  if (config.admin === undefined) {
    throw new ConfigError(`${file} has no admin section, so the node has no admin API to ask`, {
      file,
      field: 'admin',
      hint: 'add "admin": { "listen": { "host": "127.0.0.1", "port": 9180 } } and restart the node, or pass --admin URL'
    })
  }
  return { url: listenUrl(config.admin.listen), config }
}

export interface HttpAnswer {
  status: number
  headers: Headers
  body: string
  /** Local clock when the request was sent and when the answer's headers arrived, ms. */
  sentAt: number
  receivedAt: number
  latencyMs: number
}

/** Why a request got no answer, in words: "connection refused", "timed out after 2000 ms". */
export function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${timeoutMs} ms`
  const code = e.cause?.code
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable'
  }
  if (code !== undefined) return words[code] ?? code
  return e.cause?.message ?? e.message
}

/** One GET with a timeout; the body is read up to `maxBodyBytes` (the rest is dropped). */
export async function httpGet(url: string, timeoutMs: number, maxBodyBytes = 1024 * 1024): Promise<HttpAnswer> {
  const sentAt = Date.now()
  const t0 = performance.now()
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual', headers: { 'user-agent': 'reef-cli' } })
  const latencyMs = performance.now() - t0
  const receivedAt = Date.now()
  let body = ''
  if (res.body !== null) {
    const chunks: Uint8Array[] = []
    let size = 0
    for await (const chunk of res.body) {
      chunks.push(chunk)
      size += chunk.byteLength
      if (size >= maxBodyBytes) break
    }
    body = Buffer.concat(chunks).toString('utf8')
  }
  return { status: res.status, headers: res.headers, body, sentAt, receivedAt, latencyMs }
}

/** GET `path` of a node's admin API as JSON. */
export async function adminGet(base: string, path: string, timeoutMs = 5_000): Promise<{ data: unknown; answer: HttpAnswer }> {
  const url = new URL(path, base)
  let answer: HttpAnswer
  try {
    answer = await httpGet(url.href, timeoutMs, 64 * 1024 * 1024)
  } catch (err) {
    throw new AdminUnreachableError(`cannot reach the node's admin API at ${url.origin}: ${describeNetworkError(err, timeoutMs)}`, {
      cause: err,
      hint: 'is the node running ("reef start --config FILE")? Pass the node\'s admin.listen as --admin URL, or its config file as --config FILE'
    })
  }
  if (answer.status < 200 || answer.status > 299) {
    throw new AdminResponseError(answer.status, `${url.href} answered ${answer.status}`, {
      hint: answer.status === 404 ? "something other than a Reef node's admin API may be listening there; check --admin or admin.listen" : "see the node's log"
    })
  }
  try {
    return { data: JSON.parse(answer.body), answer }
  } catch {
    throw new AdminResponseError(answer.status, `${url.href} did not answer JSON`, {
      hint: "something other than a Reef node's admin API may be listening there; check --admin or admin.listen"
    })
  }
}

/** The operator token for POST routes: --token-file, else $REEF_ADMIN_TOKEN, else admin.token(File) of --config. */
export async function resolveToken(command: string, args: CommandArgs, config: ReefConfig | undefined): Promise<string> {
  const file = stringOption(args, 'token-file')
  const { readAdminToken } = await import('../http/admin/auth.ts')
  const token =
    file !== undefined
      ? await readAdminToken({ tokenFile: file })
      : (process.env.REEF_ADMIN_TOKEN ?? (config?.admin === undefined ? undefined : await readAdminToken(config.admin)))
  if (token === undefined || token === '') {
    throw new UsageError(`${command}: no operator token`, {
      command,
      hint: 'pass --config FILE of the node (its admin.token or admin.tokenFile), --token-file FILE, or set REEF_ADMIN_TOKEN'
    })
  }
  return token
}

/** POST JSON to a node's admin API with the operator token. */
export async function adminPost(base: string, path: string, body: unknown, token: string, timeoutMs = 15_000): Promise<unknown> {
  const url = new URL(path, base)
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'user-agent': 'reef-cli' },
      signal: AbortSignal.timeout(timeoutMs)
    })
  } catch (err) {
    throw new AdminUnreachableError(`cannot reach the node's admin API at ${url.origin}: ${describeNetworkError(err, timeoutMs)}`, {
      cause: err,
      hint: 'is the node running? Pass --config FILE or --admin URL'
    })
  }
  const text = await res.text()
  let data: { code?: string; message?: string } & Record<string, unknown> = {}
  try {
    data = JSON.parse(text) as typeof data
  } catch {}
  if (!res.ok) {
    const hint =
      res.status === 401
        ? 'the operator token is wrong: check admin.token / admin.tokenFile of the node'
        : res.status === 403
          ? 'the node has no operator token: set admin.token or admin.tokenFile in its config and restart it'
          : "see the node's log"
    throw new AdminResponseError(
      res.status,
      `${url.pathname} answered ${res.status}${data.code === undefined ? '' : ` ${data.code}`}: ${data.message ?? text.slice(0, 200)}`,
      { hint }
    )
  }
  return data
}
