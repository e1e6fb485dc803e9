/**
 * The operator token: GETs stay open, every other method needs `Authorization: Bearer <token>`
 * (401 without or with a wrong one, 403 when the node has none), also for routes registered
 * after the guard and for unknown paths; a token file is read when the app starts.
 */
import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { adminAuth } from '../../../src/http/admin/auth.ts'
import { parseConfig } from '../../../src/config/config.ts'
import { createHttpApp } from '../../../src/http/app.ts'
import { useZodSchemas } from '../../../src/http/admin/openapi.ts'

const TOKEN = 'correct-horse-battery-staple-42'
const log = pino({ level: 'silent' })

function appWith(opts: { token?: string; tokenFile?: string }): FastifyInstance {
  const app = createHttpApp(log)
  useZodSchemas(app) // as the admin app does: the auth check's answer has a zod schema
  app.get('/api/status', async () => ({ state: 'normal' }))
  adminAuth(app, opts)
  // Registered after the guard, as the governance routes are.
  app.post('/api/governance/proposals/:id/vote', async req => ({ voted: (req.params as { id: string }).id }))
  app.delete('/api/thing', async () => ({ deleted: true }))
  return app
}

describe('admin API operator token', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-auth-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('answers GET and HEAD without a token', async () => {
    const app = appWith({ token: TOKEN })
    assert.equal((await app.inject({ method: 'GET', url: '/api/status' })).statusCode, 200)
    assert.equal((await app.inject({ method: 'HEAD', url: '/api/status' })).statusCode, 200)
    await app.close()
  })

  it('refuses every other method without the right token with 401 ERR_UNAUTHORIZED', async () => {
    const app = appWith({ token: TOKEN })
    for (const authorization of [
      undefined,
      '',
      'Bearer',
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      'Bearer wrong-token-wrong-token',
      `${TOKEN}`
    ]) {
      for (const [method, url] of [
        ['POST', '/api/auth/check'],
        ['POST', '/api/governance/proposals/p1/vote'],
        ['DELETE', '/api/thing'],
        ['POST', '/no/such/route'],
        ['PUT', '/api/status']
      ] as const) {
        const res = await app.inject({
          method,
          url,
          headers: authorization === undefined ? {} : { authorization },
          ...(method === 'POST' ? { payload: { vote: 'yes' } } : {})
        })
        assert.equal(res.statusCode, 401, `${method} ${url} with ${String(authorization)}`)
        assert.equal(res.json().code, 'ERR_UNAUTHORIZED')
        assert.equal(typeof res.json().message, 'string')
        assert.match(String(res.headers['www-authenticate']), /^Bearer /)
      }
    }
    await app.close()
  })

  it('lets the right token through, whatever the case of the scheme', async () => {
    const app = appWith({ token: TOKEN })
    const check = await app.inject({ method: 'POST', url: '/api/auth/check', headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(check.statusCode, 200)
    assert.deepEqual(check.json(), { ok: true })
    const vote = await app.inject({
      method: 'POST',
      url: '/api/governance/proposals/p1/vote',
      headers: { authorization: `bearer ${TOKEN}` },
      payload: { vote: 'yes' }
    })
    assert.equal(vote.statusCode, 200)
    assert.deepEqual(vote.json(), { voted: 'p1' })
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/thing', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200)
    await app.close()
  })

  it('answers 403 ERR_NO_TOKEN_CONFIGURED when the node has no token, token or not', async () => {
    const app = appWith({})
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }]) {
      const res = await app.inject({ method: 'POST', url: '/api/auth/check', headers })
      assert.equal(res.statusCode, 403)
      assert.equal(res.json().code, 'ERR_NO_TOKEN_CONFIGURED')
    }
    assert.equal((await app.inject({ method: 'GET', url: '/api/status' })).statusCode, 200)
    await app.close()
  })

  it('reads admin.tokenFile when the app starts (one trailing newline allowed)', async () => {
    const file = join(dir, 'token')
    await writeFile(file, `${TOKEN}\n`)
    await chmod(file, 0o600)
    const app = appWith({ tokenFile: file })
    await app.ready()
    assert.equal((await app.inject({ method: 'POST', url: '/api/auth/check', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200)
    assert.equal((await app.inject({ method: 'POST', url: '/api/auth/check', headers: { authorization: `Bearer ${TOKEN}\n` } })).statusCode, 401)
    await app.close()
  })

  it('fails to start with ERR_CONFIG naming admin.tokenFile when the file is missing or holds no usable token', async () => {
    const short = join(dir, 'short')
    await writeFile(short, 'too-short\n')
    for (const tokenFile of [join(dir, 'missing'), short]) {
      const app = appWith({ tokenFile })
      await assert.rejects(
        async () => {
          await app.ready()
        },
        (err: Error & { code?: string }) => err.code === 'ERR_CONFIG' && err.message.includes('admin.tokenFile')
      )
      await app.close().catch(() => {})
    }
  })

  it('validates admin.token and admin.tokenFile in the config', () => {
    const base = {
      site: { label: 'alpha', publicUrl: 'http://alpha.localhost:8080' },
      origin: { url: 'http://127.0.0.1:9000', capacityRps: 50, maxConcurrent: 8 },
      front: { listen: { port: 8080 } },
      mirror: { listen: { port: 9101 }, publicUrl: 'http://mirror-a.localhost:9101' },
      dataDir: './reef-data/alpha'
    }
    const withAdmin = (admin: Record<string, unknown>): unknown => ({ ...base, admin: { listen: { port: 9180 }, ...admin } })
    assert.equal(parseConfig(withAdmin({ token: TOKEN })).admin?.token, TOKEN)
    assert.equal(parseConfig(withAdmin({})).admin?.listen.host, '127.0.0.1', 'the admin listener is on loopback by default')
    assert.throws(() => parseConfig(withAdmin({ token: 'short' })), /config field admin\.token: .*16/)
    assert.throws(() => parseConfig(withAdmin({ token: 'has spaces in it, sixteen+' })), /config field admin\.token/)
    assert.throws(
      () => parseConfig(withAdmin({ token: TOKEN, tokenFile: '/etc/reef/token' })),
      /config field admin\.tokenFile: set admin\.token or admin\.tokenFile, not both/
    )
  })
})
