/**
 * The node's identity file: made once, whole, and never replaced. Written through a synced
 * temporary file linked into place, so a process killed while making it leaves no half-written
 * identity (the restart system test once found an empty one after `kill -9`).
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { identityFile, loadOrCreateIdentity } from '../../src/p2p/host.ts'

describe('loadOrCreateIdentity', () => {
  const dirs: string[] = []
  after(async () => {
    await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true })))
  })
  const dir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'reef-identity-'))
    dirs.push(d)
    return d
  }

  it('makes one identity (mode 0600, no temporary file left) and keeps it across calls', async () => {
    const d = await dir()
    const first = await loadOrCreateIdentity(d)
    assert.equal((await stat(identityFile(d))).mode & 0o777, 0o600)
    assert.deepEqual(await readdir(d), ['identity.key'])
    const again = await loadOrCreateIdentity(d)
    assert.ok(again.equals(first))
  })

  it('gives concurrent callers one and the same identity', async () => {
    const d = await dir()
    const keys = await Promise.all([1, 2, 3, 4].map(async () => loadOrCreateIdentity(d)))
    for (const k of keys) assert.ok(k.equals(keys[0]!))
    assert.ok((await loadOrCreateIdentity(d)).equals(keys[0]!))
  })

  it("a crashed writer's temporary file is not an identity: the next start makes a whole one", async () => {
    const d = await dir()
    await writeFile(join(d, 'identity.key.4242.tmp'), Buffer.alloc(3))
    const key = await loadOrCreateIdentity(d)
    assert.ok(key.equals(await loadOrCreateIdentity(d)))
    assert.ok((await readFile(identityFile(d))).byteLength > 32)
  })
})
