/**
 * Ledger test vectors (SPEC.md §Ledger): scenarios of signed delegation and receipt records,
 * in an arrival order, with the balances and evidence every implementation must derive from
 * them. Deterministic: fixed Ed25519 seeds, fixed timestamps.
 */
import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signRecord, verifyRecord } from '@reef/protocol'
import type { Delegation, Receipt } from '@reef/protocol'
import type { PrivateKey } from '@libp2p/interface'
import { addTotals, applyLedgerRecord, pairOf, recomputeBalances } from './ledger.ts'
import type { LedgerRecord, MemberTotals, PairState } from './ledger.ts'

export interface LedgerScenario {
  description: string
  /** Signed records in arrival order (hex of canonical bytes). */
  recordsHex: string[]
  /** Expected totals per peer id (members with all zeros omitted). */
  totals: Record<string, MemberTotals>
  /** Expected evidence, in arrival order: kind and accused peer id. */
  evidence: Array<{ kind: string; accused: string }>
}

export interface LedgerVectorSet {
  version: 1
  keys: Array<{ name: string; seedHex: string; peerId: string }>
  scenarios: LedgerScenario[]
}

const TS = 1_790_000_000_000

export async function toLedgerRecordFromBytes(bytes: Uint8Array): Promise<LedgerRecord> {
  const r = await verifyRecord(bytes, { ignoreTime: true })
  if (r.type !== 'delegation' && r.type !== 'receipt') throw new TypeError(`not a ledger record: ${r.type}`)
  return { type: r.type, author: r.author, seq: r.seq, ts: r.ts, hash: createHash('sha256').update(bytes).digest('hex'), body: r.body as LedgerRecord['body'] }
}

/** Apply records in arrival order, retrying pending receipts after each delegation (what a node does). */
export function settleInArrivalOrder(records: LedgerRecord[]): { totals: Map<string, MemberTotals>; evidence: Array<{ kind: string; accused: string }> } {
  const pairs = new Map<string, PairState>()
  const totals = new Map<string, MemberTotals>()
  const evidence: Array<{ kind: string; accused: string }> = []
  let pending: LedgerRecord[] = []
  const one = (r: LedgerRecord): string => {
    const key = pairOf(r).key
    const { pair, verdict } = applyLedgerRecord(pairs.get(key), r)
    if (verdict.kind === 'evidence') evidence.push({ kind: verdict.evidence.kind, accused: verdict.evidence.accused })
    if (verdict.kind === 'applied') {
      pairs.set(key, pair)
      if (verdict.delta.bytes + verdict.delta.requests > 0) {
        addTotals(totals, pair.helper, { given: verdict.delta.bytes, givenRequests: verdict.delta.requests })
        addTotals(totals, pair.beneficiary, { taken: verdict.delta.bytes, takenRequests: verdict.delta.requests })
      }
    }
    return verdict.kind
  }
  for (const r of records) {
    if (one(r) === 'pending') {
      pending.push(r)
      continue
    }
    if (r.type === 'delegation') pending = pending.filter(p => one(p) === 'pending')
  }
  return { totals, evidence }
}

function plainTotals(m: Map<string, MemberTotals>): Record<string, MemberTotals> {
  return Object.fromEntries([...m].filter(([, t]) => t.given + t.taken + t.givenRequests + t.takenRequests > 0).sort((a, b) => a[0].localeCompare(b[0])))
}

