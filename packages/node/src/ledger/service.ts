/**
 * Settlement over the network (SPEC.md §Ledger settlement), both roles, plus freeloader signals.
 *
 * Beneficiary: every redirect to a helper is counted in memory (two additions: the redirect
 * path stays fast). Every `settleIntervalMs` while a session lasts, and once more with
 * `final: true` when it ends, it signs a cumulative `delegation` per helper whose count moved
 * and publishes it on the ledger topic.
 * Helper: on a delegation naming it, it signs a `receipt` claiming the lesser of what was
 * delegated and what its mirror actually served for the site since the session began.
 * Everyone: every verified delegation and receipt goes into the local ledger store, so every
 * member holds the records behind every balance and can check them.
 *
 * Signals (not proofs; evidence for governance): a member taking while over quota; a member
 * that advertised spare capacity and made no offer to a struck member within quota; a
 * beneficiary that accepted a helper, was served, and signed no delegation.
 */
import { OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR, ledgerTopic, offersAtOnce, verifyRecord } from '@reef/protocol'
import type { Delegation, Receipt, VerifiedRecord } from '@reef/protocol'
import type { QuotaPolicy } from '@reef/governance'
import type { Logger } from 'pino'
import { LEDGER_TRACKED_SESSIONS_MAX, OFFER_WINDOW_MS, UNSIGNED_AFTER_ROUNDS, UNSIGNED_GRACE_MS } from '../constants.ts'
import { codeOf } from '../errors.ts'
import type { LedgerStore, Signal } from './store.ts'
import { toLedgerRecord } from './store.ts'
import type { PeerTable } from '../p2p/peer-table.ts'
import type { RecordChannel } from '../p2p/record-bus.ts'

export interface LedgerServiceOptions {
  consortium: string
  selfId: string
  settleIntervalMs: number
  /** The settlement interval now (a governed consortium's charter may change it); default settleIntervalMs. */
  settleInterval?: () => number
  policy: QuotaPolicy
  /** How long a struck member's request may go without an offer from a peer with spare capacity. */
  offerWindowMs?: number
}

/** What the ledger reads of a help session this node serves as a helper (help/help-coordinator.ts). */
export interface ServedSession {
  session: string
  beneficiary: string
  site: string
  acceptedAt: number | undefined
  /** The mirror's cumulative service for the site when the session began. */
  servedBaseline: { requests: number; bytes: number }
}

export interface LedgerServiceDeps {
  bus: RecordChannel
  store: LedgerStore
  peers: PeerTable
  log: Logger
  helpingSessions: () => readonly ServedSession[]
  servedNow: (site: string) => { requests: number; bytes: number }
}

interface DelegatedCount {
  session: string
  helper: string
  requests: number
  bytes: number
  round: number
  settledRequests: number
  settledBytes: number
}

export class LedgerService {
  readonly #opts: Required<Omit<LedgerServiceOptions, 'settleInterval'>> & Pick<LedgerServiceOptions, 'settleInterval'>
  readonly #deps: LedgerServiceDeps
  readonly #topic: string
  readonly #counts = new Map<string, DelegatedCount>()
  readonly #seenDelegation = new Set<string>()
  readonly #offersBySession = new Map<string, Set<string>>()
  readonly #signalled = new Map<string, number>()
  readonly #watched = new Set<string>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #unsubscribe: (() => void) | undefined
  #settling: Promise<void> = Promise.resolve()
  readonly #handling = new Set<Promise<void>>()

  constructor(opts: LedgerServiceOptions, deps: LedgerServiceDeps) {
    this.#opts = { offerWindowMs: OFFER_WINDOW_MS, ...opts }
    this.#deps = deps
    this.#topic = ledgerTopic(opts.consortium)
  }

