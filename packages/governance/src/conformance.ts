/**
 * Conformance of the ledger and governance rules (SPEC.md §Running them against another
 * implementation): the operations an implementation offers to be checked against
 * vectors/ledger.json and vectors/governance.json — `ledger`, `log`, `evidence`, next to the
 * protocol's (`@reef/protocol` conformance.ts, whose `frame` op decodes governance frames) —,
 * this package behind them, and the checkers that run those vector files against any
 * implementation, in process or over JSON lines.
 */
import { createHash } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import { CharterBody, EvidenceItem, LogEntryBody, attempt, canonicalBytes, decodeDocument, localImpl } from '@reef/protocol'
import type { MultiSigned, Outcome, ProtocolImpl } from '@reef/protocol'
import { checkEvidence } from './evidence.ts'
import { evidenceContext, membershipView } from './governance-vectors.ts'
import type { EvidenceContextVector, EvidenceExpectation, GovernanceVectorSet, MembershipView } from './governance-vectors.ts'
import { recomputeBalances, type MemberTotals } from './ledger.ts'
import { settleInArrivalOrder, toLedgerRecordFromBytes } from './ledger-vectors.ts'
import type { LedgerVectorSet } from './ledger-vectors.ts'
import { applyEntry, bodyHash, openCharter } from './membership.ts'
import type { EntryVerdict } from './membership.ts'

export type EntryOutcome = { ok: true; verdict: EntryVerdict; hash: string; state: MembershipView } | { ok: false; code: string }

export interface GovernanceImpl {
  /**
   * Settle ledger records (hex of their bytes): 'arrival' applies them in the order given,
   * retrying pending receipts after each delegation, as a node does; 'recompute' from the set.
   * Totals omit members whose four totals are 0; evidence is in the order found.
   */
  ledger(req: {
    recordsHex: string[]
    order: 'arrival' | 'recompute'
  }): Promise<Outcome<{ totals: Record<string, MemberTotals>; evidence: Array<{ kind: string; accused: string }> }>>
  /** Open a charter document, then apply log entry documents in order (an entry that fails leaves the state as it was). */
  log(req: { charter: unknown; entries: unknown[] }): Promise<Outcome<{ hash: string; state: MembershipView; results: EntryOutcome[] }>>
  /** Judge one evidence item in a voter's context. */
  evidence(req: { item: unknown; context: EvidenceContextVector }): Promise<Outcome<{ hash: string } & EvidenceExpectation>>
}

export const GOVERNANCE_OPS = ['ledger', 'log', 'evidence'] as const

const codeOf = (err: unknown): string => ((err as { code?: unknown }).code !== undefined ? String((err as { code: unknown }).code) : 'ERR_INTERNAL')

function plainTotals(m: Map<string, MemberTotals>): Record<string, MemberTotals> {
  return Object.fromEntries(
    [...m].filter(([, t]) => t.given + t.taken + t.givenRequests + t.takenRequests > 0).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  )
}

/** This package as a GovernanceImpl. */
export const localGovernanceImpl: GovernanceImpl = {
  ledger: async req =>
    attempt(async () => {
      const records = await Promise.all(req.recordsHex.map(async h => toLedgerRecordFromBytes(new Uint8Array(Buffer.from(h, 'hex')))))
      if (req.order === 'recompute') {
        const r = recomputeBalances(records)
        return { totals: plainTotals(r.totals), evidence: r.evidence.map(e => ({ kind: e.kind, accused: e.accused })) }
      }
      const r = settleInArrivalOrder(records)
      return { totals: plainTotals(r.totals), evidence: r.evidence }
    }),
  log: async req =>
    attempt(async () => {
      // Documents arrive as JSON values: checked as if read from their canonical bytes.
      const charter = decodeDocument(canonicalBytes(req.charter), CharterBody)
      let s = await openCharter(charter)
      const start = { hash: bodyHash(charter.body), state: membershipView(s) }
      const results: EntryOutcome[] = []
      for (const e of req.entries) {
        try {
          const doc = decodeDocument(canonicalBytes(e), LogEntryBody) as MultiSigned<LogEntryBody>
          const out = await applyEntry(s, doc)
          s = out.state
          results.push({ ok: true, verdict: out.verdict, hash: bodyHash(doc.body), state: membershipView(s) })
        } catch (err) {
          results.push({ ok: false, code: codeOf(err) })
        }
      }
      return { ...start, results }
    }),
  evidence: async req =>
    attempt(async () => {
      const parsed = EvidenceItem.safeParse(req.item)
      if (!parsed.success) throw Object.assign(new Error('not an evidence item'), { code: 'ERR_SCHEMA' })
      // The hash is over the item as received (canonical JSON), not as parsed.
      const hash = createHash('sha256').update(canonicalBytes(req.item)).digest('hex')
      const check = await checkEvidence(parsed.data, evidenceContext(req.context))
      return check.verdict === 'observe'
        ? { hash, verdict: 'observe' as const, url: check.url, path: check.path, expectedSha256: check.expectedSha256 }
        : { hash, verdict: check.verdict }
    })
}

export interface VectorMismatch {
  vector: string
  expected: string
  got: string
}

