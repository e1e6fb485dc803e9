/**
 * The demo and its test kit, outside the shipped package (`pnpm pack:reef` compiles src/ only):
 * a local consortium on loopback, a demo origin site with a blog-like page mix, and a crowd of
 * visitors. Used by `pnpm demo`, the system tests and the benchmarks (`@reef/node/demo`).
 */
export { startLocalConsortium, waitForMesh, freePort, SITE_LABELS } from './consortium.ts'
export type { LocalConsortium, LocalConsortiumOptions, LocalSite } from './consortium.ts'
export { startDemoOrigin, buildDemoSite } from './origin-site.ts'
export type { DemoOrigin, DemoOriginOptions, SiteFile } from './origin-site.ts'
export { runCrowd, loopbackDispatcher } from './crowd.ts'
export type { CrowdProfile, CrowdOptions, CrowdReport, RequestResult } from './crowd.ts'
export { canMountVolume, mountSmallVolume } from './volume.ts'
export type { SmallVolume } from './volume.ts'
