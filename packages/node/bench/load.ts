/**
 * A closed-loop HTTP load generator for the microbenchmarks, run as its own process so that it
 * never shares an event loop with the server it measures. Loopback only; bounded by --ms.
 *
 *   node load.ts URL --ms 2000 [--connections 32] [--pipelining 8] [--host NAME] [--expect STATUS]
 *
 * Prints one JSON line: { requests, errors, rps }.
 */
import { parseArgs } from 'node:util'
import { Pool } from 'undici'

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { ms: { type: 'string' }, connections: { type: 'string' }, pipelining: { type: 'string' }, host: { type: 'string' }, expect: { type: 'string' } }
})
const target = new URL(positionals[0] ?? '')
if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
  process.stderr.write('load: loopback targets only\n')
  process.exit(2)
}
const ms = Math.min(60_000, Number(values.ms ?? 2_000))
const connections = Number(values.connections ?? 32)
const pipelining = Number(values.pipelining ?? 8)
const expect = Number(values.expect ?? 200)
const pool = new Pool(target.origin, { connections, pipelining })
const headers: Record<string, string> = values.host === undefined ? {} : { host: values.host }
let requests = 0
let errors = 0
const deadline = performance.now() + ms
const start = performance.now()
async function worker(): Promise<void> {
  while (performance.now() < deadline) {
    try {
      const res = await pool.request({ method: 'GET', path: target.pathname + target.search, headers })
      await res.body.dump()
      if (res.statusCode === expect) requests++
      else errors++
    } catch {
      errors++
    }
  }
}
await Promise.all(Array.from({ length: connections * pipelining }, worker))
const elapsed = performance.now() - start
await pool.close()
process.stdout.write(JSON.stringify({ requests, errors, rps: Math.round((requests * 1000) / elapsed) }) + '\n')
