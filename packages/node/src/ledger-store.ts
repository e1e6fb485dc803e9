/**
 * The reciprocity ledger's storage: one LevelDB per node, a sublevel per concern, and every
 * state change one atomic batch (the record, its pair's new state, both members' totals and
 * window buckets, its index entries, and any evidence), so a crash at any instant leaves either
 * all of a change or none of it. Applying a record twice is a no-op (the pair remembers its
 * hashes), so nothing is counted twice after a restart; `recompute()` rebuilds balances from
 * the stored records alone and must equal what the store holds.
 *
 * Sublevels: records (hash → record), byMember (member!hash → ''), pairs (pair key → state),
 * totals (member → totals), windows (member!hour → given/taken in that hour), pending
 * (receipts waiting for their delegation), evidence (ts!hash → evidence), signals.
 */
import { createHash } from 'node:crypto'
import { Level } from 'level'
import type { AbstractSublevel } from 'abstract-level'
import { DEFAULT_QUOTA_POLICY, applyLedgerRecord, pairOf, recomputeBalances, standing } from '@reef/governance'
import type { Evidence, LedgerRecord, MemberTotals, PairState, QuotaPolicy, Standing, Verdict } from '@reef/governance'
import type { VerifiedRecord } from '@reef/protocol'

const HOUR_MS = 3_600_000

type Sub = AbstractSublevel<Level<string, string>, string | Buffer | Uint8Array, string, string>

export interface StoredRecord extends LedgerRecord {
  /** The record's canonical bytes (base64): what a third member re-verifies. */
  bytes: string
}

export interface Signal {
  kind: 'over-quota' | 'declined-with-spare' | 'unsigned-delegation'
  accused: string
  at: number
  detail: Record<string, unknown>
}

