/**
 * The `reef` command line.
 *
 *   reef start --config FILE    run a node until SIGINT/SIGTERM
 *   reef status [--admin URL]   print a running node's status (JSON)
 *   reef ledger [--admin URL] [--json] [--records PEER]
 *                               per member: given, taken, balance, quota, headroom
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
  ledger [--admin URL] [--json] [--records PEER]
                           the reciprocity ledger: per member given, taken, balance, quota and
                           headroom; with --records, the signed records behind PEER's balance
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
      case 'ledger': return await ledger(rest, io)
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

async function getJson (base: string, path: string): Promise<unknown> {
  let url: URL
  try { url = new URL(path, base) } catch { throw new UsageError(`--admin "${base}" is not a URL`) }
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  } catch (err) {
    throw new ReefError('ERR_ADMIN_UNREACHABLE', `cannot reach the node's admin API at ${url.origin} (${(err as Error).message}); is the node running, with admin.listen set?`)
  }
  if (!res.ok) throw new ReefError('ERR_ADMIN_STATUS', `${url.href} answered ${res.status}`)
  return res.json()
}

async function status (args: string[], io: CliIo): Promise<number> {
  const v = parse(args, { admin: { type: 'string' } })
  if (v.help === true) { io.out(USAGE); return 0 }
  io.out(JSON.stringify(await getJson(typeof v.admin === 'string' ? v.admin : 'http://127.0.0.1:9180', '/api/status'), null, 2) + '\n')
  return 0
}

interface LedgerMember { peer: string, site: string | null, given: number, taken: number, balance: number, quota: number, headroom: number, overQuota: boolean }

function human (bytes: number): string {
  const abs = Math.abs(bytes)
  const [div, unit] = abs >= 2 ** 30 ? [2 ** 30, 'GiB'] : abs >= 2 ** 20 ? [2 ** 20, 'MiB'] : abs >= 2 ** 10 ? [2 ** 10, 'KiB'] : [1, 'B']
  return `${(bytes / div).toFixed(div === 1 ? 0 : 1)} ${unit}`
}

async function ledger (args: string[], io: CliIo): Promise<number> {
  const v = parse(args, { admin: { type: 'string' }, json: { type: 'boolean' }, records: { type: 'string' } })
  if (v.help === true) { io.out(USAGE); return 0 }
  const base = typeof v.admin === 'string' ? v.admin : 'http://127.0.0.1:9180'
  if (typeof v.records === 'string') {
    if (!/^[1-9A-HJ-NP-Za-km-z]{40,128}$/.test(v.records)) throw new UsageError(`--records "${v.records}" is not a peer id`)
    const data = await getJson(base, `/api/ledger/${v.records}/records`) as { records: Array<{ type: string, author: string, body: Record<string, unknown>, hash: string }> }
    if (v.json === true) { io.out(JSON.stringify(data, null, 2) + '\n'); return 0 }
    for (const r of data.records) io.out(`${r.type.padEnd(10)} ${r.hash.slice(0, 16)} by ${r.author.slice(-8)} session ${String(r.body.session)} round ${String(r.body.round)}: ${String(r.body.requests)} requests, ${human(Number(r.body.bytes))}\n`)
    io.out(`${data.records.length} records\n`)
    return 0
  }
  const data = await getJson(base, '/api/ledger') as { self: string, members: LedgerMember[] }
  if (v.json === true) { io.out(JSON.stringify(data, null, 2) + '\n'); return 0 }
  const rows = [['member', 'site', 'given', 'taken', 'balance', 'quota', 'headroom', '']]
  for (const m of data.members) {
    rows.push([m.peer === data.self ? `${m.peer.slice(-12)} (self)` : m.peer.slice(-12), m.site ?? '?', human(m.given), human(m.taken), human(m.balance), human(m.quota), human(m.headroom), m.overQuota ? 'OVER QUOTA' : ''])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  for (const r of rows) io.out(r.map((c, i) => i >= 2 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n')
  return 0
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
