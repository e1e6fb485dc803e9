/**
 * The demo: a local consortium of three Reef nodes, each in front of its own small demo site,
 * rides out a flash crowd at one of them. Prints the struck site's state, its helpers, who
 * served the crowd and the success rate every second, then a summary.
 *
 *   pnpm demo [--rps N] [--seconds S] [--nodes N] [--keep] [--tamper]
 *
 * With --tamper the last site's node turns bad: it alters what it mirrors for the struck site.
 * The members' audits catch it, they vote it out on their own, and clients stop being sent there.
 */
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { loopbackDispatcher, runCrowd } from './crowd.ts'
import type { RequestResult } from './crowd.ts'
import { startLocalConsortium, waitForMesh } from './consortium.ts'

const CAPACITY = 50
const WORKERS = 8

function usage(msg: string): never {
  process.stderr.write(`demo: ${msg}\nUsage: pnpm demo [--rps N] [--seconds S] [--nodes 2..8] [--keep] [--tamper]\n`)
  process.exit(2)
}

let args
try {
  args = parseArgs({
    options: {
      rps: { type: 'string' },
      seconds: { type: 'string' },
      nodes: { type: 'string' },
      keep: { type: 'boolean' },
      tamper: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    },
    strict: true
  }).values
} catch (err) {
  usage((err as Error).message)
}
if (args.help === true) usage('help')
const rps = Number(args.rps ?? 20 * CAPACITY)
const seconds = Number(args.seconds ?? 10)
const nodes = Number(args.nodes ?? 3)
if (!(rps > 0 && rps <= 5000)) usage('--rps must be 1..5000')
if (!(seconds > 0 && seconds <= 300)) usage('--seconds must be 1..300')
if (!(Number.isInteger(nodes) && nodes >= 2 && nodes <= 8)) usage('--nodes must be 2..8')
const tamper = args.tamper === true
if (tamper && nodes < 3) usage('--tamper needs --nodes 3 or more (two honest members must outvote the bad one)')

const say = (s: string): void => {
  process.stdout.write(s + '\n')
}
const logger = pino({ level: 'warn' }, pino.destination(2))

say(`Reef demo: ${nodes} sites on loopback, each origin serves ${CAPACITY} req/s with ${WORKERS} workers.`)
const c = await startLocalConsortium({
  nodes,
  capacityRps: CAPACITY,
  workers: WORKERS,
  logger,
  logLevel: 'warn',
  governance: { name: 'Reef demo consortium', policy: { auditIntervalMs: tamper ? 1_000 : 2_000 } }
})
await waitForMesh(c)
const [alpha, ...others] = c.sites
if (alpha?.node === undefined) throw new Error('no node')
for (const s of c.sites)
  say(`  site ${s.label.padEnd(8)} front ${s.url}  mirror ${String(s.configInput.mirror.publicUrl)}  dashboard ${s.node?.adminUrl ?? ''}/`)
const gov = alpha.node.gov?.state
if (gov !== undefined)
  say(
    `Charter "${c.charterFile ?? ''}" signed by all ${gov.members.size} founders; quorum for a change ${Math.floor((gov.members.size * gov.policy.quorumNum) / gov.policy.quorumDen) + 1} of ${gov.members.size}. Helpers' content is audited every ${gov.policy.auditIntervalMs / 1000} s.`
  )
say(`Consortium formed. Flash crowd at "${alpha.label}": ${rps} req/s (${(rps / CAPACITY).toFixed(0)}× its capacity) for ${seconds} s.\n`)

const expected = new Map([...alpha.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))

