/**
 * The node's admin JSON API as the dashboard reads it: the admin contract's types
 * (@reef/protocol admin-api.ts), types only — the dashboard's script may import nothing at run
 * time. Everything in them may come from a peer (site labels, peer ids, summaries) and is
 * untrusted.
 */
export type { CrowdState, GovernanceKind, GovernanceView, LedgerView, StatusView, TimelineView, TrafficKind } from '@reef/protocol'
