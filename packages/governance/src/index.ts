export { selectHelpers } from './helper-selection.ts'
export type { OfferView } from './helper-selection.ts'
export * from './ledger.ts'
export * from './quota.ts'
