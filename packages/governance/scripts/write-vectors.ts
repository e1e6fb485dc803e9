/** Regenerate vectors/ledger.json. Run: pnpm --filter @reef/governance vectors:write */
import { writeFile } from 'node:fs/promises'
import { makeLedgerVectors } from '../src/ledger-vectors.ts'

const v = await makeLedgerVectors()
await writeFile(new URL('../vectors/ledger.json', import.meta.url), JSON.stringify(v, null, 2) + '\n')
process.stdout.write(`wrote ${v.scenarios.length} ledger scenarios\n`)
