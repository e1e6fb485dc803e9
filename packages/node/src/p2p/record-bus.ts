/**
 * Signed Reef records over gossipsub. Outgoing bodies are wrapped in the protocol's signed
 * envelope; incoming messages are judged in the topic validator by the protocol's
 * `validateGossip` (SPEC.md §Verification, §Gossip verdicts: size, encoding, envelope, type
 * on its topic, version, author = gossip `from`, signature, schema, freshness, then the
 * author's membership, then replay), so that invalid records are rejected before gossipsub
 * forwards them, and only accepted records reach listeners. Failures an honest forwarder can
 * cause (stale, future-dated by clock skew, already seen, an author not yet synced as a
 * member) are Ignore and counted in `ignored`; the rest are Reject and counted in `rejected`.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { PrivateKey } from '@libp2p/interface'
import { MAX_RECORD_BYTES, ReplayGuard, SequenceCounter, signRecord, validateGossip } from '@reef/protocol'
import type { RecordBody, RecordType, VerifiedRecord } from '@reef/protocol'
import type { Logger } from 'pino'

export type RecordListener = (record: VerifiedRecord) => void

/** What services need of the bus: publish a body as a signed record, hear verified records. */
export interface RecordChannel {
  /** Sign and publish; resolves to the signed record's bytes. */
  publish<T extends RecordType>(topic: string, type: T, body: RecordBody<T>): Promise<Uint8Array>
  onRecord(fn: RecordListener): () => void
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
  readonly #verified = new WeakMap<Uint8Array, VerifiedRecord>()
  /** Messages answered Reject (gossipsub penalises their forwarder). */
  rejected = 0
  /** Messages answered Ignore (dropped without penalty). */
  ignored = 0
  /**
   * Whose records count (governed consortia: members only). 'reject' marks the message invalid
   * (an expelled peer), 'ignore' drops it without penalty (a peer not known as a member yet).
   */
  authorVerdict: (author: string) => 'accept' | 'ignore' | 'reject' = () => 'accept'
  /** Whether this node may publish (a newcomer publishes nothing until it is admitted). */
  canPublish: () => boolean = () => true

  /**
   * `topics`: the Reef topics to join. Which record types a topic carries follows from its name
   * (`topicRecordTypes`); the map form, listing them per topic, is kept for readability.
   */
  constructor(pubsub: GossipSub, key: PrivateKey, selfId: string, topics: string[] | Readonly<Record<string, readonly RecordType[]>>, log: Logger) {
    this.#pubsub = pubsub
    this.#key = key
    this.#selfId = selfId
    this.#topics = Array.isArray(topics) ? topics : Object.keys(topics)
    this.#log = log
  }

  start(): void {
    for (const topic of this.#topics) {
      this.#pubsub.topicValidators.set(topic, async (_peer, msg) => this.#validate(msg))
      this.#pubsub.subscribe(topic)
    }
    this.#pubsub.addEventListener('message', this.#onMessage)
  }

  stop(): void {
    this.#pubsub.removeEventListener('message', this.#onMessage)
    for (const topic of this.#topics) {
      this.#pubsub.topicValidators.delete(topic)
      try {
        this.#pubsub.unsubscribe(topic)
      } catch {}
    }
  }

  onRecord(fn: RecordListener): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  async publish<T extends RecordType>(topic: string, type: T, body: RecordBody<T>): Promise<Uint8Array> {
    const bytes = await signRecord(this.#key, this.#selfId, type, body, { seq: this.#seq.next() })
    if (!this.canPublish()) return bytes
    try {
      await this.#pubsub.publish(topic, bytes)
    } catch (err) {
      this.#log.debug({ err, topic, type }, 'publish failed')
    }
    return bytes
  }

  async #validate(msg: Message): Promise<TopicValidatorResult> {
    // StrictSign: an unsigned message has no author to hold to account.
    if (msg.type !== 'signed') {
      this.rejected++
      return TopicValidatorResult.Reject
    }
    if (msg.data.byteLength > MAX_RECORD_BYTES) {
      this.rejected++
      return TopicValidatorResult.Reject
    }
    // Only an accepted record counts for replay protection: a copy relayed under another
    // sender's name, or by a non-member, must not raise the bar for the author's own.
    const d = await validateGossip(msg.data, {
      topic: msg.topic,
      from: msg.from.toString(),
      replay: this.#replay,
      standing: author => {
        const v = this.authorVerdict(author)
        return v === 'accept' ? 'member' : v === 'ignore' ? 'non-member' : 'expelled'
      }
    })
    if (d.verdict === 'accept') {
      this.#verified.set(msg.data, d.record)
      return TopicValidatorResult.Accept
    }
    if (d.verdict === 'ignore') this.ignored++
    else this.rejected++
    this.#log.debug({ code: d.code, verdict: d.verdict, from: msg.from.toString(), topic: msg.topic }, 'gossip record dropped')
    return d.verdict === 'ignore' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
  }

  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (!this.#topics.includes(msg.topic)) return
    const record = this.#verified.get(msg.data)
    if (record === undefined) {
      this.#log.warn({ topic: msg.topic }, 'gossip message delivered without validation')
      return
    }
    this.#verified.delete(msg.data)
    for (const fn of this.#listeners) {
      try {
        fn(record)
      } catch (err) {
        this.#log.error({ err }, 'record listener failed')
      }
    }
  }
}
