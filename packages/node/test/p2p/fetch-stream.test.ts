/**
 * The fetch stream (SPEC.md §Fetch stream) between real libp2p hosts on 127.0.0.1: a
 * beneficiary running registerFetchServer, a helper calling fetchFromPeer, and a "liar" host
 * speaking the protocol by hand to send what an honest server never would.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { pino } from 'pino'
import { FETCH_PROTOCOL, canonicalBytes, decodeFetchRequest, encodeFetchRequest, encodeFetchResponseHead } from '@reef/protocol'
import type { FetchResponseHead, ManifestEntry } from '@reef/protocol'
import { sha256Hex } from '../../src/origin/content-cache.ts'
import type { CachedObject } from '../../src/origin/content-cache.ts'
import { FetchRefusedError } from '../../src/errors.ts'
import { FETCH_CHUNK_BYTES, fetchFromPeer, registerFetchServer } from '../../src/p2p/fetch-stream.ts'
import { createReefLibp2p } from '../../src/p2p/host.ts'
import type { ReefLibp2p } from '../../src/p2p/host.ts'

const SESSION = 'sess-accepted-0001'
const MAX = 16 * 1024 * 1024
const log = pino({ level: 'silent' })

let beneficiary: ReefLibp2p
let helper: ReefLibp2p
let liar: ReefLibp2p
let B: string // beneficiary peer id
let L: string // liar peer id

/** What the beneficiary's load() does per path; an unknown path is a 404 from the origin. */
const objects = new Map<string, () => Promise<CachedObject>>()
const loads: string[] = []
const acceptChecks: Array<{ session: string; peer: string }> = []

/** What the liar does after reading a request for a path. */
const lies = new Map<string, (lp: LengthPrefixedStream<Stream>, stream: Stream) => Promise<void>>()
const liarStreamsClosed: string[] = []

function cached(path: string, body: Buffer, headers: Record<string, string> = {}): CachedObject {
  return { site: 'alpha', path, headers, body, sha256: sha256Hex(body), storedAt: Date.now() }
}

function serve(path: string, obj: CachedObject): void {
  objects.set(path, async () => obj)
}

function firstAddr(node: ReefLibp2p): ReturnType<ReefLibp2p['getMultiaddrs']>[number] {
  const a = node.getMultiaddrs()[0]
  assert.ok(a !== undefined, 'host listens on an address')
  return a
}

/** Reject when `p` has not settled within `ms`: a stuck stream fails the test instead of hanging it. */
async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`not settled within ${ms} ms`))
    }, ms)
  })
  try {
    return await Promise.race([p, deadline])
  } finally {
    clearTimeout(timer)
  }
}

function hasCode(code: string): (err: unknown) => boolean {
  return err => {
    assert.equal((err as { code?: unknown }).code, code, String(err))
    return true
  }
}

function refusedWith(status: number): (err: unknown) => boolean {
  return err => {
    assert.ok(err instanceof FetchRefusedError, String(err))
    assert.equal(err.code, 'ERR_FETCH_REFUSED')
    assert.equal(err.status, status)
    return true
  }
}

before(async () => {
  const nodes = await Promise.all([0, 1, 2].map(async () => createReefLibp2p(await generateKeyPair('Ed25519'), ['/ip4/127.0.0.1/tcp/0'])))
  ;[beneficiary, helper, liar] = nodes as [ReefLibp2p, ReefLibp2p, ReefLibp2p]
  await Promise.all(nodes.map(async n => n.start()))
  B = beneficiary.peerId.toString()
  L = liar.peerId.toString()
  const H = helper.peerId.toString()

  await registerFetchServer(beneficiary, {
    log,
    isAcceptedHelper: (session, peer) => {
      acceptChecks.push({ session, peer })
      return session === SESSION && peer === H
    },
    load: async path => {
      loads.push(path)
      const f = objects.get(path)
      if (f === undefined) throw new FetchRefusedError(404, `origin answered 404 for ${path}`)
      return f()
    }
  })

  await liar.handle(FETCH_PROTOCOL, async (stream: Stream) => {
    const lp = lpStream(stream, { maxDataLength: FETCH_CHUNK_BYTES })
    const req = decodeFetchRequest((await lp.read()).subarray())
    stream.addEventListener(
      'close',
      () => {
        liarStreamsClosed.push(req.path)
      },
      { once: true }
    )
    const lie = lies.get(req.path)
    if (lie === undefined) {
      stream.abort(new Error('no lie for this path'))
      return
    }
    await lie(lp, stream)
  })

  await helper.dial(firstAddr(beneficiary))
  await helper.dial(firstAddr(liar))
  await liar.dial(firstAddr(beneficiary))
})

