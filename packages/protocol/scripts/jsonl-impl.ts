/** This implementation behind the JSON-lines conformance interface (stdin → stdout). */
import { localImpl } from '../src/conformance.ts'
import { serveJsonLines } from '../src/jsonl.ts'

await serveJsonLines(localImpl, process.stdin, process.stdout)
