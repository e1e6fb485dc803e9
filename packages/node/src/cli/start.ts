/** `reef start`: run a node in the foreground until SIGINT/SIGTERM. */
import { UsageError } from '../errors.ts'
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
ledger is settled first. A wrong or missing config field stops it at once, naming the field.`,
  options: { config: CONFIG_OPTION },
  examples: [
    'reef start --config /etc/reef/reef.jsonc',
    'reef init --dir ./reef && reef start -c ./reef/reef.jsonc'
  ],
  async run (args, io) {
    const file = stringOption(args, 'config')
    if (file === undefined) throw new UsageError('start needs --config FILE', { command: 'start', hint: '"reef init" writes one' })
    // Loaded on use: the node's stack (zod, libp2p, fastify) is most of the CLI's start-up
    // time, and --help of every command should not wait for it.
    const [{ loadConfigFile }, { ReefNode }] = await Promise.all([import('../config.ts'), import('../reef-node.ts')])
    const config = await loadConfigFile(file)
    if (io.errIsTTY === true) io.err(`reef: starting ${config.site.label} from ${file}…\n`)
    const node = await ReefNode.create(config)
    await node.start()
    if (io.errIsTTY === true) {
      const m = node.mirror.server.address()
      const mirrorPort = typeof m === 'object' && m !== null ? m.port : config.mirror.listen.port
      const rows: Array<[string, string]> = [
        ['front', `${node.frontUrl} → origin ${config.origin.url}`],
        ['mirror', `${listenUrl({ host: config.mirror.listen.host, port: mirrorPort })} (public ${config.mirror.publicUrl})`]
      ]
      if (node.adminUrl !== undefined) rows.push(['admin', `${node.adminUrl} (status page; reef status --config ${file})`])
      for (const a of node.libp2p.getMultiaddrs()) rows.push(['p2p', a.toString()])
      io.err(`reef: ${config.site.label} is up, peer ${node.peerId}; listening on\n${twoColumns(rows, 2)}\nPress Ctrl-C to stop.\n`)
    }
    await new Promise<void>(resolve => {
      const stop = (signal: string): void => {
        node.log.info({ signal }, 'shutting down')
        if (io.errIsTTY === true) io.err(`\nreef: ${signal}, stopping (releasing helpers, settling the ledger)…\n`)
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        resolve()
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    await node.stop()
    if (io.errIsTTY === true) io.err('reef: stopped\n')
    return EXIT.ok
  }
}
