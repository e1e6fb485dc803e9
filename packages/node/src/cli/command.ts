/**
 * What a `reef` command is: a name, its options (each with a description), examples, and a
 * handler; or a group of such commands run as `reef <group> <command>`. The usage text of every
 * command is rendered from this description, so `--help`, `reef help <command>` and the
 * overview cannot drift from what the parser accepts.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '../errors.ts'

export interface CliIo {
  out: (s: string) => void
  err: (s: string) => void
  /** True when `err` is a terminal: long operations write progress there. */
  errIsTTY?: boolean
  /** Ask the operator a question and read one line (only when someone is at a terminal). */
  ask?: (question: string) => Promise<string>
}

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** Placeholder for the value in the usage text (FILE, URL, …); string options only. */
  value?: string
  /** May be given several times (string options): the values arrive as an array. */
  multiple?: boolean
  description: string
}

export interface CommandArgs {
  values: Readonly<Record<string, string | boolean | string[] | undefined>>
  positionals: readonly string[]
}

export interface Command {
  name: string
  /** One line for the overview. */
  summary: string
  /** What follows `reef ` in the usage line, e.g. `init [options]`. */
  synopsis: string
  /** A paragraph or two: what the command does, what it needs. */
  description: string
  options: Readonly<Record<string, OptionSpec>>
  /** Positional arguments accepted (default none). */
  positionals?: { min: number; max: number }
  examples: readonly string[]
  /** Exit codes of this command, when they differ from EXIT_CODES_TEXT. */
  exitCodes?: string
  run: (args: CommandArgs, io: CliIo) => Promise<number>
}

/** Commands run as `reef <name> <command>`, e.g. `reef consortium create`. */
export interface CommandGroup {
  name: string
  summary: string
  description: string
  /** Each command's synopsis starts with the group's name (`consortium create …`). */
  commands: readonly Command[]
}

export type CommandEntry = Command | CommandGroup

export function isGroup(e: CommandEntry): e is CommandGroup {
  return 'commands' in e
}

/** The exit codes every command uses; README's CLI section repeats them. */
export const EXIT = { ok: 0, failure: 1, usage: 2, unreachable: 3 } as const

export const EXIT_CODES_TEXT = `Exit codes:
  0  ok
  1  runtime failure (or the admin API answered with an error)
  2  bad usage or bad configuration
  3  the node's admin API cannot be reached (node not running?)`

/** Options several commands share, described once. */
export const ADMIN_OPTION: OptionSpec = {
  type: 'string',
  value: 'URL',
  description: "the node's admin API (default: admin.listen of --config, else http://127.0.0.1:9180)"
}
export const CONFIG_OPTION: OptionSpec = { type: 'string', short: 'c', value: 'FILE', description: "the node's config file (JSON with comments)" }
export const JSON_OPTION: OptionSpec = { type: 'boolean', description: 'print JSON instead of text' }
const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' }

/** True when the arguments ask for help (before a `--`), whatever else they hold. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false
    if (a === '--help' || a === '-h') return true
  }
  return false
}

/** Parse a command's arguments; `path` names it in errors (`init`, `consortium create`). */
export function parseCommandArgs(cmd: Command, args: readonly string[], path = cmd.name): CommandArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  for (const [name, spec] of Object.entries(cmd.options)) {
    options[name] = { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }), ...(spec.multiple === true ? { multiple: true } : {}) }
  }
  let parsed
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: true })
  } catch (err) {
    // node:util's messages end with advice meant for script authors; keep the first sentence.
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\.$/, '')
    throw new UsageError(`${path}: ${message}`, { command: path })
  }
  const { min, max } = cmd.positionals ?? { min: 0, max: 0 }
  if (parsed.positionals.length > max) throw new UsageError(`${path}: unexpected argument "${parsed.positionals[max]!}"`, { command: path })
  if (parsed.positionals.length < min) throw new UsageError(`${path}: missing argument`, { command: path })
  return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, positionals: parsed.positionals }
}

