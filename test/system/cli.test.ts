/**
 * `reef` as an operator runs it: real processes, config files, a real origin. `init` writes a
 * config that `doctor` passes and `start` runs; `doctor` fails on a dead origin; `start` stops
 * cleanly on SIGTERM; a bad config is refused with exit code 2 and the field named; every
 * command answers --help.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort, startDemoOrigin } from '@reef/node/demo'
import type { DemoOrigin } from '@reef/node/demo'

const REEF = fileURLToPath(new URL('../../packages/node/bin/reef.js', import.meta.url))

function run(args: string[]): { child: ReturnType<typeof spawn>; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [REEF, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', d => {
    out += String(d)
  })
  child.stderr.on('data', d => {
    err += String(d)
  })
  return { child, out: () => out, err: () => err }
}

async function exitCode(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code] = (await once(child, 'exit')) as [number | null]
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

  it('says clearly when the admin API cannot be reached, and how to fix it (exit 3)', async () => {
    const port = await freePort()
    const p = run(['ledger', '--admin', `http://127.0.0.1:${port}`])
    assert.equal(await exitCode(p.child, 20_000), 3)
    assert.match(p.err(), /cannot reach the node's admin API.*\nhint: is the node running/)
  })

  it('answers --help for every command it lists, in groups too', async () => {
    /** Command names listed under "Commands:" in a usage text; groups as "name <command>". */
    const listed = (usage: string): Array<{ name: string; group: boolean }> =>
      (/Commands:\n((?: {2}\S+.*\n)+)/.exec(usage)?.[1] ?? '')
        .split('\n')
        .filter(l => l !== '')
        .map(l => ({ name: l.trim().split(' ')[0]!, group: l.includes('<command>') }))
    const help = run(['help'])
    assert.equal(await exitCode(help.child, 20_000), 0)
    const top = listed(help.out())
    for (const known of ['init', 'doctor', 'start', 'status', 'ledger', 'help'])
      assert.ok(
        top.some(c => c.name === known),
        `reef help does not list ${known}`
      )
    const paths: string[][] = []
    for (const c of top) {
      if (!c.group) {
        paths.push([c.name])
        continue
      }
      const group = run([c.name, '--help'])
      assert.equal(await exitCode(group.child, 20_000), 0, c.name)
      const commands = listed(group.out())
      assert.ok(commands.length > 0, group.out())
      for (const sub of commands) paths.push([c.name, sub.name])
    }
    const runs = paths.map(path => ({ name: path.join(' '), p: run([...path, '--help']) }))
    for (const { name, p } of runs) {
      assert.equal(await exitCode(p.child, 20_000), 0, name)
      assert.match(p.out(), new RegExp(`^Usage: reef ${name}[\\s\\S]*Options:[\\s\\S]*Exit codes:`), name)
      assert.equal(p.err(), '')
    }
  })

  /** `reef init` in a new dir; then, as an operator would, edit the listen addresses. */
  async function initNode(name: string, originUrl: string): Promise<{ file: string; admin: number; front: number }> {
    const p = run(['init', '--dir', join(dir, name), '--site', 'alpha', '--origin', originUrl, '--capacity', '100'])
    assert.equal(await exitCode(p.child, 20_000), 0, p.err())
    assert.match(p.out(), /^Peer id 12D3KooW/m)
    const file = join(dir, name, 'reef.jsonc')
    const [front, mirror, admin, p2p] = [await freePort(), await freePort(), await freePort(), await freePort()]
    const text = (await readFile(file, 'utf8'))
      .replace('"host": "0.0.0.0", "port": 8000', `"host": "127.0.0.1", "port": ${front}`)
      .replace('"host": "0.0.0.0", "port": 8081', `"host": "127.0.0.1", "port": ${mirror}`)
      .replace('"port": 9180', `"port": ${admin}`)
      .replace('/ip4/0.0.0.0/tcp/4001', `/ip4/127.0.0.1/tcp/${p2p}`)
      .replace('"level": "info"', '"level": "warn"')
    assert.match(text, /^\s*\/\/ /m)
    await writeFile(file, text)
    return { file, admin, front }
  }

  it('init writes a commented config that doctor passes against a live origin; start runs it; doctor then sees the node', async () => {
    const { file, admin, front } = await initNode('fresh', origin.url)
    const again = run(['init', '--dir', join(dir, 'fresh')])
    assert.equal(await exitCode(again.child, 20_000), 2)
    assert.match(again.err(), /already exists; not overwriting it\nhint: add --force/)

    const doctor = run(['doctor', '--config', file])
    assert.equal(await exitCode(doctor.child, 20_000), 0, doctor.out())
    assert.match(doctor.out(), /^ok {4}config +site alpha/m)
    assert.match(doctor.out(), /^ok {4}identity +peer 12D3KooW/m)
    assert.match(doctor.out(), /^ok {4}node +not running/m)
    assert.match(doctor.out(), new RegExp(`^ok {4}origin +GET ${origin.url}/ answered 200 in \\d+ ms$`, 'm'))
    assert.match(doctor.out(), /^ok {4}clock +compared with origin within 1 s$/m)
    assert.match(doctor.out(), /^warn {2}public urls /m)
    assert.match(doctor.out(), / 0 failures$/m)

    const node = run(['start', '--config', file])
    try {
      const deadline = Date.now() + 20_000
      let up = false
      while (!up && Date.now() < deadline) {
        up = await request(`http://127.0.0.1:${front}/`).then(
          async r => {
            await r.body.dump()
            return r.statusCode === 200
          },
          async () => {
            await new Promise(resolve => setTimeout(resolve, 100))
            return false
          }
        )
      }
      assert.ok(up, `node did not come up: ${node.err()}`)
      const running = run(['doctor', '--config', file, '--json'])
      assert.equal(await exitCode(running.child, 20_000), 0, running.out())
      const checks = new Map((JSON.parse(running.out()) as { checks: Array<{ name: string; status: string; summary: string }> }).checks.map(c => [c.name, c]))
      assert.equal(checks.get('node')?.status, 'ok')
      assert.match(checks.get('node')?.summary ?? '', new RegExp(`^running at http://127\\.0\\.0\\.1:${admin}: site alpha, state normal$`))
      for (const port of ['front port', 'mirror port', 'admin port', 'p2p port'])
        assert.match(checks.get(port)?.summary ?? '', /held by the running node/, port)
      assert.match(checks.get('peers')?.summary ?? '', /^running alone/)

      const status = run(['status', '--config', file])
      assert.equal(await exitCode(status.child, 20_000), 0, status.err())
      assert.match(status.out(), /^site +alpha \(peer 12D3KooW\w+\)$/m)
      assert.match(status.out(), /^state +normal$/m)
    } finally {
      node.child.kill('SIGTERM')
      assert.equal(await exitCode(node.child, 15_000), 0)
    }
  })

  it('doctor fails, with a fix, when the origin does not answer', async () => {
    const { file } = await initNode('dead-origin', `http://127.0.0.1:${await freePort()}`)
    const doctor = run(['doctor', '--config', file])
    assert.equal(await exitCode(doctor.child, 20_000), 1)
    assert.match(doctor.out(), /^fail {2}origin +GET http:\/\/127\.0\.0\.1:\d+\/: no answer \(connection refused\)\n +fix: start the origin web server/m)
    assert.match(doctor.out(), / 1 failure/)
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
    await writeFile(
      file,
      JSON.stringify({
        site: { label: 'alpha', publicUrl: `http://127.0.0.1:${front}` },
        origin: { url: origin.url, capacityRps: 100, maxConcurrent: 4 },
        front: { listen: { host: '127.0.0.1', port: front } },
        mirror: { listen: { host: '127.0.0.1', port: mirror }, publicUrl: `http://mirror.localhost:${mirror}` },
        admin: { listen: { host: '127.0.0.1', port: admin } },
        dataDir: join(dir, 'data'),
        log: { level: 'warn' }
      })
    )
    const p = run(['start', '--config', file])
    const deadline = Date.now() + 20_000
    let res
    while (res === undefined && Date.now() < deadline) {
      res = await request(`http://127.0.0.1:${front}/css/site.css`).catch(async () => {
        await new Promise(resolve => setTimeout(resolve, 100))
        return undefined
      })
    }
    assert.ok(res !== undefined, `node did not come up: ${p.err()}`)
    assert.equal(res.statusCode, 200)
    const body = Buffer.from(await res.body.arrayBuffer())
    assert.deepEqual(body, origin.files.get('/css/site.css')?.body)
    assert.equal(res.headers['content-type'], origin.files.get('/css/site.css')?.type)

    const s = run(['status', '--admin', `http://127.0.0.1:${admin}`, '--json'])
    assert.equal(await exitCode(s.child, 20_000), 0)
    const status = JSON.parse(s.out()) as { site: string; state: string }
    assert.equal(status.site, 'alpha')
    assert.equal(status.state, 'normal')
    const summary = run(['status', '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(summary.child, 20_000), 0)
    assert.match(summary.out(), /^state +normal\ndemand +\d+ req\/s of 100 req\/s capacity/m)

    const table = run(['ledger', '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(table.child, 20_000), 0)
    assert.match(table.out(), /member\s+site\s+given\s+taken\s+balance\s+quota\s+headroom/)
    assert.match(table.out(), /\(self\)\s+alpha\s+0 B\s+0 B\s+0 B\s+1\.0 GiB\s+1\.0 GiB/)
    const json = run(['ledger', '--json', '--admin', `http://127.0.0.1:${admin}`])
    assert.equal(await exitCode(json.child, 20_000), 0)
    const view = JSON.parse(json.out()) as { self: string; members: Array<{ peer: string; quota: number; headroom: number }> }
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
