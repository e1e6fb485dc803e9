/**
 * Signed Reef records over gossipsub. Outgoing bodies are wrapped in the protocol's signed
 * envelope; incoming messages are verified in the topic validator (size, encoding, signature,
 * schema, freshness, replay, and author = gossip author) so that invalid records are rejected
 * before gossipsub forwards them, and only verified records reach listeners.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { MAX_RECORD_BYTES, ReplayGuard, SequenceCounter, isProtocolError, signRecord, verifyRecord } from '@reef/protocol'
import type { RecordBody, RecordType, VerifiedRecord } from '@reef/protocol'
import type { Logger } from 'pino'

export type RecordListener = (record: VerifiedRecord) => void

/** What services need of the bus: publish a body as a signed record, hear verified records. */
export interface RecordChannel {
  /** Sign and publish; resolves to the signed record's bytes. */
  publish<T extends RecordType> (topic: string, type: T, body: RecordBody<T>): Promise<Uint8Array>
  onRecord (fn: RecordListener): () => void
}

export class RecordBus implements RecordChannel {
  readonly #pubsub: GossipSub
  readonly #key: PrivateKey
  readonly #selfId: string
  readonly #log: Logger
  readonly #seq = new SequenceCounter()
  readonly #replay = new ReplayGuard()
  readonly #listeners = new Set<RecordListener>()
  readonly #topics: string[]
  readonly #allowed: ReadonlyMap<string, ReadonlySet<string>>
  readonly #verified = new WeakMap<Uint8Array, VerifiedRecord>()
  rejected = 0
  /**
   * Whose records count (governed consortia: members only). 'reject' marks the message invalid
   * (an expelled peer), 'ignore' drops it without penalty (a peer not known as a member yet).
   */
  authorVerdict: (author: string) => 'accept' | 'ignore' | 'reject' = () => 'accept'
  /** Whether this node may publish (a newcomer publishes nothing until it is admitted). */
  canPublish: () => boolean = () => true

  constructor (pubsub: GossipSub, key: PrivateKey, selfId: string, topics: string[] | Readonly<Record<string, readonly RecordType[]>>, log: Logger) {
    this.#pubsub = pubsub
    this.#key = key
    this.#selfId = selfId
    this.#topics = Array.isArray(topics) ? topics : Object.keys(topics)
    this.#allowed = new Map(Array.isArray(topics) ? [] : Object.entries(topics).map(([t, types]) => [t, new Set<string>(types)]))
    this.#log = log
  }

  start (): void {
    for (const topic of this.#topics) {
      this.#pubsub.topicValidators.set(topic, async (_peer, msg) => this.#validate(msg))
      this.#pubsub.subscribe(topic)
    }
    this.#pubsub.addEventListener('message', this.#onMessage)
  }

  stop (): void {
    this.#pubsub.removeEventListener('message', this.#onMessage)
    for (const topic of this.#topics) {
      this.#pubsub.topicValidators.delete(topic)
      try { this.#pubsub.unsubscribe(topic) } catch {}
    }
  }

  onRecord (fn: RecordListener): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  async publish<T extends RecordType> (topic: string, type: T, body: RecordBody<T>): Promise<Uint8Array> {
    const bytes = await signRecord(this.#key, this.#selfId, type, body, { seq: this.#seq.next() })
    if (!this.canPublish()) return bytes
    try {
      await this.#pubsub.publish(topic, bytes)
    } catch (err) {
      this.#log.debug({ err, topic, type }, 'publish failed')
    }
    return bytes
  }

  async #validate (msg: Message): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') { this.rejected++; return TopicValidatorResult.Reject }
    if (msg.data.byteLength > MAX_RECORD_BYTES) { this.rejected++; return TopicValidatorResult.Reject }
    try {
      const record = await verifyRecord(msg.data)
      if (record.author !== msg.from.toString()) throw new Error('record author is not the gossip author')
      const who = this.authorVerdict(record.author)
      if (who !== 'accept') {
        if (who === 'reject') this.rejected++
        this.#log.debug({ author: record.author, type: record.type }, 'record from a non-member dropped')
        return who === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      }
      const allowed = this.#allowed.get(msg.topic)
      if (allowed !== undefined && !allowed.has(record.type)) throw new Error(`a ${record.type} record does not belong on ${msg.topic}`)
      // Only now does the record count for replay protection: a copy relayed under another
      // sender's name must not raise the bar for the author's own.
      this.#replay.check(record.author, record.type, record.seq)
      this.#verified.set(msg.data, record)
      return TopicValidatorResult.Accept
    } catch (err) {
      this.rejected++
      const code = isProtocolError(err) ? err.code : 'ERR_WRONG_TOPIC_OR_AUTHOR'
      this.#log.debug({ code, from: msg.from.toString(), topic: msg.topic }, 'rejected gossip record')
      // Stale or replayed records are ignored (an honest peer can produce them); the rest is invalid.
      return code === 'ERR_EXPIRED' || code === 'ERR_REPLAY' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
    }
  }

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (!this.#topics.includes(msg.topic)) return
    const record = this.#verified.get(msg.data)
    if (record === undefined) { this.#log.warn({ topic: msg.topic }, 'gossip message delivered without validation'); return }
    this.#verified.delete(msg.data)
    for (const fn of this.#listeners) {
      try { fn(record) } catch (err) { this.#log.error({ err }, 'record listener failed') }
    }
  }
}
