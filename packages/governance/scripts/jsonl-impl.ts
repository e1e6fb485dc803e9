/**
 * This implementation behind the JSON-lines conformance interface (stdin → stdout): every
 * operation of SPEC.md §Running them against another implementation, protocol, ledger and
 * governance. Self-check: pnpm vectors --impl "node packages/governance/scripts/jsonl-impl.ts"
 */
import { localImpl, serveJsonLines } from '@reef/protocol'
import { localGovernanceImpl } from '../src/index.ts'

await serveJsonLines({ ...localImpl, ...localGovernanceImpl }, process.stdin, process.stdout)
