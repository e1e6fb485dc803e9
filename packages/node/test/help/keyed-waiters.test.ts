import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KeyedWaiters } from '../../src/help/keyed-waiters.ts'

test('keyed waiters: woken by key and detail, bounded, empty at the time-out and on shutdown', async () => {
  const w = new KeyedWaiters<string, string>(3)
  const forB = w.wait('S', 5_000, 'B')
  const forC = w.wait('S', 5_000, 'C')
  const elsewhere = w.wait('T', 20, 'B')
  assert.equal(w.wait('S', 5_000, 'D'), undefined, 'a fourth waiter is turned away at once')
  w.wake('S', peer => (peer === 'B' ? 'named B' : undefined))
  assert.equal(await forB, 'named B')
  assert.equal(await elsewhere, undefined, 'nothing came under T: empty at its time-out')
  const forD = w.wait('S', 5_000, 'D')
  assert.ok(forD !== undefined, 'room again once waiters are done')
  w.wakeAll(undefined)
  assert.deepEqual(await Promise.all([forC, forD]), [undefined, undefined])
})