// --tamper: the last node alters every copy of alpha's objects it holds (keeping the hash it
// verified on arrival, so only the bytes lie), as a compromised helper would.
const bad = tamper ? c.sites[c.sites.length - 1]! : undefined
let expelledAt: number | undefined
const tamperTimer =
  bad === undefined
    ? undefined
    : setInterval(() => {
        const n = bad.node!
        for (const path of alpha.origin.files.keys()) {
          const obj = n.cache.peek(alpha.label, path)
          if (obj === undefined || obj.body.byteLength === 0 || (obj as { tampered?: true }).tampered === true) continue
          const body = Buffer.from(obj.body)
          body[0] = body[0]! ^ 0x20
          n.cache.put(Object.assign({ ...obj, body }, { tampered: true as const }))
        }
        if (expelledAt === undefined && alpha.node!.gov?.isExpelled(n.peerId) === true) {
          expelledAt = Date.now()
          say(`  >>> ${bad.label} expelled by the consortium's vote: ${alpha.node!.gov.events.filter(e => e.kind === 'entry').at(-1)?.detail ?? ''}`)
        }
      }, 50)
if (bad !== undefined) say(`--tamper: ${bad.label} will alter what it mirrors for ${alpha.label}.\n`)
const window: RequestResult[] = []
let okTotal = 0
let total = 0
const started = Date.now()
say('   t  state       helpers            demand  origin  shed | served: origin helper failed | success')
const ticker = setInterval(() => {
  const st = alpha.node!.views.status() as {
    state: string
    demandRps: number
    originRps: number
    shedRps: number
    session: { helpers: Array<{ peer: string }> } | null
    peers: Array<{ peer: string; site: string }>
  }
  const helperSites = (st.session?.helpers ?? []).map(h => st.peers.find(p => p.peer === h.peer)?.site ?? h.peer.slice(-6)).join(',') || '-'
  const batch = window.splice(0)
  const o = batch.filter(r => r.ok && r.servedBy === 'origin').length
  const h = batch.filter(r => r.ok && r.servedBy === 'helper').length
  const f = batch.filter(r => !r.ok).length
  say(
    `${String(Math.round((Date.now() - started) / 1000)).padStart(4)}  ${st.state.padEnd(10)}  ${helperSites.padEnd(17)}  ${String(st.demandRps).padStart(6)}  ${String(st.originRps).padStart(6)}  ${String(st.shedRps).padStart(4)} |        ${String(o).padStart(6)} ${String(h).padStart(6)} ${String(f).padStart(6)} | ${total === 0 ? '   -' : ((100 * okTotal) / total).toFixed(2)}%`
  )
}, 1000)

