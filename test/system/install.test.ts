/**
 * Reef as an operator gets it, from a clean copy of the repository (its files, nothing built
 * or installed), so that nothing this checkout has built or linked can stand in:
 *
 * - README's commands as written: `npx -y pnpm@12.4.2 install`, then the "Running a node" block
 *   through README's `npx -y pnpm@12.4.2 exec reef …` (init, the operator's edit, doctor, start,
 *   status, ledger), and `--filter @reef/node exec reef` too (issue 16, item 15).
 * - The installable Reef: `pnpm pack:reef` in that copy, deploy/README.md's
 *   `npm install --global --prefix …` into a temporary prefix (offline: the tarball carries
 *   everything), then the prefix's `reef` alone runs init, start, status and stops on SIGTERM,
 *   under Node 24 (put first on PATH: the machine's own node may be older).
 *
 * Everything it creates is under one temporary directory, removed also on failure; the
 * processes it starts are killed with their process group.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort, startDemoOrigin } from '@reef/node/demo'
import type { DemoOrigin } from '@reef/node/demo'
import { until } from './wait.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** README's `npx -y pnpm@…`: the version the root package.json pins. */
const PNPM = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string }).packageManager

/**
 * The environment an operator's shell would have: Node 24 first on PATH (this test runs under
 * it), and nothing that the test runner or pnpm set for this checkout.
 */
const ENV: NodeJS.ProcessEnv = Object.fromEntries([
  ...Object.entries(process.env).filter(([k]) => !/^(npm_|pnpm_|NODE_PATH$|NODE_OPTIONS$|NODE_TEST_CONTEXT$|INIT_CWD$)/i.test(k)),
  ['PATH', `${dirname(process.execPath)}:${process.env.PATH ?? ''}`]
])

interface Run {
  code: number | null
  out: string
  err: string
}

/** Runs a command to its end; kills it (and its process group) past `timeoutMs`. */
async function sh(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  let err = ''
  child.stdout.on('data', d => {
    out += String(d)
  })
  child.stderr.on('data', d => {
    err += String(d)
  })
  const timer = setTimeout(() => {
    killGroup(child, 'SIGKILL')
  }, opts.timeoutMs)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject).on('close', resolve)
  })
  clearTimeout(timer)
  return { code, out, err }
}

/** A long-running command in its own process group, to be stopped with `killGroup`. */
function background(
  cmd: string,
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv }
): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  let err = ''
  child.stdout?.on('data', d => {
    out += String(d)
  })
  child.stderr?.on('data', d => {
    err += String(d)
  })
  return { child, out: () => out, err: () => err }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {}
}

function groupAlive(child: ChildProcess): boolean {
  try {
    process.kill(-child.pid!, 0)
    return true
  } catch {
    return false
  }
}

/** The working tree's files as git knows them (tracked, or new and not ignored): a fresh checkout. */
async function cleanCopy(to: string): Promise<void> {
  const files = execFileSync('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--deduplicate'], { encoding: 'utf8' })
    .split('\0')
    .filter(f => f !== '' && existsSync(join(ROOT, f)))
  for (const file of files) await cp(join(ROOT, file), join(to, file))
}

/** Files and bytes under `dir`. */
async function size(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0
  let bytes = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    files++
    bytes += (await stat(join(entry.parentPath, entry.name))).size
  }
  return { files, bytes }
}

/** The operator's edit after `reef init`: loopback ports that are free here, and the origin. */
async function editConfig(file: string, originUrl: string): Promise<{ front: number; admin: number }> {
  const [front, mirror, admin, p2p] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const text = await readFile(file, 'utf8')
  const edited = text
    .replace('"host": "0.0.0.0", "port": 8000', `"host": "127.0.0.1", "port": ${front}`)
    .replace('"host": "0.0.0.0", "port": 8081', `"host": "127.0.0.1", "port": ${mirror}`)
    .replace('"port": 9180', `"port": ${admin}`)
    .replace('/ip4/0.0.0.0/tcp/4001', `/ip4/127.0.0.1/tcp/${p2p}`)
    .replace(/"url": "http:\/\/127\.0\.0\.1:8080"/, `"url": "${originUrl}"`)
    .replace('"level": "info"', '"level": "warn"')
  assert.notEqual(edited, text)
  for (const port of [front, mirror, admin, p2p]) assert.ok(edited.includes(`${port}`), `the config template changed: port ${port} not set in ${file}`)
  assert.ok(edited.includes(originUrl), `the config template changed: origin not set in ${file}`)
  await writeFile(file, edited)
  return { front, admin }
}

