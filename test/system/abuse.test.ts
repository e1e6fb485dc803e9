/**
 * Abusive clients at the front (issue 13, item 4): while thousands of connections send their
 * headers slowly (slowloris, from one address and from several), clients send huge headers and
 * others pipeline many tiny requests, ordinary visitors keep ≥ 95 % of the success rate they have
 * without the abuse. The limits are config `http` (README): a request head must arrive within
 * headersTimeoutMs (2 s here), one address holds at most maxConnectionsPerIp connections
 * (64 here: checked on the node's own metric of the most one address held at once), headers
 * over maxHeaderBytes get 431.
 *
 * Everything runs on 127.0.0.0/8: the abusers bind 127.0.0.2–127.0.0.7 so that they are other
 * addresses than the visitors'. Bounded: 3,000 slow connections, 20 huge heads, 4 × 500
 * pipelined requests; every socket is destroyed at the end, also on failure.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { loopbackDispatcher, runCrowd, startLocalConsortium } from '@reef/node/demo'
import type { LocalConsortium } from '@reef/node/demo'
import { until } from './wait.ts'

const HEADERS_TIMEOUT_MS = 2_000
const PER_IP = 64

/** A slow connection; `answered`: the server read it and answered (408 when its head timed out). */
interface Slow {
  socket: Socket
  from: string
  connectedAt: number
  closedAt: number | undefined
  answered: boolean
}

