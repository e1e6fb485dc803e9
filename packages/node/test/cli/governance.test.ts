import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_POLICY, Policy } from '@reef/protocol'
import { POLICY_KEYS } from '../../src/cli/governance.ts'
import { reef } from '../fixtures/run-cli.ts'

describe('governance commands', () => {
  it('know every policy key of the charter (the optional ones too)', () => {
    assert.deepEqual([...POLICY_KEYS].sort(), Object.keys(Policy.shape).sort())
    for (const k of Object.keys(DEFAULT_POLICY)) assert.ok(POLICY_KEYS.includes(k as keyof typeof DEFAULT_POLICY), k)
  })

  it('refuse bad arguments with exit 2 and a hint', async () => {
    const vote = await reef(['vote', 'xyz'])
    assert.equal(vote.code, 2)
    assert.match(vote.err, /"xyz" is not a proposal id/)
    const propose = await reef(['propose', 'dissolve', '--admin', 'http://127.0.0.1:1'])
    assert.equal(propose.code, 2)
    assert.match(propose.err, /one of: expel, policy, leave/)
    const create = await reef(['consortium', 'create', '--name', 'x', '--out', '/tmp/x.json'])
    assert.equal(create.code, 2)
    assert.match(create.err, /--config FILE is required/)
    const join = await reef(['join'])
    assert.equal(join.code, 2)
  })

  it('reports an unreachable node with exit 3', async () => {
    const members = await reef(['members', '--admin', 'http://127.0.0.1:1'])
    assert.equal(members.code, 3)
    assert.match(members.err, /cannot reach the node's admin API/)
  })
})
