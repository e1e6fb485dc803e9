/** Regenerate vectors/*.json from makeVectors(). Run: pnpm vectors:write */
import { writeFile } from 'node:fs/promises'
import { makeVectors } from '../src/vectors.ts'

const v = await makeVectors()
const dir = new URL('../vectors/', import.meta.url)
await writeFile(new URL('records.json', dir), JSON.stringify({ version: v.version, now: v.now, keys: v.keys, ...v.records }, null, 2) + '\n')
await writeFile(new URL('canonical.json', dir), JSON.stringify({ version: v.version, ...v.canonical }, null, 2) + '\n')
await writeFile(new URL('frames.json', dir), JSON.stringify({ version: v.version, frames: v.frames, streams: v.streams }, null, 2) + '\n')
process.stdout.write(
  `wrote ${v.records.valid.length + v.records.invalid.length} record, ${v.records.gossip.length} gossip, ${v.records.baseUrls.length} base URL, ${v.canonical.valid.length + v.canonical.invalid.length} canonical, ${v.frames.length} frame and ${v.streams.length} stream vectors\n`
)
