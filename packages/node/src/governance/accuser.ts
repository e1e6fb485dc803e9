/**
 * Enforcement (SPEC.md §Enforcement): a member that cheats is proposed for expulsion, with the
 * evidence, by any member that holds it; the voters check the evidence themselves. Accusations
 * come from the auditor (a helper serving altered content) and from this node's ledger
 * (decreases, equivocations, over-claims; freeloading past the charter's limit). Each accused
 * member is proposed once per log head, and again a minute later if the proposal expired
 * without a quorum. A helper caught altering this site's own content is distrusted at once:
 * its offers are refused before the vote.
 */
import type { QuotaPolicy } from '@reef/governance'
import type { EvidenceItem } from '@reef/protocol'
import type { Logger } from 'pino'
import { ACCUSE_AGAIN_MS, EVIDENCE_RECORDS_MAX, EVIDENCE_SCAN_ITEMS, EVIDENCE_SCAN_MS } from '../constants.ts'
import type { LedgerStore } from '../ledger/store.ts'
import type { GovernanceService } from './service.ts'

export interface AccuserComponents {
  selfId: string
  /** This node's site: a helper caught altering its content is distrusted at once. */
  site: string
  /** Undefined in an open consortium: nobody is accused, only distrusted. */
  gov: Pick<GovernanceService, 'isMember' | 'isMemberPeer' | 'state' | 'proposeExpel'> | undefined
  ledgerStore: Pick<LedgerStore, 'evidenceWritten' | 'evidence' | 'record' | 'standing'>
  /** The quota in force (the charter's when governed). */
  quota: QuotaPolicy
  log: Logger
}

export class Accuser {
  readonly #c: AccuserComponents
  readonly #accused = new Map<string, { height: number; at: number }>()
  /** Helpers this node caught serving its site's content altered: their offers are refused. */
  readonly #distrusted = new Set<string>()
  #lastScan = 0
  #evidenceSeen = -1
  #evidenceReadAt = 0

  constructor(components: AccuserComponents) {
    this.#c = components
  }

  /** Whether this node still takes `peer`'s offers. */
  trusts(peer: string): boolean {
    return !this.#distrusted.has(peer)
  }

  /**
   * The auditor caught `helper` serving `site`'s content altered. Our own site's content, wrong
   * under our eyes: stop sending our clients there now (true: newly distrusted); the vote that
   * expels the helper everywhere follows.
   */
  caught(helper: string, site: string): boolean {
    if (site !== this.#c.site || this.#distrusted.has(helper)) return false
    this.#distrusted.add(helper)
    this.#c.log.warn({ helper }, 'helper caught serving altered content of this site: no more clients sent to it')
    return true
  }

  /** Propose an expulsion once per accused member and head (the voters check the evidence). */
  async accuse(peer: string, reason: string, evidence: EvidenceItem[]): Promise<void> {
    const gov = this.#c.gov
    if (gov === undefined || !gov.isMember || !gov.isMemberPeer(peer)) return
    const height = gov.state?.height ?? 0
    if (!this.#mayAccuse(peer, height)) return
    this.#accused.set(peer, { height, at: Date.now() })
    try {
      await gov.proposeExpel(peer, reason, evidence)
    } catch (err) {
      this.#accused.delete(peer)
      this.#c.log.warn({ peer, err: (err as Error).message }, 'expulsion could not be proposed')
    }
  }

  /** Once per accused, head and ACCUSE_AGAIN_MS: a proposal that expired without a quorum is made again. */
  #mayAccuse(peer: string, height: number, now = Date.now()): boolean {
    const last = this.#accused.get(peer)
    return last === undefined || last.height !== height || now - last.at >= ACCUSE_AGAIN_MS
  }

  /** Ledger evidence and freeloading past the charter's limit become expulsion proposals. */
  async scan(now: number): Promise<void> {
    const { gov, ledgerStore: store, selfId } = this.#c
    const state = gov?.state
    if (gov === undefined || state === undefined || !gov.isMember || now - this.#lastScan < EVIDENCE_SCAN_MS) return
    this.#lastScan = now
    // The stored evidence is read again only when some was written, or once per ACCUSE_AGAIN_MS
    // (an accusation that expired without a quorum is made again).
    const evidenceChanged = store.evidenceWritten !== this.#evidenceSeen || now - this.#evidenceReadAt >= ACCUSE_AGAIN_MS
    this.#evidenceSeen = store.evidenceWritten
    if (evidenceChanged) this.#evidenceReadAt = now
    for (const e of evidenceChanged ? await store.evidence(EVIDENCE_SCAN_ITEMS) : []) {
      if (e.accused === selfId || !state.members.has(e.accused) || !this.#mayAccuse(e.accused, state.height, now)) continue
      const hashes = [...e.records]
      const records: string[] = []
      for (const h of hashes) {
        const r = await store.record(h)
        if (r === undefined) continue
        if (r.type === 'receipt') {
          const named = await store.record((r.body as { delegation: string }).delegation)
          if (named !== undefined && !hashes.includes(named.hash)) records.unshift(Buffer.from(named.bytes, 'base64').toString('base64url'))
        }
        records.push(Buffer.from(r.bytes, 'base64').toString('base64url'))
      }
      if (records.length === 0) continue
      await this.accuse(e.accused, `ledger: ${e.kind}`, [{ kind: 'ledger', records: records.slice(0, EVIDENCE_RECORDS_MAX) }])
    }
    const pct = state.policy.freeloadExpelPct
    if (pct === 0) return
    for (const peer of state.members.keys()) {
      if (peer === selfId) continue
      const st = store.standing(peer, now, this.#c.quota)
      if (st.taken > (st.credit * pct) / 100) await this.accuse(peer, 'freeloading', [{ kind: 'freeloading', taken: st.taken, credit: st.credit }])
    }
  }
}
