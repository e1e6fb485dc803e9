/**
 * Signed Reef records over gossipsub. Outgoing bodies are wrapped in the protocol's signed
 * envelope; incoming messages are judged in the topic validator by the protocol's
 * `validateGossip` (SPEC.md §Verification, §Gossip verdicts: size, encoding, envelope, type
 * on its topic, version, author = gossip `from`, signature, schema, freshness, then the
 * author's membership, then replay), so that invalid records are rejected before gossipsub
 * forwards them, and only accepted records reach listeners. Failures an honest forwarder can
 * cause (stale, future-dated by clock skew, already seen, an author not yet synced as a
 * member) are Ignore and counted in `ignored`; the rest are Reject and counted in `rejected`.
 *
 * Records for one member alone (a help-offer to its beneficiary, a helper's serving report to
 * it: DIRECT_RECORD_TYPES) go to it over RECORD_PROTOCOL, one record per stream, when a
 * connection to it is open, and are gossiped otherwise (SPEC.md §Direct records, r4): gossiped,
 * each reached every member of the consortium, a hundred offers × a hundred members. The receiver judges them as gossip
 * with the connection's remote peer as `from` (no relaying), then hands them to the same listeners.
 * r5 adds RECORD_PROTOCOL_R5, which also carries `gov-votes`: votes a relay passes toward a
 * proposal's proposer (SPEC.md §Vote relay). Those are never gossiped (sendOnly).
 *
 * Listeners also learn which peer a record came from (`via`): gossipsub's propagation source, or
 * the stream's peer. The vote relay sends votes back along the path a proposal came by.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import {
  DIRECT_ONLY_RECORD_TYPES,
  DIRECT_RECORD_TYPES,
  DIRECT_SEND_TIMEOUT_MS,
  MAX_RECORD_BYTES,
  RECORD_PROTOCOL,
  RECORD_PROTOCOL_R5,
  ReplayError,
  ReplayGuard,
  SequenceCounter,
  signRecord,
  topicRecordTypes,
  validateGossip
} from '@reef/protocol'
import type { RecordBody, RecordType, VerifiedRecord } from '@reef/protocol'
import type { Logger } from 'pino'

/** `via`: the peer the record came from (gossipsub's propagation source, or a direct stream's peer). */
export type RecordListener = (record: VerifiedRecord, via?: string) => void

/** What services need of the bus: publish a body as a signed record, hear verified records. */
export interface RecordChannel {
  /** Sign and publish; resolves to the signed record's bytes. */
  publish<T extends RecordType>(topic: string, type: T, body: RecordBody<T>): Promise<Uint8Array>
  /**
   * Sign and deliver to `peer` alone (a type of DIRECT_RECORD_TYPES), or publish on `topic` when
   * that cannot be done; resolves to the signed record's bytes. Only over a connection already
   * open to `peer`: a new one costs both ends a handshake, identify and a log sync. A channel
   * without it publishes (sendOrPublish).
   */
  sendTo?<T extends RecordType>(peer: string, topic: string, type: T, body: RecordBody<T>): Promise<Uint8Array>
  /**
   * r5: sign and deliver to `peer` alone over RECORD_PROTOCOL_R5, only over a connection already
   * open, never gossiped; false when that could not be done (no connection, an r4 peer, a
   * stream that failed). For DIRECT_ONLY_RECORD_TYPES.
   */
  sendOnly?<T extends RecordType>(peer: string, type: T, body: RecordBody<T>): Promise<boolean>
  onRecord(fn: RecordListener): () => void
}

