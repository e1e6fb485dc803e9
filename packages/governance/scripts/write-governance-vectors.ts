/** Regenerate vectors/governance.json. Run: pnpm --filter @reef/governance vectors:write */
import { writeFile } from 'node:fs/promises'
import { governanceVectorsJson } from '../src/governance-vectors.ts'

const text = await governanceVectorsJson()
await writeFile(new URL('../vectors/governance.json', import.meta.url), text)
const v = JSON.parse(text) as { invalidCharters: unknown[]; log: unknown[]; entries: unknown[]; evidence: unknown[]; frames: unknown[] }
process.stdout.write(
  `wrote 1 + ${v.invalidCharters.length} charter, ${v.log.length} log, ${v.entries.length} entry-case, ${v.evidence.length} evidence and ${v.frames.length} frame vectors\n`
)
