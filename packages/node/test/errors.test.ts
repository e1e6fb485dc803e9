import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as errors from '../src/errors.ts'
import { ERRORS, ReefError, httpStatusOf } from '../src/errors.ts'
import { JsoncSyntaxError } from '../src/config/jsonc.ts'

describe('error catalogue', () => {
  it('every error class has a code in ERRORS', () => {
    const classes = (Object.values(errors) as unknown[]).filter(
      (v): v is typeof ReefError => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof ReefError
    )
    assert.ok(classes.length >= 15)
    for (const C of classes) {
      const e = new (C as unknown as new (a: unknown, b: unknown) => ReefError)('x', 'y')
      assert.ok(Object.hasOwn(ERRORS, e.code), `${C.name}: ${e.code} is not in ERRORS`)
      assert.equal(e.name, C.name)
    }
    assert.ok(Object.hasOwn(ERRORS, new JsoncSyntaxError('x', 1, 1).code))
  })

  it('maps codes to the admin API statuses', () => {
    assert.equal(httpStatusOf(new errors.BadPeerError()), 400)
    assert.equal(httpStatusOf(new errors.UnauthorizedError('x')), 401)
    assert.equal(httpStatusOf(new errors.NoTokenConfiguredError('x')), 403)
    assert.equal(httpStatusOf(new errors.NoSuchProposalError('x')), 404)
    assert.equal(httpStatusOf(new errors.GovernanceOffError()), 409)
    assert.equal(httpStatusOf(Object.assign(new Error('rule'), { code: 'ERR_QUORUM' })), 409, 'a governance rule refusing is a conflict')
    assert.equal(httpStatusOf(new Error('boom')), 500)
  })
})
