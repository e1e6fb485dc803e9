/** The IPC between the scale harness's coordinator (run.ts) and its node processes (worker.ts). */
import type { EvidenceItem } from '@reef/protocol'
import type { DemoOriginOptions } from '../../demo/origin-site.ts'
import type { ReefConfigInput } from '../../src/index.ts'

export interface NodeSpec {
  label: string
  /** The node's config, all but the origin URL (the worker's shared demo origin). */
  config: ReefConfigInput
}

export interface WorkerNodeSample {
  label: string
  peerId: string
  /** Peers in this node's load view (a live report). */
  livePeers: number
  connections: number
  /** Connected peers subscribed to the load topic. */
  topicPeers: number
  /** Transit of each load report received since the last sample (arrival − its ts), ms. */
  transit: number[]
}

export type ToWorker =
  | { op: 'start'; specs: NodeSpec[]; origin: DemoOriginOptions; logFile: string }
  | { op: 'sample'; id: number }
  | { op: 'view'; id: number; author: string; state: string; since: number }
  | { op: 'track-help'; id: number; label: string }
  | { op: 'help'; id: number; label: string }
  | { op: 'watch-expel'; id: number; peer: string }
  | { op: 'expelled'; id: number; peer: string; since?: number }
  | { op: 'propose-expel'; id: number; label: string; peer: string; reason: string; evidence: EvidenceItem[] }
  | { op: 'height'; id: number }
  | { op: 'debug'; id: number }
  | { op: 'profile'; id: number; ms: number; file: string; intervalUs?: number }
  | { op: 'stop'; id: number }

export type FromWorker =
  | { op: 'started'; ms: number; nodes: Array<{ label: string; peerId: string }> }
  | { op: 'sample'; id: number; rssBytes: number; heapBytes: number; cpuMs: number; wallMs: number; records: Record<string, number>; nodes: WorkerNodeSample[] }
  | { op: 'view'; id: number; seen: Array<{ label: string; at?: number; ts?: number }> }
  | ({ op: 'help'; id: number; state: string } & HelpProgress)
  | {
      op: 'expelled'
      id: number
      /** This process's event-loop delay since the expulsion began: p99 and max, ms. */
      loopDelayMs: { p99: number; max: number }
      at: Array<{
        label: string
        at: number | undefined
        proposalAt: number | undefined
        votedAt: number | undefined
        /** Vote relay (r5) since the expulsion began: votes this node sent up, got from below, and its own gossiped after the path failed or was slow. */
        relay: { relayed: number; fromBelow: number; fallbacks: number }
      }>
    }
  | { op: 'proposed'; id: number; at: number; proposal: string | null }
  | { op: 'height'; id: number; heights: Array<{ label: string; height: number }> }
  | { op: 'debug'; id: number; nodes: unknown[] }
  | { op: 'ok'; id: number }
  | { op: 'stopped'; id: number }
  | { op: 'error'; id: number; message: string }

/** A request without its id (the coordinator numbers them). */
export type Ask = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never

/** A struck node's help session as the worker polls it (every 10 ms): when each step came, epoch ms. */
export interface HelpProgress {
  /** When tracking began (the strike is the first change to struck after it). */
  since: number
  /** When the node's crowd detector first said struck. */
  struckAt?: number | undefined
  startedAt?: number | undefined
  firstOfferAt?: number | undefined
  firstAcceptAt?: number | undefined
  coveredAt?: number
  helpers: number
  offers: number
  needBytes: number
}
