/**
 * The production files in deploy/ stay in step with the code: the example config parses, and the
 * systemd unit runs the `reef` that the installed package puts in /usr/local/bin, hands over the
 * token file the config reads, lets the node write its data directory and nothing else, and
 * restarts on failure but not on a bad configuration (exit code 2).
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseConfig } from '../../src/config/config.ts'
import { SHIPPED_FILES } from '../../scripts/pack.ts'

const root = fileURLToPath(new URL('../../../../', import.meta.url))
const read = async (path: string): Promise<string> => readFile(root + path, 'utf8')

/** `Key=value` lines of a unit file, by key (repeated keys keep every value). */
function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (m !== null) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!])
  }
  return out
}

describe('deploy/', () => {
  it('has an example config that parses, with the admin listener on loopback', async () => {
    const config = parseConfig(JSON.parse(await read('deploy/reef.example.json')))
    assert.equal(config.admin?.listen.host, '127.0.0.1')
    assert.equal(config.origin.url.startsWith('http://127.0.0.1:'), true)
  })

  it('has a hardened systemd unit that matches the example config and the installed package', async () => {
    const unit = directives(await read('deploy/reef.service'))
    const config = parseConfig(JSON.parse(await read('deploy/reef.example.json')))
    const one = (k: string): string | undefined => unit.get(k)?.at(-1)
    assert.equal(one('User'), 'reef')
    assert.equal(one('ExecStart'), '/usr/local/bin/reef start --config /etc/reef/reef.json')
    assert.equal(one('Restart'), 'on-failure')
    assert.equal(one('RestartPreventExitStatus'), '2')
    for (const [k, v] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['PrivateTmp', 'yes'],
      ['ProtectHome', 'yes']
    ])
      assert.equal(one(k!), v, k)
    assert.ok(Number(one('LimitNOFILE')) >= 65_536)
    assert.equal(one('ReadWritePaths'), config.dataDir)
    assert.equal(`/var/lib/${one('StateDirectory')!}`, config.dataDir)
    assert.equal(unit.has('MemoryDenyWriteExecute'), false, 'V8 needs writable executable memory')
    const [name] = one('LoadCredential')!.split(':')
    assert.equal(config.admin?.tokenFile, `/run/credentials/reef.service/${name!}`)
    // `npm install --global --prefix /usr/local` links the package's bin into /usr/local/bin.
    const pkg = JSON.parse(await read('packages/node/package.json')) as { name: string; bin: Record<string, string> }
    assert.equal(one('ExecStart')?.split(' ')[0], `/usr/local/bin/${Object.keys(pkg.bin)[0]!}`)
    assert.match(await read('deploy/README.md'), /^npm install --global --prefix \/usr\/local \.\/reef-node-\d+\.\d+\.\d+\.tgz/m)
    const docs = one('Documentation')!.replace(`file:/usr/local/lib/node_modules/${pkg.name}/`, '')
    assert.ok((SHIPPED_FILES as readonly string[]).includes(docs), `the unit's Documentation= names ${docs}, which the package does not carry`)
  })
})