export function stringOption(args: CommandArgs, name: string): string | undefined {
  const v = args.values[name]
  return typeof v === 'string' ? v : undefined
}

/** Every value of a repeatable string option. */
export function listOption(args: CommandArgs, name: string): string[] {
  const v = args.values[name]
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : []
}

export function flag(args: CommandArgs, name: string): boolean {
  return args.values[name] === true
}

/** A number option: undefined when absent, a UsageError naming the option when not a number in range. */
export function numberOption(cmd: string, args: CommandArgs, name: string, min: number, max: number): number | undefined {
  const v = stringOption(args, name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${cmd}: --${name} "${v}" is not a number from ${min} to ${max}`, { command: cmd })
  return n
}

function optionLabel(name: string, spec: OptionSpec): string {
  const short = spec.short === undefined ? '    ' : `-${spec.short}, `
  return `${short}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`
}

/** Lines of `label  text`, the text column aligned, wrapped at `wrapAt` columns. */
export function twoColumns(rows: ReadonlyArray<readonly [string, string]>, indent = 2, wrapAt = 100): string {
  const width = Math.max(...rows.map(([l]) => l.length))
  const textWidth = Math.max(40, wrapAt - indent - width - 2)
  const lines: string[] = []
  for (const [label, text] of rows) {
    const words = text.split(' ')
    let line = ''
    const chunks: string[] = []
    for (const w of words) {
      if (line !== '' && line.length + 1 + w.length > textWidth) {
        chunks.push(line)
        line = w
      } else line = line === '' ? w : `${line} ${w}`
    }
    chunks.push(line)
    chunks.forEach((c, i) => lines.push(`${' '.repeat(indent)}${(i === 0 ? label : '').padEnd(width)}  ${c}`.trimEnd()))
  }
  return lines.join('\n')
}

/** The full usage of one command, as `reef <command> --help` prints it. */
export function usage(cmd: Command): string {
  const options = Object.entries(cmd.options).map(([name, spec]) => [optionLabel(name, spec), spec.description] as const)
  options.push([optionLabel('help', HELP_OPTION), HELP_OPTION.description])
  const parts = [`Usage: reef ${cmd.synopsis}`, '', cmd.description, '', 'Options:', twoColumns(options)]
  if (cmd.examples.length > 0) parts.push('', 'Examples:', ...cmd.examples.map(e => `  ${e}`))
  parts.push('', cmd.exitCodes ?? EXIT_CODES_TEXT)
  return parts.join('\n') + '\n'
}

/** The usage of a group: its commands with their summaries. */
export function groupUsage(group: CommandGroup): string {
  return (
    [
      `Usage: reef ${group.name} <command> [options]`,
      '',
      group.description,
      '',
      'Commands:',
      twoColumns(group.commands.map(c => [c.name, c.summary] as const)),
      '',
      `Run "reef ${group.name} <command> --help" for a command's options and examples.`
    ].join('\n') + '\n'
  )
}

export function entryUsage(e: CommandEntry): string {
  return isGroup(e) ? groupUsage(e) : usage(e)
}

/** `reef help`: every command with its summary. */
export function overview(commands: readonly CommandEntry[]): string {
  return (
    [
      'Usage: reef <command> [options]',
      '',
      'Reef sheds flash-crowd load from a small web site to the mirrors of a cooperative consortium.',
      '',
      'Commands:',
      twoColumns(commands.map(c => [isGroup(c) ? `${c.name} <command>` : c.name, c.summary] as const)),
      '',
      'Run "reef <command> --help" or "reef help <command>" for a command\'s options and examples.',
      'First time? "reef init" writes a commented config, "reef doctor" checks it, "reef start" runs the node.',
      '',
      EXIT_CODES_TEXT
    ].join('\n') + '\n'
  )
}

/** The closest command name to a mistyped one, if it is close enough to suggest. */
export function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const n of names) {
    const d = editDistance(name, n)
    if (d < bestDistance) {
      best = n
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined
}

/** Edit distance counting a swap of neighbours as one edit ("stauts" is one from "status"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1)
    }
  }
  return d[a.length]![b.length]!
}
