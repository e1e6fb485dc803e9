export { DASHBOARD_CSP, DASHBOARD_HTML } from './page.ts'
export type { GovernanceView, LedgerView, StatusView, TimelineView, TrafficKind } from './api.ts'