  start(): void {
    this.#unsubscribe = this.#deps.bus.onRecord(r => {
      // Tracked so that stop() waits for records being stored before the store closes.
      const p = this.#onRecord(r).finally(() => this.#handling.delete(p))
      this.#handling.add(p)
    })
    const next = (): void => {
      const t = setTimeout(() => {
        this.#timers.delete(t)
        void this.settle()
        next()
      }, this.#settleMs)
      t.unref()
      this.#timers.add(t)
    }
    next()
  }

  get #settleMs(): number {
    return this.#opts.settleInterval?.() ?? this.#opts.settleIntervalMs
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.()
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await this.#settling
    await Promise.allSettled(this.#handling)
  }

  /** The redirect path: one more request of `bytes` delegated to `helper` in `session`. */
  countRedirect(session: string, helper: string, bytes: number): void {
    const key = `${session}|${helper}`
    let c = this.#counts.get(key)
    if (c === undefined) {
      c = { session, helper, requests: 0, bytes: 0, round: 0, settledRequests: 0, settledBytes: 0 }
      this.#counts.set(key, c)
    }
    c.requests++
    // Delegations carry whole bytes.
    c.bytes += Math.max(0, Math.round(bytes))
  }

  /** Sign and publish a delegation for every count that moved (all of `finalSession`'s, final). */
  settle(finalSession?: string): Promise<void> {
    const run = this.#settling
      .then(async () => {
        for (const [key, c] of this.#counts) {
          const final = c.session === finalSession
          if (!final && c.requests === c.settledRequests && c.bytes === c.settledBytes) continue
          c.round++
          c.settledRequests = c.requests
          c.settledBytes = c.bytes
          const body: Delegation = { session: c.session, helper: c.helper, round: c.round, requests: c.requests, bytes: c.bytes, final }
          await this.#publishAndStore('delegation', body)
          if (final) this.#counts.delete(key)
        }
      })
      .catch(err => {
        // A store that cannot write said so once; the delegation went out and is held for it.
        if (codeOf(err) !== 'ERR_STORAGE_UNWRITABLE') this.#deps.log.error({ err }, 'settlement failed')
      })
    this.#settling = run
    return run
  }

  async #publishAndStore(type: 'delegation' | 'receipt', body: Delegation | Receipt): Promise<void> {
    const bytes = await this.#deps.bus.publish(this.#topic, type, body as never)
    const own = await verifyRecord(bytes, { ignoreTime: true })
    await this.#store(own)
  }

  async #store(r: VerifiedRecord): Promise<void> {
    const verdict = await this.#deps.store.apply(toLedgerRecord(r))
    if (verdict.kind === 'evidence') {
      this.#deps.log.warn({ evidence: verdict.evidence }, 'ledger evidence: inconsistent settlement records')
    } else if (verdict.kind === 'applied' && r.type === 'receipt') {
      this.#checkQuota((r.body as Receipt).beneficiary, r.ts)
    }
  }

  async #onRecord(r: VerifiedRecord): Promise<void> {
    try {
      switch (r.type) {
        case 'delegation': {
          // Answered even when the store cannot write (it holds the record): the receipt goes
          // out to every member all the same.
          await this.#store(r).catch((err: unknown) => {
            if (codeOf(err) !== 'ERR_STORAGE_UNWRITABLE') throw err
          })
          const d = r.body as Delegation
          if (d.helper === this.#opts.selfId) await this.#answer(r)
          break
        }
        case 'receipt':
          await this.#store(r)
          break
        case 'help-offer': {
          const session = (r.body as { session: string }).session
          let s = this.#offersBySession.get(session)
          if (s === undefined) {
            if (this.#offersBySession.size > LEDGER_TRACKED_SESSIONS_MAX) this.#offersBySession.clear()
            s = new Set()
            this.#offersBySession.set(session, s)
          }
          s.add(r.author)
          break
        }
        default:
          break
      }
    } catch (err) {
      // A store that cannot write said so once, and holds the record until it can.
      if (codeOf(err) !== 'ERR_STORAGE_UNWRITABLE') this.#deps.log.error({ err, type: r.type }, 'ledger record handling failed')
    }
  }

  /** Helper: receipt for a delegation naming us, claiming no more than delegated or served. */
  async #answer(r: VerifiedRecord): Promise<void> {
    const d = r.body as Delegation
    this.#seenDelegation.add(`${d.session}|${r.author}`)
    const s = this.#deps.helpingSessions().find(x => x.session === d.session && x.beneficiary === r.author)
    if (s === undefined) return
    const now = this.#deps.servedNow(s.site)
    const served = { requests: now.requests - s.servedBaseline.requests, bytes: now.bytes - s.servedBaseline.bytes }
    const pair = this.#deps.store.pair(r.author, this.#opts.selfId, d.session)
    const prev = pair?.receipt
    const body: Receipt = {
      session: d.session,
      beneficiary: r.author,
      round: d.round,
      delegation: toLedgerRecord(r).hash,
      // Never more than delegated; never less than already claimed (claims only increase).
      requests: Math.max(prev?.requests ?? 0, Math.min(d.requests, served.requests)),
      bytes: Math.max(prev?.bytes ?? 0, Math.min(d.bytes, served.bytes))
    }
    if (body.requests > d.requests || body.bytes > d.bytes) return
    await this.#publishAndStore('receipt', body)
  }

  #signal(s: Signal, onceKey: string, everyMs: number): void {
    const last = this.#signalled.get(onceKey)
    if (last !== undefined && s.at - last < everyMs) return
    this.#signalled.set(onceKey, s.at)
    this.#deps.log.warn({ signal: s }, 'freeloader signal')
    void this.#deps.store.addSignal(s).catch(err => {
      if (codeOf(err) !== 'ERR_STORAGE_UNWRITABLE') this.#deps.log.error({ err }, 'storing signal failed')
    })
  }

  #checkQuota(member: string, at: number): void {
    const st = this.#deps.store.standing(member, at, this.#opts.policy)
    if (st.overQuota)
      this.#signal({ kind: 'over-quota', accused: member, at, detail: { taken: st.taken, credit: st.credit } }, `over-quota|${member}`, 3_600_000)
  }

  /**
   * This node, struck, asked for help (session `session`, needing `needBytesPerSec`): the peers
   * its load view shows with spare capacity that rank early for the session — those the offer
   * hold-back (SPEC.md §help-offer) tells to offer at once — should offer. Check after the offer
   * window which did not (unless this node is over quota, which justifies declining). Only the
   * requester judges: offers reach it alone (direct records), and a member that ranked late held
   * its offer back by the rule.
   */
  watchOwnRequest(session: string, needBytesPerSec: number): void {
    if (this.#watched.has(session)) return
    if (this.#watched.size > LEDGER_TRACKED_SESSIONS_MAX) this.#watched.clear()
    this.#watched.add(session)
    const live = this.#deps.peers
      .live()
      .filter(e => e.peer !== this.#opts.selfId && e.report.state === 'normal' && e.report.spareRps > 0)
      .map(e => ({ peer: e.peer, spareRps: e.report.spareRps, spareBytesPerSec: e.report.spareBytesPerSec ?? 0 }))
    const candidates = live.filter(c => c.spareBytesPerSec <= 0 || offersAtOnce(session, c, live, needBytesPerSec, OFFER_AT_ONCE_MIN, OFFER_COVER_FACTOR))
    const t = setTimeout(() => {
      this.#timers.delete(t)
      if (this.#deps.store.standing(this.#opts.selfId, Date.now(), this.#opts.policy).overQuota) return
      const offered = this.#offersBySession.get(session) ?? new Set()
      for (const c of candidates) {
        if (offered.has(c.peer)) continue
        this.#signal(
          { kind: 'declined-with-spare', accused: c.peer, at: Date.now(), detail: { session, requester: this.#opts.selfId, spareRps: c.spareRps } },
          `declined|${session}|${c.peer}`,
          Infinity
        )
      }
    }, this.#opts.offerWindowMs)
    t.unref()
    this.#timers.add(t)
  }

  /** Helper side: accepted and served, but no delegation signed within three settlement rounds. */
  checkUnsigned(now = Date.now()): void {
    for (const s of this.#deps.helpingSessions()) {
      if (s.acceptedAt === undefined || now - s.acceptedAt < UNSIGNED_AFTER_ROUNDS * this.#settleMs + UNSIGNED_GRACE_MS) continue
      if (this.#seenDelegation.has(`${s.session}|${s.beneficiary}`)) continue
      const served = this.#deps.servedNow(s.site).requests - s.servedBaseline.requests
      if (served <= 0) continue
      this.#signal(
        { kind: 'unsigned-delegation', accused: s.beneficiary, at: now, detail: { session: s.session, site: s.site, served } },
        `unsigned|${s.session}`,
        Infinity
      )
    }
  }
}
