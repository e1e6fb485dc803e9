/**
 * Durable governance state in its own LevelDB (`dataDir/governance`): the charter, every
 * accepted log entry by height, the one proposal this node signed at each height (so that a
 * restart can never make it sign a second, conflicting entry), and a newcomer's invitation.
 * Entries are written before the node acts on them; on open the whole log is re-verified from
 * the charter, so a damaged store fails loudly instead of yielding a wrong membership.
 *
 * On a full volume (storage/durable-level.ts) the first failed write stops every write until
 * the store has been reopened with room: a vote that could not be stored is refused
 * (StorageUnwritableError) before it is signed and sent, so a restart can never forget one.
 * Entries missed meanwhile come back by log sync.
 */
import { Level } from 'level'
import type { Logger } from 'pino'
import type { StorageHealth } from '@reef/protocol'
import { DurableLevel } from '../storage/durable-level.ts'
import type { CharterBody, EvidenceItem, LogEntryBody, MultiSigned } from '@reef/protocol'

/** A proposal this node signed: the entry body, its evidence and this node's signature. */
export interface SignedProposal {
  id: string
  body: LogEntryBody
  evidence: EvidenceItem[]
  sig: string
}

const pad = (h: number): string => String(h).padStart(12, '0')

export class GovernanceStore {
  readonly #db: Level<string, string>
  #entries: Array<MultiSigned<LogEntryBody>> | undefined
  #charter: MultiSigned<CharterBody> | undefined

  readonly #guard: DurableLevel

  private constructor(db: Level<string, string>, location: string, log: Logger | undefined) {
    this.#db = db
    this.#guard = new DurableLevel(db, {
      name: 'governance',
      location,
      log,
      reopened: async () => {
        this.#entries = undefined
      }
    })
  }

  static async open(location: string, opts: { log?: Logger | undefined } = {}): Promise<GovernanceStore> {
    const db = new Level<string, string>(location, { valueEncoding: 'utf8' })
    await db.open()
    const store = new GovernanceStore(db, location, opts.log)
    await store.#guard.start()
    return store
  }

  health(): StorageHealth {
    return this.#guard.health()
  }

  async close(): Promise<void> {
    this.#guard.stop()
    await this.#db.close()
  }

  async #put(key: string, value: string): Promise<void> {
    await this.#guard.write(async () => this.#db.put(key, value))
  }

  /** The charter (read once, then kept: it never changes once stored). */
  async charter(): Promise<MultiSigned<CharterBody> | undefined> {
    if (this.#charter === undefined) {
      const v = await this.#db.get('charter')
      this.#charter = v === undefined ? undefined : (JSON.parse(v) as MultiSigned<CharterBody>)
    }
    return this.#charter
  }

  async putCharter(doc: MultiSigned<CharterBody>): Promise<void> {
    await this.#put('charter', JSON.stringify(doc))
    this.#charter = doc
  }

  /** Every stored entry by height (read once, then kept: the log is small and only grows here). */
  async entries(): Promise<ReadonlyArray<MultiSigned<LogEntryBody>>> {
    if (this.#entries === undefined) {
      const out: Array<MultiSigned<LogEntryBody>> = []
      for await (const v of this.#db.values({ gt: 'entry!', lt: 'entry!~' })) out.push(JSON.parse(v) as MultiSigned<LogEntryBody>)
      this.#entries = out
    }
    return this.#entries
  }

  async putEntry(doc: MultiSigned<LogEntryBody>): Promise<void> {
    await this.#put(`entry!${pad(doc.body.height)}`, JSON.stringify(doc))
    this.#entries = undefined
  }

  /** The proposal (entry body hash) this node signed at `height`, if any. */
  async votedAt(height: number): Promise<string | undefined> {
    const v = await this.#db.get(`vote!${pad(height)}`)
    if (v === undefined || !v.startsWith('{')) return v
    return (JSON.parse(v) as SignedProposal).id
  }

  /** What this node signed at `height`, whole, so that it can keep offering it after a restart. */
  async signedAt(height: number): Promise<SignedProposal | undefined> {
    const v = await this.#db.get(`vote!${pad(height)}`)
    return v === undefined || !v.startsWith('{') ? undefined : (JSON.parse(v) as SignedProposal)
  }

  async putVote(height: number, proposal: string, signed?: Omit<SignedProposal, 'id'>): Promise<void> {
    await this.#put(`vote!${pad(height)}`, signed === undefined ? proposal : JSON.stringify({ id: proposal, ...signed }))
  }

  async invitation(): Promise<string | undefined> {
    return this.#db.get('invitation')
  }
  async putInvitation(token: string): Promise<void> {
    await this.#put('invitation', token)
  }

  /** The peer that joined with the invitation of this hash (an invitation admits one peer). */
  async invitationUsedBy(hash: string): Promise<string | undefined> {
    return this.#db.get(`used!${hash}`)
  }
  async putInvitationUsed(hash: string, peer: string): Promise<void> {
    await this.#put(`used!${hash}`, peer)
  }

  async halted(): Promise<{ height: number; hashes: [string, string] } | undefined> {
    const v = await this.#db.get('halted')
    return v === undefined ? undefined : (JSON.parse(v) as { height: number; hashes: [string, string] })
  }

  async putHalted(h: { height: number; hashes: [string, string] }): Promise<void> {
    await this.#put('halted', JSON.stringify(h))
  }
}