async function answers(url: string): Promise<boolean> {
  return request(url).then(
    async r => {
      await r.body.dump()
      return r.statusCode === 200
    },
    () => false
  )
}

describe('installing Reef', { timeout: 420_000 }, () => {
  let tmp: string
  let checkout: string
  let origin: DemoOrigin
  const started: ChildProcess[] = []

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'reef-install-'))
    checkout = join(tmp, 'checkout')
    await cleanCopy(checkout)
    assert.equal(existsSync(join(checkout, 'node_modules')), false)
    // README's first command. The lockfile is up to date, so pnpm takes the packages from its store.
    assert.ok((await readFile(join(checkout, 'README.md'), 'utf8')).includes(`npx -y ${PNPM} install && `))
    const install = await sh('npx', ['-y', PNPM, 'install'], { cwd: checkout, timeoutMs: 180_000 })
    assert.equal(install.code, 0, install.err + install.out)
    origin = await startDemoOrigin({ workers: 2, capacityRps: 100 })
  })

  after(async () => {
    for (const child of started) killGroup(child, 'SIGKILL')
    await origin?.close()
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true })
  })

  it("runs README's commands as written in a fresh checkout: npx -y pnpm@12.4.2 exec reef …", async () => {
    const readme = await readFile(join(checkout, 'README.md'), 'utf8')
    const prefix = /`(npx -y pnpm@\S+ exec reef) …`/.exec(readme)?.[1]?.split(' ')
    assert.ok(prefix !== undefined, 'README no longer says how to run reef in a checkout')
    assert.deepEqual(prefix, ['npx', '-y', PNPM, 'exec', 'reef'])
    const block = /## Running a node\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1]
    assert.ok(block !== undefined, 'README\'s "Running a node" has no sh block')
    // Its paths, moved under the temp dir: the commands write there, and read only from there.
    const commands = block
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map(line => line.replace(/\s+#.*$/, '').trim())
      .filter(line => line.startsWith('reef '))
      .map(line => line.replaceAll('/var/lib/reef', join(tmp, 'var/lib/reef')).replaceAll('/etc/reef', join(tmp, 'etc/reef')).split(/\s+/).slice(1))
    assert.deepEqual(
      commands.map(c => c[0]),
      ['init', 'doctor', 'start', 'status', 'ledger']
    )
    const exec = async (args: string[]): Promise<Run> => sh(prefix[0]!, [...prefix.slice(1), ...args], { cwd: checkout, timeoutMs: 60_000 })

    const help = await sh('npx', ['-y', PNPM, '--filter', '@reef/node', 'exec', 'reef', '--help'], { cwd: checkout, timeoutMs: 60_000 })
    assert.equal(help.code, 0, help.err)
    assert.match(help.out, /^Usage: reef <command>/)

    const [init, doctor, start, status, ledger] = commands as [string[], string[], string[], string[], string[]]
    const made = await exec(init)
    assert.equal(made.code, 0, made.err)
    assert.match(made.out, /^Peer id 12D3KooW/m)
    const file = init[init.indexOf('--config') + 1]!
    const { front, admin } = await editConfig(file, origin.url)

    const checked = await exec(doctor)
    assert.equal(checked.code, 0, checked.out + checked.err)
    assert.match(checked.out, / 0 failures$/m)

    const node = background(prefix[0]!, [...prefix.slice(1), ...start], { cwd: checkout })
    started.push(node.child)
    try {
      await until("the node started with README's command", async () => answers(`http://127.0.0.1:${admin}/api/status`), 60_000, 100)
      assert.ok(await answers(`http://127.0.0.1:${front}/`))
      const summary = await exec(status)
      assert.equal(summary.code, 0, summary.err)
      assert.match(summary.out, /^site +alpha \(peer 12D3KooW\w+\)$/m)
      assert.match(summary.out, /^state +normal$/m)
      const table = await exec(ledger)
      assert.equal(table.code, 0, table.err)
      assert.match(table.out, /\(self\)\s+alpha\s/)
    } finally {
      killGroup(node.child, 'SIGTERM')
      await until('the node to stop on SIGTERM', () => !groupAlive(node.child), 30_000)
    }
    assert.equal(await answers(`http://127.0.0.1:${front}/`), false, 'front still listening after SIGTERM')
  })

  it('packs, installs with npm into a prefix (no registry), and the installed reef runs init, start, status and stops on SIGTERM', async t => {
    const packed = await sh('npx', ['-y', PNPM, 'pack:reef', '--out', join(tmp, 'dist')], { cwd: checkout, timeoutMs: 180_000 })
    assert.equal(packed.code, 0, packed.err)
    const tarball = packed.out.trim().split('\n').at(-1)!
    assert.ok(existsSync(tarball), packed.out)

    // deploy/README.md's command, with a temporary prefix for /usr/local; --offline: no registry.
    const deployReadme = await readFile(join(checkout, 'deploy', 'README.md'), 'utf8')
    const documented = /^npm install --global --prefix \/usr\/local \.\/(reef-node-\S+\.tgz)/m.exec(deployReadme)?.[1]
    assert.equal(documented, basename(tarball), 'deploy/README.md installs another version than the one packed')
    const prefix = join(tmp, 'prefix')
    const npmEnv = {
      ...ENV,
      npm_config_cache: join(tmp, 'npm-cache'),
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false'
    }
    const installStarted = Date.now()
    const install = await sh('npm', ['install', '--global', '--prefix', prefix, '--offline', tarball], { cwd: tmp, env: npmEnv, timeoutMs: 240_000 })
    assert.equal(install.code, 0, install.err + install.out)
    const installMs = Date.now() - installStarted
    const reef = join(prefix, 'bin', 'reef')
    assert.ok(existsSync(reef), `npm did not put reef in ${prefix}/bin`)
    const pkg = join(prefix, 'lib', 'node_modules', '@reef', 'node')
    assert.equal(existsSync(join(pkg, 'src')), false, 'the package ships TypeScript sources')
    assert.ok(existsSync(join(pkg, 'dist', 'cli', 'main.js')) && existsSync(join(pkg, 'dist', 'index.d.ts')))
    for (const lib of ['protocol', 'governance', 'dashboard']) assert.ok(existsSync(join(pkg, 'node_modules', '@reef', lib, 'dist', 'index.js')), lib)
    const installed = await size(prefix)
    const du = Number(execFileSync('du', ['-sk', prefix], { encoding: 'utf8' }).split('\t')[0]) * 1024
    t.diagnostic(
      `tarball ${((await stat(tarball)).size / 1e6).toFixed(1)} MB; installed ${(installed.bytes / 1e6).toFixed(1)} MB in ${installed.files} files (du ${(du / 1e6).toFixed(1)} MB); npm install ${installMs} ms`
    )

    // The installed reef, from a directory outside the checkout, with nothing of the checkout in reach.
    const home = join(tmp, 'operator')
    await mkdir(home)
    const run = async (args: string[]): Promise<Run> => sh(reef, args, { cwd: home, timeoutMs: 30_000 })
    const help = await run(['--help'])
    assert.equal(help.code, 0, help.err)
    assert.match(help.out, /^Usage: reef <command>/)
    const made = await run(['init', '--dir', join(home, 'alpha'), '--site', 'alpha', '--origin', origin.url, '--capacity', '50', '--uplink', '40mbit'])
    assert.equal(made.code, 0, made.err)
    assert.match(made.out, /^Peer id 12D3KooW/m)
    const file = join(home, 'alpha', 'reef.jsonc')
    const { front, admin } = await editConfig(file, origin.url)

    const node = background(reef, ['start', '--config', file], { cwd: home })
    started.push(node.child)
    const exited = new Promise<number | null>(resolve => node.child.on('exit', resolve))
    try {
      await until('the installed node to answer', async () => answers(`http://127.0.0.1:${admin}/api/status`), 30_000, 100)
      const summary = await run(['status', '--config', file])
      assert.equal(summary.code, 0, summary.err)
      assert.match(summary.out, /^state +normal$/m)
      const json = await run(['status', '--admin', `http://127.0.0.1:${admin}`, '--json'])
      assert.equal(json.code, 0, json.err)
      assert.equal((JSON.parse(json.out) as { site: string }).site, 'alpha')
      const page = await request(`http://127.0.0.1:${admin}/`)
      assert.equal(page.statusCode, 200)
      assert.match(await page.body.text(), /<title>Reef node<\/title>/)
      const proxied = await request(`http://127.0.0.1:${front}/css/site.css`)
      assert.equal(proxied.statusCode, 200)
      assert.deepEqual(Buffer.from(await proxied.body.arrayBuffer()), origin.files.get('/css/site.css')?.body)
    } finally {
      node.child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, node.err())
    assert.equal(await answers(`http://127.0.0.1:${front}/`), false, 'front still listening after SIGTERM')
  })
})