describe('abusive clients at the front', () => {
  let c: LocalConsortium
  const dispatcher = loopbackDispatcher()
  const sockets: Socket[] = []
  let port = 0

  before(async () => {
    c = await startLocalConsortium({
      nodes: 1,
      capacityRps: 200,
      workers: 8,
      logLevel: 'error',
      overrides: { http: { headersTimeoutMs: HEADERS_TIMEOUT_MS, maxConnectionsPerIp: PER_IP } }
    })
    port = Number(new URL(c.sites[0]!.url).port)
  })

  after(async () => {
    for (const s of sockets) s.destroy()
    await c?.close()
    await dispatcher.close()
  })

  const visitors = async (seed: number): Promise<number> => {
    const site = c.sites[0]!
    const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    const report = await runCrowd({
      siteUrl: site.url,
      pages: site.origin.pages,
      profile: { kind: 'step', rps: 100, durationMs: 4_000 },
      maxRequests: 600,
      maxDurationMs: 15_000,
      expected,
      dispatcher,
      seed
    })
    return report.successRate
  }

  /** The server's own connection figures, from the node's `/metrics`. */
  const connectionFigures = async (server: 'front' | 'mirror'): Promise<{ peak: number; refused: number }> => {
    const text = await (await request(`${c.sites[0]!.node!.adminUrl!}/metrics`)).body.text()
    const value = (name: string): number => {
      const line = text.split('\n').find(l => l.startsWith(`${name} `))
      assert.ok(line !== undefined, `/metrics has no ${name}`)
      return Number(line.split(' ')[1])
    }
    return {
      peak: value(`reef_http_connections_per_address_peak{server="${server}"}`),
      refused: value(`reef_http_connections_refused_total{server="${server}",limit="per_address"}`)
    }
  }

  /** `n` connections from `from` that send a request head one header line every 500 ms, never ending it. */
  const slowloris = (from: string, n: number, to = port): Slow[] => {
    const out: Slow[] = []
    for (let i = 0; i < n; i++) {
      const socket = connect({ host: '127.0.0.1', port: to, localAddress: from })
      sockets.push(socket)
      const s: Slow = { socket, from, connectedAt: 0, closedAt: undefined, answered: false }
      socket.on('data', () => {
        s.answered = true
      })
      out.push(s)
      socket.on('error', () => {})
      socket.once('connect', () => {
        s.connectedAt = Date.now()
        socket.write('GET / HTTP/1.1\r\nHost: alpha\r\n')
        const timer = setInterval(() => {
          if (!socket.destroyed) socket.write(`X-Slow-${Date.now()}: 1\r\n`)
        }, 500)
        socket.once('close', () => {
          clearInterval(timer)
        })
      })
      socket.once('close', () => {
        s.closedAt = Date.now()
      })
    }
    return out
  }

  /** Status line of the answer to one request head with a `bytes`-long header. */
  const hugeHead = async (bytes: number): Promise<string> =>
    await new Promise(resolve => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.6' })
      sockets.push(socket)
      let got = ''
      socket.on('error', () => {
        resolve(got.split('\r\n')[0] ?? '')
      })
      socket.on('data', d => {
        got += d.toString('latin1')
      })
      socket.once('close', () => {
        resolve(got.split('\r\n')[0] ?? '')
      })
      socket.once('connect', () => {
        socket.write(`GET / HTTP/1.1\r\nHost: alpha\r\nX-Huge: ${'a'.repeat(bytes)}\r\n\r\n`)
      })
    })

  /** One connection pipelining `n` tiny requests at once; resolves to the responses it got before it closed. */
  const pipelined = async (n: number): Promise<number> =>
    await new Promise(resolve => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.7' })
      sockets.push(socket)
      let got = ''
      const count = (): number => got.split('HTTP/1.1 ').length - 1
      socket.on('error', () => {
        resolve(count())
      })
      socket.on('data', d => {
        got += d.toString('latin1')
        if (count() >= n) socket.end()
      })
      socket.once('close', () => {
        resolve(count())
      })
      socket.once('connect', () => {
        socket.write('GET /about.html HTTP/1.1\r\nHost: alpha\r\n\r\n'.repeat(n))
      })
    })

  it('ordinary visitors keep ≥ 95 % of their success rate through slowloris, huge headers and pipelining', async t => {
    const calm = await visitors(1)
    t.diagnostic(`visitors without abuse: ${(100 * calm).toFixed(1)}%`)
    assert.ok(calm >= 0.9, `the front serves only ${calm} of ordinary visitors without abuse`)

    const started = Date.now()
    const slow = [...slowloris('127.0.0.2', 2_000), ...['127.0.0.3', '127.0.0.4', '127.0.0.5'].flatMap(a => slowloris(a, 300)), ...slowloris('127.0.0.6', 100)]
    const [during, heads, piped] = await Promise.all([
      visitors(2),
      Promise.all(Array.from({ length: 20 }, async () => hugeHead(64 * 1024))),
      Promise.all(Array.from({ length: 4 }, async () => pipelined(500)))
    ])
    t.diagnostic(`visitors during the abuse: ${(100 * during).toFixed(1)}%; pipelined answers ${piped.join(', ')}`)
    assert.ok(during >= 0.95 * calm, `visitors' success fell from ${calm} to ${during} under abuse`)

    // Headers over maxHeaderBytes: 431 and closed (or reset while the client still writes), never served.
    assert.ok(
      heads.every(h => h === '' || h.startsWith('HTTP/1.1 431')),
      `huge heads answered ${[...new Set(heads)].join(' | ')}`
    )
    // Pipelined requests are answered in order on their connection.
    assert.ok(
      piped.every(n => n > 0),
      `pipelined connections got ${piped.join(', ')} answers`
    )

    // Every slow head is cut once its time is up (headersTimeoutMs, checked every second).
    await until('every slowloris connection closed by the front', () => slow.every(s => s.closedAt !== undefined), 15_000)
    // One address holds at most PER_IP connections at once: the server's own figures. (Counting
    // the client sockets it answered is no measure: connections whose SYN waited in a full
    // accept queue arrive seconds later, when earlier ones are gone, and are rightly let in.)
    const conn = await connectionFigures('front')
    t.diagnostic(`front: per-address peak ${conn.peak}, refused per address ${conn.refused}`)
    assert.ok(conn.peak <= PER_IP, `one address held ${conn.peak} connections to the front at once (limit ${PER_IP})`)
    assert.ok(conn.peak >= Math.min(PER_IP, 50), `the front never held more than ${conn.peak} connections of one address: the abuse did not arrive`)
    assert.ok(conn.refused > 0, 'no connection was refused for the per-address limit')
    assert.ok(
      slow.some(s => s.from === '127.0.0.2' && s.answered),
      'no slow head from 127.0.0.2 reached the front at all'
    )
    const holds = slow
      .filter(s => s.connectedAt > 0)
      .map(s => s.closedAt! - s.connectedAt)
      .sort((a, b) => a - b)
    t.diagnostic(`slow connections held: median ${holds[holds.length >> 1]} ms, max ${holds.at(-1)} ms`)
    const late = slow.filter(s => s.connectedAt > 0 && s.closedAt! - s.connectedAt > HEADERS_TIMEOUT_MS + 4_000)
    assert.deepEqual(late.length, 0, `${late.length} slow heads held longer than ${HEADERS_TIMEOUT_MS + 4_000} ms`)
    t.diagnostic(`all ${slow.length} slow connections closed ${Date.now() - started} ms after the abuse began`)

    // The front still serves afterwards.
    assert.ok((await visitors(3)) >= 0.95 * calm, 'visitors after the abuse')
  })

  it('the mirror has the same limits: one address holds at most its share, and slow heads are cut', async () => {
    const mirrorPort = c.sites[0]!.node!.config.mirror.listen.port
    const slow = slowloris('127.0.0.8', 500, mirrorPort)
    await until('every slow connection to the mirror closed', () => slow.every(s => s.closedAt !== undefined), 15_000)
    const conn = await connectionFigures('mirror')
    assert.ok(conn.peak <= PER_IP, `127.0.0.8 held ${conn.peak} connections to the mirror at once (limit ${PER_IP})`)
    assert.ok(conn.refused > 0, 'the mirror refused no connection for the per-address limit')
    assert.ok(
      slow.some(s => s.answered),
      'no slow head reached the mirror at all'
    )
    const late = slow.filter(s => s.connectedAt > 0 && s.closedAt! - s.connectedAt > HEADERS_TIMEOUT_MS + 4_000)
    assert.equal(late.length, 0, `${late.length} slow heads held by the mirror longer than ${HEADERS_TIMEOUT_MS + 4_000} ms`)
  })
})
