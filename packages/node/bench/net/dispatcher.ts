/**
 * The crowd's way into the testbed: an undici Agent whose connector resolves the testbed's host
 * names to the namespaces' addresses without DNS, and refuses everything else, so the crowd
 * can only ever reach the sites of this run (the same idea as `loopbackDispatcher`).
 *
 *   <label>.reef.test                     → the site's address (its front or origin, port 80)
 *   mirror-<label>.reef.test              → the site's address (its mirror, port 8081)
 *   <anything>.mirror-<label>.reef.test   → the site's address (a site served by its mirror)
 *   an IPv4 literal inside the run's /16  → itself
 */
import { isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import { buildConnector } from 'undici'
import type { Dispatcher } from 'undici'
import { CROWD_AGENT_SHARDS, ShardedAgent } from '../../demo/crowd.ts'

export const TESTBED_DOMAIN = 'reef.test'

/** A connection the testbed dispatcher refused (code ERR_REEF_NOT_TESTBED). */
export class NotInTestbedError extends Error {
  readonly code = 'ERR_REEF_NOT_TESTBED'
  constructor(host: string, why: string) {
    super(`testbed dispatcher refuses "${host}": ${why}`)
    this.name = 'NotInTestbedError'
  }
}

export interface TestbedHosts {
  /** Site label → its namespace's IPv4 address. */
  sites: ReadonlyMap<string, string>
  /** The run's /16 as its first two octets, e.g. "10.213". */
  prefix: string
}

/** The address `host` stands for in the testbed, or a NotInTestbedError saying why not. */
export function resolveTestbedHost(host: string, hosts: TestbedHosts): string | NotInTestbedError {
  const h = host.toLowerCase().replace(/\.$/, '')
  if (isIP(h) === 4) return h.startsWith(`${hosts.prefix}.`) ? h : new NotInTestbedError(host, `outside ${hosts.prefix}.0.0/16`)
  if (isIP(h) !== 0) return new NotInTestbedError(host, 'IPv6 is not used in the testbed')
  const suffix = `.${TESTBED_DOMAIN}`
  if (!h.endsWith(suffix)) return new NotInTestbedError(host, `not a *.${TESTBED_DOMAIN} name`)
  const labels = h.slice(0, -suffix.length).split('.')
  const last = labels[labels.length - 1] ?? ''
  const label = last.startsWith('mirror-') ? last.slice('mirror-'.length) : labels.length === 1 ? last : undefined
  if (label === undefined) return new NotInTestbedError(host, 'only <site>, mirror-<site> and *.mirror-<site> names exist')
  const address = hosts.sites.get(label)
  return address ?? new NotInTestbedError(host, `no site "${label}" in this run`)
}

/**
 * A dispatcher for the crowd (a ShardedAgent): plain http only, host names mapped by `resolveTestbedHost`, connect
 * timeout `connectTimeoutMs`, keep-alive like a browser.
 */
export function testbedDispatcher(hosts: TestbedHosts, opts: { connectTimeoutMs?: number } = {}): Dispatcher {
  const lookup: LookupFunction = (hostname, options, callback) => {
    const r = resolveTestbedHost(hostname, hosts)
    if (r instanceof Error) {
      callback(r, '', 4)
      return
    }
    if (options.all === true) {
      ;(callback as unknown as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address: r, family: 4 }])
      return
    }
    callback(null, r, 4)
  }
  const inner = buildConnector({ lookup, timeout: opts.connectTimeoutMs ?? 10_000 })
  const connect: buildConnector.connector = (options, callback) => {
    if (options.protocol !== 'http:') {
      callback(new Error(`testbed dispatcher only speaks plain http (got ${options.protocol})`), null)
      return
    }
    const r = resolveTestbedHost(options.hostname, hosts)
    if (r instanceof Error) {
      callback(r, null)
      return
    }
    inner(options, callback)
  }
  return new ShardedAgent({ connect, keepAliveTimeout: 4_000 }, CROWD_AGENT_SHARDS)
}
