/**
 * The command table of `reef`. Adding a command is one handler file exporting a `Command`
 * (see command.ts) and one entry here; usage, `--help` and `reef help` follow from it.
 * Commands that belong together (`reef consortium create`, `… invite`) go in a
 * `CommandGroup` entry. The order here is the order of `reef help`.
 */
import type { CommandEntry } from './command.ts'
import { doctorCommand } from './doctor.ts'
import { consortiumGroup, inviteCommand, joinCommand, membersCommand, proposeCommand, voteCommand } from './governance.ts'
import { helpCommand } from './help.ts'
import { initCommand } from './init.ts'
import { ledgerCommand } from './ledger.ts'
import { startCommand } from './start.ts'
import { statusCommand } from './status.ts'

export const COMMANDS: readonly CommandEntry[] = [
  initCommand,
  doctorCommand,
  startCommand,
  statusCommand,
  ledgerCommand,
  consortiumGroup,
  inviteCommand,
  joinCommand,
  membersCommand,
  proposeCommand,
  voteCommand,
  helpCommand(() => COMMANDS)
]
