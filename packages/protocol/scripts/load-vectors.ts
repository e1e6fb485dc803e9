/** Read vectors/*.json back into one VectorSet. */
import { readFile } from 'node:fs/promises'
import type { VectorSet } from '../src/vectors.ts'

export async function loadVectors (): Promise<VectorSet> {
  const dir = new URL('../vectors/', import.meta.url)
  const read = async (name: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(new URL(name, dir), 'utf8')) as Record<string, unknown>
  const records = await read('records.json')
  const canonical = await read('canonical.json')
  const frames = await read('frames.json')
  return {
    version: 1,
    now: records.now as number,
    keys: records.keys as VectorSet['keys'],
    records: {
      valid: records.valid as VectorSet['records']['valid'],
      invalid: records.invalid as VectorSet['records']['invalid'],
      gossip: records.gossip as VectorSet['records']['gossip'],
      baseUrls: records.baseUrls as VectorSet['records']['baseUrls']
    },
    canonical: { valid: canonical.valid as VectorSet['canonical']['valid'], invalid: canonical.invalid as VectorSet['canonical']['invalid'] },
    frames: frames.frames as VectorSet['frames'],
    streams: frames.streams as VectorSet['streams']
  }
}
