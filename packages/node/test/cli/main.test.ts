/** The command table and argument handling of `reef`, through main(argv, io) with captured io. */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { COMMANDS } from '../../src/cli/commands.ts'
import { closest, isGroup, usage } from '../../src/cli/command.ts'
import type { Command, CommandEntry } from '../../src/cli/command.ts'
import { runCli } from '../../src/cli/dispatch.ts'
import { helpCommand } from '../../src/cli/help.ts'
import { freePort } from '../../demo/consortium.ts'
import { reef } from '../fixtures/run-cli.ts'

describe('reef help', () => {
  test('every command prints its own usage for --help, -h and "reef help COMMAND"', async () => {
    const leaves = COMMANDS.flatMap(e => (isGroup(e) ? e.commands.map(cmd => ({ cmd, path: [e.name, cmd.name] })) : [{ cmd: e, path: [e.name] }]))
    assert.ok(leaves.length >= 6)
    for (const { cmd, path } of leaves) {
      const name = path.join(' ')
      const long = await reef([...path, '--help'])
      assert.equal(long.code, 0, name)
      assert.equal(long.err, '')
      assert.ok(long.out.startsWith(`Usage: reef ${name}`), long.out)
      for (const section of ['Options:', '--help', 'Exit codes:']) assert.ok(long.out.includes(section), `${name} usage lacks ${section}`)
      if (cmd.name !== 'help') assert.ok(long.out.includes('Examples:'), `${name} usage has no examples`)
      for (const [option, spec] of Object.entries(cmd.options)) {
        assert.ok(long.out.includes(`--${option}`), `${name} usage does not list --${option}`)
        if (spec.short !== undefined) assert.ok(long.out.includes(`-${spec.short}, --${option}`))
      }
      assert.deepEqual(await reef([...path, '-h']), long)
      assert.deepEqual(await reef(['help', ...path]), long)
      assert.equal(long.out, usage(cmd))
    }
  })

  test('--help wins over anything else on the line, even a bad option', async () => {
    const r = await reef(['init', '--bogus', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.out, /^Usage: reef init/)
  })

  test('"reef help" and "reef --help" list every command; "reef" alone is bad usage', async () => {
    for (const argv of [['help'], ['--help'], ['-h']]) {
      const r = await reef(argv)
      assert.equal(r.code, 0)
      for (const cmd of COMMANDS) assert.match(r.out, new RegExp(`^  ${cmd.name} `, 'm'))
      assert.match(r.out, /Exit codes:\n {2}0 {2}ok\n {2}1 .*\n {2}2 .*\n {2}3 /)
    }
    const bare = await reef([])
    assert.equal(bare.code, 2)
    assert.equal(bare.out, '')
    assert.match(bare.err, /^Usage: reef <command>/)
  })

  test('an unknown command: exit 2, with a suggestion when one is close', async () => {
    const typo = await reef(['stauts'])
    assert.equal(typo.code, 2)
    assert.match(typo.err, /^reef: unknown command "stauts"\nhint: did you mean "reef status"\?/)
    const far = await reef(['frobnicate'])
    assert.equal(far.code, 2)
    assert.match(far.err, /hint: run "reef help"/)
    assert.equal((await reef(['help', 'frobnicate'])).code, 2)
    assert.equal(closest('doctr', ['doctor', 'init']), 'doctor')
    assert.equal(closest('xyz', ['doctor', 'init']), undefined)
  })
})

describe('argument handling', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-cli-main-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('unknown options and stray arguments: exit 2, the command named, its help suggested', async () => {
    for (const argv of [
      ['status', '--bogus'],
      ['ledger', 'extra'],
      ['doctor', '--config'],
      ['help', 'init', 'doctor']
    ]) {
      const r = await reef(argv)
      assert.equal(r.code, 2, argv.join(' '))
      assert.match(r.err, new RegExp(`^reef: ${argv[0]!}: `), r.err)
      assert.match(r.err, new RegExp(`hint: run "reef ${argv[0]!} --help"`), r.err)
    }
  })

  test('start and doctor need --config', async () => {
    for (const name of ['start', 'doctor']) {
      const r = await reef([name])
      assert.equal(r.code, 2)
      assert.match(r.err, new RegExp(`${name} needs --config FILE\nhint: "reef init" writes one`))
    }
  })

  test('a missing or invalid config file: exit 2 with a hint', async () => {
    const missing = await reef(['start', '--config', join(dir, 'missing.jsonc')])
    assert.equal(missing.code, 2)
    assert.match(missing.err, /cannot read config file .*missing\.jsonc: ENOENT\nhint: check the path, .*"reef init" writes a new, commented config\n$/)
    const file = join(dir, 'syntax.jsonc')
    await writeFile(file, '{\n  "site": {\n}\n')
    const syntax = await reef(['start', '-c', file])
    assert.equal(syntax.code, 2)
    assert.match(syntax.err, /not valid JSON at line 4 column 1: .*\nhint: fix the syntax at line 4 column 1 of .*syntax\.jsonc/)
    const field = join(dir, 'field.jsonc')
    await writeFile(field, '{ "site": { "label": "alpha", "publicUrl": "http://x" }, "dataDir": "/tmp/x", }')
    const missingField = await reef(['start', '-c', field])
    assert.equal(missingField.code, 2)
    assert.match(missingField.err, /^reef: .*field\.jsonc: config field origin: missing \(object required\)\nhint: set origin in .*field\.jsonc;/)
  })

  test('number options are checked', async () => {
    const r = await reef(['doctor', '--config', 'x', '--timeout', 'soon'])
    assert.equal(r.code, 2)
    assert.match(r.err, /--timeout "soon" is not a number/)
    assert.equal((await reef(['init', '--capacity', '-5', '--dir', join(dir, 'n')])).code, 2)
  })

  test('status and ledger: a bad --admin is bad usage, an unreachable node exits 3', async () => {
    const bad = await reef(['status', '--admin', 'not a url'])
    assert.equal(bad.code, 2)
    assert.match(bad.err, /--admin "not a url" is not a URL/)
    assert.equal((await reef(['ledger', '--admin', 'ftp://127.0.0.1/'])).code, 2)
    const port = await freePort()
    for (const name of ['status', 'ledger']) {
      const r = await reef([name, '--admin', `http://127.0.0.1:${port}`])
      assert.equal(r.code, 3, name)
      assert.match(r.err, /cannot reach the node's admin API at http:\/\/127\.0\.0\.1:\d+: connection refused\nhint: is the node running/)
    }
  })

  test('--config without an admin section: exit 2, saying how to add one', async () => {
    const file = join(dir, 'noadmin.json')
    await writeFile(
      file,
      JSON.stringify({
        site: { label: 'alpha', publicUrl: 'http://127.0.0.1:1' },
        origin: { url: 'http://127.0.0.1:2', capacityRps: 10, maxConcurrent: 2 },
        front: { listen: { port: 0 } },
        mirror: { listen: { port: 0 }, publicUrl: 'http://mirror.localhost:3' },
        dataDir: join(dir, 'data')
      })
    )
    const r = await reef(['status', '--config', file])
    assert.equal(r.code, 2)
    assert.match(r.err, /has no admin section.*\nhint: add "admin":/)
  })

  test('ledger --records needs a peer id', async () => {
    const r = await reef(['ledger', '--records', 'bob'])
    assert.equal(r.code, 2)
    assert.match(r.err, /--records "bob" is not a peer id/)
  })
})

describe('command groups (reef <group> <command>)', () => {
  const ran: Array<{ values: unknown; positionals: readonly string[] }> = []
  const create: Command = {
    name: 'create',
    summary: 'create a thing',
    synopsis: 'things create --name NAME [--json]',
    description: 'Create a thing.',
    options: { name: { type: 'string', value: 'NAME', description: 'its name' }, json: { type: 'boolean', description: 'JSON' } },
    examples: ['reef things create --name x'],
    async run(args) {
      ran.push(args)
      return 0
    }
  }
  const table: CommandEntry[] = [
    {
      name: 'things',
      summary: 'manage things',
      description: 'Things, managed.',
      commands: [create, { ...create, name: 'vote', synopsis: 'things vote', summary: 'vote on a thing' }]
    },
    helpCommand(() => table)
  ]
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = ''
    let err = ''
    const code = await runCli(table, argv, {
      out: s => {
        out += s
      },
      err: s => {
        err += s
      }
    })
    return { code, out, err }
  }

  test("a group's command runs with its options parsed", async () => {
    assert.equal((await run(['things', 'create', '--name', 'x', '--json'])).code, 0)
    assert.deepEqual({ ...(ran.at(-1)?.values as object) }, { name: 'x', json: true })
  })

  test('usage of the group and of its commands', async () => {
    const group = await run(['things', '--help'])
    assert.equal(group.code, 0)
    assert.match(group.out, /^Usage: reef things <command> \[options\]\n[\s\S]*^ {2}create +create a thing\n {2}vote +vote on a thing$/m)
    assert.deepEqual(await run(['help', 'things']), group)
    const sub = await run(['things', 'create', '-h'])
    assert.match(sub.out, /^Usage: reef things create --name NAME/)
    assert.deepEqual(await run(['help', 'things', 'create']), sub)
    assert.match((await run(['help'])).out, /^ {2}things <command> +manage things$/m)
  })

  test('a group without a command, an unknown command in it, a bad option: exit 2 naming the path', async () => {
    const bare = await run(['things'])
    assert.equal(bare.code, 2)
    assert.match(bare.err, /^reef: things needs a command: create, vote\nhint: run "reef things --help"/)
    const typo = await run(['things', 'craete'])
    assert.equal(typo.code, 2)
    assert.match(typo.err, /^reef: unknown command "things craete"\nhint: did you mean "reef things create"\?/)
    const option = await run(['things', 'create', '--nope'])
    assert.equal(option.code, 2)
    assert.match(option.err, /^reef: things create: Unknown option '--nope'\nhint: run "reef things create --help"/)
    assert.equal((await run(['help', 'things', 'nope'])).code, 2)
    assert.equal((await run(['help', 'create', 'x'])).code, 2)
  })
})
