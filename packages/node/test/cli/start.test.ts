/**
 * `reef start` in-process through main(argv, io): the "listening on" lines on a terminal, a
 * clean stop on SIGTERM, and a port in use reported as the config field with a fix (and
 * nothing left running).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { main } from '../../src/cli/main.ts'
import { freePort } from '../../demo/consortium.ts'

describe('reef start', { timeout: 60_000 }, () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-start-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function config(name: string, ports: { front?: number; p2p?: number } = {}): Promise<string> {
    const file = join(dir, `${name}.jsonc`)
    await writeFile(
      file,
      `// ${name}\n${JSON.stringify({
        site: { label: 'alpha', publicUrl: 'http://127.0.0.1:1' },
        origin: { url: `http://127.0.0.1:${await freePort()}`, capacityRps: 10, maxConcurrent: 2 },
        front: { listen: { host: '127.0.0.1', port: ports.front ?? 0 } },
        mirror: { listen: { host: '127.0.0.1', port: 0 }, publicUrl: 'http://mirror.localhost:1' },
        admin: { listen: { host: '127.0.0.1', port: 0 } },
        p2p: { listen: [`/ip4/127.0.0.1/tcp/${ports.p2p ?? 0}`] },
        dataDir: join(dir, name),
        log: { level: 'silent' }
      })}`
    )
    return file
  }

  async function squat(): Promise<Server> {
    const s = createServer()
    s.listen(0, '127.0.0.1')
    await once(s, 'listening')
    return s
  }

  test('on a terminal: where it listens, then a clean stop on SIGTERM', async () => {
    let err = ''
    let out = ''
    let listening!: () => void
    const up = new Promise<void>(resolve => {
      listening = resolve
    })
    const file = await config('tty')
    const exit = main(['start', '--config', file], {
      out: s => {
        out += s
      },
      err: s => {
        err += s
        if (err.includes('Press Ctrl-C')) listening()
      },
      errIsTTY: true
    })
    await Promise.race([
      up,
      exit.then(code => {
        throw new Error(`start exited ${code}: ${err}`)
      })
    ])
    try {
      assert.match(err, new RegExp(`^reef: starting alpha from ${file}…\nreef: alpha is up, peer 12D3KooW\\w+; listening on\n`))
      assert.match(err, /^ {2}front +http:\/\/127\.0\.0\.1:\d+ → origin http:\/\/127\.0\.0\.1:\d+$/m)
      assert.match(err, /^ {2}mirror +http:\/\/127\.0\.0\.1:[1-9]\d* \(public http:\/\/mirror\.localhost:1\)$/m)
      assert.match(err, new RegExp(`^ {2}admin +http://127\\.0\\.0\\.1:\\d+ \\(status page; reef status --config ${file}\\)$`, 'm'))
      assert.match(err, /^ {2}p2p +\/ip4\/127\.0\.0\.1\/tcp\/[1-9]\d*\/p2p\/12D3KooW\w+$/m)
      assert.equal(out, '')
      assert.equal(process.listenerCount('SIGTERM'), 1, 'only start listens for SIGTERM here')
    } finally {
      process.emit('SIGTERM')
    }
    assert.equal(await exit, 0)
    assert.match(err, /reef: SIGTERM, stopping .*\nreef: stopped\n$/)
    assert.equal(process.listenerCount('SIGTERM'), 0)
  })

  test('a front port in use: exit 1, the field named, how to fix it', async () => {
    const s = await squat()
    try {
      const port = (s.address() as AddressInfo).port
      let err = ''
      const code = await main(['start', '--config', await config('front-taken', { front: port })], {
        out: () => {},
        err: e => {
          err += e
        }
      })
      assert.equal(code, 1)
      assert.equal(
        err,
        `reef: cannot listen on front.listen 127.0.0.1:${port}: address already in use\nhint: another process holds it ("ss -ltnp 'sport = :${port}'" shows which): stop it, or change front.listen.port ("reef doctor --config FILE" checks every port)\n`
      )
    } finally {
      s.close()
    }
  })

  test('a p2p port in use: exit 1, the multiaddr named', async () => {
    const s = await squat()
    try {
      const port = (s.address() as AddressInfo).port
      let err = ''
      const code = await main(['start', '--config', await config('p2p-taken', { p2p: port })], {
        out: () => {},
        err: e => {
          err += e
        }
      })
      assert.equal(code, 1)
      assert.match(
        err,
        new RegExp(`^reef: cannot listen on p2p\\.listen /ip4/127\\.0\\.0\\.1/tcp/${port}: address already in use\nhint: .*change p2p\\.listen`)
      )
    } finally {
      s.close()
    }
  })
})
