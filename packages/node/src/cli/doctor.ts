/** `reef doctor`: check a node's config and surroundings; every finding with a fix. */
import { UsageError } from '../errors.ts'
import type { Command } from './command.ts'
import { CONFIG_OPTION, EXIT, flag, JSON_OPTION, numberOption, stringOption } from './command.ts'
import type { CheckResult, CheckStatus } from './doctor-checks.ts'

export function formatReport(file: string, results: readonly CheckResult[]): string {
  const width = Math.max(...results.map(r => r.name.length))
  const lines = [`reef doctor ${file}`]
  for (const r of results) {
    lines.push(`${r.status.padEnd(4)}  ${r.name.padEnd(width)}  ${r.summary}`)
    if (r.fix !== undefined && r.status !== 'ok') lines.push(`${' '.repeat(4 + 2 + width + 2)}fix: ${r.fix}`)
  }
  const n = countByStatus(results)
  lines.push(`${n.ok} ok, ${n.warn} warning${n.warn === 1 ? '' : 's'}, ${n.fail} failure${n.fail === 1 ? '' : 's'}${n.skip > 0 ? `, ${n.skip} skipped` : ''}`)
  return lines.join('\n') + '\n'
}

function countByStatus(results: readonly CheckResult[]): Record<CheckStatus, number> {
  const n: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 }
  for (const r of results) n[r.status]++
  return n
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check a config, the data dir, ports, origin, peers and clock, with fixes',
  synopsis: 'doctor --config FILE [--timeout MS] [--json]',
  description: `Check what a node needs, each check reported as ok, warn, fail or skip, with a fix for
anything not ok:
  config       the file parses and validates (the field or line named when not)
  public urls  site.publicUrl and mirror.publicUrl are reachable from other machines
  data dir     dataDir is writable; identity: identity.key is readable (the peer id)
  node         whether a Reef node answers at admin.listen (then its ports are its own)
  storage      free space on dataDir's volume (warn under 64 MiB, fail under 8 MiB); fail
               when the running node's ledger or governance store refuses writes (full
               volume), with how many records it holds until space returns
  ports        front, mirror, admin and p2p listen ports are free or held by that node
  admin token  admin.tokenFile is readable, holds a token and is not open to every user
  origin       GET origin.url answers, with status and latency
  peers        p2p.bootstrap addresses parse; with a running node, its connections and
               the members reporting load
  clock        our clock against the Date header of the origin and of the node: warn
               beyond 5 s, fail beyond the protocol's 30 s skew limit (MAX_CLOCK_SKEW_MS)
Safe to run while the node runs; it leaves nothing behind (the data dir's write test
removes its probe file).`,
  options: {
    config: CONFIG_OPTION,
    timeout: { type: 'string', value: 'MS', description: 'timeout of each HTTP probe, in ms (default 5000)' },
    json: JSON_OPTION
  },
  examples: ['reef doctor --config /etc/reef/reef.jsonc', 'reef doctor -c reef/reef.jsonc --json | jq \'.checks[] | select(.status != "ok")\''],
  exitCodes: `Exit codes:
  0  no check failed (warnings allowed)
  1  at least one check failed
  2  bad usage (no --config)`,
  async run(args, io) {
    const file = stringOption(args, 'config')
    if (file === undefined) throw new UsageError('doctor needs --config FILE', { command: 'doctor', hint: '"reef init" writes one' })
    const timeoutMs = numberOption('doctor', args, 'timeout', 1, 600_000) ?? 5_000
    const progress = io.errIsTTY === true
    // Loaded on use: the checks pull in the config schema and libp2p's key code.
    const { runDoctor } = await import('./doctor-checks.ts')
    const results = await runDoctor({
      configFile: file,
      timeoutMs,
      ...(progress
        ? {
            onCheck: (name: string) => {
              io.err(`\r\x1b[Kchecking ${name}…`)
            }
          }
        : {})
    })
    if (progress) io.err('\r\x1b[K')
    const n = countByStatus(results)
    if (flag(args, 'json')) io.out(JSON.stringify({ config: file, ok: n.fail === 0, counts: n, checks: results }, null, 2) + '\n')
    else io.out(formatReport(file, results))
    return n.fail === 0 ? EXIT.ok : EXIT.failure
  }
}
