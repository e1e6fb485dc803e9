import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { KEPT_DELEGATIONS, applyLedgerRecord, pairKey, pairOf, recomputeBalances } from '../src/index.ts'
import type { DelegationBody, Evidence, LedgerRecord, MemberTotals, PairState, ReceiptBody, Verdict } from '../src/index.ts'

const B = 'beneficiary-b'
const H = 'helper-h'
const S = 'session-1'

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')

interface DelegationOpts {
  beneficiary?: string
  helper?: string
  session?: string
  final?: boolean
  seq?: number
  ts?: number
  tag?: string
}

/** A delegation signed by the beneficiary; the same arguments give the same record (same hash). */
function del(round: number, requests: number, bytes: number, o: DelegationOpts = {}): LedgerRecord {
  const body: DelegationBody = { session: o.session ?? S, helper: o.helper ?? H, round, requests, bytes, final: o.final ?? false }
  const author = o.beneficiary ?? B
  return { type: 'delegation', author, seq: o.seq ?? round, ts: o.ts ?? round * 1000, hash: sha(`d|${author}|${JSON.stringify(body)}|${o.tag ?? ''}`), body }
}

interface ReceiptOpts {
  round?: number
  seq?: number
  ts?: number
  tag?: string
  author?: string
}

/** The helper's receipt naming delegation `d` (by hash), claiming `requests` and `bytes`. */
function rec(d: LedgerRecord, requests: number, bytes: number, o: ReceiptOpts = {}): LedgerRecord {
  const db = d.body as DelegationBody
  const round = o.round ?? db.round
  const body: ReceiptBody = { session: db.session, beneficiary: d.author, round, delegation: d.hash, requests, bytes }
  const author = o.author ?? db.helper
  return { type: 'receipt', author, seq: o.seq ?? round, ts: o.ts ?? round * 1000 + 500, hash: sha(`r|${author}|${JSON.stringify(body)}|${o.tag ?? ''}`), body }
}

/** Apply records in the given order to one pair, keeping every verdict. */
function fold(records: LedgerRecord[], start?: PairState): { pair: PairState | undefined; verdicts: Verdict[] } {
  let pair = start
  const verdicts: Verdict[] = []
  for (const r of records) {
    const out = applyLedgerRecord(pair, r)
    pair = out.pair
    verdicts.push(out.verdict)
  }
  return { pair, verdicts }
}

function applied(v: Verdict): { requests: number; bytes: number } {
  assert.equal(v.kind, 'applied', `expected applied, got ${JSON.stringify(v)}`)
  return (v as Extract<Verdict, { kind: 'applied' }>).delta
}

function evidenceOf(v: Verdict): Evidence {
  assert.equal(v.kind, 'evidence', `expected evidence, got ${JSON.stringify(v)}`)
  return (v as Extract<Verdict, { kind: 'evidence' }>).evidence
}

/** Apply `r` on top of `pair` and check it yields evidence without touching the state. */
function expectEvidence(pair: PairState | undefined, r: LedgerRecord): Evidence {
  const before = structuredClone(pair)
  const out = applyLedgerRecord(pair, r)
  const e = evidenceOf(out.verdict)
  if (before !== undefined) assert.deepEqual(out.pair, before, 'evidence must leave the pair state unchanged')
  assert.equal(e.at, r.ts)
  assert.equal(e.pair, pairOf(r).key)
  return e
}

const zero: MemberTotals = { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }

function totalsObject(m: Map<string, MemberTotals>): Record<string, MemberTotals> {
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

describe('pairOf', () => {
  it('puts a delegation and the receipt answering it in the same pair', () => {
    const d = del(1, 10, 1000)
    const r = rec(d, 10, 1000)
    assert.deepEqual(pairOf(d), { beneficiary: B, helper: H, session: S, key: pairKey(B, H, S) })
    assert.deepEqual(pairOf(r), { beneficiary: B, helper: H, session: S, key: pairKey(B, H, S) })
  })

  it('separates pairs by direction and by session', () => {
    const keys = new Set([
      pairOf(del(1, 1, 1)).key,
      pairOf(del(1, 1, 1, { beneficiary: H, helper: B })).key,
      pairOf(del(1, 1, 1, { session: 'session-2' })).key
    ])
    assert.equal(keys.size, 3)
  })
})

describe('applyLedgerRecord: honest exchange', () => {
  const d1 = del(1, 10, 1000)
  const r1 = rec(d1, 9, 900)
  const d2 = del(2, 25, 2500)
  const r2 = rec(d2, 25, 2500)
  const d3 = del(3, 40, 4000, { final: true })
  const r3 = rec(d3, 38, 3800)
  const exchange = [d1, r1, d2, r2, d3, r3]

  it('applies every record; the deltas add up to the last receipt', () => {
    const { pair, verdicts } = fold(exchange)
    const deltas = verdicts.map(applied)
    // A delegation alone changes no balance.
    assert.deepEqual(
      [deltas[0], deltas[2], deltas[4]],
      [
        { requests: 0, bytes: 0 },
        { requests: 0, bytes: 0 },
        { requests: 0, bytes: 0 }
      ]
    )
    assert.deepEqual(
      [deltas[1], deltas[3], deltas[5]],
      [
        { requests: 9, bytes: 900 },
        { requests: 16, bytes: 1600 },
        { requests: 13, bytes: 1300 }
      ]
    )
    const sum = deltas.reduce((a, d) => ({ requests: a.requests + d.requests, bytes: a.bytes + d.bytes }), { requests: 0, bytes: 0 })
    assert.deepEqual(sum, { requests: 38, bytes: 3800 })
    assert.equal(pair?.receipt?.hash, r3.hash)
    assert.deepEqual([pair?.receipt?.requests, pair?.receipt?.bytes], [38, 3800])
    assert.equal(pair?.latestDelegation?.hash, d3.hash)
    assert.equal(pair?.latestDelegation?.final, true)
  })

  it('counts settled bytes as given by the helper and taken by the beneficiary', () => {
    const { totals, evidence } = recomputeBalances(exchange)
    assert.deepEqual(evidence, [])
    assert.deepEqual(totalsObject(totals), {
      [B]: { ...zero, taken: 3800, takenRequests: 38 },
      [H]: { ...zero, given: 3800, givenRequests: 38 }
    })
  })

  it('counts nothing for delegations that were never receipted', () => {
    const { totals, evidence } = recomputeBalances([d1, d2, d3])
    assert.deepEqual(evidence, [])
    assert.equal(totals.size, 0)
  })

  it('keeps the delegation a receipt names, by hash, so a third member can match them', () => {
    const { pair } = fold([d1, r1, d2])
    assert.ok(pair?.receipt !== undefined)
    const named = pair.delegations[(r1.body as ReceiptBody).delegation]
    assert.ok(named !== undefined, 'the receipted delegation is still in the pair state')
    assert.deepEqual(
      { hash: named.hash, round: named.round, requests: named.requests, bytes: named.bytes },
      { hash: d1.hash, round: 1, requests: 10, bytes: 1000 }
    )
    assert.ok(pair.receipt.requests <= named.requests && pair.receipt.bytes <= named.bytes)
    // Also in the pair states recomputeBalances returns.
    const recomputed = recomputeBalances([d1, r1, d2]).pairs.get(pairKey(B, H, S))
    assert.equal(recomputed?.delegations[d1.hash]?.hash, d1.hash)
    assert.equal(recomputed?.receipt?.hash, r1.hash)
  })
})

describe('applyLedgerRecord: a receipt cannot claim more than its delegation', () => {
  const d1 = del(1, 10, 1000)
  const d2 = del(2, 20, 2000)
  const { pair } = fold([d1, d2])

  it('accepts a receipt for exactly the delegated amounts', () => {
    assert.deepEqual(applied(applyLedgerRecord(pair, rec(d2, 20, 2000)).verdict), { requests: 20, bytes: 2000 })
  })

  it('turns a receipt claiming more requests into over-claim evidence against the helper', () => {
    const r = rec(d2, 21, 2000)
    assert.deepEqual(expectEvidence(pair, r), { kind: 'over-claim', accused: H, pair: pairKey(B, H, S), records: [d2.hash, r.hash], at: r.ts })
  })

  it('turns a receipt claiming more bytes into over-claim evidence against the helper', () => {
    const r = rec(d2, 20, 2001)
    const e = expectEvidence(pair, r)
    assert.deepEqual([e.kind, e.accused, e.records], ['over-claim', H, [d2.hash, r.hash]])
  })

  it('turns a receipt whose round differs from the delegation it names into over-claim', () => {
    for (const round of [1, 3]) {
      const r = rec(d2, 5, 500, { round })
      const e = expectEvidence(pair, r)
      assert.deepEqual([e.kind, e.accused, e.records], ['over-claim', H, [d2.hash, r.hash]], `receipt round ${round}`)
    }
  })

  it('does not count an over-claim in the balances', () => {
    const r1 = rec(d1, 10, 1000)
    const over = rec(d2, 20, 999_999)
    const { totals, evidence } = recomputeBalances([d1, r1, d2, over])
    assert.deepEqual(
      evidence.map(e => [e.kind, e.accused, e.records]),
      [['over-claim', H, [d2.hash, over.hash]]]
    )
    assert.deepEqual(totalsObject(totals), { [B]: { ...zero, taken: 1000, takenRequests: 10 }, [H]: { ...zero, given: 1000, givenRequests: 10 } })
  })
})

describe('applyLedgerRecord: cumulative amounts only increase', () => {
  it('turns a newer delegation with fewer requests or bytes into decrease evidence against the beneficiary', () => {
    const d1 = del(1, 10, 1000)
    const { pair } = fold([d1])
    for (const d2 of [del(2, 9, 2000), del(2, 20, 999)]) {
      const e = expectEvidence(pair, d2)
      assert.deepEqual([e.kind, e.accused, e.records], ['decrease', B, [d1.hash, d2.hash]])
    }
  })

  it('turns a newer receipt with fewer requests or bytes into decrease evidence against the helper', () => {
    const d1 = del(1, 10, 1000)
    const r1 = rec(d1, 10, 1000)
    const d2 = del(2, 20, 2000)
    const { pair } = fold([d1, r1, d2])
    for (const r2 of [rec(d2, 9, 2000), rec(d2, 20, 999)]) {
      const e = expectEvidence(pair, r2)
      assert.deepEqual([e.kind, e.accused, e.records], ['decrease', H, [r1.hash, r2.hash]])
    }
  })

  it('counts a receipt that raises only requests (zero-byte responses still count as service)', () => {
    const d1 = del(1, 10, 1000)
    const d2 = del(2, 15, 1000)
    const records = [d1, rec(d1, 10, 1000), d2, rec(d2, 15, 1000)]
    assert.deepEqual(applied(fold(records).verdicts[3]!), { requests: 5, bytes: 0 })
    const { totals } = recomputeBalances(records)
    assert.deepEqual(totals.get(H), { ...zero, given: 1000, givenRequests: 15 })
    assert.deepEqual(totals.get(B), { ...zero, taken: 1000, takenRequests: 15 })
  })

  it('accepts a newer delegation or receipt with equal amounts', () => {
    const d1 = del(1, 10, 1000)
    const d2 = del(2, 10, 1000)
    const { verdicts } = fold([d1, rec(d1, 10, 1000), d2, rec(d2, 10, 1000)])
    assert.deepEqual(verdicts.map(applied), [
      { requests: 0, bytes: 0 },
      { requests: 10, bytes: 1000 },
      { requests: 0, bytes: 0 },
      { requests: 0, bytes: 0 }
    ])
  })
})

describe('applyLedgerRecord: equivocation', () => {
  it('turns two different delegations for the same round into equivocation against the beneficiary', () => {
    const d1 = del(1, 10, 1000)
    const { pair } = fold([d1])
    // Different amounts, or the same amounts signed again (a different record).
    for (const other of [del(1, 12, 1200), del(1, 10, 1000, { tag: 'resigned', ts: 1001 })]) {
      assert.notEqual(other.hash, d1.hash)
      const e = expectEvidence(pair, other)
      assert.deepEqual([e.kind, e.accused, e.records], ['equivocation', B, [d1.hash, other.hash]])
    }
  })

  it('turns two different receipts for the same round into equivocation against the helper', () => {
    const d1 = del(1, 10, 1000)
    const r1 = rec(d1, 5, 500)
    const { pair } = fold([d1, r1])
    for (const other of [rec(d1, 6, 600), rec(d1, 4, 400), rec(d1, 5, 500, { tag: 'resigned' })]) {
      const e = expectEvidence(pair, other)
      assert.deepEqual([e.kind, e.accused, e.records], ['equivocation', H, [r1.hash, other.hash]])
    }
  })

  it('turns a delegation after a final one into equivocation against the beneficiary', () => {
    const d1 = del(1, 10, 1000, { final: true })
    const d2 = del(2, 20, 2000)
    const e = expectEvidence(fold([d1]).pair, d2)
    assert.deepEqual([e.kind, e.accused, e.records], ['equivocation', B, [d1.hash, d2.hash]])
  })

  it('turns a final delegation for a round below one already seen into equivocation (after = a higher round, whatever the arrival order)', () => {
    const d2 = del(2, 20, 2000)
    const d1 = del(1, 10, 1000, { final: true })
    const e = expectEvidence(fold([d2]).pair, d1)
    assert.deepEqual([e.kind, e.accused, e.records], ['equivocation', B, [d1.hash, d2.hash]])
    // Recomputed from the set (round order), the same records give the same finding.
    assert.deepEqual(
      recomputeBalances([d2, d1]).evidence.map(x => [x.kind, x.accused]),
      [['equivocation', B]]
    )
  })
})

describe('applyLedgerRecord: duplicates and order of arrival', () => {
  it('reports a record applied twice as duplicate and counts it once', () => {
    const d1 = del(1, 10, 1000)
    const r1 = rec(d1, 10, 1000)
    const { pair } = fold([d1, r1])
    for (const r of [d1, r1]) {
      const out = applyLedgerRecord(pair, r)
      assert.deepEqual(out.verdict, { kind: 'duplicate' })
      assert.deepEqual(out.pair, pair)
    }
    const { totals, evidence } = recomputeBalances([d1, r1, d1, r1, r1])
    assert.deepEqual(evidence, [])
    assert.deepEqual(totals.get(H), { ...zero, given: 1000, givenRequests: 10 })
    assert.deepEqual(totals.get(B), { ...zero, taken: 1000, takenRequests: 10 })
  })

  it('holds a receipt that arrives before its delegation as pending, then counts it once', () => {
    const d1 = del(1, 10, 1000)
    const r1 = rec(d1, 8, 800)
    const early = applyLedgerRecord(undefined, r1)
    assert.deepEqual(early.verdict, { kind: 'pending' })
    assert.equal(early.pair.receipt, undefined)
    const { pair, verdicts } = fold([d1, r1, r1], early.pair)
    assert.deepEqual(
      verdicts.map(v => v.kind),
      ['applied', 'applied', 'duplicate']
    )
    assert.deepEqual(applied(verdicts[1]!), { requests: 8, bytes: 800 })
    assert.equal(pair?.receipt?.hash, r1.hash)
  })

  it('accepts a late older delegation consistent with the newer one without moving latestDelegation back', () => {
    const d1 = del(1, 10, 1000)
    const d2 = del(2, 20, 2000)
    const d3 = del(3, 30, 3000)
    const { pair, verdicts } = fold([d1, d3, d2])
    assert.deepEqual(
      verdicts.map(v => v.kind),
      ['applied', 'applied', 'applied']
    )
    assert.equal(pair?.latestDelegation?.hash, d3.hash)
    assert.equal(pair?.delegations[d2.hash]?.round, 2)
    // ...and a receipt naming it can now be checked and counted.
    assert.deepEqual(applied(applyLedgerRecord(pair, rec(d2, 20, 2000)).verdict), { requests: 20, bytes: 2000 })
  })

  it('accepts a late older delegation even after a final one', () => {
    const d1 = del(1, 10, 1000)
    const d2 = del(2, 20, 2000, { final: true })
    const { pair, verdicts } = fold([d2, d1])
    assert.deepEqual(
      verdicts.map(v => v.kind),
      ['applied', 'applied']
    )
    assert.equal(pair?.latestDelegation?.hash, d2.hash)
  })

  it('turns a late older delegation bigger than the newer one into decrease evidence', () => {
    const d1 = del(1, 10, 1000)
    const d3 = del(3, 30, 3000)
    const { pair } = fold([d1, d3])
    for (const late of [del(2, 31, 2000), del(2, 20, 3001)]) {
      const e = expectEvidence(pair, late)
      assert.deepEqual([e.kind, e.accused, e.records], ['decrease', B, [late.hash, d3.hash]])
    }
  })

  it('treats a stale older receipt as duplicate when consistent with the newer one', () => {
    const d1 = del(1, 10, 1000)
    const d2 = del(2, 20, 2000)
    const r1 = rec(d1, 10, 1000)
    const r2 = rec(d2, 20, 2000)
    const { pair } = fold([d1, d2, r2])
    const out = applyLedgerRecord(pair, r1)
    assert.deepEqual(out.verdict, { kind: 'duplicate' })
    assert.equal(out.pair.receipt?.hash, r2.hash)
  })

  it('never dismisses a stale receipt that claims more than the newer one, even before its delegation arrives', () => {
    const d1 = del(1, 10, 1000)
    const d2 = del(2, 40, 4000)
    const d3 = del(3, 40, 4000)
    const r3 = rec(d3, 20, 2000)
    const r2 = rec(d2, 30, 3000) // claims more than the newer r3
    const { pair } = fold([d1, d3, r3])
    // Either it is judged now against the settled receipt, or it waits for its delegation.
    const early = applyLedgerRecord(pair, r2)
    let e: Evidence
    if (early.verdict.kind === 'pending') {
      const { pair: withD2, verdicts } = fold([d2], early.pair)
      assert.equal(verdicts[0]!.kind, 'applied')
      e = expectEvidence(withD2, r2)
    } else {
      e = expectEvidence(pair, r2)
    }
    assert.deepEqual([e.kind, e.accused, e.records], ['decrease', H, [r2.hash, r3.hash]])
  })

  it('turns a stale older receipt claiming more than the newer one into decrease evidence', () => {
    const d1 = del(1, 30, 3000)
    const d2 = del(2, 30, 3000)
    const r2 = rec(d2, 20, 2000)
    const { pair } = fold([d1, d2, r2])
    for (const r1 of [rec(d1, 25, 2000), rec(d1, 20, 2500)]) {
      const e = expectEvidence(pair, r1)
      assert.deepEqual([e.kind, e.accused, e.records], ['decrease', H, [r1.hash, r2.hash]])
    }
  })
})

describe('applyLedgerRecord: self-dealing', () => {
  it('rejects a delegation to oneself as foreign-delegation evidence', () => {
    const d = del(1, 10, 1000, { helper: B })
    const out = applyLedgerRecord(undefined, d)
    assert.deepEqual(evidenceOf(out.verdict), { kind: 'foreign-delegation', accused: B, pair: pairKey(B, B, S), records: [d.hash], at: d.ts })
    assert.deepEqual(out.pair.delegations, {})
  })

  it('rejects a receipt to oneself and counts nothing for it', () => {
    const d = del(1, 10, 1000, { helper: B })
    const r = rec(d, 10, 1000)
    assert.equal(r.author, B)
    assert.deepEqual(evidenceOf(applyLedgerRecord(undefined, r).verdict), {
      kind: 'foreign-delegation',
      accused: B,
      pair: pairKey(B, B, S),
      records: [r.hash],
      at: r.ts
    })
    const { totals, evidence } = recomputeBalances([d, r])
    assert.equal(totals.size, 0)
    assert.deepEqual(
      evidence.map(e => e.kind),
      ['foreign-delegation', 'foreign-delegation']
    )
  })
})

describe('applyLedgerRecord: KEPT_DELEGATIONS', () => {
  const ds = Array.from({ length: KEPT_DELEGATIONS + 3 }, (_, i) => del(i + 1, 10 * (i + 1), 1000 * (i + 1)))
  const { pair } = fold(ds)

  it('keeps only the latest KEPT_DELEGATIONS delegations of a pair', () => {
    assert.ok(pair !== undefined)
    const rounds = Object.values(pair.delegations)
      .map(d => d.round)
      .sort((a, b) => a - b)
    assert.deepEqual(
      rounds,
      Array.from({ length: KEPT_DELEGATIONS }, (_, i) => i + 4)
    )
    for (const d of Object.values(pair.delegations)) assert.equal(pair.delegations[d.hash], d)
    assert.equal(pair.latestDelegation?.round, KEPT_DELEGATIONS + 3)
    // A forgotten delegation arriving again does not grow the set.
    const late = applyLedgerRecord(pair, ds[0]!)
    assert.equal(Object.keys(late.pair.delegations).length, KEPT_DELEGATIONS)
  })

  it('still checks and counts a receipt naming a kept delegation', () => {
    assert.deepEqual(applied(applyLedgerRecord(pair, rec(ds[3]!, 40, 4000)).verdict), { requests: 40, bytes: 4000 })
  })

  it('cannot check a receipt naming a forgotten delegation: pending before any receipt, duplicate after a newer one', () => {
    const old = rec(ds[0]!, 10, 1000)
    assert.deepEqual(applyLedgerRecord(pair, old).verdict, { kind: 'pending' })
    const after = applyLedgerRecord(pair, rec(ds[5]!, 60, 6000)).pair
    assert.deepEqual(applyLedgerRecord(after, old).verdict, { kind: 'duplicate' })
  })
})

/** mulberry32: a small seeded PRNG so the random cases are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffled<T>(xs: T[], rand: () => number): T[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/** Honest exchanges over several pairs and sessions, with the totals they must give. */
function honestWorld(seed: number): {
  records: LedgerRecord[]
  expected: Record<string, MemberTotals>
  lastReceipt: Map<string, string>
  delegationsOf: Map<string, LedgerRecord[]>
} {
  const rand = prng(seed)
  const int = (n: number): number => Math.floor(rand() * n)
  const members = ['m0', 'm1', 'm2', 'm3', 'm4']
  const sessions = ['s0', 's1', 's2']
  const seq = new Map<string, number>()
  const nextSeq = (m: string): number => {
    const n = (seq.get(m) ?? 0) + 1
    seq.set(m, n)
    return n
  }
  const records: LedgerRecord[] = []
  const expected = new Map<string, MemberTotals>()
  const lastReceipt = new Map<string, string>()
  const delegationsOf = new Map<string, LedgerRecord[]>()
  const add = (m: string, d: Partial<MemberTotals>): void => {
    const t = expected.get(m) ?? { ...zero }
    expected.set(m, {
      given: t.given + (d.given ?? 0),
      taken: t.taken + (d.taken ?? 0),
      givenRequests: t.givenRequests + (d.givenRequests ?? 0),
      takenRequests: t.takenRequests + (d.takenRequests ?? 0)
    })
  }
  let ts = 1_700_000_000_000
  for (const b of members) {
    for (const h of members) {
      if (b === h) continue
      for (const s of sessions) {
        if (rand() < 0.5) continue
        const rounds = 1 + int(KEPT_DELEGATIONS + 4)
        let dReq = 0
        let dBytes = 0
        let rReq = 0
        let rBytes = 0
        let last: LedgerRecord | undefined
        const ds: LedgerRecord[] = []
        for (let round = 1; round <= rounds; round++) {
          dReq += int(50)
          dBytes += int(50_000)
          const d = del(round, dReq, dBytes, { beneficiary: b, helper: h, session: s, final: round === rounds && rand() < 0.5, seq: nextSeq(b), ts: ts++ })
          records.push(d)
          ds.push(d)
          if (rand() < 0.3) continue // the helper skips this round's receipt
          rReq += int(dReq - rReq + 1)
          rBytes += int(dBytes - rBytes + 1)
          last = rec(d, rReq, rBytes, { seq: nextSeq(h), ts: ts++ })
          records.push(last)
        }
        delegationsOf.set(pairKey(b, h, s), ds)
        if (last !== undefined) {
          const body = last.body as ReceiptBody
          lastReceipt.set(pairKey(b, h, s), last.hash)
          add(h, { given: body.bytes, givenRequests: body.requests })
          add(b, { taken: body.bytes, takenRequests: body.requests })
        }
      }
    }
  }
  // recomputeBalances only lists members whose totals moved.
  for (const [m, t] of expected) if (t.given + t.taken + t.givenRequests + t.takenRequests === 0) expected.delete(m)
  return { records, expected: totalsObject(expected), lastReceipt, delegationsOf }
}

describe('recomputeBalances', () => {
  it('gives the same totals for any order of the same honest records: the sum of the last receipt per pair', () => {
    for (const seed of [1, 2, 3]) {
      const { records, expected, lastReceipt } = honestWorld(seed)
      assert.ok(lastReceipt.size >= 5, 'the world has several settled pairs')
      const rand = prng(seed * 7919)
      for (let i = 0; i < 15; i++) {
        const order = i === 0 ? records : shuffled(records, rand)
        const { totals, evidence, pairs } = recomputeBalances(order)
        assert.deepEqual(evidence, [], `seed ${seed} shuffle ${i}`)
        assert.deepEqual(totalsObject(totals), expected, `seed ${seed} shuffle ${i}`)
        for (const [key, hash] of lastReceipt) assert.equal(pairs.get(key)?.receipt?.hash, hash)
      }
    }
  })

  it('counts a lagging receipt for an early round even after more than KEPT_DELEGATIONS later delegations', () => {
    const ds = Array.from({ length: KEPT_DELEGATIONS + 2 }, (_, i) => del(i + 1, 10 * (i + 1), 1000 * (i + 1)))
    const r1 = rec(ds[0]!, 10, 1000, { seq: 1 })
    const rand = prng(5)
    for (let i = 0; i < 5; i++) {
      const { totals, evidence } = recomputeBalances(i === 0 ? [...ds, r1] : shuffled([...ds, r1], rand))
      assert.deepEqual(evidence, [])
      assert.deepEqual(totals.get(H), { ...zero, given: 1000, givenRequests: 10 })
    }
  })

  it('reports an over-claim hidden among honest records, in any order, without counting it', () => {
    const { records, expected, delegationsOf } = honestWorld(4)
    const [key, ds] = [...delegationsOf].find(([, ds]) => ds.length >= 3)!
    const d = ds[1]!
    const db = d.body as DelegationBody
    const over = rec(d, db.requests, db.bytes + 1, { seq: 10_000, ts: 2_000_000_000_000, tag: 'over' })
    const rand = prng(99)
    let first: Evidence[] | undefined
    for (let i = 0; i < 15; i++) {
      const { totals, evidence } = recomputeBalances(shuffled([...records, over], rand))
      assert.deepEqual(evidence, [{ kind: 'over-claim', accused: db.helper, pair: key, records: [d.hash, over.hash], at: over.ts }])
      assert.deepEqual(totalsObject(totals), expected)
      first ??= evidence
      assert.deepEqual(evidence, first)
    }
  })

  // Arrival order and recomputeBalances (which sorts by round) must find the same evidence.
  it('catches a late delegation smaller than an older kept one (arrival order agrees with recompute)', () => {
    const d1 = del(1, 100, 10_000)
    const d2 = del(2, 50, 5000) // smaller than round 1: a decrease by B
    const d3 = del(3, 300, 30_000)
    assert.deepEqual(
      recomputeBalances([d1, d2, d3]).evidence.map(e => [e.kind, e.accused, e.records]),
      [['decrease', B, [d1.hash, d2.hash]]]
    )
    const { verdicts } = fold([d1, d3, d2])
    const e = evidenceOf(verdicts[2]!)
    assert.deepEqual([e.kind, e.accused, e.records], ['decrease', B, [d1.hash, d2.hash]])
  })

  // Two receipts signed by the helper prove a decrease or an equivocation by themselves, even
  // when the delegation one of them names is no longer kept.
  it('catches a stale receipt claiming more than the newer one after its delegation was forgotten', () => {
    const ds = Array.from({ length: KEPT_DELEGATIONS + 2 }, (_, i) => del(i + 1, 100, 10_000))
    const newest = ds[ds.length - 1]!
    const rNew = rec(newest, 50, 5000)
    const rOld = rec(ds[0]!, 100, 10_000) // claims more than the newer receipt
    assert.deepEqual(
      recomputeBalances([...ds, rNew, rOld]).evidence.map(e => [e.kind, e.accused, e.records]),
      [['decrease', H, [rOld.hash, rNew.hash]]]
    )
    const { pair } = fold([...ds, rNew])
    const e = evidenceOf(applyLedgerRecord(pair, rOld).verdict)
    assert.deepEqual([e.kind, e.accused, e.records], ['decrease', H, [rOld.hash, rNew.hash]])
  })

  it('treats the settled receipt arriving again after its delegation was forgotten as duplicate, not equivocation', () => {
    const d1 = del(1, 100, 10_000)
    const r1 = rec(d1, 50, 5000)
    const later = Array.from({ length: KEPT_DELEGATIONS }, (_, i) => del(i + 2, 100, 10_000))
    const { pair } = fold([d1, r1, ...later])
    assert.equal(pair?.delegations[d1.hash], undefined, 'd1 was forgotten')
    const out = applyLedgerRecord(pair, r1)
    assert.deepEqual(out.verdict, { kind: 'duplicate' })
    assert.deepEqual(out.pair, pair)
  })

  it('catches two receipts for the same round after their delegation was forgotten', () => {
    const d1 = del(1, 100, 10_000)
    const r1 = rec(d1, 50, 5000)
    const later = Array.from({ length: KEPT_DELEGATIONS }, (_, i) => del(i + 2, 100, 10_000))
    const r1b = rec(d1, 60, 6000)
    const { pair } = fold([d1, r1, ...later])
    assert.equal(pair?.delegations[d1.hash], undefined, 'd1 was forgotten')
    const e = evidenceOf(applyLedgerRecord(pair, r1b).verdict)
    assert.deepEqual([e.kind, e.accused, e.records], ['equivocation', H, [r1.hash, r1b.hash]])
  })
})
