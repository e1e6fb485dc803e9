/**
 * The reciprocity ledger's storage: one LevelDB per node, a sublevel per concern, and every
 * state change one atomic batch (the record, its pair's new state, both members' totals and
 * window buckets, its index entries, any evidence, and the pending receipts a delegation
 * unblocks), so a crash at any instant leaves either all of a change or none of it. Applying a
 * record twice is a no-op (the pair remembers its hashes), so nothing is counted twice after a
 * restart; `recompute()` rebuilds balances from the stored records alone and must equal what
 * the store holds.
 *
 * Sublevels: records (hash → record), order (see below), byMember (member!hash → ''), pairs
 * (pair key → state), totals (member → totals), windows (member!hour → given/taken in that
 * hour), pending (pair key!hash → receipt waiting for its delegation), evidence (ts!hash →
 * evidence), signals, meta (layout version; how many records are stored, written in each
 * batch that stores one, so opening reads no record).
 *
 * `order` is the rebuild index: every stored record (applied or evidence) also gets
 * `${pair}!${round, 16 digits}!${0 delegation | 1 receipt}!${seq, 16 digits}!${hash}` →
 * the record without its bytes, written in the same batch as the record. Iterating it yields
 * each pair's records contiguously, in the order `recomputeBalances` applies them (round, the
 * delegation before the receipt, seq, then hash: the order the old in-memory sort gave, since
 * it was stable over records iterated by hash), so `recompute()` streams through it with one
 * pair's state in memory at a time. Rounds and seqs are safe integers ≥ 0 (the protocol's
 * schemas), so 16 digits keep numeric order. A pair key containing `!` or `%` (impossible for
 * verified records: peer ids are base58, sessions url-safe) is percent-escaped so no pair's
 * prefix is a prefix of another's.
 *
 * Stores written before `order` existed are migrated on open: if `meta.layout` is not current,
 * the records are streamed once into `order` (in batches; idempotent, so a crash mid-way just
 * redoes it), counted, and the layout is recorded. Memory stays bounded; time is one pass over
 * the records. (A store written to by the older code after its migration would lack `order`
 * entries for those records: not a supported downgrade.)
 *
 * A full volume (storage/durable-level.ts): the first batch that fails to write stops all
 * writes; the store refuses records (StorageUnwritableError) and holds them, verified, in a
 * bounded backlog (LEDGER_BACKLOG_MAX, oldest dropped first and counted). Nothing in memory moves
 * for a batch that was not written, so balances stay those of the last durable change. Once the
 * volume has room, the database is reopened, memory is reloaded from disk (a batch that failed
 * is then either wholly there or wholly absent), and the backlog is applied in order: records
 * already stored count as duplicates, so nothing is counted twice.
 */
import { createHash } from 'node:crypto'
import { Level } from 'level'
import type { AbstractChainedBatch, AbstractSublevel } from 'abstract-level'
import { DEFAULT_QUOTA_POLICY, addTotals, applyLedgerRecord, pairOf, standing } from '@reef/governance'
import type { Evidence, LedgerRecord, MemberTotals, PairState, QuotaPolicy, Standing, Verdict } from '@reef/governance'
import type { LedgerStorageHealth, VerifiedRecord } from '@reef/protocol'
import type { Logger } from 'pino'
import { LEDGER_BACKLOG_MAX } from '../constants.ts'
import { StorageUnwritableError } from '../errors.ts'
import { DurableLevel } from '../storage/durable-level.ts'
import type { DurableLevelOptions } from '../storage/durable-level.ts'

const HOUR_MS = 3_600_000
/** The current on-disk layout: 2 = with the `order` index. */
const LAYOUT = '2'
/** Entries read per iterator step during rebuild and migration. */
const CHUNK = 1000
/** Held records written per batch once the store can write again. */
const BACKLOG_CHUNK = 500

export interface LedgerStoreOptions {
  log?: Logger | undefined
  /** Free bytes needed before a store that failed a write reopens (default STORAGE_RECOVER_FREE_BYTES). */
  recoverFreeBytes?: DurableLevelOptions['recoverFreeBytes']
  recoverIntervalMs?: DurableLevelOptions['recoverIntervalMs']
}