export function recordHash (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function toLedgerRecord (r: VerifiedRecord): StoredRecord {
  if (r.type !== 'delegation' && r.type !== 'receipt') throw new TypeError(`not a ledger record: ${r.type}`)
  return { type: r.type, author: r.author, seq: r.seq, ts: r.ts, hash: recordHash(r.bytes), body: r.body as LedgerRecord['body'], bytes: Buffer.from(r.bytes).toString('base64') }
}

export class LedgerStore {
  readonly db: Level<string, string>
  readonly #records: Sub
  readonly #byMember: Sub
  readonly #pairs: Sub
  readonly #totals: Sub
  readonly #windows: Sub
  readonly #pending: Sub
  readonly #evidence: Sub
  readonly #signals: Sub
  readonly #pairCache = new Map<string, PairState>()
  readonly #totalCache = new Map<string, MemberTotals>()
  readonly #windowCache = new Map<string, Map<number, { given: number, taken: number }>>()
  #queue: Promise<unknown> = Promise.resolve()
  recordCount = 0

  private constructor (db: Level<string, string>) {
    this.db = db
    const sub = (name: string): Sub => db.sublevel<string, string>(name, { valueEncoding: 'utf8' })
    this.#records = sub('records')
    this.#byMember = sub('by-member')
    this.#pairs = sub('pairs')
    this.#totals = sub('totals')
    this.#windows = sub('windows')
    this.#pending = sub('pending')
    this.#evidence = sub('evidence')
    this.#signals = sub('signals')
  }

  static async open (location: string): Promise<LedgerStore> {
    const db = new Level<string, string>(location, { valueEncoding: 'utf8' })
    await db.open()
    const store = new LedgerStore(db)
    for await (const [k, v] of store.#pairs.iterator()) store.#pairCache.set(k, JSON.parse(v) as PairState)
    for await (const [k, v] of store.#totals.iterator()) store.#totalCache.set(k, JSON.parse(v) as MemberTotals)
    for await (const [k, v] of store.#windows.iterator()) {
      const [member, hour] = k.split('!') as [string, string]
      let m = store.#windowCache.get(member)
      if (m === undefined) { m = new Map(); store.#windowCache.set(member, m) }
      m.set(Number(hour), JSON.parse(v) as { given: number, taken: number })
    }
    for await (const _ of store.#records.keys()) store.recordCount++
    return store
  }

  async close (): Promise<void> {
    await this.#queue.catch(() => {})
    await this.db.close()
  }

  /** Serialise read-modify-write so each change is computed from the state before it. */
  #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }

  /** Apply one verified ledger record (and any pending receipts it unblocks). */
  apply (record: StoredRecord): Promise<Verdict> {
    return this.#exclusive(async () => {
      const verdict = await this.#applyOne(record)
      if (record.type === 'delegation' && verdict.kind === 'applied') {
        const key = pairOf(record).key
        for await (const [k, v] of this.#pending.iterator({ gte: `${key}!`, lt: `${key}!\xff` })) {
          const r = JSON.parse(v) as StoredRecord
          const again = await this.#applyOne(r, k)
          if (again.kind !== 'pending') await this.#pending.del(k).catch(() => {})
        }
      }
      return verdict
    })
  }

  async #applyOne (record: StoredRecord, pendingKey?: string): Promise<Verdict> {
    // A record already stored (applied or kept as evidence) was decided once: never again.
    if (pendingKey === undefined && await this.#records.has(record.hash)) return { kind: 'duplicate' }
    const p = pairOf(record)
    const prev = this.#pairCache.get(p.key)
    const { pair, verdict } = applyLedgerRecord(prev, record)
    if (verdict.kind === 'duplicate') return verdict
    const batch = this.db.batch()
    if (verdict.kind === 'pending') {
      if (pendingKey === undefined) batch.put(`${p.key}!${record.hash}`, JSON.stringify(record), { sublevel: this.#pending })
      await batch.write()
      return verdict
    }
    if (verdict.kind === 'evidence') {
      batch.put(`${String(verdict.evidence.at).padStart(15, '0')}!${record.hash}`, JSON.stringify({ ...verdict.evidence, recordBytes: record.bytes }), { sublevel: this.#evidence })
      batch.put(record.hash, JSON.stringify(record), { sublevel: this.#records })
      if (pendingKey !== undefined) batch.del(pendingKey, { sublevel: this.#pending })
      await batch.write()
      return verdict
    }
    batch.put(record.hash, JSON.stringify(record), { sublevel: this.#records })
    batch.put(`${p.beneficiary}!${record.hash}`, '', { sublevel: this.#byMember })
    batch.put(`${p.helper}!${record.hash}`, '', { sublevel: this.#byMember })
    batch.put(p.key, JSON.stringify(pair), { sublevel: this.#pairs })
    if (pendingKey !== undefined) batch.del(pendingKey, { sublevel: this.#pending })
    const { bytes, requests } = verdict.delta
    let helperTotals: MemberTotals | undefined
    let beneficiaryTotals: MemberTotals | undefined
    const hour = Math.floor(record.ts / HOUR_MS)
    if (bytes + requests > 0) {
      helperTotals = { ...(this.#totalCache.get(p.helper) ?? { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }) }
      helperTotals.given += bytes; helperTotals.givenRequests += requests
      beneficiaryTotals = { ...(this.#totalCache.get(p.beneficiary) ?? { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }) }
      beneficiaryTotals.taken += bytes; beneficiaryTotals.takenRequests += requests
      batch.put(p.helper, JSON.stringify(helperTotals), { sublevel: this.#totals })
      batch.put(p.beneficiary, JSON.stringify(beneficiaryTotals), { sublevel: this.#totals })
      batch.put(`${p.helper}!${hour}`, JSON.stringify(this.#bucketAfter(p.helper, hour, bytes, 0)), { sublevel: this.#windows })
      batch.put(`${p.beneficiary}!${hour}`, JSON.stringify(this.#bucketAfter(p.beneficiary, hour, 0, bytes)), { sublevel: this.#windows })
    }
    await batch.write()
    // Only once the batch is durable does memory follow.
    this.#pairCache.set(p.key, pair)
    this.recordCount++
    if (helperTotals !== undefined && beneficiaryTotals !== undefined) {
      this.#totalCache.set(p.helper, helperTotals)
      this.#totalCache.set(p.beneficiary, beneficiaryTotals)
      this.#bucket(p.helper, hour).given += bytes
      this.#bucket(p.beneficiary, hour).taken += bytes
    }
    return verdict
  }

  #bucket (member: string, hour: number): { given: number, taken: number } {
    let m = this.#windowCache.get(member)
    if (m === undefined) { m = new Map(); this.#windowCache.set(member, m) }
    let b = m.get(hour)
    if (b === undefined) { b = { given: 0, taken: 0 }; m.set(hour, b) }
    return b
  }

  #bucketAfter (member: string, hour: number, given: number, taken: number): { given: number, taken: number } {
    const b = this.#windowCache.get(member)?.get(hour) ?? { given: 0, taken: 0 }
    return { given: b.given + given, taken: b.taken + taken }
  }

  totals (member: string): MemberTotals {
    return { ...(this.#totalCache.get(member) ?? { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }) }
  }

  allTotals (): Map<string, MemberTotals> {
    return new Map([...this.#totalCache].map(([k, v]) => [k, { ...v }]))
  }

  pair (beneficiary: string, helper: string, session: string): PairState | undefined {
    return this.#pairCache.get(`${beneficiary}|${helper}|${session}`)
  }

  /** A member's standing over the policy's rolling window. */
  standing (member: string, now = Date.now(), policy: QuotaPolicy = DEFAULT_QUOTA_POLICY): Standing {
    const from = Math.floor((now - policy.windowMs) / HOUR_MS)
    let given = 0
    let taken = 0
    for (const [hour, b] of this.#windowCache.get(member) ?? []) {
      if (hour >= from) { given += b.given; taken += b.taken }
    }
    return standing(given, taken, policy)
  }

  /** Bytes `member` has taken from `other` minus what it gave `other`, over all settled pairs. */
  owed (member: string, other: string): number {
    let owed = 0
    for (const p of this.#pairCache.values()) {
      const settled = p.receipt?.bytes ?? 0
      if (p.beneficiary === member && p.helper === other) owed += settled
      else if (p.beneficiary === other && p.helper === member) owed -= settled
    }
    return owed
  }

  /** The records behind a member's balance (as beneficiary or helper). */
  async recordsOf (member: string, limit = 1000): Promise<StoredRecord[]> {
    const out: StoredRecord[] = []
    for await (const key of this.#byMember.keys({ gte: `${member}!`, lt: `${member}!\xff`, limit })) {
      const v = await this.#records.get(key.slice(member.length + 1))
      if (v !== undefined) out.push(JSON.parse(v) as StoredRecord)
    }
    return out
  }

  async * records (): AsyncGenerator<StoredRecord> {
    for await (const v of this.#records.values()) yield JSON.parse(v) as StoredRecord
  }

  /** Balances rebuilt from the stored records alone. */
  async recompute (): Promise<ReturnType<typeof recomputeBalances>> {
    const all: StoredRecord[] = []
    for await (const r of this.records()) all.push(r)
    return recomputeBalances(all)
  }

  async evidence (limit = 1000): Promise<Array<Evidence & { recordBytes: string }>> {
    const out: Array<Evidence & { recordBytes: string }> = []
    for await (const v of this.#evidence.values({ reverse: true, limit })) out.push(JSON.parse(v) as Evidence & { recordBytes: string })
    return out
  }

  async addSignal (s: Signal): Promise<void> {
    await this.#signals.put(`${String(s.at).padStart(15, '0')}!${s.kind}!${s.accused}`, JSON.stringify(s))
  }

  async signals (limit = 1000): Promise<Signal[]> {
    const out: Signal[] = []
    for await (const v of this.#signals.values({ reverse: true, limit })) out.push(JSON.parse(v) as Signal)
    return out
  }
}
