/**
 * pnpm bench scale [--nodes 100] [--procs P] [--helpers 10,50,99] [--calm-s 20] [--crowd-rps 80] [--crowd-s 12] [--silent 0.1,0.3] [--log-entries 1000] [--out DIR]
 *
 * The control plane at scale (harness.ts): a consortium of --nodes real Reef nodes on loopback.
 * For the largest --helpers count it measures calm-time gossip, CPU and RSS, a strike, an
 * expulsion, and a strike with --silent shares of the members stopped; for the others, a strike.
 * Then a newcomer's sync of a --log-entries membership log. Bounded: every phase has a deadline.
 * REEF_SCALE_DEBUG=m000,... has those nodes log at debug level and keeps the run's directory;
 * REEF_SCALE_STRIKE_PROF=DIR writes a CPU profile of every process over a strike's first 4 s.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ScaleConsortium } from './harness.ts'
import type { StrikeResult } from './harness.ts'
import { measureLogSync } from './log-sync.ts'

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    nodes: { type: 'string' },
    procs: { type: 'string' },
    helpers: { type: 'string' },
    'calm-s': { type: 'string' },
    'crowd-rps': { type: 'string' },
    'crowd-s': { type: 'string' },
    silent: { type: 'string' },
    'log-entries': { type: 'string' },
    out: { type: 'string' }
  },
  strict: true
})
const int = (name: string, v: string | undefined, def: number, min: number, max: number): number => {
  const n = v === undefined ? def : Number(v)
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be an integer from ${min} to ${max} (got ${v})\n`)
    process.exit(2)
  }
  return n
}
const nodes = int('nodes', values.nodes, 100, 3, 200)
const procs = int('procs', values.procs, Math.max(2, Math.ceil(nodes / 10)), 1, nodes)
const helperCounts = (values.helpers ?? [10, 50, nodes - 1].filter(h => h < nodes).join(','))
  .split(',')
  .map(h => int('helpers', h, 0, 1, nodes - 1))
  .sort((a, b) => b - a)
const calmS = int('calm-s', values['calm-s'], 20, 2, 300)
const crowdRps = int('crowd-rps', values['crowd-rps'], 80, 10, 1000)
const crowdS = int('crowd-s', values['crowd-s'], 12, 3, 120)
const silentShares = (values.silent ?? '0.1,0.3').split(',').filter(Boolean).map(Number)
if (silentShares.some(s => !(s > 0 && s < 0.34))) {
  process.stderr.write('--silent: shares between 0 and 0.33 (a quorum of two thirds must stay live)\n')
  process.exit(2)
}
const logEntries = int('log-entries', values['log-entries'], 1000, 0, 5000)
const out = values.out ?? join('bench-results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}`)
const note = (s: string): void => {
  process.stderr.write(`${s}\n`)
}

const fmt = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '–' : `${Math.round(ms)} ms`)
const kb = (b: number): string => `${(b / 1000).toFixed(1)} KB/s`
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`
const strikeRow = (what: string, s: StrikeResult): string =>
  `| ${what} | ${s.saw}/${s.observers} | ${fmt(s.viewP50)} / ${fmt(s.viewP99)} | ${fmt(s.requestMs)} | ${fmt(s.firstOfferMs)} | ${fmt(s.firstAcceptMs)} | ${fmt(s.coveredMs)} | ${s.offers} | ${s.helpers} | ${kb(s.gossipBytesPerSecPerNode)} |`

const results: Record<string, unknown> = {
  nodes,
  procs,
  helperCounts,
  calmS,
  crowdRps,
  crowdS,
  silentShares,
  logEntries,
  cpus: cpus().length,
  node: process.version
}
const lines: string[] = []
const strikes: string[] = []
for (const [k, helpers] of helperCounts.entries()) {
  const c = await ScaleConsortium.start({ nodes, procs, helpers, note })
  try {
    const formedMs = await c.formed()
    note(`formed: every node sees every other in ${(formedMs / 1000).toFixed(1)} s`)
    if (k === 0) {
      const calm = await c.calm(calmS * 1000)
      results.calm = calm
      note(
        `calm: ${kb(calm.gossipBytesPerSecPerNode)} per node, CPU ${(calm.cpuPerNode * 100).toFixed(2)} % of a core per node, RSS ${mib(calm.rssPerNodeBytes)} per node`
      )
      lines.push(
        `| calm-time gossip (libp2p bytes sent, per node) | ${kb(calm.gossipBytesPerSecPerNode)} |`,
        `| CPU per node, calm | ${(calm.cpuPerNode * 100).toFixed(2)} % of a core |`,
        `| RSS per node (process RSS ÷ nodes in it) | ${mib(calm.rssPerNodeBytes)} (processes ${calm.rssPerProcBytes.map(mib).join(', ')}) |`,
        `| load report transit, calm: p50 / p99 | ${fmt(calm.transitP50)} / ${fmt(calm.transitP99)} |`,
        ...(await c.adminApi()).map(
          a =>
            `| admin API \`${a.path}\` at one member (dashboard, \`reef status\` / \`reef members\`): median time, size | ${a.ms.toFixed(1)} ms, ${(a.bytes / 1000).toFixed(1)} KB (${a.items} rows) |`
        ),
        `| connections / connected peers on the load topic, per node (mean) | ${calm.connectionsMean.toFixed(1)} / ${calm.topicPeersMean.toFixed(1)} |`
      )
    }
    // REEF_SCALE_STRIKE_PROF=DIR: a CPU profile of every process over the strike's first 4 s.
    const strikeProf = process.env.REEF_SCALE_STRIKE_PROF
    const profiled = strikeProf === undefined ? undefined : c.profile(4_000, join(strikeProf, `strike-${helpers}`), 200)
    const s = await c.strike('m000', crowdRps, crowdS)
    await profiled
    note(
      `strike with ${helpers} possible helpers: view p99 ${fmt(s.viewP99)} (the reports that brought it made ${fmt(s.viewMadeP50)} p50, ${fmt(s.viewMadeMax)} last), first offer ${fmt(s.firstOfferMs)}, first accept ${fmt(s.firstAcceptMs)}, covered ${fmt(s.coveredMs)}, ${s.offers} offers; records/s per node ${JSON.stringify(s.recordsPerSecPerNode)}`
    )
    results[`strike${helpers}`] = s
    strikes.push(strikeRow(`${helpers} possible helpers`, s))
    if (k === 0) {
      // The cheater: a member of the first process never struck here; the proposer: another process's.
      const proc0 = c.members.filter(m => m.proc === 0)
      const cheater = proc0.at(-1)!
      // The expulsion is timed in a calm consortium: the strike's leftovers settle first.
      const calmCpu = (results.calm as { cpuPerNode: number } | undefined)?.cpuPerNode ?? 0.01
      const settle = await c.settled(1.5 * calmCpu)
      note(`settled after the strike: ${(settle.ms / 1000).toFixed(1)} s, CPU ${(settle.cpuPerNode * 100).toFixed(2)} % of a core per node`)
      const e = await c.expel(c.members[1]!.label, cheater.label)
      results.expel = { ...e, settleMs: settle.ms, settleCpuPerNode: settle.cpuPerNode }
      note(
        `expulsion applied at ${e.applied}/${e.members} members: p50 ${fmt(e.appliedP50)}, last ${fmt(e.appliedMax)} (proposal reached p50 ${fmt(e.proposalP50)}, last ${fmt(e.proposalMax)}; voted p50 ${fmt(e.votedP50)}, last ${fmt(e.votedMax)}; proposer held the quorum at ${fmt(e.proposerAppliedMs)}, ${e.proposerFromBelow} votes relayed to it, ${e.fallbacks} gossiped after the relay; event-loop delay p99 up to ${fmt(e.loopDelayP99Ms)}, max ${fmt(e.loopDelayMaxMs)})`
      )
      lines.push(
        `| expulsion (after ${(settle.ms / 1000).toFixed(1)} s for the strike's leftovers to settle, to ${(settle.cpuPerNode * 100).toFixed(2)} % of a core per node): proposal → entry applied, p50 / last member | ${fmt(e.appliedP50)} / ${fmt(e.appliedMax)} (${e.applied} of ${e.members}) |`,
        `| expulsion: proposal reached / member voted, p50 / last | ${fmt(e.proposalP50)} / ${fmt(e.proposalMax)}; ${fmt(e.votedP50)} / ${fmt(e.votedMax)} |`,
        `| expulsion: proposer held the quorum; votes relayed to it; votes gossiped after the relay (r5) | ${fmt(e.proposerAppliedMs)}; ${e.proposerFromBelow}; ${e.fallbacks} |`,
        `| expulsion: event-loop delay per process, highest p99 / highest max | ${fmt(e.loopDelayP99Ms)} / ${fmt(e.loopDelayMaxMs)} |`
      )
      const sent = await c.snapshot()
      results.afterExpel = { rss: sent.rssBytes }
      for (const [i, share] of silentShares.entries()) {
        const silent = c.silence(share)
        note(`${silent} of ${nodes} members silent (SIGSTOP)`)
        const si = await c.strike(proc0[(i + 1) % (proc0.length - 1)]!.label, crowdRps, crowdS)
        results[`silent${share}`] = { silent, ...si }
        strikes.push(strikeRow(`${helpers} possible helpers, ${silent} members silent`, si))
        note(`strike with ${silent} silent: view p99 ${fmt(si.viewP99)}, first accept ${fmt(si.firstAcceptMs)}, covered ${fmt(si.coveredMs)}`)
        c.wake()
      }
    }
  } finally {
    await c.close()
  }
}
if (logEntries > 0) {
  const sync = await measureLogSync({ members: Math.min(nodes, 100), entries: logEntries, note })
  results.logSync = sync
  lines.push(
    `| newcomer's sync of a ${logEntries}-entry log (${sync.signaturesPerEntry} signatures each, ${(sync.logBytes / 1e6).toFixed(1)} MB) | ${fmt(sync.ms)} |`
  )
}
const report = [
  `# Reef control plane at ${nodes} members`,
  '',
  `- Command: \`pnpm bench scale ${process.argv.slice(3).join(' ')}\``,
  `- ${nodes} real Reef nodes in ${procs} processes on ${cpus().length} CPUs, libp2p over loopback TCP; ${process.version}; ${new Date().toISOString()}`,
  `- Crowd on the struck site: ${crowdRps} requests/s for ${crowdS} s (origin capacity 20 requests/s); silent members: whole processes stopped (SIGSTOP)`,
  '',
  '| measure | figure |',
  '| --- | ---: |',
  ...lines,
  '',
  "Strike: times from the struck node's detector saying struck (its own record of the change); offers and accepts from the node's help events.",
  '',
  '| strike | live members that saw it | load view shows it struck, p50 / p99 | help request | first offer held | first accept | need covered | offers | accepted | gossip while struck, per node |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...strikes,
  ''
].join('\n')
await mkdir(out, { recursive: true })
await writeFile(join(out, 'results.json'), JSON.stringify(results, null, 2))
await writeFile(join(out, 'report.md'), report)
process.stdout.write(report + `\nResults: ${out}/results.json\n`)
