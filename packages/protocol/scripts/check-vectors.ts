/**
 * Run the vectors against an implementation.
 *
 *   pnpm vectors                         this implementation, in process
 *   pnpm vectors --impl "CMD ARGS…"      another one, spoken to over JSON lines (src/jsonl.ts)
 *
 * Exit 0 when every vector passes, 1 otherwise (each mismatch is printed).
 */
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { checkVectors, localImpl } from '../src/conformance.ts'
import type { ProtocolImpl } from '../src/conformance.ts'
import { jsonLinesClient } from '../src/jsonl.ts'
import { loadVectors } from './load-vectors.ts'

const { values } = parseArgs({ options: { impl: { type: 'string' } }, strict: true })
const vectors = await loadVectors()
let impl: ProtocolImpl = localImpl
let close = (): void => {}
if (values.impl !== undefined) {
  const child = spawn(values.impl, { shell: true, stdio: ['pipe', 'pipe', 'inherit'] })
  const client = jsonLinesClient(child.stdin, child.stdout, 3_000)
  impl = client
  close = () => {
    client.close()
    child.kill()
  }
}
const { checked, failures } = await checkVectors(impl, vectors)
close()
for (const f of failures) process.stdout.write(`FAIL ${f.vector}: expected ${f.expected}, got ${f.got}\n`)
process.stdout.write(`${checked - failures.length} passed, ${failures.length} failed\n`)
process.exitCode = failures.length === 0 ? 0 : 1
