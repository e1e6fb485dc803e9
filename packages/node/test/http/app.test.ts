import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import pino from 'pino'
import { connectionStats, createHttpApp } from '../../src/http/app.ts'
import type { HttpLimits } from '../../src/http/app.ts'

const limits: HttpLimits = {
  maxConnections: 100,
  maxConnectionsPerIp: 2,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 0,
  idleTimeoutMs: 10_000,
  maxHeaderBytes: 16_384,
  maxRequestsPerSocket: 0
}

/** Polls `cond` every 10 ms until it holds; fails naming `what` after `ms`. */
async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('createHttpApp connection limits', () => {
  const sockets: Socket[] = []
  after(() => {
    for (const s of sockets) s.destroy()
  })

  const open = async (port: number, from: string): Promise<Socket> =>
    await new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, localAddress: from })
      sockets.push(s)
      s.once('connect', () => resolve(s))
      s.once('error', reject)
    })

  it('closes connections past maxConnectionsPerIp on arrival, exempts trusted addresses, and counts both', async () => {
    const app = createHttpApp(pino({ level: 'silent' }), {}, limits, ['127.0.0.3'])
    app.get('/', async () => 'ok')
    await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      const port = (app.server.address() as { port: number }).port
      const stats = connectionStats(app)!
      const fromOne = await Promise.all([1, 2, 3, 4].map(async () => open(port, '127.0.0.2')))
      const trusted = await Promise.all([1, 2, 3].map(async () => open(port, '127.0.0.3')))
      await until('the server saw every connection', () => stats.open + stats.refusedPerAddress === 7, 5_000)
      assert.equal(stats.refusedPerAddress, 2, 'two of 127.0.0.2’s four connections are over the limit')
      assert.equal(stats.peakPerAddress, 2)
      assert.equal(stats.open, 5, 'two of 127.0.0.2 and the three of the trusted proxy')
      // A closed connection frees its place for the next one from the same address.
      await until('the refused sockets are closed client-side', () => fromOne.filter(s => s.closed).length === 2, 5_000)
      for (const s of fromOne) s.destroy()
      await until('the server counts the closes', () => stats.open === 3, 5_000)
      await open(port, '127.0.0.2')
      await until('the new connection is let in', () => stats.open === 4, 5_000)
      assert.equal(stats.refusedPerAddress, 2)
      for (const s of trusted) s.destroy()
    } finally {
      for (const s of sockets) s.destroy()
      await app.close()
    }
  })

  it('has no figures without limits (the admin listener)', () => {
    assert.equal(connectionStats(createHttpApp(pino({ level: 'silent' }))), undefined)
  })
})
