/**
 * The `reef` command line: dispatch over the command table (cli/commands.ts), `--help` for
 * every command, and the one place where failures become messages and exit codes.
 *
 *   reef init      create a data dir, the node identity and a commented config file
 *   reef doctor    check a config, the data dir, ports, origin, peers and clock
 *   reef start     run a node until SIGINT/SIGTERM
 *   reef status    what a running node is doing
 *   reef ledger    the reciprocity ledger
 *   reef help      the commands, or one command's usage
 *
 * Exit codes: 0 ok; 1 runtime failure (doctor: a check failed); 2 bad usage or bad
 * configuration; 3 the node's admin API cannot be reached. Errors go to stderr as
 * "reef: what is wrong" and "hint: how to fix it".
 */
import type { CliIo } from './cli/command.ts'
import { EXIT, overview, parseCommandArgs, usage, wantsHelp } from './cli/command.ts'
import { COMMANDS } from './cli/commands.ts'
import { unknownCommand } from './cli/help.ts'
import { ReefError, UsageError } from './errors.ts'

export type { CliIo } from './cli/command.ts'

const defaultIo: CliIo = {
  out: s => { process.stdout.write(s) },
  err: s => { process.stderr.write(s) },
  errIsTTY: process.stderr.isTTY === true
}

/** Exit code per error code; any other failure exits 1. */
const EXIT_FOR: Readonly<Record<string, number>> = {
  ERR_USAGE: EXIT.usage,
  ERR_CONFIG: EXIT.usage,
  ERR_CONFIG_EXISTS: EXIT.usage,
  ERR_ADMIN_UNREACHABLE: EXIT.unreachable
}

/** What to do about a failure when the error itself does not say. */
function hintFor (err: unknown): string | undefined {
  if (err instanceof ReefError && err.hint !== undefined) return err.hint
  if (err instanceof UsageError) return err.command === undefined ? 'run "reef help" for the commands' : `run "reef ${err.command} --help" for its options and examples`
  if (err instanceof ReefError && err.code === 'ERR_CONFIG') return 'fix it in the config file: "reef doctor --config FILE" checks it, "reef init" writes a commented example'
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'EACCES' || code === 'EPERM') return 'the user running reef may not write there: change the directory\'s owner, or choose another location'
  if (code === 'ENOSPC') return 'the disk is full'
  if (code === 'EROFS') return 'that file system is read-only: choose another location'
  return undefined
}

function report (err: unknown, io: CliIo): number {
  io.err(`reef: ${err instanceof Error ? err.message : String(err)}\n`)
  const hint = hintFor(err)
  if (hint !== undefined) io.err(`hint: ${hint}\n`)
  return err instanceof ReefError ? EXIT_FOR[err.code] ?? EXIT.failure : EXIT.failure
}

export async function main (argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [name, ...rest] = argv
  try {
    if (name === undefined) { io.err(overview(COMMANDS)); return EXIT.usage }
    if (name === '--help' || name === '-h') { io.out(overview(COMMANDS)); return EXIT.ok }
    const cmd = COMMANDS.find(c => c.name === name)
    if (cmd === undefined) throw unknownCommand(name, COMMANDS)
    if (wantsHelp(rest)) { io.out(usage(cmd)); return EXIT.ok }
    return await cmd.run(parseCommandArgs(cmd, rest), io)
  } catch (err) {
    return report(err, io)
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
