/**
 * Running a command line against a command table: find the command (or a group's command),
 * answer --help, parse the options, run the handler; and the one place where failures become
 * `reef: what is wrong` / `hint: how to fix it` on stderr and an exit code.
 */
import { ConfigError, ReefError, UsageError } from '../errors.ts'
import type { CliIo, Command, CommandEntry } from './command.ts'
import { closest, entryUsage, EXIT, isGroup, overview, parseCommandArgs, wantsHelp } from './command.ts'

/** Exit code per error code; any other failure exits 1. */
const EXIT_FOR: Readonly<Record<string, number>> = {
  ERR_USAGE: EXIT.usage,
  ERR_CONFIG: EXIT.usage,
  ERR_CONFIG_EXISTS: EXIT.usage,
  ERR_ADMIN_UNREACHABLE: EXIT.unreachable
}

export function unknownCommand(name: string, entries: readonly CommandEntry[], group?: string): UsageError {
  const prefix = group === undefined ? 'reef' : `reef ${group}`
  const list = group === undefined ? 'reef help' : `${prefix} --help`
  const guess = closest(
    name,
    entries.map(c => c.name)
  )
  return new UsageError(`unknown command "${group === undefined ? name : `${group} ${name}`}"`, {
    hint: guess === undefined ? `run "${list}" for the list of commands` : `did you mean "${prefix} ${guess}"? ("${list}" lists the commands)`
  })
}

/**
 * The entry that `words` name: a command, a group's command, or a group itself when no command
 * of it is named (then `rest` starts with its options, if any); `path` is how usage names it.
 */
export function lookup(table: readonly CommandEntry[], words: readonly string[]): { entry: CommandEntry; path: string; rest: string[] } {
  const [name, ...rest] = words
  const entry = table.find(e => e.name === name)
  if (name === undefined || entry === undefined) throw unknownCommand(name ?? '', table)
  if (!isGroup(entry)) return { entry, path: name, rest }
  const [sub, ...subRest] = rest
  if (sub === undefined || sub.startsWith('-')) return { entry, path: name, rest }
  const cmd = entry.commands.find(c => c.name === sub)
  if (cmd === undefined) throw unknownCommand(sub, entry.commands, name)
  return { entry: cmd, path: `${name} ${sub}`, rest: subRest }
}

/** How to fix a config error: the field or the line of the file it names. */
export function configErrorHint(err: ConfigError): string {
  if (err.hint !== undefined) return err.hint
  const { file, field, line, column } = err.location
  const where = file ?? 'the config file'
  if (field !== undefined) return `set ${field} in ${where}; every field is explained in the config "reef init" writes and in README's config table`
  if (line !== undefined) return `fix the syntax at line ${line} column ${column ?? 1} of ${where} (JSON; // and /* */ comments and trailing commas are fine)`
  if (file !== undefined) return `check the path, and that the user running reef may read ${file}; "reef init" writes a new, commented config`
  return 'fix it in the config file; "reef doctor --config FILE" checks it'
}

/** What to do about a failure when the error itself does not say. */
function hintFor(err: unknown): string | undefined {
  if (err instanceof ConfigError) return configErrorHint(err)
  if (err instanceof ReefError && err.hint !== undefined) return err.hint
  if (err instanceof UsageError)
    return err.command === undefined ? 'run "reef help" for the commands' : `run "reef ${err.command} --help" for its options and examples`
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'EACCES' || code === 'EPERM') return "the user running reef may not write there: change the directory's owner, or choose another location"
  if (code === 'ENOSPC') return 'the disk is full'
  if (code === 'EROFS') return 'that file system is read-only: choose another location'
  return undefined
}

function report(err: unknown, io: CliIo): number {
  io.err(`reef: ${err instanceof Error ? err.message : String(err)}\n`)
  const hint = hintFor(err)
  if (hint !== undefined) io.err(`hint: ${hint}\n`)
  return err instanceof ReefError ? (EXIT_FOR[err.code] ?? EXIT.failure) : EXIT.failure
}

export async function runCli(table: readonly CommandEntry[], argv: readonly string[], io: CliIo): Promise<number> {
  try {
    if (argv.length === 0) {
      io.err(overview(table))
      return EXIT.usage
    }
    if (argv[0] === '--help' || argv[0] === '-h') {
      io.out(overview(table))
      return EXIT.ok
    }
    const { entry, path, rest } = lookup(table, argv)
    if (wantsHelp(rest)) {
      io.out(entryUsage(entry))
      return EXIT.ok
    }
    if (isGroup(entry)) {
      throw new UsageError(`${path} needs a command: ${entry.commands.map(c => c.name).join(', ')}`, { command: path })
    }
    return await (entry satisfies Command).run(parseCommandArgs(entry, rest, path), io)
  } catch (err) {
    return report(err, io)
  }
}
