/**
 * Benchmarks. Loopback only, bounded in count and time.
 *
 *   pnpm bench crowd [--profile step|ramp|bursts] [--multiple M] [--seconds S] [--setups origin,nginx,alone,2,4,8]
 *   pnpm bench crowd --net [--setups …] [--loads 5,20,80,sat] [--baseline REF]   the same on network namespaces with
 *                                      shaped uplinks (root only; net/run.ts)
 *   pnpm bench micro [--ms MS]         redirect, mirror hit and pass-through against nginx
 *   pnpm bench protocol [--ms MS]      record encode+sign / decode+verify throughput
 *   pnpm bench ledger [--records N]    redirect accounting cost, ledger writes/s, rebuild from N records
 *   pnpm bench governance [--ms MS]    attestation header on the mirror, log verification, evidence checks
 *   pnpm bench soak [--net] [--minutes 30]  crowds coming and going for a long run: success, RSS, descriptors, ledgers
 *   pnpm bench scale [--nodes 100]     the control plane of a large consortium (scale/run.ts)
 *
 * Each sub-command lives in its own module (crowd.ts, ledger.ts, ../../protocol/bench/records.ts).
 */

const [command] = process.argv.slice(2)
if (command === 'protocol') {
  await import(new URL('../../protocol/bench/records.ts', import.meta.url).href)
  process.exit(0)
}
if (command === 'ledger') {
  await import('./ledger.ts')
  process.exit(0)
}
if (command === 'micro') {
  await import('./micro.ts')
  process.exit(0)
}
if (command === 'governance') {
  await import('./governance.ts')
  process.exit(0)
}
if (command === 'soak') {
  await import('./soak-run.ts')
  process.exit()
}
if (command === 'scale') {
  await import('./scale/run.ts')
  process.exit(0)
}
if (command === 'crowd') {
  await import('./crowd.ts')
  process.exit(0)
}
process.stderr.write(
  'Usage: pnpm bench crowd [--profile step|ramp|bursts] [--multiple M] [--seconds S] [--capacity RPS] [--workers N] [--setups LIST] [--out DIR]\n       pnpm bench crowd --net [--setups LIST] [--loads LIST] [--seconds S] [--uplink BYTES_PER_SEC] [--timeout-s S] [--tc-latency-ms MS] [--kill-at-s S] [--baseline REF] [--mirror-rps N] [--standby] [--standby-share S] [--repeat N] [--keep-logs] [--out DIR]\n       pnpm bench micro [--ms MS] [--runs R]\n       pnpm bench protocol [--ms MS]\n       pnpm bench ledger [--records N] [--runs R] [--seconds S] [--writes N]\n       pnpm bench governance [--ms MS] [--runs R] [--members N] [--entries K]\n       pnpm bench soak --net [--minutes M] [--burst-s S] [--calm-s S] [--loads N] [--uplink BYTES_PER_SEC] [--timeout-s S] [--out DIR]\n       pnpm bench soak [--minutes M] [--burst-s S] [--calm-s S] [--rps N] [--out DIR]\n       pnpm bench scale [--nodes N] [--procs P] [--helpers LIST] [--calm-s S] [--crowd-rps N] [--crowd-s S] [--silent LIST] [--log-entries N] [--out DIR]\n'
)
process.exit(2)