type Sub = AbstractSublevel<Level<string, string>, string | Buffer | Uint8Array, string, string>
type Batch = AbstractChainedBatch<Level<string, string>, string, string>

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

/** Balances rebuilt from the stored records alone. */
export interface RebuiltBalances {
  totals: Map<string, MemberTotals>
  /** The evidence found, pair by pair (each pair's in the order its records were applied). */
  evidence: Evidence[]
  /** How many pairs hold state (at least one record that was not evidence). */
  pairs: number
  /** How many records were read. */
  records: number
}

export function recordHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function toLedgerRecord(r: VerifiedRecord): StoredRecord {
  if (r.type !== 'delegation' && r.type !== 'receipt') throw new TypeError(`not a ledger record: ${r.type}`)
  return {
    type: r.type,
    author: r.author,
    seq: r.seq,
    ts: r.ts,
    hash: recordHash(r.bytes),
    body: r.body as LedgerRecord['body'],
    bytes: Buffer.from(r.bytes).toString('base64')
  }
}

const pad16 = (n: number): string => String(n).padStart(16, '0')

function orderPrefix(pairKey: string): string {
  return pairKey.includes('!') || pairKey.includes('%') ? pairKey.replaceAll('%', '%25').replaceAll('!', '%21') : pairKey
}

/** The record's key in the `order` index (see the module comment). */
export function orderKey(r: LedgerRecord, pairKey = pairOf(r).key): string {
  return `${orderPrefix(pairKey)}!${pad16(r.body.round)}!${r.type === 'delegation' ? 0 : 1}!${pad16(r.seq)}!${r.hash}`
}

function orderValue(r: LedgerRecord): string {
  return JSON.stringify({ type: r.type, author: r.author, seq: r.seq, ts: r.ts, hash: r.hash, body: r.body })
}

const zeroTotals = (): MemberTotals => ({ given: 0, taken: 0, givenRequests: 0, takenRequests: 0 })

/** One atomic change being prepared: the batch and the state it will leave once written. */
interface Tx {
  batch: Batch
  pairs: Map<string, PairState>
  totals: Map<string, MemberTotals>
  /** member → hour → bucket after the change. */
  buckets: Map<string, Map<number, { given: number; taken: number }>>
  /** Hashes stored by this change. */
  stored: Set<string>
  /** pair key → pending key → receipt put (or null: deleted) by this change. */
  pending: Map<string, Map<string, StoredRecord | null>>
  /** Evidence entries written by this change. */
  evidence: number
}

export class LedgerStore {
  readonly db: Level<string, string>
  readonly #records: Sub
  readonly #order: Sub
  readonly #byMember: Sub
  readonly #pairs: Sub
  readonly #totals: Sub
  readonly #windows: Sub
  readonly #pending: Sub
  readonly #evidence: Sub
  readonly #signals: Sub
  readonly #meta: Sub
  readonly #pairCache = new Map<string, PairState>()
  readonly #totalCache = new Map<string, MemberTotals>()
  readonly #windowCache = new Map<string, Map<number, { given: number; taken: number }>>()
  /** pair key → keys of its pending receipts (so a delegation looks up only what exists). */
  readonly #pendingByPair = new Map<string, Set<string>>()
  #queue: Promise<unknown> = Promise.resolve()
  readonly #guard: DurableLevel
  /** Verified records refused while the store could not write, oldest first. */
  #backlog: StoredRecord[] = []
  #dropped = 0
  /** Records stored (applied or kept as evidence). */
  recordCount = 0
  /** Evidence entries written since this store was opened: readers rescan only when it moves. */
  evidenceWritten = 0

