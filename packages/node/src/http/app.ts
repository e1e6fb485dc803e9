/** The one way Reef builds a fastify instance: its pino logger, no per-request log lines, and the limits on what clients may hold. */
import type { Socket } from 'node:net'
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'

/**
 * What one HTTP server (front, mirror) lets clients hold (config `http`, README): against
 * slowloris (connections that send their headers slowly), huge headers and clients that hold
 * many connections, so that ordinary visitors still get through.
 */
export interface HttpLimits {
  /** Open connections at once; past it, new ones are closed at once. */
  maxConnections: number
  /** Open connections from one client address (trusted proxies exempt); past it, closed at once. */
  maxConnectionsPerIp: number
  /** A request's head (request line and headers) must arrive within this, in ms; else 408 and closed. */
  headersTimeoutMs: number
  /** A whole request (head and body) must arrive within this, in ms (0: no limit). */
  requestTimeoutMs: number
  /** An idle keep-alive connection is closed after this, in ms. */
  idleTimeoutMs: number
  /** Bytes of request line and headers; past it, 431. */
  maxHeaderBytes: number
  /** Requests served on one connection (keep-alive and pipelined) before it is closed (0: no limit). */
  maxRequestsPerSocket: number
}

/** What one server's connection limits have done so far (metrics `reef_http_connections_*`). */
export interface ConnectionStats {
  /** Connections open now (exempt addresses included). */
  open: number
  /** Connections closed on arrival because their address held maxConnectionsPerIp already. */
  refusedPerAddress: number
  /** Connections dropped on arrival because the server held maxConnections already. */
  refusedMax: number
  /** The most connections one (non-exempt) address has held at once since the server started. */
  peakPerAddress: number
}

const stats = new WeakMap<FastifyInstance, ConnectionStats>()

/** The connection figures of an app built by `createHttpApp` with limits; undefined without. */
export function connectionStats(app: FastifyInstance): ConnectionStats | undefined {
  return stats.get(app)
}

/** How often the server looks for requests past their head or request time-out, in ms. */
const TIMEOUT_CHECK_MS = 1_000

export function createHttpApp(
  log: Logger,
  opts: Omit<FastifyServerOptions, 'logger' | 'loggerInstance'> = {},
  limits?: HttpLimits,
  exempt: readonly string[] = []
): FastifyInstance {
  const app = Fastify({
    ...opts,
    ...(limits === undefined
      ? {}
      : {
          http: {
            maxHeaderSize: limits.maxHeaderBytes,
            headersTimeout: limits.headersTimeoutMs,
            requestTimeout: limits.requestTimeoutMs,
            connectionsCheckingInterval: TIMEOUT_CHECK_MS
          },
          requestTimeout: limits.requestTimeoutMs,
          keepAliveTimeout: limits.idleTimeoutMs,
          maxRequestsPerSocket: limits.maxRequestsPerSocket
        }),
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true
  }) as unknown as FastifyInstance
  if (limits !== undefined) limitConnections(app, limits, exempt)
  return app
}

/** Counted per client address; a connection over a limit is closed before it is read. */
function limitConnections(app: FastifyInstance, limits: HttpLimits, exempt: readonly string[]): void {
  const server = app.server
  server.maxConnections = limits.maxConnections
  const trusted = new Set(exempt)
  const perIp = new Map<string, number>()
  const s: ConnectionStats = { open: 0, refusedPerAddress: 0, refusedMax: 0, peakPerAddress: 0 }
  stats.set(app, s)
  server.on('drop', () => {
    s.refusedMax++
    if (s.refusedMax === 1 || s.refusedMax % 1_000 === 0)
      app.log.warn({ refused: s.refusedMax, maxConnections: limits.maxConnections }, 'connections over maxConnections dropped')
  })
  server.on('connection', (socket: Socket) => {
    const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    if (trusted.has(ip) || trusted.has(socket.remoteAddress ?? '')) {
      s.open++
      socket.once('close', () => s.open--)
      return
    }
    const n = (perIp.get(ip) ?? 0) + 1
    if (n > limits.maxConnectionsPerIp) {
      s.refusedPerAddress++
      const refused = s.refusedPerAddress
      if (refused === 1 || refused % 1_000 === 0) app.log.warn({ ip, open: n - 1, refused }, 'connections over the per-address limit closed')
      socket.destroy()
      return
    }
    perIp.set(ip, n)
    s.open++
    if (n > s.peakPerAddress) s.peakPerAddress = n
    socket.once('close', () => {
      s.open--
      const left = (perIp.get(ip) ?? 1) - 1
      if (left <= 0) perIp.delete(ip)
      else perIp.set(ip, left)
    })
  })
}
