export { selectHelpers } from './helper-selection.ts'
export type { OfferView } from './helper-selection.ts'
