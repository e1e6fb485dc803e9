/** `reef help [COMMAND]`: the overview, or one command's usage. */
import { UsageError } from '../errors.ts'
import type { Command } from './command.ts'
import { closest, EXIT, overview, usage } from './command.ts'

/** The help command over a command table (passed lazily: the table includes this command). */
export function helpCommand (commands: () => readonly Command[]): Command {
  return {
    name: 'help',
    summary: 'show the commands, or one command\'s options and examples',
    synopsis: 'help [COMMAND]',
    description: 'Without COMMAND, list the commands; with it, print that command\'s usage (the same as "reef COMMAND --help").',
    options: {},
    positionals: { min: 0, max: 1 },
    examples: ['reef help', 'reef help doctor'],
    async run (args, io) {
      const name = args.positionals[0]
      if (name === undefined) { io.out(overview(commands())); return EXIT.ok }
      const cmd = commands().find(c => c.name === name)
      if (cmd === undefined) throw unknownCommand(name, commands())
      io.out(usage(cmd))
      return EXIT.ok
    }
  }
}

export function unknownCommand (name: string, commands: readonly Command[]): UsageError {
  const guess = closest(name, commands.map(c => c.name))
  return new UsageError(`unknown command "${name}"`, {
    hint: guess === undefined ? 'run "reef help" for the list of commands' : `did you mean "reef ${guess}"? ("reef help" lists the commands)`
  })
}
