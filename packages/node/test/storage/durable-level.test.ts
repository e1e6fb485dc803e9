/**
 * DurableLevel's rule, on a stand-in database: after a write fails on the storage, no write runs
 * until the database has been closed and reopened with room, and the owner has reloaded; an
 * error that is not the storage's passes through and changes nothing.
 */
import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { describe, it } from 'node:test'
import { DurableLevel, isStorageFailure } from '../../src/storage/durable-level.ts'
import { codeOf } from '../../src/errors.ts'

const full = Object.assign(new Error('IO error: /data/ledger/000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' })

describe('DurableLevel', () => {
  it('tells storage failures from other errors', () => {
    assert.equal(isStorageFailure(full), true)
    assert.equal(isStorageFailure(Object.assign(new Error('write'), { code: 'ENOSPC' })), true)
    assert.equal(isStorageFailure(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'EROFS' }) })), true)
    assert.equal(isStorageFailure(Object.assign(new Error('Database is not open'), { code: 'LEVEL_DATABASE_NOT_OPEN' })), false)
    assert.equal(isStorageFailure(new TypeError('bad value')), false)
    assert.equal(isStorageFailure(undefined), false)
  })

  it('refuses every write after a failed one until a reopen with room, then writes again', async () => {
    const calls: string[] = []
    const db = {
      open: async () => {
        calls.push('open')
      },
      close: async () => {
        calls.push('close')
      }
    }
    let room = false
    let shownWhileCatchingUp: boolean | undefined
    const guard: DurableLevel = new DurableLevel(db, {
      name: 'ledger',
      location: tmpdir(),
      recoverFreeBytes: 0,
      recoverIntervalMs: 60_000,
      reopened: async () => {
        calls.push('reloaded')
        // Writes are allowed while the owner writes what it held, but the store is not shown writable yet.
        await guard.write(async () => 'held record')
        shownWhileCatchingUp = guard.health().writable
      }
    })
    try {
      assert.equal(await guard.write(async () => 'stored'), 'stored')
      await assert.rejects(
        guard.write(async () => {
          throw full
        }),
        (err: unknown) => codeOf(err) === 'ERR_STORAGE_UNWRITABLE'
      )
      assert.equal(guard.writable, false)
      let ran = false
      await assert.rejects(
        guard.write(async () => {
          ran = true
        }),
        (err: unknown) => codeOf(err) === 'ERR_STORAGE_UNWRITABLE'
      )
      assert.equal(ran, false, 'a write ran on a store that had failed one')
      const h = guard.health()
      assert.equal(h.writable, false)
      assert.match(h.error ?? '', /No space left/)
      assert.equal(h.failures, 2)

      // A reopen that fails leaves the store refusing.
      db.open = async () => {
        calls.push('open')
        if (!room) throw full
      }
      assert.equal(await guard.recover(), false)
      assert.equal(guard.writable, false)
      room = true
      assert.equal(await guard.recover(), true)
      assert.deepEqual(calls, ['close', 'open', 'close', 'open', 'reloaded'])
      assert.equal(guard.health().recoveries, 1)
      assert.equal(shownWhileCatchingUp, false)
      assert.equal(guard.health().writable, true)
      assert.equal(await guard.write(async () => 'again'), 'again')

      // Not the storage's failure: passed through, the store stays writable.
      await assert.rejects(
        guard.write(async () => {
          throw new TypeError('a bug')
        }),
        TypeError
      )
      assert.equal(guard.writable, true)
    } finally {
      guard.stop()
    }
  })
})
