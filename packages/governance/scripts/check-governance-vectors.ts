/**
 * Run vectors/governance.json against this implementation (pnpm vectors:governance).
 * Exit 0 when every vector passes, 1 otherwise (each mismatch is printed).
 */
import { readFile } from 'node:fs/promises'
import { checkGovernanceVectors } from '../src/conformance.ts'
import type { GovernanceVectorSet } from '../src/governance-vectors.ts'

const v = JSON.parse(await readFile(new URL('../vectors/governance.json', import.meta.url), 'utf8')) as GovernanceVectorSet
const { checked, failures } = await checkGovernanceVectors(v)
for (const f of failures) process.stdout.write(`FAIL ${f.vector}: expected ${f.expected}, got ${f.got}\n`)
process.stdout.write(`${checked - failures.length} passed, ${failures.length} failed\n`)
process.exitCode = failures.length === 0 ? 0 : 1
