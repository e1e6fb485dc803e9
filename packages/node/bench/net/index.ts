/**
 * The network-namespace testbed, for the system test (test/system/testbed.test.ts) and anyone
 * scripting it: the same modules `pnpm bench crowd --net` runs.
 */
export { calibrateUplink } from './calibrate.ts'
export { NotInTestbedError, resolveTestbedHost, testbedDispatcher, TESTBED_DOMAIN } from './dispatcher.ts'
export { blogSite, mirrorCapacityRps, pageMix } from './page-mix.ts'
export type { PageMix } from './page-mix.ts'
export { killSection, markdownTable, summarize, timelineSvg } from './report.ts'
export type { Summary } from './report.ts'
export { LABELS, planSetup, runScenario, startSites, stopSites } from './scenario.ts'
export type { ScenarioOptions, ScenarioResult, SetupPlan } from './scenario.ts'
export { runNetSoak } from './soak.ts'
export { growth } from '../soak.ts'
export type { NetSoakBurst, NetSoakOptions, NetSoakReport } from './soak.ts'
export { SiteProcess } from './site.ts'
export { namespacesUnavailable, removeLeftovers, Testbed, TestbedError } from './testbed.ts'
export type { TestbedSite } from './testbed.ts'