after(async () => {
  await Promise.all([beneficiary, helper, liar].map(async n => n?.stop()))
})

describe('fetch stream: an accepted helper', () => {
  test('gets the exact body, headers and sha256 of an object spanning several chunks', async () => {
    const body = randomBytes(300_000) // 4 full 64 KiB chunks and a partial one
    const headers = { 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=300', etag: '"big-1"' }
    serve('/photos/big.jpg', cached('/photos/big.jpg', body, headers))
    const got = await fetchFromPeer(helper, B, SESSION, '/photos/big.jpg', MAX)
    assert.ok(body.byteLength > 4 * FETCH_CHUNK_BYTES)
    assert.equal(got.body.byteLength, body.byteLength)
    assert.ok(got.body.equals(body))
    assert.deepEqual(got.headers, headers)
    assert.equal(got.sha256, sha256Hex(body))
    assert.deepEqual(acceptChecks.at(-1), { session: SESSION, peer: helper.peerId.toString() })
    assert.equal(loads.at(-1), '/photos/big.jpg')
  })

  test('bodies of exactly n chunks, of one byte and of zero bytes arrive intact', async () => {
    for (const [path, body] of [
      ['/exact.bin', randomBytes(2 * FETCH_CHUNK_BYTES)],
      ['/one.txt', Buffer.from('x')],
      ['/empty.txt', Buffer.alloc(0)]
    ] as const) {
      serve(path, cached(path, body, { 'content-type': 'application/octet-stream' }))
      const got = await fetchFromPeer(helper, B, SESSION, path, MAX)
      assert.ok(got.body.equals(body), path)
      assert.equal(got.sha256, sha256Hex(body), path)
    }
  })

  test('a manifest entry that matches what is served is accepted', async () => {
    const body = randomBytes(70_000)
    serve('/app.js', cached('/app.js', body, { 'content-type': 'text/javascript' }))
    const entry: ManifestEntry = { path: '/app.js', size: body.byteLength, type: 'text/javascript', sha256: sha256Hex(body) }
    const got = await fetchFromPeer(helper, B, SESSION, '/app.js', MAX, entry)
    assert.ok(got.body.equals(body))
  })

  test('20 concurrent fetches are served concurrently and all succeed', async () => {
    const n = 20
    let started = 0
    let release!: () => void
    const allStarted = new Promise<void>(resolve => {
      release = resolve
    })
    const bodies = Array.from({ length: n }, (_, i) => randomBytes(30_000 + i * 1_000))
    bodies.forEach((body, i) => {
      const path = `/c/${i}.bin`
      objects.set(path, async () => {
        // Hold every load until all 20 requests are in: a server handling streams one at a
        // time would never get there and the fetches would fail by the deadline below.
        if (++started === n) release()
        await allStarted
        return cached(path, body)
      })
    })
    const got = await within(5_000, Promise.all(bodies.map(async (_b, i) => fetchFromPeer(helper, B, SESSION, `/c/${i}.bin`, MAX))))
    assert.equal(started, n)
    got.forEach((g, i) => {
      assert.ok(g.body.equals(bodies[i] ?? Buffer.alloc(0)), `object ${i}`)
      assert.equal(g.sha256, sha256Hex(bodies[i] ?? Buffer.alloc(0)))
    })
  })
})

describe('fetch stream: refusals', () => {
  test('a peer that is not an accepted helper of the session gets 403 and nothing is loaded', async () => {
    serve('/private-ish.html', cached('/private-ish.html', Buffer.from('<p>only for helpers</p>')))
    const before = loads.length
    // The helper, but for a session it was not accepted in.
    await assert.rejects(fetchFromPeer(helper, B, 'sess-another-0001', '/private-ish.html', MAX), refusedWith(403))
    assert.deepEqual(acceptChecks.at(-1), { session: 'sess-another-0001', peer: helper.peerId.toString() })
    // Another peer, for the right session.
    await assert.rejects(fetchFromPeer(liar, B, SESSION, '/private-ish.html', MAX), refusedWith(403))
    assert.deepEqual(acceptChecks.at(-1), { session: SESSION, peer: L })
    assert.equal(loads.length, before)
  })

  test('load() refusing with 404 or 410 surfaces that status', async () => {
    objects.set('/gone.html', async () => {
      throw new FetchRefusedError(410, 'origin answered 410')
    })
    await assert.rejects(fetchFromPeer(helper, B, SESSION, '/never-existed.html', MAX), refusedWith(404))
    await assert.rejects(fetchFromPeer(helper, B, SESSION, '/gone.html', MAX), refusedWith(410))
  })

  test('load() refusing with 403 (not shareable) surfaces 403', async () => {
    objects.set('/account', async () => {
      throw new FetchRefusedError(403, 'origin response is not shareable')
    })
    await assert.rejects(fetchFromPeer(helper, B, SESSION, '/account', MAX), refusedWith(403))
  })

  test('load() failing with a generic error → 502', async () => {
    objects.set('/broken', async () => {
      throw new Error('ECONNREFUSED to the origin')
    })
    await assert.rejects(fetchFromPeer(helper, B, SESSION, '/broken', MAX), refusedWith(502))
  })
})

describe('fetch stream: verification by the helper', () => {
  test('a beneficiary announcing a sha256 that does not match the body → IntegrityError', async () => {
    const body = randomBytes(150_000)
    serve('/tampered.js', { ...cached('/tampered.js', body), sha256: sha256Hex(Buffer.from('something else')) })
    await assert.rejects(fetchFromPeer(helper, B, SESSION, '/tampered.js', MAX), hasCode('ERR_INTEGRITY'))
  })

  test('a body that differs from the manifest entry in sha256 or size → IntegrityError', async () => {
    const body = randomBytes(100_000)
    serve('/swapped.css', cached('/swapped.css', body))
    const right: ManifestEntry = { path: '/swapped.css', size: body.byteLength, type: 'text/css', sha256: sha256Hex(body) }
    // Same size, other content: caught only after the whole body was read and hashed.
    await assert.rejects(
      fetchFromPeer(helper, B, SESSION, '/swapped.css', MAX, { ...right, sha256: sha256Hex(randomBytes(100_000)) }),
      hasCode('ERR_INTEGRITY')
    )
    for (const size of [body.byteLength - 1, body.byteLength + 1, 0]) {
      await assert.rejects(fetchFromPeer(helper, B, SESSION, '/swapped.css', MAX, { ...right, size }), hasCode('ERR_INTEGRITY'), `size ${size}`)
    }
    // The connection is still good for an honest fetch.
    const got = await fetchFromPeer(helper, B, SESSION, '/swapped.css', MAX, right)
    assert.ok(got.body.equals(body))
  })

  test("an object over the helper's maxObjectBytes → TooLargeError, and the connection stays usable", async () => {
    const body = randomBytes(300_000)
    serve('/video.bin', cached('/video.bin', body))
    await assert.rejects(fetchFromPeer(helper, B, SESSION, '/video.bin', 256 * 1024), hasCode('ERR_TOO_LARGE'))
    const got = await fetchFromPeer(helper, B, SESSION, '/video.bin', 300_000)
    assert.ok(got.body.equals(body))
  })

  test('TooLargeError comes from the head alone: the body is never waited for', async () => {
    // The liar announces 8 MiB and sends nothing more; a helper that tried to read the body
    // would hang until its 15 s stream timeout.
    lies.set('/huge.iso', async (lp, stream) => {
      await lp.write(encodeFetchResponseHead({ v: 1, status: 200, headers: {}, size: 8 * 1024 * 1024, sha256: sha256Hex(Buffer.from('huge')) }))
      await new Promise(resolve => {
        stream.addEventListener('close', resolve, { once: true })
      })
    })
    const started = performance.now()
    await within(5_000, assert.rejects(fetchFromPeer(helper, L, SESSION, '/huge.iso', 1024 * 1024), hasCode('ERR_TOO_LARGE')))
    assert.ok(performance.now() - started < 5_000)
    // The helper dropped the stream; the liar's side sees it close.
    await within(
      5_000,
      (async () => {
        while (!liarStreamsClosed.includes('/huge.iso')) await new Promise(resolve => setImmediate(resolve))
      })()
    )
  })

  test('a chunk running past the announced size → IntegrityError', async () => {
    const body = randomBytes(1_000)
    lies.set('/overlong', async lp => {
      await lp.write(encodeFetchResponseHead({ v: 1, status: 200, headers: {}, size: 600, sha256: sha256Hex(body.subarray(0, 600)) }))
      await lp.write(body)
    })
    await within(5_000, assert.rejects(fetchFromPeer(helper, L, SESSION, '/overlong', MAX), hasCode('ERR_INTEGRITY')))
  })

  test('a body shorter than announced (stream closed early) is rejected', async () => {
    const body = randomBytes(1_000)
    lies.set('/truncated', async (lp, stream) => {
      await lp.write(encodeFetchResponseHead({ v: 1, status: 200, headers: {}, size: 2_000, sha256: sha256Hex(randomBytes(2_000)) }))
      await lp.write(body)
      await stream.close()
    })
    await within(
      5_000,
      assert.rejects(fetchFromPeer(helper, L, SESSION, '/truncated', MAX), (err: unknown) => {
        assert.ok(err instanceof Error)
        assert.equal((err as { code?: unknown }).code, 'ERR_INTEGRITY', String(err))
        assert.match(err.message, /ERR_BODY_SIZE/)
        return true
      })
    )
  })

  test('a body cut off by a reset or a closed connection is a failed transfer, not a bad body (a helper stopped mid-fetch)', async () => {
    const body = randomBytes(1_000)
    const head = encodeFetchResponseHead({ v: 1, status: 200, headers: {}, size: 2_000, sha256: sha256Hex(randomBytes(2_000)) })
    lies.set('/cut-reset', async (lp, stream) => {
      await lp.write(head)
      await lp.write(body)
      stream.abort(new Error('the server went away'))
    })
    lies.set('/cut-hangup', async lp => {
      await lp.write(head)
      await lp.write(body)
      await liar.hangUp(helper.peerId)
    })
    const whole = randomBytes(2_000)
    lies.set('/whole-then-hangup', async lp => {
      await lp.write(encodeFetchResponseHead({ v: 1, status: 200, headers: {}, size: 2_000, sha256: sha256Hex(whole) }))
      await lp.write(whole)
      await liar.hangUp(helper.peerId)
    })
    const got = await within(5_000, fetchFromPeer(helper, L, SESSION, '/whole-then-hangup', MAX))
    assert.deepEqual(got.body, whole, 'a whole body cut just after its last byte is kept')
    for (const path of ['/cut-reset', '/cut-hangup'])
      await within(
        5_000,
        assert.rejects(fetchFromPeer(helper, L, SESSION, path, MAX), (err: unknown) => {
          assert.equal((err as { code?: unknown }).code, 'ERR_FETCH_INTERRUPTED', `${path}: ${String(err)}`)
          return true
        })
      )
  })

  test('an empty chunk frame is a framing violation (SPEC: chunks are 1 to FETCH_CHUNK_BYTES bytes)', async () => {
    const body = randomBytes(600)
    lies.set('/empty-chunk', async (lp, stream) => {
      await lp.write(encodeFetchResponseHead({ v: 1, status: 200, headers: {}, size: 600, sha256: sha256Hex(body) }))
      await lp.writeV([body.subarray(0, 300), new Uint8Array(0), body.subarray(300)])
      await stream.close()
    })
    await within(
      5_000,
      assert.rejects(fetchFromPeer(helper, L, SESSION, '/empty-chunk', MAX), (err: unknown) => {
        assert.equal((err as { code?: unknown }).code, 'ERR_INTEGRITY', String(err))
        assert.match((err as Error).message, /ERR_FRAMING/)
        return true
      })
    )
  })

  test('bytes after the announced size are rejected too (SPEC: MUST reject a body longer than size)', async () => {
    const body = randomBytes(600)
    lies.set('/trailing', async (lp, stream) => {
      await lp.write(encodeFetchResponseHead({ v: 1, status: 200, headers: {}, size: 600, sha256: sha256Hex(body) }))
      await lp.writeV([body, Buffer.from('TRAILING-JUNK')])
      await stream.close()
    })
    await within(5_000, assert.rejects(fetchFromPeer(helper, L, SESSION, '/trailing', MAX), hasCode('ERR_INTEGRITY')))
  })
})

describe('fetch stream: malformed request frames', () => {
  const frames: Array<[string, Uint8Array]> = [
    ['binary garbage', Uint8Array.from([0xff, 0x00, 0x13, 0x37, 0xfe, 0x7b, 0x22])],
    ['non-canonical JSON (white space)', Buffer.from(`{ "path": "/index.html", "session": "${SESSION}", "v": 1 }`)],
    ['canonical JSON with an unknown field', canonicalBytes({ extra: true, path: '/index.html', session: SESSION, v: 1 })],
    ['a path starting with //', canonicalBytes({ path: '//evil.example/x', session: SESSION, v: 1 })],
    ['a frame over 16 KiB', canonicalBytes({ path: `/${'a'.repeat(17 * 1024)}`, session: SESSION, v: 1 })]
  ]
  for (const [name, frame] of frames) {
    test(`${name}: the stream is dropped without an answer and the next fetch is served`, async () => {
      serve('/index.html', cached('/index.html', Buffer.from('<h1>still here</h1>'), { 'content-type': 'text/html' }))
      const loadsBefore = loads.length
      const raw = await helper.dialProtocol(beneficiary.peerId, FETCH_PROTOCOL)
      const lp = lpStream(raw, { maxDataLength: 64 * 1024 })
      await lp.write(frame)
      // The beneficiary resets the stream: the read fails (it never yields a response head).
      await within(
        5_000,
        assert.rejects(lp.read({ signal: AbortSignal.timeout(4_000) }), (err: unknown) => {
          assert.ok(err instanceof Error)
          assert.equal(err.name, 'StreamResetError', String(err))
          return true
        })
      )
      assert.equal(loads.length, loadsBefore)
      const got = await fetchFromPeer(helper, B, SESSION, '/index.html', MAX)
      assert.equal(got.body.toString(), '<h1>still here</h1>')
      assert.equal(loads.length, loadsBefore + 1)
    })
  }

  test('a valid request frame on a raw stream gets a well-formed head and body (control for the cases above)', async () => {
    const body = Buffer.from('control body')
    serve('/control.txt', cached('/control.txt', body, { 'content-type': 'text/plain' }))
    const raw = await helper.dialProtocol(beneficiary.peerId, FETCH_PROTOCOL)
    const lp = lpStream(raw, { maxDataLength: 64 * 1024 })
    await lp.write(encodeFetchRequest({ v: 1, session: SESSION, path: '/control.txt' }))
    const head = JSON.parse(Buffer.from((await lp.read({ signal: AbortSignal.timeout(4_000) })).subarray()).toString()) as FetchResponseHead
    assert.deepEqual(head, { v: 1, status: 200, headers: { 'content-type': 'text/plain' }, size: body.byteLength, sha256: sha256Hex(body) })
    const chunk = await lp.read({ signal: AbortSignal.timeout(4_000) })
    assert.ok(Buffer.from(chunk.subarray()).equals(body))
    await raw.close()
  })
})