const dispatcher = loopbackDispatcher()
const report = await runCrowd({
  siteUrl: alpha.url,
  pages: alpha.origin.pages,
  profile: { kind: 'step', rps, durationMs: seconds * 1000 },
  maxRequests: Math.ceil(rps * seconds) + 1000,
  maxDurationMs: seconds * 1000 + 20_000,
  expected,
  dispatcher,
  seed: 1,
  onResult: r => {
    window.push(r)
    total++
    if (r.ok) okTotal++
  }
})
const crowdEnded = Date.now()
if (tamperTimer !== undefined) clearInterval(tamperTimer)
const deadline = crowdEnded + 15_000
while ((alpha.node.detector.state !== 'normal' || alpha.node.shedder.active) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
const stoppedAfter = Date.now() - crowdEnded
clearInterval(ticker)
await dispatcher.close()

const firstRedirect = alpha.node.monitor.firstShedAt ?? Infinity
const firstHelper = report.results.filter(r => r.ok && r.servedBy === 'helper').reduce((m, r) => Math.min(m, r.end), Infinity)
const crowdStart = report.results.reduce((m, r) => Math.min(m, r.start), Infinity)
const helpers = new Set(report.results.filter(r => r.servedBy === 'helper').map(r => new URL(r.finalUrl).host))
say('\nSummary')
say(`  requests sent          ${report.sent}`)
say(`  success rate           ${(100 * report.successRate).toFixed(2)}% (${report.failed} failed)`)
say(`  served by origin       ${report.byServer.origin}`)
say(`  served by helpers      ${report.byServer.helper} via ${[...helpers].join(', ') || 'none'}`)
say(`  origin peak            ${alpha.origin.stats.peakRps()} req/s (capacity ${CAPACITY})`)
say(`  first redirect after   ${Number.isFinite(firstRedirect) ? `${firstRedirect - crowdStart} ms` : 'never'}`)
say(`  first helper response  ${Number.isFinite(firstHelper) ? `${firstHelper - crowdStart} ms` : 'never'}`)
say(`  state changes          ${alpha.node.detector.history.map(h => `${h.from}→${h.to}`).join(', ')}`)
say(`  shedding stopped       ${alpha.node.detector.state === 'normal' && !alpha.node.shedder.active ? `${stoppedAfter} ms after the crowd` : 'not yet'}`)
say(`  helpers of ${alpha.label}: ${others.map(s => s.label).join(', ')}`)
let tamperOk = true
if (bad !== undefined) {
  const badHost = new URL(String(bad.configInput.mirror.publicUrl)).host
  const fromBad = report.results.filter(r => r.finalUrl.includes(badHost))
  const late = expelledAt === undefined ? [] : fromBad.filter(r => r.start > expelledAt! + 1_000)
  const after = expelledAt === undefined ? [] : report.results.filter(r => r.start > expelledAt! + 1_000)
  const afterOk = after.length === 0 ? 1 : after.filter(r => r.ok).length / after.length
  say(
    `  tampering helper       ${bad.label}: ${fromBad.filter(r => !r.ok).length} altered answers reached clients; ${expelledAt === undefined ? 'NOT expelled' : `expelled ${expelledAt - crowdStart} ms into the crowd; ${late.length} clients sent to it afterwards; success after it ${(100 * afterOk).toFixed(2)}%`}`
  )
  tamperOk = expelledAt !== undefined && late.length === 0 && afterOk >= 0.99
}

// The ledger: wait for the final delegations and receipts, then show what every member agrees on.
const settleDeadline = Date.now() + 10_000
const shed = alpha.node.monitor.totals.shed
while (alpha.node.ledgerStore.totals(alpha.node.peerId).takenRequests < 0.9 * shed && Date.now() < settleDeadline)
  await new Promise(resolve => setTimeout(resolve, 100))
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`
say('\nReciprocity ledger (signed delegations and receipts; every member holds the same)')
for (const s of c.sites) {
  const t = alpha.node.ledgerStore.totals(s.node!.peerId)
  // Every member holds the same; an expelled node is no member (honest nodes stop talking to it).
  const agree = c.sites
    .filter(o => alpha.node!.gov?.isExpelled(o.node!.peerId) !== true)
    .every(o => JSON.stringify(o.node!.ledgerStore.totals(s.node!.peerId)) === JSON.stringify(t))
  say(
    `  ${s.label.padEnd(8)} given ${mib(t.given).padStart(9)} (${String(t.givenRequests).padStart(5)} req)  taken ${mib(t.taken).padStart(9)} (${String(t.takenRequests).padStart(5)} req)${agree ? '' : '  (members still settling)'}`
  )
}

const audits = c.sites.reduce((n, s) => n + (s.node?.auditor?.results.filter(r => r.detail === 'matches the manifest').length ?? 0), 0)
say(
  `\nGovernance: log height ${alpha.node.gov?.state?.height ?? 0}, ${alpha.node.gov?.state?.members.size ?? 0} members, ${alpha.node.gov?.state?.expelled.size ?? 0} expelled; ${audits} content audits of helpers matched the sites' manifests.`
)

if (args.keep === true) {
  say('\nStill running (--keep). Open a dashboard above; Ctrl-C to stop.')
  await new Promise<void>(resolve => {
    process.once('SIGINT', () => {
      resolve()
    })
    process.once('SIGTERM', () => {
      resolve()
    })
  })
}
await c.close()
// With --tamper, success counts from the expulsion on: altered answers before it are the point.
process.exitCode = (tamper ? tamperOk : report.successRate >= 0.99) ? 0 : 1
