/**
 * The `reef` command line. The commands are in the table in cli/commands.ts, one handler file
 * each; cli/dispatch.ts runs a command line against it.
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
import type { CliIo } from './command.ts'
import { COMMANDS } from './commands.ts'
import { runCli } from './dispatch.ts'

export type { CliIo } from './command.ts'

const defaultIo: CliIo = {
  out: s => {
    process.stdout.write(s)
  },
  err: s => {
    process.stderr.write(s)
  },
  errIsTTY: process.stderr.isTTY === true,
  ...(process.stdin.isTTY === true && process.stderr.isTTY === true
    ? {
        ask: async (question: string) => {
          const { createInterface } = await import('node:readline/promises')
          const rl = createInterface({ input: process.stdin, output: process.stderr })
          try {
            return await rl.question(question)
          } finally {
            rl.close()
          }
        }
      }
    : {})
}

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  return runCli(COMMANDS, argv, io)
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2))
}