export async function makeLedgerVectors(): Promise<LedgerVectorSet> {
  const keys = await Promise.all(
    ['beneficiary', 'helper', 'other'].map(async (name, i) => {
      const seed = new Uint8Array(32).fill(0x10 + i)
      const key = await generateKeyPairFromSeed('Ed25519', seed)
      return { name, key, id: peerIdFromPrivateKey(key).toString(), seedHex: Buffer.from(seed).toString('hex') }
    })
  )
  const [b, h, o] = keys as [(typeof keys)[0], (typeof keys)[0], (typeof keys)[0]]
  let seq = 1_790_000_000_000_000
  const hashOf = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
  const del = async (
    k: { key: PrivateKey; id: string },
    helper: string,
    round: number,
    requests: number,
    bytes: number,
    final = false,
    session = 'c2Vzc2lvbi0wMDAx'
  ): Promise<Uint8Array> =>
    signRecord(k.key, k.id, 'delegation', { session, helper, round, requests, bytes, final } satisfies Delegation, { seq: ++seq, ts: TS + round })
  const rec = async (
    k: { key: PrivateKey; id: string },
    beneficiary: string,
    round: number,
    d: Uint8Array,
    requests: number,
    bytes: number,
    session = 'c2Vzc2lvbi0wMDAx'
  ): Promise<Uint8Array> =>
    signRecord(k.key, k.id, 'receipt', { session, beneficiary, round, delegation: hashOf(d), requests, bytes } satisfies Receipt, {
      seq: ++seq,
      ts: TS + round
    })

  const scenarios: Array<{ description: string; records: Uint8Array[] }> = []
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000)
    const r1 = await rec(h, b.id, 1, d1, 98, 980_000)
    const d2 = await del(b, h.id, 2, 250, 2_500_000, true)
    const r2 = await rec(h, b.id, 2, d2, 240, 2_400_000)
    scenarios.push({ description: 'honest session: two rounds, the last final; settled = the last receipt', records: [d1, r1, d2, r2] })
    scenarios.push({ description: 'the same records arriving receipts first: the same balances', records: [r2, r1, d2, d1] })
    scenarios.push({ description: 'a record delivered twice counts once', records: [d1, r1, r1, d1, d2, r2, r2] })
  }
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000)
    const r1 = await rec(h, b.id, 1, d1, 150, 1_000_000)
    scenarios.push({ description: 'a helper claiming more than delegated: over-claim, nothing settled', records: [d1, r1] })
  }
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000)
    const d1b = await del(b, h.id, 1, 10, 100_000)
    const r1 = await rec(h, b.id, 1, d1, 100, 1_000_000)
    scenarios.push({ description: 'a beneficiary signing two delegations for one round: equivocation; the first stands', records: [d1, d1b, r1] })
  }
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000)
    const d2 = await del(b, h.id, 2, 50, 500_000)
    const r1 = await rec(h, b.id, 1, d1, 100, 1_000_000)
    scenarios.push({ description: 'a later delegation with lower amounts: decrease against the beneficiary', records: [d1, d2, r1] })
  }
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000)
    const r1 = await rec(h, b.id, 1, d1, 100, 1_000_000)
    const d2 = await del(b, h.id, 2, 200, 2_000_000)
    const r2 = await rec(h, b.id, 2, d2, 150, 1_500_000)
    const r2b = await rec(h, b.id, 2, d2, 200, 2_000_000)
    scenarios.push({ description: 'a helper signing two receipts for one round: equivocation; the first stands', records: [d1, r1, d2, r2, r2b] })
  }
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000)
    const r1 = await rec(h, b.id, 1, d1, 100, 1_000_000)
    const d2 = await del(h, o.id, 1, 40, 400_000, true, 'c2Vzc2lvbi0wMDAy')
    const r2 = await rec(o, h.id, 1, d2, 40, 400_000, 'c2Vzc2lvbi0wMDAy')
    scenarios.push({ description: 'two sessions: a member that gave in one and took in another', records: [d1, r1, d2, r2] })
  }

  // r3 clarifications: late receipts (judged against the settled receipt whatever their
  // delegation), and "after a final delegation" meaning a higher round, not a later arrival.
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000)
    const r1 = await rec(h, b.id, 1, d1, 100, 1_000_000)
    const d2 = await del(b, h.id, 2, 250, 2_500_000, true)
    const r2 = await rec(h, b.id, 2, d2, 240, 2_400_000)
    scenarios.push({ description: 'a late round-1 receipt after round 2 settled (its delegation known): no change, no evidence', records: [d1, d2, r2, r1] })
    scenarios.push({ description: 'a late round-1 receipt after round 2 settled (its delegation never seen): no change, no evidence', records: [d2, r2, r1] })
    scenarios.push({ description: 'the final round 2 arrives before round 1: round 1 is not "after" the final one', records: [d2, r2, d1, r1] })
  }
  {
    const d1 = await del(b, h.id, 1, 100, 1_000_000, true)
    const r1 = await rec(h, b.id, 1, d1, 100, 1_000_000)
    const d2 = await del(b, h.id, 2, 200, 2_000_000)
    scenarios.push({ description: 'a delegation for a round above the final one: equivocation against the beneficiary', records: [d1, r1, d2] })
  }
  {
    const d2 = await del(b, h.id, 2, 200, 2_000_000)
    const d1 = await del(b, h.id, 1, 100, 1_000_000, true)
    scenarios.push({ description: 'a final delegation for a round below one already seen: equivocation against the beneficiary', records: [d2, d1] })
  }

  const out: LedgerScenario[] = []
  for (const sc of scenarios) {
    const records = await Promise.all(sc.records.map(toLedgerRecordFromBytes))
    const online = settleInArrivalOrder(records)
    const offline = recomputeBalances(records)
    if (JSON.stringify(plainTotals(online.totals)) !== JSON.stringify(plainTotals(offline.totals)))
      throw new Error(`online and offline settlement disagree: ${sc.description}`)
    out.push({
      description: sc.description,
      recordsHex: sc.records.map(r => Buffer.from(r).toString('hex')),
      totals: plainTotals(online.totals),
      evidence: online.evidence
    })
  }
  return { version: 1, keys: keys.map(k => ({ name: k.name, seedHex: k.seedHex, peerId: k.id })), scenarios: out }
}
