/**
 * Who this node refuses to talk to (SPEC.md §Enforcement): peers the operator blocked (a manual
 * partition, a quarantine) and members the consortium expelled. libp2p's connection gater asks
 * `isDenied` for every connection, so the gate exists before the host; the governance service
 * and the host are bound to it once they exist (`expelledBy`, `bind`).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2pOptions } from './host.ts'

/** What the gate needs of the host: closing a blocked peer's connections. */
export interface Connections {
  hangUp: (peer: ReturnType<typeof peerIdFromString>) => Promise<void>
}

export class PeerGate implements Required<Libp2pOptions> {
  readonly #blocked = new Set<string>()
  #expelled: (peer: string) => boolean = () => false
  #connections: Connections | undefined
  #onDenied: ((peer: string) => void) | undefined

  /** Peers the operator blocked, in the order they were. */
  get blocked(): string[] {
    return [...this.#blocked]
  }

  /** Members the consortium expelled are refused too. */
  expelledBy(isExpelled: (peer: string) => boolean): void {
    this.#expelled = isExpelled
  }

  /** Called on every refused connection (counted, logged). */
  onRefused(fn: (peer: string) => void): void {
    this.#onDenied = fn
  }

  bind(connections: Connections): void {
    this.#connections = connections
  }

  /** Whether the connection gater refuses `peer`: blocked by the operator, or expelled. */
  readonly deny = (peer: string): boolean => this.#blocked.has(peer) || this.#expelled(peer)

  readonly onDenied = (peer: string): void => {
    this.#onDenied?.(peer)
  }

  /** Refuse a peer (operator action; also how tests partition a consortium) and close its connections. */
  async block(peer: string): Promise<void> {
    this.#blocked.add(peer)
    await this.#connections?.hangUp(peerIdFromString(peer)).catch(() => {})
  }

  unblock(peer: string): void {
    this.#blocked.delete(peer)
  }
}
