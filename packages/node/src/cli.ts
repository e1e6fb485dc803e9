/**
 * The `reef` command line.
 *
 *   reef start --config FILE    run a node until SIGINT/SIGTERM
 *   reef status [--admin URL]   print a running node's status (JSON)
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration.
 */
import { parseArgs } from 'node:util'
import { loadConfigFile } from './config.ts'
import { ReefError } from './errors.ts'
import { ReefNode } from './reef-node.ts'

const USAGE = `Usage: reef <command> [options]

Commands:
  start --config FILE      run a Reef node in front of the origin named in FILE
  status [--admin URL]     print a running node's status (default admin URL http://127.0.0.1:9180)
  help                     show this help

Options:
  -c, --config FILE        the node's JSON configuration file
  -h, --help               show help for a command

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
`

export interface CliIo {
  out: (s: string) => void
  err: (s: string) => void
}

const defaultIo: CliIo = {
  out: s => { process.stdout.write(s) },
  err: s => { process.stderr.write(s) }
}

class UsageError extends ReefError {
  constructor (message: string) { super('ERR_USAGE', message); this.name = 'UsageError' }
}

export async function main (argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case undefined: case 'help': case '--help': case '-h':
        io.out(USAGE); return command === undefined ? 2 : 0
      case 'start': return await start(rest, io)
      case 'status': return await status(rest, io)
      default: throw new UsageError(`unknown command "${command}"`)
    }
  } catch (err) {
    if (err instanceof ReefError && (err.code === 'ERR_CONFIG' || err.code === 'ERR_USAGE')) {
      io.err(`reef: ${err.message}\n`)
      if (err.code === 'ERR_USAGE') io.err('Run "reef help" for usage.\n')
      return 2
    }
    io.err(`reef: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}

function parse (args: string[], options: Record<string, { type: 'string' | 'boolean', short?: string }>): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

async function start (args: string[], io: CliIo): Promise<number> {
  const v = parse(args, { config: { type: 'string', short: 'c' } })
  if (v.help === true) { io.out(USAGE); return 0 }
  if (typeof v.config !== 'string') throw new UsageError('start needs --config FILE')
  const config = await loadConfigFile(v.config)
  const node = await ReefNode.create(config)
  await node.start()
  await new Promise<void>(resolve => {
    const stop = (signal: string): void => {
      node.log.info({ signal }, 'shutting down')
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  await node.stop()
  return 0
}

async function status (args: string[], io: CliIo): Promise<number> {
  const v = parse(args, { admin: { type: 'string' } })
  if (v.help === true) { io.out(USAGE); return 0 }
  const base = typeof v.admin === 'string' ? v.admin : 'http://127.0.0.1:9180'
  let url: URL
  try { url = new URL('/api/status', base) } catch { throw new UsageError(`--admin "${base}" is not a URL`) }
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) { io.err(`reef: ${url.href} answered ${res.status}\n`); return 1 }
  io.out(JSON.stringify(await res.json(), null, 2) + '\n')
  return 0
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
