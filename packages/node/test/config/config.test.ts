import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { loadConfigFile, parseConfig } from '../../src/config/config.ts'

function minimal(): Record<string, unknown> {
  return {
    site: { label: 'alpha', publicUrl: 'http://alpha.localhost:8080' },
    origin: { url: 'http://127.0.0.1:9000', capacityRps: 50, maxConcurrent: 8 },
    front: { listen: { port: 8080 } },
    mirror: { listen: { port: 9101 }, publicUrl: 'http://mirror-a.localhost:9101' },
    dataDir: './reef-data/alpha'
  }
}

/** The minimal config with one field (by dotted path) set, or deleted when value is undefined. */
function withField(path: string, value: unknown): Record<string, unknown> {
  const cfg = minimal()
  const keys = path.split('.')
  let node = cfg
  for (const k of keys.slice(0, -1)) {
    if (node[k] === undefined) node[k] = {}
    node = node[k] as Record<string, unknown>
  }
  const last = keys.at(-1) ?? ''
  if (value === undefined) Reflect.deleteProperty(node, last)
  else node[last] = value
  return cfg
}

function rejectsField(input: unknown, field: string): void {
  assert.throws(
    () => parseConfig(input),
    (err: unknown) => {
      assert.ok(err instanceof Error)
      assert.equal((err as Error & { code?: string }).code, 'ERR_CONFIG')
      assert.equal(err.name, 'ConfigError')
      assert.ok(err.message.includes(field), `message does not name ${field}: ${err.message}`)
      return true
    }
  )
}

describe('parseConfig', () => {
  test('the public URLs the node publishes are kept in canonical form (lower case, no default port, no trailing /)', () => {
    const c = parseConfig({
      ...minimal(),
      site: { label: 'alpha', publicUrl: 'HTTP://Alpha.Localhost:80/' },
      mirror: { listen: { port: 9101 }, publicUrl: 'https://Mirror-A.localhost:443/' }
    })
    assert.equal(c.site.publicUrl, 'http://alpha.localhost')
    assert.equal(c.mirror.publicUrl, 'https://mirror-a.localhost')
  })

  test('accepts a minimal config and fills every default', () => {
    const c = parseConfig(minimal())
    assert.equal(c.consortium, 'reef')
    assert.deepEqual(c.site, { label: 'alpha', publicUrl: 'http://alpha.localhost:8080' })
    assert.deepEqual(c.origin, { url: 'http://127.0.0.1:9000', capacityRps: 50, maxConcurrent: 8, timeoutMs: 15_000 })
    assert.deepEqual(c.front, {
      listen: { host: '127.0.0.1', port: 8080 },
      queueTimeoutMs: 4000,
      queueLimit: 4096,
      retryAfterS: 5,
      trustedProxies: ['127.0.0.1', '::1', '::ffff:127.0.0.1'],
      maxUpgrades: 1024,
      maxBodyBytes: 10 * 1024 * 1024
    })
    assert.deepEqual(c.mirror, {
      listen: { host: '127.0.0.1', port: 9101 },
      publicUrl: 'http://mirror-a.localhost:9101',
      capacityRps: 500,
      releaseGraceMs: 30_000
    })
    assert.equal(c.admin, undefined)
    assert.deepEqual(c.p2p, { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] })
    assert.equal(c.dataDir, './reef-data/alpha')
    assert.deepEqual(c.cache, { maxBytes: 256 * 1024 * 1024, maxObjectBytes: 8 * 1024 * 1024 })
    assert.deepEqual(c.crowd, { strikeShare: 0.8, releaseShare: 0.5, strikeHoldMs: 500, calmMs: 2000, targetShare: 0.85, tickMs: 250, helpWaitMs: 2000 })
    assert.deepEqual(c.gossip, { reportIntervalMs: 1000, peerExpiryMs: 5000 })
    assert.deepEqual(c.log, { level: 'info' })
    assert.deepEqual(c.http, {
      maxConnections: 16_384,
      maxConnectionsPerIp: 256,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 300_000,
      idleTimeoutMs: 10_000,
      maxHeaderBytes: 16_384,
      maxRequestsPerSocket: 0
    })
  })

  test('the client limits: partial sections keep the other defaults; nonsense is refused naming the field', () => {
    assert.equal(parseConfig(withField('http', { maxConnectionsPerIp: 64 })).http.headersTimeoutMs, 10_000)
    rejectsField(withField('http', { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 }), 'http.headersTimeoutMs')
    assert.equal(parseConfig(withField('http', { headersTimeoutMs: 20_000, requestTimeoutMs: 0 })).http.requestTimeoutMs, 0)
    rejectsField(withField('http', { maxHeaderBytes: 10 }), 'http.maxHeaderBytes')
    rejectsField(withField('http', { maxConnectionsPerIp: 0 }), 'http.maxConnectionsPerIp')
    rejectsField(withField('http', { slowloris: true }), 'http')
  })

  test('a partial section keeps the defaults of the fields it leaves out', () => {
    const c = parseConfig(withField('crowd', { strikeShare: 0.9, calmMs: 100 }))
    assert.deepEqual(c.crowd, { strikeShare: 0.9, releaseShare: 0.5, strikeHoldMs: 500, calmMs: 100, targetShare: 0.85, tickMs: 250, helpWaitMs: 2000 })
  })

  test('the result is deeply frozen', () => {
    const c = parseConfig(minimal())
    assert.ok(Object.isFrozen(c))
    assert.ok(Object.isFrozen(c.origin))
    assert.ok(Object.isFrozen(c.front.listen))
    assert.ok(Object.isFrozen(c.p2p.listen))
    assert.throws(() => {
      ;(c.origin as { capacityRps: number }).capacityRps = 1
    }, TypeError)
    assert.throws(() => {
      ;(c.p2p.listen as string[]).push('/ip4/0.0.0.0/tcp/1')
    }, TypeError)
  })

  test('parsing does not modify the input', () => {
    const input = minimal()
    const copy = structuredClone(input)
    parseConfig(input)
    assert.deepEqual(input, copy)
    assert.ok(!Object.isFrozen(input))
  })

  for (const [field, value] of [
    ['origin.capacityRps', undefined],
    ['origin.capacityRps', 0],
    ['origin.capacityRps', -5],
    ['origin.capacityRps', '50'],
    ['origin.maxConcurrent', 1.5],
    ['origin.url', 'http://user:pw@127.0.0.1:9000'],
    ['origin.url', 'ftp://127.0.0.1'],
    ['site.label', 'Alpha'],
    ['site.label', 'alpha.beta'],
    ['site.label', undefined],
    ['site.publicUrl', 'http://alpha.localhost:8080/path'],
    ['front.listen.port', 70_000],
    ['front.listen', undefined],
    ['mirror.publicUrl', undefined],
    ['mirror.publicUrl', 'not a url'],
    ['dataDir', ''],
    ['dataDir', undefined],
    ['consortium', 'Bad_Id'],
    ['crowd.strikeShare', 1.5],
    ['crowd.tickMs', 5],
    ['crowd.helpWaitMs', -1],
    ['log.level', 'verbose'],
    ['cache.maxObjectBytes', 32 * 1024 * 1024]
  ] as const) {
    test(`${field} = ${JSON.stringify(value) ?? '(missing)'} is rejected naming ${field}`, () => {
      rejectsField(withField(field, value), field)
    })
  }

  test('releaseShare at or above strikeShare is rejected naming crowd.releaseShare', () => {
    rejectsField(withField('crowd', { strikeShare: 0.6, releaseShare: 0.6 }), 'crowd.releaseShare')
    rejectsField(withField('crowd', { strikeShare: 0.5, releaseShare: 0.7 }), 'crowd.releaseShare')
    rejectsField(withField('crowd', { strikeShare: 0.4 }), 'crowd.releaseShare') // against the default 0.5
  })

  test('an unknown top-level field is rejected (a typo cannot pass silently)', () => {
    rejectsField(withField('dataDri', './x'), 'dataDri')
  })

  test('an unknown nested field is rejected naming its section', () => {
    rejectsField(withField('origin.capacityRPS', 50), 'origin')
  })

  for (const input of [null, 'config', 42, []]) {
    test(`a non-object config (${JSON.stringify(input)}) is rejected with ERR_CONFIG`, () => {
      assert.throws(() => parseConfig(input), { code: 'ERR_CONFIG', name: 'ConfigError' })
    })
  }
})

