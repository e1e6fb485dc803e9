/**
 * The operator token of the admin API.
 *
 * Reading is open: every GET (and HEAD) route answers without a token, as the admin listener is
 * on loopback by default and shows nothing secret. Every other method changes something (a
 * governance vote, a proposal, an invitation) and needs `Authorization: Bearer <token>`, where
 * the token is `admin.token` or the contents of `admin.tokenFile` (read when the node starts).
 *
 *   no token configured on the node   403 ERR_NO_TOKEN_CONFIGURED
 *   header missing, malformed, wrong  401 ERR_UNAUTHORIZED (with WWW-Authenticate: Bearer)
 *
 * Tokens are compared as SHA-256 digests with `timingSafeEqual`, so neither the position of the
 * first wrong character nor the token's length shows in the response time. The check runs as an
 * `onRequest` hook on the admin app itself (not in an encapsulated plugin), so it covers every
 * route, also those registered after it and unknown paths.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorBody, Ok } from '@reef/protocol'
import { ConfigError, NoTokenConfiguredError, UnauthorizedError, httpStatusOf } from '../../errors.ts'
import type { ReefError } from '../../errors.ts'

import { ADMIN_TOKEN } from '../../config/config.ts'

export { ADMIN_TOKEN }

/** Methods that only read and so need no token. */
const READ_METHODS = new Set(['GET', 'HEAD'])

/** Where the token comes from: the `admin` section of the node's config. */
export interface AdminAuthOptions {
  token?: string | undefined
  tokenFile?: string | undefined
}

/** The token a node uses: `admin.token`, or `admin.tokenFile`'s contents without the final newline. */
export async function readAdminToken(opts: AdminAuthOptions): Promise<string | undefined> {
  if (opts.token !== undefined) return opts.token
  if (opts.tokenFile === undefined) return undefined
  let text: string
  try {
    text = await readFile(opts.tokenFile, 'utf8')
  } catch (err) {
    throw new ConfigError(`config field admin.tokenFile: cannot read ${opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  const token = text.replace(/\r?\n$/, '')
  if (!ADMIN_TOKEN.test(token))
    throw new ConfigError(`config field admin.tokenFile: ${opts.tokenFile} must hold one token of 16 to 1024 printable ASCII characters without spaces`)
  return token
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

function refuse(reply: FastifyReply, err: ReefError): FastifyReply {
  const status = httpStatusOf(err)
  if (status === 401) void reply.header('www-authenticate', 'Bearer realm="reef-admin"')
  return reply.code(status).header('cache-control', 'no-store').send({ code: err.code, message: err.message })
}

/**
 * Guard every non-GET route of `app` with the operator token, and add `POST /api/auth/check`
 * (answers `{ ok: true }` to a request with the right token) so a UI can validate a pasted one.
 */
export function adminAuth(app: FastifyInstance, opts: AdminAuthOptions): void {
  let expected = opts.token === undefined ? undefined : digest(opts.token)
  if (opts.tokenFile !== undefined) {
    app.addHook('onReady', async () => {
      const token = await readAdminToken(opts)
      expected = token === undefined ? undefined : digest(token)
      const mode = (await stat(opts.tokenFile!)).mode
      // Group-readable is how a root-owned file is shared with the service's group (0640 root:reef).
      if ((mode & 0o007) !== 0)
        app.log.warn({ tokenFile: opts.tokenFile, mode: (mode & 0o777).toString(8) }, 'admin token file is open to every user; chmod o-rwx it')
    })
  }

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (READ_METHODS.has(req.method)) return
    if (expected === undefined) {
      return refuse(
        reply,
        new NoTokenConfiguredError('this node has no operator token (set admin.token or admin.tokenFile); changes through the admin API are disabled')
      )
    }
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(req.headers.authorization ?? '')
    if (m === null || !timingSafeEqual(digest(m[1]!), expected)) {
      req.log.warn({ method: req.method, url: req.url, remote: req.ip, header: m === null ? 'missing or malformed' : 'wrong token' }, 'admin request refused')
      return refuse(reply, new UnauthorizedError('this request needs the operator token: Authorization: Bearer <admin.token>'))
    }
  })

  app.post(
    '/api/auth/check',
    {
      schema: {
        tags: ['operations'],
        operationId: 'checkToken',
        summary: 'Check an operator token (for a UI to validate a pasted one)',
        security: [{ bearer: [] }],
        response: {
          200: Ok,
          401: ErrorBody.describe('`ERR_UNAUTHORIZED`: no operator token, or a wrong one'),
          403: ErrorBody.describe('`ERR_NO_TOKEN_CONFIGURED`: changes through the API are disabled')
        }
      }
    },
    async () => ({ ok: true })
  )
}
