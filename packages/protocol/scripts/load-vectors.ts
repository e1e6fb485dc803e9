/** Read vectors/*.json back into one VectorSet. */
import { readVectorSet } from '../src/vectors.ts'
import type { VectorSet } from '../src/vectors.ts'

export async function loadVectors(): Promise<VectorSet> {
  return readVectorSet()
}
