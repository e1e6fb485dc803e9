/**
 * Run every vector file of this revision against an implementation:
 *
 *   pnpm vectors                         this implementation, in process
 *   pnpm vectors --impl "CMD ARGS…"      another one, spoken to over JSON lines
 *
 * packages/protocol/vectors (records, canonical, frames and fetch streams, gossip verdicts,
 * base URLs), packages/governance/vectors/ledger.json and governance.json. The operations are
 * those of SPEC.md §Running them against another implementation. Exit 0 when every vector
 * passes, 1 otherwise (each mismatch is printed).
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { checkVectors, jsonLinesClient, localImpl, readVectorSet } from '@reef/protocol'
import type { ProtocolImpl } from '@reef/protocol'
import { GOVERNANCE_VECTORS_FILE, LEDGER_VECTORS_FILE, checkGovernanceVectorsWith, checkLedgerVectorsWith, localGovernanceImpl } from '../src/index.ts'
import type { GovernanceImpl, GovernanceVectorSet, LedgerVectorSet } from '../src/index.ts'

const { values } = parseArgs({ options: { impl: { type: 'string' } }, strict: true })
let impl: ProtocolImpl & GovernanceImpl = { ...localImpl, ...localGovernanceImpl }
let close = (): void => {}
if (values.impl !== undefined) {
  const child = spawn(values.impl, { shell: true, stdio: ['pipe', 'pipe', 'inherit'] })
  const client = jsonLinesClient(child.stdin, child.stdout, 3_000)
  impl = {
    ...client,
    ledger: async req => client.call('ledger', req) as never,
    log: async req => client.call('log', req) as never,
    evidence: async req => client.call('evidence', req) as never
  }
  close = () => {
    client.close()
    child.kill()
  }
}
const json = async <T>(url: URL): Promise<T> => JSON.parse(await readFile(url, 'utf8')) as T
const runs: Array<[string, { checked: number; failures: Array<{ vector: string; expected: string; got: string }> }]> = [
  ['protocol (records, gossip, base URLs, canonical, frames, streams)', await checkVectors(impl, await readVectorSet())],
  ['ledger', await checkLedgerVectorsWith(impl, await json<LedgerVectorSet>(LEDGER_VECTORS_FILE))],
  ['governance', await checkGovernanceVectorsWith(impl, await json<GovernanceVectorSet>(GOVERNANCE_VECTORS_FILE))]
]
close()
let passed = 0
let failed = 0
for (const [name, r] of runs) {
  for (const f of r.failures) process.stdout.write(`FAIL ${f.vector}: expected ${f.expected}, got ${f.got}\n`)
  process.stdout.write(`${name}: ${r.checked - r.failures.length} passed, ${r.failures.length} failed\n`)
  passed += r.checked - r.failures.length
  failed += r.failures.length
}
process.stdout.write(`${passed} passed, ${failed} failed\n`)
process.exitCode = failed === 0 ? 0 : 1
