import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { checkVectors, jsonLinesClient, localImpl, readVectorSet } from '@reef/protocol'
import { GOVERNANCE_VECTORS_FILE, LEDGER_VECTORS_FILE, checkGovernanceVectorsWith, checkLedgerVectorsWith, localGovernanceImpl } from '../src/index.ts'
import type { GovernanceImpl, GovernanceVectorSet, LedgerVectorSet } from '../src/index.ts'

const json = async <T>(url: URL): Promise<T> => JSON.parse(await readFile(url, 'utf8')) as T

describe('conformance: every vector file through one interface', () => {
  it('this implementation, spoken to over JSON lines (scripts/jsonl-impl.ts), passes every protocol, ledger and governance vector', async () => {
    const server = fileURLToPath(new URL('../scripts/jsonl-impl.ts', import.meta.url))
    const child = spawn(process.execPath, [server], { stdio: ['pipe', 'pipe', 'inherit'] })
    const client = jsonLinesClient(child.stdin, child.stdout, 10_000)
    const impl = {
      ...client,
      ledger: async (r: object) => client.call('ledger', r),
      log: async (r: object) => client.call('log', r),
      evidence: async (r: object) => client.call('evidence', r)
    } as unknown as typeof client & GovernanceImpl
    try {
      const protocol = await checkVectors(impl, await readVectorSet())
      const ledger = await checkLedgerVectorsWith(impl, await json<LedgerVectorSet>(LEDGER_VECTORS_FILE))
      const governance = await checkGovernanceVectorsWith(impl, await json<GovernanceVectorSet>(GOVERNANCE_VECTORS_FILE))
      assert.deepEqual([...protocol.failures, ...ledger.failures, ...governance.failures], [])
      assert.ok(
        protocol.checked >= 150 && ledger.checked >= 26 && governance.checked >= 77,
        `${protocol.checked} + ${ledger.checked} + ${governance.checked} checked`
      )
    } finally {
      client.close()
      child.kill()
    }
  })

  it('catches a ledger that reads "after a final delegation" as arrival order, or skips recomputation', async () => {
    const v = await json<LedgerVectorSet>(LEDGER_VECTORS_FILE)
    const arrivalOrder: Pick<GovernanceImpl, 'ledger'> = {
      ledger: async req => {
        const out = await localGovernanceImpl.ledger(req)
        // An implementation that never finds the final-below-a-later-round equivocation.
        return out.ok ? { ...out, evidence: out.evidence.filter((_e, i) => !(i === 0 && req.recordsHex.length === 2 && out.evidence.length === 1)) } : out
      }
    }
    const lax = await checkLedgerVectorsWith(arrivalOrder, v)
    assert.ok(
      lax.failures.some(f => f.vector.includes('final delegation for a round below')),
      'the final-order rule is not covered'
    )
    const noRecompute: Pick<GovernanceImpl, 'ledger'> = { ledger: async req => localGovernanceImpl.ledger({ ...req, order: 'arrival' }) }
    assert.deepEqual((await checkLedgerVectorsWith(noRecompute, v)).failures, [], 'arrival and recomputation agree on every scenario')
    const noTotals: Pick<GovernanceImpl, 'ledger'> = {
      ledger: async req => {
        const o = await localGovernanceImpl.ledger(req)
        return o.ok ? { ...o, totals: {} } : o
      }
    }
    assert.ok((await checkLedgerVectorsWith(noTotals, v)).failures.length > 0)
  })

  it("catches a log that judges a past height by today's policy, and an evidence judge that hashes what it parsed", async () => {
    const v = await json<GovernanceVectorSet>(GOVERNANCE_VECTORS_FILE)
    const noFork: Parameters<typeof checkGovernanceVectorsWith>[0] = {
      ...localGovernanceImpl,
      frame: localImpl.frame,
      log: async req => {
        const out = await localGovernanceImpl.log(req)
        return out.ok
          ? { ...out, results: out.results.map(r => (r.ok && r.verdict === 'fork' && req.entries.length === 6 ? { ok: false, code: 'ERR_NO_QUORUM' } : r)) }
          : out
      }
    }
    const got = await checkGovernanceVectorsWith(noFork, v)
    assert.deepEqual(
      got.failures.map(f => f.vector),
      [v.entries.find(e => e.description.includes('policy in force'))!.description].map(d => `entries: ${d} (step 1)`)
    )
    const badHash: Parameters<typeof checkGovernanceVectorsWith>[0] = {
      ...localGovernanceImpl,
      frame: localImpl.frame,
      evidence: async req => {
        const o = await localGovernanceImpl.evidence(req)
        return o.ok ? { ...o, hash: '0'.repeat(64) } : o
      }
    }
    assert.equal((await checkGovernanceVectorsWith(badHash, v)).failures.length, v.evidence.length)
  })

  it('the evidence op refuses an item with an unknown field (evidence items are closed)', async () => {
    const v = await json<GovernanceVectorSet>(GOVERNANCE_VECTORS_FILE)
    const e = v.evidence[0]!
    const out = await localGovernanceImpl.evidence({ item: { ...e.item, note: 'x' }, context: e.context })
    assert.deepEqual(out, { ok: false, code: 'ERR_SCHEMA' })
  })
})
