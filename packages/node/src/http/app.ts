/** The one way Reef builds a fastify instance: its pino logger, no per-request log lines. */
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Logger } from 'pino'

export function createHttpApp (log: Logger, opts: Omit<FastifyServerOptions, 'logger' | 'loggerInstance'> = {}): FastifyInstance {
  return Fastify({
    ...opts,
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true
  }) as unknown as FastifyInstance
}
