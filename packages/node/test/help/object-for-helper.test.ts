import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FetchRefusedError } from '../../src/errors.ts'
import type { HelpingSession } from '../../src/help/help-coordinator.ts'
import { objectForHelper } from '../../src/help/sessions.ts'
import type { HelperFetchComponents } from '../../src/help/sessions.ts'
import type { CachedObject } from '../../src/origin/content-cache.ts'

test("another helper's request: served when the session's accept names it, after a newer accept does, else 403", async () => {
  const session = { session: 'S', site: 'alpha', releasedAt: undefined, helpers: ['B'], manifest: new Map([['/', {}]]) } as unknown as HelpingSession
  const obj = { path: '/' } as CachedObject
  const named = new Map<string, HelpingSession | undefined>()
  const filled: string[] = []
  const c = {
    help: { helpingSessions: [session], awaitHelper: async (_s: string, peer: string) => named.get(peer) },
    fill: {
      fill: async (s: HelpingSession, path: string) => {
        filled.push(`${s.session}${path}`)
        return obj
      }
    },
    standby: { serve: () => undefined }
  } as unknown as HelperFetchComponents
  const forHelper = objectForHelper(c)
  assert.equal(await forHelper('S', 'B', '/'), obj)
  assert.equal(forHelper('S', 'B', '/nope'), undefined, 'a path outside the manifest: 403 at once')
  assert.equal(forHelper('T', 'B', '/'), undefined, 'a session it does not serve: 403 at once')
  named.set('C', { ...session, helpers: ['B', 'C'] })
  assert.equal(await forHelper('S', 'C', '/'), obj, 'named by the newer accept')
  await assert.rejects(forHelper('S', 'D', '/')!, (err: unknown) => err instanceof FetchRefusedError && err.status === 403)
  assert.deepEqual(filled, ['S/', 'S/'])
})
