/** `reef start`: run a node in the foreground until SIGINT/SIGTERM. */
import type { ReefConfig } from '../config/config.ts'
import { passThroughTarget, startPassThrough } from '../http/pass-through.ts'
import type { PassThrough } from '../http/pass-through.ts'
import { ListenError, UsageError } from '../errors.ts'
import { listenUrl } from './admin-api.ts'
import type { Command } from './command.ts'
import { CONFIG_OPTION, EXIT, stringOption, twoColumns } from './command.ts'

export const startCommand: Command = {
  name: 'start',
  summary: 'run a node in front of the origin named in a config file',
  synopsis: 'start --config FILE',
  description: `Run a Reef node in the foreground: the front (in front of the origin), the mirror (for other
sites of the consortium), the admin API and the peer-to-peer host. Logs go to stdout, one JSON
line per event. SIGINT (Ctrl-C) or SIGTERM stops it cleanly: helpers are released and the
ledger is settled first. A wrong or missing config field stops it at once, naming the field.
While the node starts (a second or two), the front's port already passes requests straight to
the origin, so a restarted node's site answers at once.`,
  options: { config: CONFIG_OPTION },
  examples: ['reef start --config /etc/reef/reef.jsonc', 'reef init --dir ./reef && reef start -c ./reef/reef.jsonc'],
  async run(args, io) {
    const file = stringOption(args, 'config')
    if (file === undefined) throw new UsageError('start needs --config FILE', { command: 'start', hint: '"reef init" writes one' })
    // Loaded on use: the node's stack (zod, libp2p, fastify) is most of the CLI's start-up
    // time, and --help of every command should not wait for it.
    // Until the node is up (a second or two), the front's port passes requests to the origin
    // unchanged: after a crash and restart the site answers at once (pass-through.ts). Only the
    // few fields it needs are read first; the whole file is validated right after.
    const target = await passThroughTarget(file)
    let early: PassThrough | undefined =
      target === undefined ? undefined : await startPassThrough(target.listen, target.originUrl, target.retryAfterS).catch(() => undefined)
    let config: ReefConfig
    try {
      const { loadConfigFile } = await import('../config/config.ts')
      config = await loadConfigFile(file)
    } catch (err) {
      early?.close()
      throw err
    }
    if (io.errIsTTY === true) io.err(`reef: starting ${config.site.label} from ${file}…\n`)
    let node
    try {
      const { ReefNode } = await import('../reef-node.ts')
      // libp2p listens already in create(); the HTTP listeners in start().
      node = await ReefNode.create(config)
      await node.start({
        beforeFrontListens: () => {
          early?.close()
          early = undefined
        }
      })
    } catch (err) {
      early?.close()
      throw listenError(err, config) ?? err
    }
    if (io.errIsTTY === true) {
      const m = node.mirror.server.address()
      const mirrorPort = typeof m === 'object' && m !== null ? m.port : config.mirror.listen.port
      const rows: Array<[string, string]> = [
        ['front', `${node.frontUrl} → origin ${config.origin.url}`],
        ['mirror', `${listenUrl({ host: config.mirror.listen.host, port: mirrorPort })} (public ${config.mirror.publicUrl})`]
      ]
      if (node.adminUrl !== undefined) rows.push(['admin', `${node.adminUrl} (status page; reef status --config ${file})`])
      for (const a of node.libp2p.getMultiaddrs()) rows.push(['p2p', a.toString()])
      io.err(`reef: ${config.site.label} is up, peer ${node.peerId}; listening on\n${twoColumns(rows, 2, Infinity)}\nPress Ctrl-C to stop.\n`)
    }
    await new Promise<void>(resolve => {
      const stop = (signal: NodeJS.Signals): void => {
        node.log.info({ signal }, 'shutting down')
        if (io.errIsTTY === true) io.err(`\nreef: ${signal}, stopping (releasing helpers, settling the ledger)…\n`)
        process.off('SIGINT', onInt)
        process.off('SIGTERM', onTerm)
        resolve()
      }
      const onInt = (): void => {
        stop('SIGINT')
      }
      const onTerm = (): void => {
        stop('SIGTERM')
      }
      process.on('SIGINT', onInt)
      process.on('SIGTERM', onTerm)
    })
    await node.stop()
    if (io.errIsTTY === true) io.err('reef: stopped\n')
    return EXIT.ok
  }
}

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine'
}

function listenHint(code: string, field: string, port: string): string {
  if (code === 'EACCES') return 'ports below 1024 need root or CAP_NET_BIND_SERVICE; or use a port from 1024 up behind a proxy'
  if (code === 'EADDRNOTAVAIL') return `set ${field} to 0.0.0.0 (all interfaces), 127.0.0.1 or one of this machine's addresses`
  return `another process holds it ("ss -ltnp 'sport = :${port}'" shows which): stop it, or change ${field} ("reef doctor --config FILE" checks every port)`
}

/**
 * The listener failures of a start, in the config's terms: which field, what went wrong, what
 * to do. fastify's errors carry code, address and port; libp2p lists the failed multiaddrs in
 * its message, each with the socket error.
 */
function listenError(err: unknown, config: ReefConfig): ListenError | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number }
  if (e.syscall === 'listen' && e.code !== undefined && e.port !== undefined) {
    const fields = [
      ['front.listen', config.front.listen],
      ['mirror.listen', config.mirror.listen],
      ['admin.listen', config.admin?.listen]
    ] as const
    const field = fields.find(([, l]) => l?.port === e.port)?.[0] ?? 'a listen address'
    return new ListenError(field, `cannot listen on ${field} ${e.address ?? ''}:${e.port}: ${REASONS[e.code] ?? e.code}`, {
      cause: err,
      hint: listenHint(e.code, `${field}.port`, String(e.port))
    })
  }
  if (e.name === 'UnsupportedListenAddressesError') {
    const failed = /^\s*(\/\S+): (?:\w*Error: )?.*?\b(E[A-Z]+)\b/m.exec(e.message)
    if (failed === null) return undefined
    const [, addr, code] = failed as unknown as [string, string, string]
    const port = /\/tcp\/(\d+)/.exec(addr)?.[1] ?? '?'
    return new ListenError('p2p.listen', `cannot listen on p2p.listen ${addr}: ${REASONS[code] ?? code}`, {
      cause: err,
      hint: listenHint(code, 'p2p.listen', port)
    })
  }
  return undefined
}