describe('loadConfigFile', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-config-test-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('reads and validates a JSON file', async () => {
    const file = join(dir, 'ok.json')
    await writeFile(file, JSON.stringify(minimal()))
    const c = await loadConfigFile(file)
    assert.equal(c.site.label, 'alpha')
    assert.equal(c.front.queueLimit, 4096)
    assert.ok(Object.isFrozen(c))
  })

  test('a missing file → ERR_CONFIG', async () => {
    await assert.rejects(loadConfigFile(join(dir, 'missing.json')), { code: 'ERR_CONFIG', name: 'ConfigError' })
  })

  test('a directory instead of a file → ERR_CONFIG', async () => {
    await assert.rejects(loadConfigFile(dir), { code: 'ERR_CONFIG', name: 'ConfigError' })
  })

  test('invalid JSON → ERR_CONFIG', async () => {
    const file = join(dir, 'bad.json')
    await writeFile(file, '{ "site": { "label": "alpha", } ')
    await assert.rejects(loadConfigFile(file), { code: 'ERR_CONFIG', name: 'ConfigError' })
  })

  test('accepts comments and trailing commas (JSONC)', async () => {
    const file = join(dir, 'commented.jsonc')
    const json = JSON.stringify(minimal(), null, 2)
    await writeFile(file, `// Reef node\n${json.replace('"site": {', '/* this site */ "site": { // label and URL').replace(/\n}$/, ',\n}')}\n`)
    const c = await loadConfigFile(file)
    assert.equal(c.site.label, 'alpha')
  })

  test('a syntax error names the file, line and column', async () => {
    const file = join(dir, 'syntax.jsonc')
    await writeFile(file, '// comment\n{\n  "site": { "label": "alpha" }\n  "origin": {}\n}\n')
    await assert.rejects(loadConfigFile(file), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'ERR_CONFIG')
      assert.match((err as Error).message, /syntax\.jsonc is not valid JSON at line 4 column 3/)
      assert.deepEqual((err as { location?: unknown }).location, { file, line: 4, column: 3 })
      return true
    })
  })

  test('valid JSON with an invalid config → ERR_CONFIG naming the field', async () => {
    const file = join(dir, 'invalid.json')
    await writeFile(file, JSON.stringify(withField('origin.capacityRps', -1)))
    await assert.rejects(loadConfigFile(file), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'ERR_CONFIG')
      assert.ok((err as Error).message.includes('origin.capacityRps'))
      assert.equal((err as { location?: { field?: string } }).location?.field, 'origin.capacityRps')
      return true
    })
  })
})
