import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { checkGovernanceVectors, governanceVectorsJson } from '../src/index.ts'
import type { GovernanceVectorSet } from '../src/index.ts'

const file = new URL('../vectors/governance.json', import.meta.url)

describe('governance vectors', () => {
  it('the committed file is byte for byte what the generator writes (regenerate after a rule change)', async () => {
    assert.equal(await readFile(file, 'utf8'), await governanceVectorsJson())
  })

  it('every vector gives its expected outcome through openCharter, applyEntry, checkEvidence and the frame decoders', async () => {
    const v = JSON.parse(await readFile(file, 'utf8')) as GovernanceVectorSet
    const { checked, failures } = await checkGovernanceVectors(v)
    assert.deepEqual(failures, [])
    assert.ok(checked >= 60, `only ${checked} vectors checked`)
  })

  it('covers every rejection and verdict the SPEC names', async () => {
    const v = JSON.parse(await readFile(file, 'utf8')) as GovernanceVectorSet
    const charterCodes = new Set(v.invalidCharters.map(c => c.error))
    for (const code of ['ERR_CHARTER_UNSIGNED', 'ERR_DUPLICATE_MEMBER', 'ERR_BAD_SIGNATURE', 'ERR_NOT_MEMBER', 'ERR_SCHEMA'])
      assert.ok(charterCodes.has(code), `no charter vector for ${code}`)
    const outcomes = new Set(v.entries.flatMap(c => c.steps.map(s => s.error ?? s.verdict)))
    for (const o of [
      'ERR_NO_QUORUM',
      'ERR_PREV',
      'ERR_GAP',
      'ERR_EXPELLED',
      'ERR_WRONG_CONSORTIUM',
      'ERR_HALTED',
      'ERR_BAD_SIGNATURE',
      'ERR_INVALID_ACTION',
      'ERR_DUPLICATE_MEMBER',
      'ERR_SCHEMA',
      'duplicate',
      'fork'
    ]) {
      assert.ok(outcomes.has(o), `no entry vector for ${o}`)
    }
    assert.deepEqual(
      v.log.map(l => l.entry.body.action.kind),
      ['admit', 'admit', 'expel', 'set-policy', 'leave']
    )
    const expel = v.log.find(l => l.entry.body.action.kind === 'expel')!.entry.body.action
    assert.ok(
      expel.kind === 'expel' && expel.evidence.length === 1 && v.evidence.some(e => e.hash === expel.evidence[0] && e.expected.verdict === 'proven'),
      'the expulsion names proven evidence by hash'
    )
    for (const kind of ['ledger', 'content-signed', 'content-observed', 'freeloading', 'invitation']) {
      const verdicts = new Set(v.evidence.filter(e => e.item.kind === kind).map(e => e.expected.verdict))
      assert.ok(verdicts.has(kind === 'content-observed' ? 'observe' : 'proven'), `no positive ${kind} vector`)
      assert.ok(verdicts.has('invalid'), `no invalid ${kind} vector`)
    }
  })

  it('catches an implementation that gets a vector wrong', async () => {
    const v = JSON.parse(await readFile(file, 'utf8')) as GovernanceVectorSet
    const lax = structuredClone(v)
    lax.invalidCharters[0]!.error = 'accepted'
    lax.log[0]!.state.height = 7
    lax.entries[0]!.steps[0]!.error = 'ERR_GAP'
    lax.evidence[0]!.expected.verdict = 'invalid'
    lax.frames[0]!.hex = lax.frames[1]!.hex
    const { failures } = await checkGovernanceVectors(lax)
    assert.deepEqual(failures.map(f => f.vector.split(':')[0]).sort(), ['entries', 'evidence', 'frame', 'log', 'reject charter'])
  })
})
