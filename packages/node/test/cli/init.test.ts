import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ConfigSchema, DEFAULT_UPLINK_BYTES_PER_SEC, loadConfigFile, parseConfig } from '../../src/config/config.ts'
import { renderConfigTemplate } from '../../src/cli/config-template.ts'
import type { InitResult } from '../../src/cli/init.ts'
import { parseJsonc } from '../../src/config/jsonc.ts'
import { reef } from '../fixtures/run-cli.ts'

describe('the config template', () => {
  const values = {
    label: 'alpha',
    originUrl: 'http://127.0.0.1:8080',
    capacityRps: 50,
    maxConcurrent: 8,
    uplinkBytesPerSec: DEFAULT_UPLINK_BYTES_PER_SEC,
    dataDir: '/var/lib/reef/data',
    configFile: '/etc/reef/reef.jsonc'
  }

  test("parses, and every default it spells out is the schema's default", () => {
    const text = renderConfigTemplate(values)
    const written = parseConfig(parseJsonc(text))
    // The same file with every optional field left out: what the schema fills in.
    const required = parseJsonc(text) as Record<string, Record<string, unknown>>
    const minimal = {
      site: required.site,
      origin: { url: values.originUrl, capacityRps: 50, maxConcurrent: 8 },
      front: { listen: required.front!.listen },
      mirror: { listen: required.mirror!.listen, publicUrl: required.mirror!.publicUrl },
      admin: required.admin,
      p2p: required.p2p,
      dataDir: values.dataDir
    }
    assert.deepEqual(written, ConfigSchema.parse(minimal))
  })

  test('explains every field it sets in a comment right above it', () => {
    const lines = renderConfigTemplate(values).split('\n')
    // Fields with a value (not a section object): each has a comment on the line above.
    const fields = lines.flatMap((l, i) => (/^\s*"\w+": (?!\{)/.test(l) ? [i] : []))
    assert.ok(fields.length >= 30, String(fields.length))
    const bare = fields.filter(i => !/^\s*\/\//.test(lines[i - 1]!)).map(i => lines[i]!.trim())
    assert.deepEqual(bare, [])
  })
})

describe('reef init', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-init-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('creates the data dir, the identity and a commented config start accepts', async () => {
    const node = join(dir, 'a')
    const r = await reef(['init', '--dir', node, '--site', 'alpha', '--origin', 'http://127.0.0.1:8088', '--capacity', '75'])
    assert.equal(r.code, 0, r.err)
    assert.equal(r.err, '')
    const file = join(node, 'reef.jsonc')
    assert.match(r.out, new RegExp(`^Wrote ${file}\nCreated identity ${join(node, 'data', 'identity.key')}`))
    assert.match(r.out, /^Peer id 12D3KooW\w+$/m)
    assert.match(r.out, /reef doctor --config /)
    const text = await readFile(file, 'utf8')
    assert.match(text, /^\/\/ Reef node configuration/)
    const c = await loadConfigFile(file)
    assert.equal(c.site.label, 'alpha')
    assert.equal(c.origin.url, 'http://127.0.0.1:8088')
    assert.equal(c.origin.capacityRps, 75)
    assert.equal(c.dataDir, join(node, 'data'))
    assert.equal((await stat(join(node, 'data', 'identity.key'))).mode & 0o777, 0o600)
    // No --uplink and no terminal to ask at: the default, said to be assumed.
    assert.equal(c.uplink.bytesPerSec, DEFAULT_UPLINK_BYTES_PER_SEC)
    assert.match(r.out, /^Uplink 12\.5 MB\/s \(100 Mbit\/s\) assumed: set uplink\.bytesPerSec/m)
  })

  test('writes the uplink given with --uplink, or answered at a terminal', async () => {
    const given = await reef(['init', '--dir', join(dir, 'u1'), '--uplink', '32mbit'])
    assert.equal(given.code, 0, given.err)
    assert.equal((await loadConfigFile(join(dir, 'u1', 'reef.jsonc'))).uplink.bytesPerSec, 4_000_000)
    assert.match(given.out, /^Uplink 4 MB\/s \(32 Mbit\/s\)$/m)
    const questions: string[] = []
    const asked = await reef(['init', '--dir', join(dir, 'u2')], {
      ask: async q => {
        questions.push(q)
        return '5MB/s'
      }
    })
    assert.equal(asked.code, 0, asked.err)
    assert.equal(questions.length, 1)
    assert.match(questions[0]!, /Upload rate/)
    assert.equal((await loadConfigFile(join(dir, 'u2', 'reef.jsonc'))).uplink.bytesPerSec, 5_000_000)
    const empty = await reef(['init', '--dir', join(dir, 'u3')], { ask: async () => '' })
    assert.equal((await loadConfigFile(join(dir, 'u3', 'reef.jsonc'))).uplink.bytesPerSec, DEFAULT_UPLINK_BYTES_PER_SEC)
    assert.doesNotMatch(empty.out, /assumed/)
  })

  test('refuses to overwrite a config without --force; --force rewrites it and keeps the identity', async () => {
    const node = join(dir, 'b')
    const first = await reef(['init', '--dir', node, '--json'])
    assert.equal(first.code, 0, first.err)
    const created = JSON.parse(first.out) as InitResult
    assert.equal(created.identityCreated, true)
    assert.equal(created.configOverwritten, false)
    assert.equal(created.config, join(node, 'reef.jsonc'))
    await writeFile(created.config, '// mine\n{}')

    const again = await reef(['init', '--dir', node])
    assert.equal(again.code, 2)
    assert.match(again.err, /reef\.jsonc already exists; not overwriting it\nhint: add --force/)
    assert.equal(await readFile(created.config, 'utf8'), '// mine\n{}')

    const forced = await reef(['init', '--dir', node, '--force', '--json', '--site', 'bravo'])
    assert.equal(forced.code, 0, forced.err)
    const rewritten = JSON.parse(forced.out) as InitResult
    assert.equal(rewritten.peerId, created.peerId)
    assert.equal(rewritten.identityCreated, false)
    assert.equal(rewritten.configOverwritten, true)
    assert.equal((await loadConfigFile(created.config)).site.label, 'bravo')
  })

  test('--config puts the file elsewhere', async () => {
    const file = join(dir, 'etc', 'node.jsonc')
    const r = await reef(['init', '--dir', join(dir, 'c'), '--config', file])
    assert.equal(r.code, 0, r.err)
    assert.equal((await loadConfigFile(file)).dataDir, join(dir, 'c', 'data'))
  })

  test('bad values are refused before anything is written', async () => {
    const node = join(dir, 'd')
    for (const [argv, message] of [
      [['--site', 'Alpha'], /--site "Alpha" is not a site label/],
      [['--origin', 'http://127.0.0.1:8080/app'], /--origin .* is not an http\(s\) URL without a path/],
      [['--origin', 'localhost:8080'], /--origin/],
      [['--capacity', 'lots'], /--capacity "lots" is not a number/],
      [['--uplink', '10 mb'], /--uplink "mb" in "10 mb" is not a unit of rate/],
      [['--uplink', 'fast'], /--uplink "fast" is not a rate/]
    ] as const) {
      const r = await reef(['init', '--dir', node, ...argv])
      assert.equal(r.code, 2, argv.join(' '))
      assert.match(r.err, message)
      assert.match(r.err, /\nhint: /)
    }
    await assert.rejects(stat(node), { code: 'ENOENT' })
  })
})
