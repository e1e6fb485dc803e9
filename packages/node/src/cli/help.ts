/** `reef help [COMMAND [SUBCOMMAND]]`: the overview, or one command's usage. */
import { UsageError } from '../errors.ts'
import type { Command, CommandEntry } from './command.ts'
import { entryUsage, EXIT, overview } from './command.ts'
import { lookup } from './dispatch.ts'

/** The help command over a command table (passed lazily: the table includes this command). */
export function helpCommand(commands: () => readonly CommandEntry[]): Command {
  return {
    name: 'help',
    summary: "show the commands, or one command's options and examples",
    synopsis: 'help [COMMAND [SUBCOMMAND]]',
    description: 'Without COMMAND, list the commands; with it, print that command\'s usage (the same as "reef COMMAND --help").',
    options: {},
    positionals: { min: 0, max: 2 },
    examples: ['reef help', 'reef help doctor'],
    async run(args, io) {
      if (args.positionals.length === 0) {
        io.out(overview(commands()))
        return EXIT.ok
      }
      const { entry, path, rest } = lookup(commands(), args.positionals)
      if (rest.length > 0) throw new UsageError(`help: "${path}" has no command "${rest[0]!}"`, { command: 'help' })
      io.out(entryUsage(entry))
      return EXIT.ok
    }
  }
}
