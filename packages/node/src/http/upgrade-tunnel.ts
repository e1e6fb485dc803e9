/**
 * Connection upgrades (WebSocket and the like) through the front: the request head is passed to
 * the origin with the usual X-Forwarded-* headers, and once the origin answers, bytes flow both
 * ways unchanged until either side closes. Upgrades are never shed (a mirror serves only
 * cacheable GETs) and do not count against the origin gate (they are long-lived and idle most of
 * the time); their number is capped instead, and past the cap the front answers 503.
 */
import type { IncomingMessage, Server } from 'node:http'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import type { Logger } from 'pino'
import { isSafePath } from './front.ts'

export interface UpgradeTunnelOptions {
  originUrl: string
  /** Most upgraded connections open at once. */
  maxConnections: number
  /** Addresses whose X-Forwarded-Proto/-Host are passed on (as in the front). */
  trustedProxies: readonly string[]
  /** How long the origin may take to accept the TCP connection, ms. */
  connectTimeoutMs?: number
  log: Logger
}

const refuse = (socket: Duplex, status: string): void => {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\nCache-Control: no-store\r\n\r\n`)
}

/** Tunnel `server`'s upgrade requests to the origin; returns how to close them all and count them. */
export function attachUpgradeTunnel(server: Server, opts: UpgradeTunnelOptions): { readonly open: number; close: () => void } {
  const origin = new URL(opts.originUrl)
  const secure = origin.protocol === 'https:'
  const port = Number(origin.port === '' ? (secure ? 443 : 80) : origin.port)
  const host = origin.hostname.replace(/^\[|\]$/g, '')
  const trusted = new Set(opts.trustedProxies)
  const open = new Set<Duplex>()

  server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const url = req.url ?? '/'
    if (!isSafePath(url)) {
      refuse(client, '400 Bad Request')
      return
    }
    if (open.size >= opts.maxConnections) {
      refuse(client, '503 Service Unavailable')
      return
    }
    const upstream: Socket = secure ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port })
    open.add(client)
    const remote = req.socket.remoteAddress ?? ''
    const fromProxy = trusted.has(remote)
    const lines = [`${req.method ?? 'GET'} ${url} HTTP/1.1`]
    let forwardedFor: string | undefined
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!
      const lower = name.toLowerCase()
      if (lower === 'x-forwarded-for') {
        forwardedFor = forwardedFor === undefined ? req.rawHeaders[i + 1] : `${forwardedFor}, ${req.rawHeaders[i + 1]}`
        continue
      }
      if ((lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') && !fromProxy) continue
      lines.push(`${name}: ${req.rawHeaders[i + 1]!}`)
    }
    lines.push(`X-Forwarded-For: ${forwardedFor === undefined ? remote : `${forwardedFor}, ${remote}`}`)
    if (!fromProxy || req.headers['x-forwarded-proto'] === undefined) lines.push('X-Forwarded-Proto: http')
    if ((!fromProxy || req.headers['x-forwarded-host'] === undefined) && req.headers.host !== undefined) lines.push(`X-Forwarded-Host: ${req.headers.host}`)

    let done = false
    let piped = false
    /** Close both sides; before the tunnel is up, answer the client with `status` first. */
    const finish = (err?: Error, status?: string): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      open.delete(client)
      if (err !== undefined) opts.log.debug({ err, url }, 'upgrade tunnel closed on error')
      upstream.destroy()
      if (!piped && status !== undefined && client.writable) refuse(client, status)
      else client.destroy()
    }
    const timer = setTimeout(() => {
      if (!piped) finish(undefined, '504 Gateway Timeout')
    }, opts.connectTimeoutMs ?? 5_000)
    upstream.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer)
      if (done) return
      piped = true
      upstream.write(lines.join('\r\n') + '\r\n\r\n')
      if (head.byteLength > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.once('error', err => {
      finish(err, '502 Bad Gateway')
    })
    client.once('error', err => {
      finish(err)
    })
    // Upgraded protocols are not half-closed: once either side hangs up, the tunnel is over
    // (the front's sockets allow half-open connections, so nothing would close them otherwise).
    client.once('end', () => {
      finish()
    })
    upstream.once('end', () => {
      if (!done) client.end()
    })
    upstream.once('close', () => {
      finish()
    })
    client.once('close', () => {
      finish()
    })
  })

  return {
    get open() {
      return open.size
    },
    close: () => {
      for (const s of open) s.destroy()
      open.clear()
    }
  }
}
