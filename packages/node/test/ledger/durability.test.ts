/**
 * Durability of the ledger: a process applying a heavy settlement load is killed with SIGKILL
 * at an arbitrary moment; the store, reopened, has every record the process had acknowledged,
 * counts none twice, and holds balances equal to a recomputation from its records alone.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { LedgerStore } from '../../src/ledger/store.ts'

const WRITER = fileURLToPath(new URL('../fixtures/ledger-writer.ts', import.meta.url))

function runWriter(dir: string, args: string[], killAfterAcks: number | undefined): Promise<{ acked: string[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked: string[] = []
    let killed = false
    let err = ''
    child.stderr.on('data', d => {
      err += String(d)
    })
    createInterface({ input: child.stdout }).on('line', line => {
      if (line.startsWith('ack ')) acked.push(line.slice(4))
      if (killAfterAcks !== undefined && acked.length === killAfterAcks && !killed) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error('writer did not finish within 60 s'))
    }, 60_000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (killed && signal === 'SIGKILL') resolve({ acked, killed })
      else if (code === 0) resolve({ acked, killed })
      else reject(new Error(`writer exited ${code ?? signal}: ${err}`))
    })
  })
}

function plain(m: Map<string, unknown>): Record<string, unknown> {
  return Object.fromEntries([...m].sort((a, b) => a[0].localeCompare(b[0])))
}

describe('ledger durability', { timeout: 120_000 }, () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-ledger-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('loses no acknowledged record and counts none twice across kill -9 and restart', async () => {
    const first = await runWriter(dir, ['--ms', '30000'], 3_000)
    assert.equal(first.killed, true, 'the writer finished before it could be killed')
    const second = await runWriter(dir, ['--ms', '30000', '--start', '100000'], 1_500)
    assert.equal(second.killed, true)

    const store = await LedgerStore.open(dir)
    try {
      const stored = new Set<string>()
      for await (const r of store.records()) stored.add(r.hash)
      const missing = [...first.acked, ...second.acked].filter(h => !stored.has(h))
      assert.deepEqual(missing, [], `${missing.length} acknowledged records were lost`)

      const rebuilt = await store.recompute()
      assert.deepEqual(plain(store.allTotals()), plain(rebuilt.totals), 'stored balances differ from a recomputation from the records')
      assert.ok(
        (await store.evidence()).some(e => e.kind === 'over-claim'),
        'the over-claims in the load were not kept as evidence'
      )

      // Re-applying what is stored (as a restarted node re-receiving gossip would) counts nothing twice.
      const totals = store.allTotals()
      for (const [member, t] of totals) {
        assert.ok(t.given >= 0 && t.taken >= 0, member)
      }
      const before = plain(store.allTotals())
      for await (const r of store.records()) {
        const v = await store.apply(r)
        assert.ok(v.kind === 'duplicate' || v.kind === 'evidence', `re-applying ${r.hash} was ${v.kind}`)
      }
      assert.deepEqual(plain(store.allTotals()), before, 're-applying stored records changed balances')
    } finally {
      await store.close()
    }
  })
})
