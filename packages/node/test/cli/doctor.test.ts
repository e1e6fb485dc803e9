/**
 * `reef doctor` against real files, a real origin on 127.0.0.1 and a stand-in admin API: each
 * check's ok / warn / fail and the exit code.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MAX_CLOCK_SKEW_MS } from '@reef/protocol'
import { usage } from '../../src/cli/command.ts'
import { doctorCommand } from '../../src/cli/doctor.ts'
import { CLOCK_WARN_MS, clockSkewMs, runDoctor } from '../../src/cli/doctor-checks.ts'
import type { CheckResult } from '../../src/cli/doctor-checks.ts'
import { charterBody, signCharter, writeCharterFile } from '../../src/governance/charter-file.ts'
import { freePort } from '../../demo/consortium.ts'
import { loadOrCreateIdentity } from '../../src/p2p/host.ts'
import { reef } from '../fixtures/run-cli.ts'

interface Origin {
  url: string
  port: number
  server: Server
  status: number
  skewMs: number
}

async function listen(handler: (o: Origin) => [number, Record<string, string>, string]): Promise<Origin> {
  const o = { status: 200, skewMs: 0 } as Origin
  o.server = createServer((_req, res) => {
    const [status, headers, body] = handler(o)
    // node:http sends its own Date unless one is set.
    if (o.skewMs !== 0) res.setHeader('date', new Date(Date.now() + o.skewMs).toUTCString())
    res.writeHead(status, headers).end(body)
  })
  o.server.listen(0, '127.0.0.1')
  await once(o.server, 'listening')
  o.port = (o.server.address() as AddressInfo).port
  o.url = `http://127.0.0.1:${o.port}`
  return o
}

async function close(s: Server): Promise<void> {
  s.closeAllConnections()
  await new Promise(resolve => s.close(resolve))
}

function byName(results: CheckResult[]): Map<string, CheckResult> {
  return new Map(results.map(r => [r.name, r]))
}

describe('reef doctor', () => {
  let dir: string
  let origin: Origin
  let peerId: string
  let ports: { front: number; mirror: number; admin: number; p2p: number }
  const dataDir = (): string => join(dir, 'data')

  async function config(patch: (c: Record<string, any>) => void = () => {}, name = 'reef.jsonc'): Promise<string> {
    const c: Record<string, any> = {
      site: { label: 'alpha', publicUrl: 'https://alpha.example' },
      origin: { url: origin.url, capacityRps: 50, maxConcurrent: 4 },
      front: { listen: { host: '127.0.0.1', port: ports.front } },
      mirror: { listen: { host: '127.0.0.1', port: ports.mirror }, publicUrl: 'https://mirror.alpha.example' },
      admin: { listen: { host: '127.0.0.1', port: ports.admin } },
      p2p: { listen: [`/ip4/127.0.0.1/tcp/${ports.p2p}`], bootstrap: ['/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWQmXq7YJqFq7pDFmXu1U8i3DZC9YoEv8EVTeKyg6ZzWbm'] },
      dataDir: dataDir(),
      uplink: { bytesPerSec: 4_000_000 }
    }
    patch(c)
    const file = join(dir, name)
    await writeFile(file, `// test config\n${JSON.stringify(c, null, 2)}\n`)
    return file
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reef-doctor-'))
    origin = await listen(o => [o.status, { 'content-type': 'text/html' }, '<h1>hi</h1>'])
    peerId = peerIdFromPrivateKey(await loadOrCreateIdentity(dataDir())).toString()
    ports = { front: await freePort(), mirror: await freePort(), admin: await freePort(), p2p: await freePort() }
  })
  after(async () => {
    await close(origin.server)
    await rm(dir, { recursive: true, force: true })
  })

  test('a good setup with the node not running: no failure, exit 0', async () => {
    const file = await config()
    const r = await reef(['doctor', '--config', file])
    assert.equal(r.code, 0, r.out)
    assert.match(r.out, new RegExp(`^reef doctor ${file}\n`))
    for (const line of [
      /^ok {4}config +site alpha, origin http:\/\/127\.0\.0\.1:\d+, consortium reef$/m,
      /^ok {4}public urls /m,
      /^ok {4}data dir +.* is writable$/m,
      new RegExp(`^ok {4}identity +peer ${peerId}$`, 'm'),
      /^ok {4}node +not running \(nothing answers at http:\/\/127\.0\.0\.1:\d+: connection refused\)$/m,
      /^ok {4}uplink +uplink 4 MB\/s \(32 Mbit\/s\): struck when visitors ask 80 % of it, keeps 90 % of it for this site while shedding, offers others what is left of 90 %$/m,
      /^ok {4}front port +front\.listen 127\.0\.0\.1:\d+ is free$/m,
      /^ok {4}mirror port /m,
      /^ok {4}admin port /m,
      /^ok {4}p2p port /m,
      /^ok {4}admin token +none set: the admin API only reads$/m,
      /^ok {4}origin +GET http:\/\/127\.0\.0\.1:\d+\/ answered 200 in \d+ ms$/m,
      /^ok {4}peers +1 bootstrap address; start the node to see connections$/m,
      /^ok {4}clock +compared with origin within 1 s$/m,
      /^16 ok, 0 warnings, 0 failures$/m
    ])
      assert.match(r.out, line)
  })

  test('--json: every check with status, summary and fix; progress on a terminal only', async () => {
    const file = await config()
    const plain = await reef(['doctor', '--config', file, '--json'])
    assert.equal(plain.code, 0)
    assert.equal(plain.err, '')
    const report = JSON.parse(plain.out) as { ok: boolean; counts: Record<string, number>; checks: CheckResult[] }
    assert.equal(report.ok, true)
    assert.deepEqual(
      report.checks.map(c => c.name),
      [
        'config',
        'public urls',
        'data dir',
        'identity',
        'node',
        'storage',
        'uplink',
        'front port',
        'mirror port',
        'admin port',
        'p2p port',
        'admin token',
        'governance',
        'origin',
        'peers',
        'clock'
      ]
    )
    assert.deepEqual(report.checks.find(c => c.name === 'origin')?.data?.status, 200)
    const tty = await reef(['doctor', '--config', file, '--json'], { errIsTTY: true })
    assert.match(tty.err, /checking config….*checking origin….*checking clock…/s)
    assert.deepEqual(
      JSON.parse(tty.out).checks.map((c: CheckResult) => c.status),
      report.checks.map(c => c.status)
    )
  })

  test('an uplink left to its default is a warning that says what it is for', async () => {
    const checks = byName(
      await runDoctor({
        configFile: await config(c => {
          delete c.uplink
        }),
        timeoutMs: 5_000
      })
    )
    const up = checks.get('uplink')
    assert.equal(up?.status, 'warn')
    assert.equal(up?.summary, 'uplink.bytesPerSec not set: the node assumes 12.5 MB/s (100 Mbit/s)')
    assert.match(up?.fix ?? '', /upload rate in bytes\/s .* runs out of upload long before CPU/)
  })

  test('the origin: down or 5xx fails, 4xx warns', async () => {
    const down = await freePort()
    const r = await reef([
      'doctor',
      '--config',
      await config(c => {
        c.origin.url = `http://127.0.0.1:${down}`
      })
    ])
    assert.equal(r.code, 1)
    assert.match(
      r.out,
      /^fail {2}origin +GET http:\/\/127\.0\.0\.1:\d+\/: no answer \(connection refused\)\n +fix: start the origin web server, or correct origin\.url/m
    )
    assert.match(r.out, /^skip {2}clock /m)
    assert.match(r.out, /1 failure/)

    try {
      origin.status = 503
      const failing = byName(await runDoctor({ configFile: await config(), timeoutMs: 5_000 }))
      assert.equal(failing.get('origin')?.status, 'fail')
      assert.match(failing.get('origin')?.summary ?? '', /answered 503/)
      origin.status = 404
      assert.equal(byName(await runDoctor({ configFile: await config(), timeoutMs: 5_000 })).get('origin')?.status, 'warn')
    } finally {
      origin.status = 200
    }
  })

  test('an origin that does not answer in time fails with the timeout', async () => {
    const silent = createServer(() => {})
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    try {
      const file = await config(c => {
        c.origin.url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
      })
      const origin = byName(await runDoctor({ configFile: file, timeoutMs: 300 })).get('origin')
      assert.equal(origin?.status, 'fail')
      assert.match(origin?.summary ?? '', /timed out after 300 ms/)
    } finally {
      await close(silent)
    }
  })

  test("the clock: warn beyond 5 s, fail beyond the protocol's 30 s, either way", async () => {
    const file = await config()
    try {
      for (const [skewMs, status, words] of [
        [10_000, 'warn', /(9|10)\.\d s ahead/],
        [-60_000, 'fail', /(59|60)\.\d s behind/],
        [45_000, 'fail', /beyond the protocol's 30 s limit/]
      ] as const) {
        origin.skewMs = skewMs
        const clock = byName(await runDoctor({ configFile: file, timeoutMs: 5_000 })).get('clock')
        assert.equal(clock?.status, status, `${skewMs}: ${clock?.summary}`)
        assert.match(clock?.summary ?? '', words)
        assert.match(clock?.fix ?? '', /time synchronisation/)
      }
    } finally {
      origin.skewMs = 0
    }
    assert.ok(
      usage(doctorCommand).includes(`warn\n               beyond ${CLOCK_WARN_MS / 1000} s, fail beyond the protocol's ${MAX_CLOCK_SKEW_MS / 1000} s`),
      'doctor --help states other limits'
    )
    const headers = new Headers({ date: new Date(1_700_000_000_000).toUTCString() })
    assert.equal(clockSkewMs({ headers, sentAt: 1_700_000_000_000, receivedAt: 1_700_000_000_000 }), 500)
    assert.equal(clockSkewMs({ headers: new Headers(), sentAt: 0, receivedAt: 0 }), undefined)
  })

  test('ports: taken by another process, or listed twice, fail with a fix', async () => {
    const squatter = createServer(() => {})
    squatter.listen(ports.front, '127.0.0.1')
    await once(squatter, 'listening')
    try {
      const results = byName(
        await runDoctor({
          configFile: await config(c => {
            c.mirror.listen.port = ports.admin
          }),
          timeoutMs: 5_000
        })
      )
      assert.equal(results.get('front port')?.status, 'fail')
      assert.match(results.get('front port')?.summary ?? '', /is in use by another process/)
      assert.match(results.get('front port')?.fix ?? '', new RegExp(`sport = :${ports.front}.*front\\.listen\\.port`))
      assert.equal(results.get('admin port')?.status, 'fail')
      assert.match(results.get('admin port')?.summary ?? '', /is also mirror\.listen/)
    } finally {
      await close(squatter)
    }
  })

  test('a running node: its ports are its own; its connections and peers are reported', async () => {
    const admin = createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ peerId, site: 'alpha', state: 'normal', connections: 2, peers: [{ site: 'bravo' }] }))
    })
    admin.listen(ports.admin, '127.0.0.1')
    await once(admin, 'listening')
    const front = createServer(() => {})
    front.listen(ports.front, '127.0.0.1')
    await once(front, 'listening')
    try {
      const r = await reef(['doctor', '--config', await config()])
      assert.equal(r.code, 0, r.out)
      assert.match(r.out, /^ok {4}node +running at http:\/\/127\.0\.0\.1:\d+: site alpha, state normal$/m)
      assert.match(r.out, /^ok {4}front port +front\.listen 127\.0\.0\.1:\d+ is held by the running node$/m)
      assert.match(r.out, /^ok {4}admin port +.* is held by the running node$/m)
      assert.match(r.out, /^ok {4}peers +2 connections, 1 member reporting load: bravo$/m)
      assert.match(r.out, /^ok {4}clock +compared with node admin API within 1 s, origin within 1 s$/m)

      // Another node (another site) at this config's admin port: its ports are not ours.
      const other = await config(c => {
        c.site.label = 'charlie'
      }, 'charlie.jsonc')
      const results = byName(await runDoctor({ configFile: other, timeoutMs: 5_000 }))
      assert.equal(results.get('node')?.status, 'warn')
      assert.match(results.get('node')?.summary ?? '', /another Reef node \(site alpha/)
      assert.equal(results.get('admin port')?.status, 'fail')
    } finally {
      await close(admin)
      await close(front)
    }
  })

  test('a config that does not parse: only the config check, failing with the line or field', async () => {
    const syntax = join(dir, 'syntax.jsonc')
    await writeFile(syntax, '{\n  "site": { "label": "alpha" }\n  "origin": {}\n}\n')
    const r = await reef(['doctor', '--config', syntax, '--json'])
    assert.equal(r.code, 1)
    const checks = (JSON.parse(r.out) as { checks: CheckResult[] }).checks
    assert.equal(checks.length, 1)
    assert.deepEqual(checks[0]?.data, { file: syntax, line: 3, column: 3 })
    assert.match(checks[0]?.fix ?? '', /fix the syntax at line 3 column 3/)

    const field = await config(c => {
      c.origin.capacityRps = 'many'
    }, 'field.jsonc')
    const [check] = await runDoctor({ configFile: field, timeoutMs: 5_000 })
    assert.equal(check?.status, 'fail')
    assert.equal(check?.data?.field, 'origin.capacityRps')
    assert.match(check?.summary ?? '', /config field origin\.capacityRps/)
    assert.match(check?.fix ?? '', /^set origin\.capacityRps in /)
  })

  test('a fresh data dir warns (start creates it); a file in its place fails', async () => {
    const fresh = byName(
      await runDoctor({
        configFile: await config(c => {
          c.dataDir = join(dir, 'new', 'data')
        }),
        timeoutMs: 5_000
      })
    )
    assert.equal(fresh.get('data dir')?.status, 'warn')
    assert.equal(fresh.get('identity')?.status, 'warn')
    assert.match(fresh.get('identity')?.fix ?? '', /reef init/)
    await writeFile(join(dir, 'afile'), 'x')
    const file = byName(
      await runDoctor({
        configFile: await config(c => {
          c.dataDir = join(dir, 'afile')
        }),
        timeoutMs: 5_000
      })
    )
    assert.equal(file.get('data dir')?.status, 'fail')
  })

  test('a corrupt identity fails with a fix', async () => {
    const data = join(dir, 'corrupt')
    await mkdir(data)
    await writeFile(join(data, 'identity.key'), 'not a key')
    const identity = byName(
      await runDoctor({
        configFile: await config(c => {
          c.dataDir = data
        }),
        timeoutMs: 5_000
      })
    ).get('identity')
    assert.equal(identity?.status, 'fail')
    assert.match(identity?.summary ?? '', /unreadable or corrupt/)
    assert.match(identity?.fix ?? '', /move it away/)
  })

  test('the admin token: a file only reef reads is ok; open to all warns; unreadable fails', async () => {
    const tokenFile = join(dir, 'admin-token')
    await writeFile(tokenFile, 'a-long-enough-operator-token\n', { mode: 0o640 })
    const check = async (patch: (c: Record<string, any>) => void): Promise<CheckResult | undefined> =>
      byName(await runDoctor({ configFile: await config(patch, 'token.jsonc'), timeoutMs: 5_000 })).get('admin token')
    assert.equal(
      (
        await check(c => {
          c.admin.tokenFile = tokenFile
        })
      )?.status,
      'ok'
    )
    await chmod(tokenFile, 0o644)
    const open = await check(c => {
      c.admin.tokenFile = tokenFile
    })
    assert.equal(open?.status, 'warn')
    assert.equal(open?.fix, `chmod o-rwx ${tokenFile}`)
    const missing = await check(c => {
      c.admin.tokenFile = join(dir, 'no-token')
    })
    assert.equal(missing?.status, 'fail')
    assert.match(missing?.summary ?? '', /admin\.tokenFile: cannot read .*ENOENT/)
    assert.equal(
      (
        await check(c => {
          c.admin.token = 'a-long-enough-operator-token'
        })
      )?.status,
      'warn'
    )
    assert.equal(
      (
        await check(c => {
          c.governance = {}
        })
      )?.status,
      'warn'
    )
    assert.equal(
      (
        await check(c => {
          c.admin.tokenFile = '/run/credentials/reef.service/admin-token'
        })
      )?.status,
      'skip'
    )
  })

  test('governance: a charter every founder signed is ok; a missing signature, another consortium, or neither charter nor invitation fails', async () => {
    const check = async (patch: (c: Record<string, any>) => void): Promise<CheckResult | undefined> =>
      byName(await runDoctor({ configFile: await config(patch, 'gov.jsonc'), timeoutMs: 5_000 })).get('governance')
    assert.equal((await check(() => {}))?.status, 'ok', 'an open consortium needs no charter')
    const other = await generateKeyPair('Ed25519')
    const otherPeer = peerIdFromPrivateKey(other).toString()
    const me = await loadOrCreateIdentity(dataDir())
    const founders = [
      { peer: peerId, site: 'alpha', mirrorUrl: 'https://mirror.alpha.example' },
      { peer: otherPeer, site: 'bravo', mirrorUrl: 'https://mirror.bravo.example' }
    ]
    const half = await signCharter({ body: charterBody({ id: 'reef', name: 'Test', founders }), sigs: [] }, me, peerId)
    const charterFile = join(dir, 'charter.json')
    await writeCharterFile(charterFile, half)
    const unsigned = await check(c => {
      c.governance = { charter: charterFile }
    })
    assert.equal(unsigned?.status, 'fail')
    assert.match(unsigned?.summary ?? '', /did not sign the charter/)
    assert.match(unsigned?.fix ?? '', /reef consortium sign/)
    await writeCharterFile(charterFile, await signCharter(half, other, otherPeer))
    const ok = await check(c => {
      c.governance = { charter: charterFile }
    })
    assert.equal(ok?.status, 'ok', ok?.summary)
    assert.match(ok?.summary ?? '', /signed by all 2 founders/)
    const elsewhere = await check(c => {
      c.consortium = 'othersites'
      c.governance = { charter: charterFile }
    })
    assert.equal(elsewhere?.status, 'fail')
    assert.match(elsewhere?.fix ?? '', /"consortium": "reef"/)
    const nothing = await check(c => {
      c.governance = {}
      c.dataDir = join(dir, 'fresh-data')
    })
    assert.equal(nothing?.status, 'fail')
    assert.match(nothing?.fix ?? '', /reef join TOKEN/)
  })

  test('peers: bad bootstrap addresses fail, none at all or no peer id warn', async () => {
    const bad = byName(
      await runDoctor({
        configFile: await config(c => {
          c.p2p.bootstrap = ['/ip4/1.2.3.4/tcp/99999']
        }),
        timeoutMs: 5_000
      })
    ).get('peers')
    assert.equal(bad?.status, 'fail')
    assert.match(bad?.summary ?? '', /p2p\.bootstrap\[0\] .* is not a multiaddr/)
    const none = byName(
      await runDoctor({
        configFile: await config(c => {
          c.p2p.bootstrap = []
        }),
        timeoutMs: 5_000
      })
    ).get('peers')
    assert.equal(none?.status, 'warn')
    const noId = byName(
      await runDoctor({
        configFile: await config(c => {
          c.p2p.bootstrap = ['/ip4/192.0.2.1/tcp/4001']
        }),
        timeoutMs: 5_000
      })
    ).get('peers')
    assert.equal(noId?.status, 'warn')
    assert.match(noId?.fix ?? '', /\/p2p\//)
  })
})
