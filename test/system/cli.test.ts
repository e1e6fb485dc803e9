/**
 * `reef start` as an operator runs it: a real process, a config file, a real origin; clean
 * shutdown on SIGTERM; a bad config is refused with exit code 2 and the field named.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort, startDemoOrigin } from '@reef/node'
import type { DemoOrigin } from '@reef/node'

const REEF = fileURLToPath(new URL('../../packages/node/bin/reef.js', import.meta.url))

function run (args: string[]): { child: ReturnType<typeof spawn>, out: () => string, err: () => string } {
  const child = spawn(process.execPath, [REEF, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', d => { out += String(d) })
  child.stderr.on('data', d => { err += String(d) })
  return { child, out: () => out, err: () => err }
}

async function exitCode (child: ReturnType<typeof spawn>, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  return code
}

describe('reef CLI', { timeout: 60_000 }, () => {
  let dir: string
  let origin: DemoOrigin
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-cli-'))
    origin = await startDemoOrigin({ workers: 4, capacityRps: 100 })
  })
  after(async () => {
    await origin?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a config with a missing field: exit 2, the field named', async () => {
    const file = join(dir, 'bad.json')
    await writeFile(file, JSON.stringify({ site: { label: 'alpha', publicUrl: 'http://127.0.0.1:1' }, dataDir: dir }))
    const p = run(['start', '--config', file])
    assert.equal(await exitCode(p.child, 20_000), 2)
    assert.match(p.err(), /origin/)
  })

  it('says clearly when the admin API cannot be reached (exit 1)', async () => {
    const port = await freePort()
    const p = run(['ledger', '--admin', `http://127.0.0.1:${port}`])
    assert.equal(await exitCode(p.child, 20_000), 1)
    assert.match(p.err(), /cannot reach the node's admin API/)
  })

  it('refuses unknown commands and missing files with exit 2', async () => {
    const a = run(['frobnicate'])
    assert.equal(await exitCode(a.child, 20_000), 2)
    const b = run(['start', '--config', join(dir, 'missing.json')])
    assert.equal(await exitCode(b.child, 20_000), 2)
    assert.match(b.err(), /cannot read config file/)
  })

  it('runs a node that proxies the origin unchanged, reports status, and stops cleanly on SIGTERM', async () => {
    const [front, mirror, admin] = [await freePort(), await freePort(), await freePort()]
    const file = join(dir, 'node.json')
    await writeFile(file, JSON.stringify({
      site: { label: 'alpha', publicUrl: `http://127.0.0.1:${front}` },
      origin: { url: origin.url, capacityRps: 100, maxConcurrent: 4 },
      front: { listen: { host: '127.0.0.1', port: front } },
      mirror: { listen: { host: '127.0.0.1', port: mirror }, publicUrl: `http://mirror.localhost:${mirror}` },
      admin: { listen: { host: '127.0.0.1', port: admin } },
      dataDir: join(dir, 'data'),
      log: { level: 'warn' }
    }))
    const p = run(['start', '--config', file])
    const deadline = Date.now() + 20_000
    let res
    while (res === undefined && Date.now() < deadline) {
      res = await request(`http://127.0.0.1:${front}/css/site.css`).catch(async () => { await new Promise(resolve => setTimeout(resolve, 100)); return undefined })
    }
    assert.ok(res !== undefined, `node did not come up: ${p.err()}`)
    assert.equal(res.statusCode, 200)
    const body = Buffer.from(await res.body.arrayBuffer())
    assert.deepEqual(body, origin.files.get('/css/site.css')?.body)
    assert.equal(res.headers['content-type'], origin.files.get('/css/site.css')?.type)

    const s = run(['status', '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(s.child, 20_000), 0)
    const status = JSON.parse(s.out()) as { site: string, state: string }
    assert.equal(status.site, 'alpha')
    assert.equal(status.state, 'normal')

    const table = run(['ledger', '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(table.child, 20_000), 0)
    assert.match(table.out(), /member\s+site\s+given\s+taken\s+balance\s+quota\s+headroom/)
    assert.match(table.out(), /\(self\)\s+alpha\s+0 B\s+0 B\s+0 B\s+1\.0 GiB\s+1\.0 GiB/)
    const json = run(['ledger', '--json', '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(json.child, 20_000), 0)
    const view = JSON.parse(json.out()) as { self: string, members: Array<{ peer: string, quota: number, headroom: number }> }
    const self = view.members.find(m => m.peer === view.self)
    assert.ok(self !== undefined)
    assert.equal(self.quota, 1024 ** 3)
    const records = run(['ledger', '--records', view.self, '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(records.child, 20_000), 0)
    assert.match(records.out(), /^0 records$/m)
    const bad = run(['ledger', '--records', 'not-a-peer', '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(bad.child, 20_000), 2)

    p.child.kill('SIGTERM')
    assert.equal(await exitCode(p.child, 15_000), 0)
    await assert.rejects(request(`http://127.0.0.1:${front}/`), 'front still listening after shutdown')
  })
})