function collector(): { failures: VectorMismatch[]; same: (vector: string, expected: unknown, got: unknown) => void; count: () => number } {
  const failures: VectorMismatch[] = []
  let checked = 0
  return {
    failures,
    same: (vector, expected, got) => {
      checked++
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(expected)), JSON.parse(JSON.stringify(got))))
        failures.push({ vector, expected: JSON.stringify(expected), got: JSON.stringify(got) })
    },
    count: () => checked
  }
}

/** Run vectors/ledger.json against `impl`: every scenario in arrival order (totals and evidence) and recomputed (totals). */
export async function checkLedgerVectorsWith(
  impl: Pick<GovernanceImpl, 'ledger'>,
  v: LedgerVectorSet
): Promise<{ checked: number; failures: VectorMismatch[] }> {
  const c = collector()
  for (const sc of v.scenarios) {
    const online = await impl.ledger({ recordsHex: sc.recordsHex, order: 'arrival' })
    c.same(
      `ledger: ${sc.description}`,
      { totals: sc.totals, evidence: sc.evidence },
      online.ok ? { totals: online.totals, evidence: online.evidence } : online.code
    )
    const offline = await impl.ledger({ recordsHex: sc.recordsHex, order: 'recompute' })
    c.same(`ledger recomputed: ${sc.description}`, sc.totals, offline.ok ? offline.totals : offline.code)
  }
  return { checked: c.count(), failures: c.failures }
}

const entryView = (r: EntryOutcome | undefined): unknown => (r === undefined ? 'no result' : r.ok ? { verdict: r.verdict, state: r.state } : r.code)

/** Run vectors/governance.json against `impl` (its `frame` op decodes the governance frames). */
export async function checkGovernanceVectorsWith(
  impl: Pick<GovernanceImpl, 'log' | 'evidence'> & Pick<ProtocolImpl, 'frame'>,
  v: GovernanceVectorSet
): Promise<{ checked: number; failures: VectorMismatch[] }> {
  const c = collector()
  const opened = await impl.log({ charter: v.charter.charter, entries: [] })
  c.same(
    `charter: ${v.charter.description}`,
    { hash: v.charter.hash, state: v.charter.state },
    opened.ok ? { hash: opened.hash, state: opened.state } : opened.code
  )
  for (const x of v.invalidCharters) {
    const got = await impl.log({ charter: x.charter, entries: [] })
    c.same(`reject charter: ${x.description}`, x.error, got.ok ? 'accepted' : got.code)
  }
  const log = await impl.log({ charter: v.charter.charter, entries: v.log.map(l => l.entry) })
  for (const [i, l] of v.log.entries()) {
    const r = log.ok ? log.results[i] : undefined
    c.same(
      `log: ${l.description}`,
      { verdict: 'applied', hash: l.hash, state: l.state },
      r === undefined ? (log.ok ? 'no result' : log.code) : r.ok ? { verdict: r.verdict, hash: r.hash, state: r.state } : r.code
    )
  }
  for (const x of v.entries) {
    const got = await impl.log({ charter: v.charter.charter, entries: [...v.log.slice(0, x.after).map(l => l.entry), ...x.steps.map(s => s.entry)] })
    for (const [i, step] of x.steps.entries()) {
      const r = got.ok ? got.results[x.after + i] : undefined
      c.same(`entries: ${x.description} (step ${i + 1})`, step.error ?? { verdict: step.verdict, state: step.state }, got.ok ? entryView(r) : got.code)
    }
  }
  for (const e of v.evidence) {
    const got = await impl.evidence({ item: e.item, context: e.context })
    const { ok: _ok, ...rest } = got as { ok: boolean } & Record<string, unknown>
    c.same(`evidence: ${e.description}`, { hash: e.hash, ...e.expected }, got.ok ? rest : got.code)
  }
  for (const f of v.frames) {
    const got = await impl.frame({ frame: f.frame, hex: f.hex })
    if (f.error !== undefined) c.same(`frame: ${f.description}`, f.error, got.ok ? 'accepted' : got.code)
    else
      c.same(
        `frame: ${f.description}`,
        { value: f.value, hex: f.hex },
        got.ok ? { value: got.value, hex: Buffer.from(canonicalBytes(got.value)).toString('hex') } : got.code
      )
  }
  return { checked: c.count(), failures: c.failures }
}

/** vectors/governance.json through this implementation. */
export async function checkGovernanceVectors(v: GovernanceVectorSet): Promise<{ checked: number; failures: VectorMismatch[] }> {
  return checkGovernanceVectorsWith({ ...localGovernanceImpl, frame: localImpl.frame }, v)
}

/** vectors/ledger.json through this implementation. */
export async function checkLedgerVectors(v: LedgerVectorSet): Promise<{ checked: number; failures: VectorMismatch[] }> {
  return checkLedgerVectorsWith(localGovernanceImpl, v)
}

export const LEDGER_VECTORS_FILE = new URL('../vectors/ledger.json', import.meta.url)
export const GOVERNANCE_VECTORS_FILE = new URL('../vectors/governance.json', import.meta.url)