  private constructor(db: Level<string, string>, location: string, opts: LedgerStoreOptions) {
    this.db = db
    this.#guard = new DurableLevel(db, {
      name: 'ledger',
      location,
      log: opts.log,
      exclusive: async fn => this.#exclusive(fn),
      reopened: async () => this.#reopened(),
      ...(opts.recoverFreeBytes === undefined ? {} : { recoverFreeBytes: opts.recoverFreeBytes }),
      ...(opts.recoverIntervalMs === undefined ? {} : { recoverIntervalMs: opts.recoverIntervalMs })
    })
    const sub = (name: string): Sub => db.sublevel<string, string>(name, { valueEncoding: 'utf8' })
    this.#records = sub('records')
    this.#order = sub('order')
    this.#byMember = sub('by-member')
    this.#pairs = sub('pairs')
    this.#totals = sub('totals')
    this.#windows = sub('windows')
    this.#pending = sub('pending')
    this.#evidence = sub('evidence')
    this.#signals = sub('signals')
    this.#meta = sub('meta')
  }

  static async open(location: string, opts: LedgerStoreOptions = {}): Promise<LedgerStore> {
    const db = new Level<string, string>(location, { valueEncoding: 'utf8' })
    await db.open()
    const store = new LedgerStore(db, location, opts)
    await store.#load()
    const [layout, count] = await store.#meta.getMany(['layout', 'records'])
    if (layout !== LAYOUT || count === undefined) await store.#migrate()
    else store.recordCount = Number(count)
    await store.#guard.start()
    return store
  }

  /** (Re)load what memory keeps from disk: pair states, totals, hour buckets, the pending index. */
  async #load(): Promise<void> {
    this.#pairCache.clear()
    this.#totalCache.clear()
    this.#windowCache.clear()
    this.#pendingByPair.clear()
    for await (const [k, v] of this.#pairs.iterator()) this.#pairCache.set(k, JSON.parse(v) as PairState)
    for await (const [k, v] of this.#totals.iterator()) this.#totalCache.set(k, JSON.parse(v) as MemberTotals)
    for await (const [k, v] of this.#windows.iterator()) {
      const [member, hour] = k.split('!') as [string, string]
      let m = this.#windowCache.get(member)
      if (m === undefined) {
        m = new Map()
        this.#windowCache.set(member, m)
      }
      m.set(Number(hour), JSON.parse(v) as { given: number; taken: number })
    }
    for await (const k of this.#pending.keys()) this.#indexPending(k.slice(0, k.lastIndexOf('!')), k)
  }

  /** After a reopen on a volume with room: memory from disk, then the held records, in order. */
  async #reopened(): Promise<void> {
    // A sublevel closes with its database but does not reopen with it.
    await Promise.all(
      [this.#records, this.#order, this.#byMember, this.#pairs, this.#totals, this.#windows, this.#pending, this.#evidence, this.#signals, this.#meta].map(
        async s => s.open()
      )
    )
    await this.#load()
    const count = await this.#meta.get('records')
    if (count !== undefined) this.recordCount = Number(count)
    while (this.#backlog.length > 0) {
      const chunk = this.#backlog.slice(0, BACKLOG_CHUNK)
      await this.#applyNow(chunk)
      this.#backlog.splice(0, chunk.length)
    }
  }

  /** The store's health: writable, why not, and what it holds back. */
  health(): LedgerStorageHealth {
    return { ...this.#guard.health(), backlog: this.#backlog.length, dropped: this.#dropped }
  }

  /** Reopen now if the store refuses writes and the volume has room (otherwise it tries every few seconds). */
  async recover(): Promise<boolean> {
    return this.#guard.recover()
  }

  #hold(records: readonly StoredRecord[]): void {
    this.#backlog.push(...records)
    const over = this.#backlog.length - LEDGER_BACKLOG_MAX
    if (over > 0) {
      this.#backlog.splice(0, over)
      this.#dropped += over
    }
  }

  /** Layout 1 → 2: index every stored record in `order` and count them. Idempotent; bounded memory. */
  async #migrate(): Promise<void> {
    let count = 0
    const it = this.#records.values()
    try {
      for (let vs = await it.nextv(CHUNK); vs.length > 0; vs = await it.nextv(CHUNK)) {
        const batch = this.#order.batch()
        for (const v of vs) {
          const r = JSON.parse(v) as StoredRecord
          batch.put(orderKey(r), orderValue(r))
        }
        await this.#guard.write(async () => batch.write())
        count += vs.length
      }
    } finally {
      await it.close()
    }
    await this.#guard.write(async () => this.#meta.batch().put('records', String(count)).put('layout', LAYOUT).write())
    this.recordCount = count
  }

  async close(): Promise<void> {
    this.#guard.stop()
    await this.#queue.catch(() => {})
    await this.db.close()
  }

  /** Serialise read-modify-write so each change is computed from the state before it. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return run
  }

  /** Apply one verified ledger record (and any pending receipts it unblocks), as one atomic batch. */
  async apply(record: StoredRecord): Promise<Verdict> {
    const [verdict] = await this.applyMany([record])
    return verdict!
  }

  /**
   * Apply verified ledger records in order, as if one by one, in ONE atomic batch (all of them
   * or, on a crash, none). For catching up and bulk loads; keep each call to a few thousand.
   */
  applyMany(records: readonly StoredRecord[]): Promise<Verdict[]> {
    return this.#exclusive(async () => {
      if (records.length === 0) return []
      if (!this.#guard.writable) {
        this.#hold(records)
        this.#guard.assertWritable()
      }
      try {
        return await this.#applyNow(records)
      } catch (err) {
        if (err instanceof StorageUnwritableError) this.#hold(records)
        throw err
      }
    })
  }

  /** applyMany's work, inside the write queue. */
  async #applyNow(records: readonly StoredRecord[]): Promise<Verdict[]> {
    // A record already stored (applied or kept as evidence) was decided once: never again.
    const known = records.length === 1 ? [await this.#records.has(records[0]!.hash)] : await this.#records.hasMany(records.map(r => r.hash))
    const tx: Tx = { batch: this.db.batch(), pairs: new Map(), totals: new Map(), buckets: new Map(), stored: new Set(), pending: new Map(), evidence: 0 }
    const verdicts: Verdict[] = []
    try {
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!
        if (known[i] === true || tx.stored.has(record.hash)) {
          verdicts.push({ kind: 'duplicate' })
          continue
        }
        const verdict = this.#decide(tx, record, undefined)
        if (record.type === 'delegation' && verdict.kind === 'applied') await this.#unblock(tx, pairOf(record).key)
        verdicts.push(verdict)
      }
      this.#stageState(tx)
      await this.#guard.write(async () => tx.batch.write())
    } catch (err) {
      await tx.batch.close().catch(() => {})
      throw err
    }
    // Only once the batch is durable does memory follow.
    this.#commit(tx)
    return verdicts
  }

  #pairState(tx: Tx, key: string): PairState | undefined {
    return tx.pairs.get(key) ?? this.#pairCache.get(key)
  }

  /** Judge one record against the state `tx` leaves, and stage what it changes. */
  #decide(tx: Tx, record: StoredRecord, pendingKey: string | undefined): Verdict {
    const p = pairOf(record)
    const { pair, verdict } = applyLedgerRecord(this.#pairState(tx, p.key), record)
    if (verdict.kind === 'pending') {
      if (pendingKey === undefined) {
        const key = `${p.key}!${record.hash}`
        tx.batch.put(key, JSON.stringify(record), { sublevel: this.#pending })
        this.#stagePending(tx, p.key, key, record)
      }
      return verdict
    }
    if (pendingKey !== undefined) {
      tx.batch.del(pendingKey, { sublevel: this.#pending })
      this.#stagePending(tx, p.key, pendingKey, null)
    }
    if (verdict.kind === 'duplicate') return verdict
    tx.batch.put(record.hash, JSON.stringify(record), { sublevel: this.#records })
    tx.batch.put(orderKey(record, p.key), orderValue(record), { sublevel: this.#order })
    tx.stored.add(record.hash)
    if (verdict.kind === 'evidence') {
      tx.evidence++
      tx.batch.put(`${String(verdict.evidence.at).padStart(15, '0')}!${record.hash}`, JSON.stringify({ ...verdict.evidence, recordBytes: record.bytes }), {
        sublevel: this.#evidence
      })
      return verdict
    }
    tx.batch.put(`${p.beneficiary}!${record.hash}`, '', { sublevel: this.#byMember })
    tx.batch.put(`${p.helper}!${record.hash}`, '', { sublevel: this.#byMember })
    tx.pairs.set(p.key, pair)
    const { bytes, requests } = verdict.delta
    if (bytes + requests > 0) {
      const helper = this.#stagedTotals(tx, p.helper)
      helper.given += bytes
      helper.givenRequests += requests
      const beneficiary = this.#stagedTotals(tx, p.beneficiary)
      beneficiary.taken += bytes
      beneficiary.takenRequests += requests
      const hour = Math.floor(record.ts / HOUR_MS)
      this.#stagedBucket(tx, p.helper, hour).given += bytes
      this.#stagedBucket(tx, p.beneficiary, hour).taken += bytes
    }
    return verdict
  }

  /** A delegation was applied: re-judge the pair's pending receipts (in key order). */
  async #unblock(tx: Tx, pairKey: string): Promise<void> {
    const committed = this.#pendingByPair.get(pairKey)
    const staged = tx.pending.get(pairKey)
    if (committed === undefined && staged === undefined) return
    const candidates = new Map<string, StoredRecord | undefined>()
    for (const k of committed ?? []) candidates.set(k, undefined)
    for (const [k, r] of staged ?? []) {
      if (r === null) candidates.delete(k)
      else candidates.set(k, r)
    }
    const toRead = [...candidates].filter(([, r]) => r === undefined).map(([k]) => k)
    if (toRead.length > 0) {
      const values = await this.#pending.getMany(toRead)
      toRead.forEach((k, i) => {
        const v = values[i]
        if (v === undefined) candidates.delete(k)
        else candidates.set(k, JSON.parse(v) as StoredRecord)
      })
    }
    for (const k of [...candidates.keys()].sort()) this.#decide(tx, candidates.get(k)!, k)
  }

  #stagePending(tx: Tx, pairKey: string, key: string, record: StoredRecord | null): void {
    let m = tx.pending.get(pairKey)
    if (m === undefined) {
      m = new Map()
      tx.pending.set(pairKey, m)
    }
    m.set(key, record)
  }

  #stagedTotals(tx: Tx, member: string): MemberTotals {
    let t = tx.totals.get(member)
    if (t === undefined) {
      t = { ...(this.#totalCache.get(member) ?? zeroTotals()) }
      tx.totals.set(member, t)
    }
    return t
  }

  #stagedBucket(tx: Tx, member: string, hour: number): { given: number; taken: number } {
    let m = tx.buckets.get(member)
    if (m === undefined) {
      m = new Map()
      tx.buckets.set(member, m)
    }
    let b = m.get(hour)
    if (b === undefined) {
      b = { ...(this.#windowCache.get(member)?.get(hour) ?? { given: 0, taken: 0 }) }
      m.set(hour, b)
    }
    return b
  }

  /** Put the final pair states, totals and buckets of the change (once each). */
  #stageState(tx: Tx): void {
    if (tx.stored.size > 0) tx.batch.put('records', String(this.recordCount + tx.stored.size), { sublevel: this.#meta })
    for (const [k, pair] of tx.pairs) tx.batch.put(k, JSON.stringify(pair), { sublevel: this.#pairs })
    for (const [m, t] of tx.totals) tx.batch.put(m, JSON.stringify(t), { sublevel: this.#totals })
    for (const [m, hours] of tx.buckets) {
      for (const [hour, b] of hours) tx.batch.put(`${m}!${hour}`, JSON.stringify(b), { sublevel: this.#windows })
    }
  }

  #commit(tx: Tx): void {
    for (const [k, pair] of tx.pairs) this.#pairCache.set(k, pair)
    for (const [m, t] of tx.totals) this.#totalCache.set(m, t)
    for (const [m, hours] of tx.buckets) {
      let c = this.#windowCache.get(m)
      if (c === undefined) {
        c = new Map()
        this.#windowCache.set(m, c)
      }
      for (const [hour, b] of hours) c.set(hour, b)
    }
    for (const [pairKey, m] of tx.pending) {
      for (const [k, r] of m) {
        if (r !== null) this.#indexPending(pairKey, k)
        else {
          const s = this.#pendingByPair.get(pairKey)
          s?.delete(k)
          if (s?.size === 0) this.#pendingByPair.delete(pairKey)
        }
      }
    }
    this.recordCount += tx.stored.size
    this.evidenceWritten += tx.evidence
  }

  #indexPending(pairKey: string, key: string): void {
    let s = this.#pendingByPair.get(pairKey)
    if (s === undefined) {
      s = new Set()
      this.#pendingByPair.set(pairKey, s)
    }
    s.add(key)
  }

  totals(member: string): MemberTotals {
    return { ...(this.#totalCache.get(member) ?? zeroTotals()) }
  }

  allTotals(): Map<string, MemberTotals> {
    return new Map([...this.#totalCache].map(([k, v]) => [k, { ...v }]))
  }

  pair(beneficiary: string, helper: string, session: string): PairState | undefined {
    return this.#pairCache.get(`${beneficiary}|${helper}|${session}`)
  }

  /** A member's standing over the policy's rolling window. */
  standing(member: string, now = Date.now(), policy: QuotaPolicy = DEFAULT_QUOTA_POLICY): Standing {
    const from = Math.floor((now - policy.windowMs) / HOUR_MS)
    let given = 0
    let taken = 0
    for (const [hour, b] of this.#windowCache.get(member) ?? []) {
      if (hour >= from) {
        given += b.given
        taken += b.taken
      }
    }
    return standing(given, taken, policy)
  }

  /** Bytes `member` has taken from `other` minus what it gave `other`, over all settled pairs. */
  owed(member: string, other: string): number {
    let owed = 0
    for (const p of this.#pairCache.values()) {
      const settled = p.receipt?.bytes ?? 0
      if (p.beneficiary === member && p.helper === other) owed += settled
      else if (p.beneficiary === other && p.helper === member) owed -= settled
    }
    return owed
  }

  /** The records behind a member's balance (as beneficiary or helper). */
  async recordsOf(member: string, limit = 1000): Promise<StoredRecord[]> {
    const out: StoredRecord[] = []
    for await (const key of this.#byMember.keys({ gte: `${member}!`, lt: `${member}!\xff`, limit })) {
      const v = await this.#records.get(key.slice(member.length + 1))
      if (v !== undefined) out.push(JSON.parse(v) as StoredRecord)
    }
    return out
  }

  /** One stored record by its hash. */
  async record(hash: string): Promise<StoredRecord | undefined> {
    const v = await this.#records.get(hash)
    return v === undefined ? undefined : (JSON.parse(v) as StoredRecord)
  }

  async *records(): AsyncGenerator<StoredRecord> {
    for await (const v of this.#records.values()) yield JSON.parse(v) as StoredRecord
  }

  /**
   * Balances rebuilt from the stored records alone, streaming: one pass over `order` (a
   * snapshot taken when it starts), one pair's state in memory at a time. Totals equal
   * `recomputeBalances` over the same records; evidence is the same set, grouped by pair.
   */
  async recompute(): Promise<RebuiltBalances> {
    const totals = new Map<string, MemberTotals>()
    const evidence: Evidence[] = []
    let pairs = 0
    let records = 0
    let current = ''
    let state: PairState | undefined
    const it = this.#order.iterator()
    try {
      for (let entries = await it.nextv(CHUNK); entries.length > 0; entries = await it.nextv(CHUNK)) {
        for (const [k, v] of entries) {
          records++
          const prefix = k.slice(0, k.indexOf('!'))
          if (prefix !== current) {
            current = prefix
            state = undefined
          }
          const { pair, verdict } = applyLedgerRecord(state, JSON.parse(v) as LedgerRecord)
          if (verdict.kind === 'evidence') {
            evidence.push(verdict.evidence)
            continue
          }
          if (state === undefined) pairs++
          state = pair
          if (verdict.kind === 'applied' && verdict.delta.bytes + verdict.delta.requests > 0) {
            addTotals(totals, pair.helper, { given: verdict.delta.bytes, givenRequests: verdict.delta.requests })
            addTotals(totals, pair.beneficiary, { taken: verdict.delta.bytes, takenRequests: verdict.delta.requests })
          }
        }
      }
    } finally {
      await it.close()
    }
    return { totals, evidence, pairs, records }
  }

  async evidence(limit = 1000): Promise<Array<Evidence & { recordBytes: string }>> {
    const out: Array<Evidence & { recordBytes: string }> = []
    for await (const v of this.#evidence.values({ reverse: true, limit })) out.push(JSON.parse(v) as Evidence & { recordBytes: string })
    return out
  }

  async addSignal(s: Signal): Promise<void> {
    await this.#guard.write(async () => this.#signals.put(`${String(s.at).padStart(15, '0')}!${s.kind}!${s.accused}`, JSON.stringify(s)))
  }

  async signals(limit = 1000): Promise<Signal[]> {
    const out: Signal[] = []
    for await (const v of this.#signals.values({ reverse: true, limit })) out.push(JSON.parse(v) as Signal)
    return out
  }
}