/** `body` to `peer` alone where the channel can (RecordChannel.sendTo), else published on `topic`. */
export async function sendOrPublish<T extends RecordType>(
  bus: Pick<RecordChannel, 'publish' | 'sendTo'>,
  peer: string,
  topic: string,
  type: T,
  body: RecordBody<T>
): Promise<Uint8Array> {
  return bus.sendTo === undefined ? bus.publish(topic, type, body) : bus.sendTo(peer, topic, type, body)
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
  readonly #verified = new WeakMap<Uint8Array, { record: VerifiedRecord; via: string }>()
  /** Messages answered Reject (gossipsub penalises their forwarder). */
  rejected = 0
  /** Messages answered Ignore (dropped without penalty). */
  ignored = 0
  /** Records delivered to their one receiver over RECORD_PROTOCOL, and those gossiped because that failed. */
  directSent = 0
  directFellBack = 0
  /** Records received over RECORD_PROTOCOL and handed to listeners, and those refused. */
  directReceived = 0
  directRefused = 0
  #host: Libp2p | undefined
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
      this.#pubsub.topicValidators.set(topic, async (peer, msg) => this.#validate(msg, peer.toString()))
      this.#pubsub.subscribe(topic)
    }
    this.#pubsub.addEventListener('message', this.#onMessage)
  }

  /** Receive direct records (RECORD_PROTOCOL) from `host`'s peers, and send them through it. */
  async serveDirect(host: Libp2p): Promise<void> {
    this.#host = host
    const r4 = DIRECT_RECORD_TYPES
    const r5 = [...DIRECT_RECORD_TYPES, ...DIRECT_ONLY_RECORD_TYPES]
    await host.handle(
      RECORD_PROTOCOL,
      (stream, connection) => {
        void this.#receiveDirect(stream, connection, r4)
      },
      { maxInboundStreams: 32 }
    )
    await host.handle(
      RECORD_PROTOCOL_R5,
      (stream, connection) => {
        void this.#receiveDirect(stream, connection, r5)
      },
      { maxInboundStreams: 32 }
    )
  }

  stop(): void {
    if (this.#host !== undefined) {
      void this.#host.unhandle(RECORD_PROTOCOL).catch(() => {})
      void this.#host.unhandle(RECORD_PROTOCOL_R5).catch(() => {})
    }
    this.#host = undefined
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
    if (this.canPublish()) await this.#gossip(topic, type, bytes)
    return bytes
  }

  async sendTo<T extends RecordType>(peer: string, topic: string, type: T, body: RecordBody<T>): Promise<Uint8Array> {
    const bytes = await signRecord(this.#key, this.#selfId, type, body, { seq: this.#seq.next() })
    if (!this.canPublish()) return bytes
    if (DIRECT_RECORD_TYPES.includes(type) && (await this.#direct(peer, type, bytes, RECORD_PROTOCOL))) return bytes
    await this.#gossip(topic, type, bytes)
    return bytes
  }

  async sendOnly<T extends RecordType>(peer: string, type: T, body: RecordBody<T>): Promise<boolean> {
    if (!this.canPublish() || this.#host === undefined || !this.#connected(this.#host, peer)) return false
    const bytes = await signRecord(this.#key, this.#selfId, type, body, { seq: this.#seq.next() })
    return this.#direct(peer, type, bytes, RECORD_PROTOCOL_R5)
  }

  async #gossip(topic: string, type: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.#pubsub.publish(topic, bytes)
    } catch (err) {
      this.#log.debug({ err, topic, type }, 'publish failed')
    }
  }

  /**
   * `bytes` to `peer` alone over `protocol`, only over a connection already open; false (counted
   * in directFellBack if a stream was tried) when that could not be done.
   */
  async #direct(peer: string, type: string, bytes: Uint8Array, protocol: string): Promise<boolean> {
    const host = this.#host
    if (host === undefined || peer === this.#selfId || !this.#connected(host, peer)) return false
    try {
      await this.#sendDirect(host, peer, bytes, protocol)
      this.directSent++
      return true
    } catch (err) {
      this.directFellBack++
      this.#log.debug({ peer, type, err: (err as Error).message }, 'direct record not delivered')
      return false
    }
  }

  #connected(host: Libp2p, peer: string): boolean {
    try {
      return host.getConnections(peerIdFromString(peer)).length > 0
    } catch {
      return false
    }
  }

  async #sendDirect(host: Libp2p, peer: string, bytes: Uint8Array, protocol: string): Promise<void> {
    const signal = AbortSignal.timeout(DIRECT_SEND_TIMEOUT_MS)
    // r5 sends write the protocol name and the record together (no round trip before the
    // record: relayed votes cross several hops, each on busy event loops).
    const stream = await host.dialProtocol(peerIdFromString(peer), protocol, { signal, negotiateFully: protocol !== RECORD_PROTOCOL_R5 })
    try {
      await lpStream(stream, { maxDataLength: MAX_RECORD_BYTES }).write(bytes, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  /**
   * One record from the stream's remote peer, judged as gossip from it (with no topic: its type
   * must be one the stream's protocol carries, `allowed`, and one this node's topics are for),
   * then to the listeners.
   */
  async #receiveDirect(stream: Stream, connection: Connection, allowed: readonly string[]): Promise<void> {
    const from = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(DIRECT_SEND_TIMEOUT_MS)
    let bytes: Uint8Array
    try {
      bytes = (await lpStream(stream, { maxDataLength: MAX_RECORD_BYTES }).read({ signal })).subarray()
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      this.directRefused++
      this.#log.debug({ from, err: (err as Error).message }, 'direct record stream failed')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      return
    }
    const d = await validateGossip(bytes, {
      from,
      standing: this.#standing
    })
    if (d.verdict !== 'accept' || !allowed.includes(d.record.type) || !this.#carries(d.record.type)) {
      this.directRefused++
      this.#log.debug({ from, code: d.verdict === 'accept' ? 'ERR_NOT_DIRECT' : d.code }, 'direct record refused')
      return
    }
    // Relayed votes skip the replay check: a relay's records go over parallel streams and may
    // arrive out of order (a later seq first, then an earlier one refused as a replay: votes lost
    // at 100 members), and taking one twice adds nothing (each vote is kept once per voter).
    if (!DIRECT_ONLY_RECORD_TYPES.includes(d.record.type)) {
      try {
        this.#replay.check(d.record.author, d.record.type, d.record.seq)
      } catch (err) {
        if (!(err instanceof ReplayError)) throw err
        this.directRefused++
        return
      }
    }
    this.directReceived++
    this.#deliver(d.record, from)
  }

  /** Whether one of this node's topics is for `type` (relayed votes belong with the gov topic's votes). */
  #carries(type: string): boolean {
    const home = type === 'gov-votes' ? 'gov-vote' : type
    return this.#topics.some(t => topicRecordTypes(t)?.includes(home) ?? false)
  }

  /** An author's standing for validateGossip, from authorVerdict. */
  readonly #standing = (author: string): 'member' | 'non-member' | 'expelled' => {
    const v = this.authorVerdict(author)
    return v === 'accept' ? 'member' : v === 'ignore' ? 'non-member' : 'expelled'
  }

  #deliver(record: VerifiedRecord, via?: string): void {
    for (const fn of this.#listeners) {
      try {
        fn(record, via)
      } catch (err) {
        this.#log.error({ err }, 'record listener failed')
      }
    }
  }

  async #validate(msg: Message, via: string): Promise<TopicValidatorResult> {
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
      standing: this.#standing
    })
    if (d.verdict === 'accept') {
      this.#verified.set(msg.data, { record: d.record, via })
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
    const v = this.#verified.get(msg.data)
    if (v === undefined) {
      this.#log.warn({ topic: msg.topic }, 'gossip message delivered without validation')
      return
    }
    this.#verified.delete(msg.data)
    this.#deliver(v.record, v.via)
  }
}
