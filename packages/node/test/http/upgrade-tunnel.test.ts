/**
 * Connection upgrades through the front, against a real origin that speaks an upgraded protocol
 * (it answers 101 and then echoes upper-cased): bytes flow both ways, the origin sees who asked,
 * the cap answers 503, and an origin that is down gets 502.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, request } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { attachUpgradeTunnel } from '../../src/http/upgrade-tunnel.ts'

const port = (s: Server): number => (s.address() as AddressInfo).port

async function upgrade(frontPort: number, headers: Record<string, string> = {}): Promise<{ status: number; socket?: Socket }> {
  const req = request({ host: '127.0.0.1', port: frontPort, path: '/live?room=1', headers: { connection: 'Upgrade', upgrade: 'shout', ...headers } })
  req.end()
  return new Promise((resolve, reject) => {
    req.once('upgrade', (res, socket) => {
      resolve({ status: res.statusCode ?? 0, socket })
    })
    req.once('response', res => {
      res.resume()
      resolve({ status: res.statusCode ?? 0 })
    })
    req.once('error', reject)
  })
}

describe('upgrade tunnel', () => {
  let origin: Server
  let front: Server
  let tunnel: ReturnType<typeof attachUpgradeTunnel>
  const seen: IncomingHttpHeaders[] = []

  before(async () => {
    origin = createServer((_req, res) => {
      res.end('plain')
    })
    origin.on('upgrade', (req, socket: Socket) => {
      seen.push(req.headers)
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\n')
      socket.on('data', d => {
        socket.write(String(d).toUpperCase())
      })
    })
    origin.listen(0, '127.0.0.1')
    await once(origin, 'listening')
    front = createServer((_req, res) => {
      res.end('front')
    })
    tunnel = attachUpgradeTunnel(front, {
      originUrl: `http://127.0.0.1:${port(origin)}`,
      maxConnections: 2,
      trustedProxies: [],
      log: pino({ level: 'silent' })
    })
    front.listen(0, '127.0.0.1')
    await once(front, 'listening')
  })
  after(async () => {
    tunnel.close()
    front.close()
    origin.close()
    origin.closeAllConnections()
  })

  it('tunnels an upgrade both ways and tells the origin who asked', async () => {
    const { status, socket } = await upgrade(port(front), { 'x-forwarded-proto': 'https' })
    assert.equal(status, 101)
    socket!.write('hello')
    const [echo] = (await once(socket!, 'data')) as [Buffer]
    assert.equal(String(echo), 'HELLO')
    assert.equal(seen[0]!['x-forwarded-for'], '127.0.0.1')
    assert.equal(seen[0]!['x-forwarded-proto'], 'http', 'an untrusted client must not claim https')
    assert.equal(seen[0]!.upgrade, 'shout')
    assert.equal(tunnel.open, 1)
    socket!.destroy()
    const deadline = Date.now() + 5_000
    const count = (): number => tunnel.open
    while (count() !== 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(count(), 0, 'a closed tunnel is still counted')
  })

  it('answers 503 past the cap', async () => {
    const a = await upgrade(port(front))
    const b = await upgrade(port(front))
    const c = await upgrade(port(front))
    assert.deepEqual([a.status, b.status, c.status], [101, 101, 503])
    a.socket!.destroy()
    b.socket!.destroy()
  })

  it('answers 502 when the origin is down', async () => {
    const down = createServer()
    const t = attachUpgradeTunnel(down, { originUrl: 'http://127.0.0.1:1', maxConnections: 2, trustedProxies: [], log: pino({ level: 'silent' }) })
    down.listen(0, '127.0.0.1')
    await once(down, 'listening')
    try {
      assert.equal((await upgrade(port(down))).status, 502)
    } finally {
      t.close()
      down.close()
    }
  })
})
