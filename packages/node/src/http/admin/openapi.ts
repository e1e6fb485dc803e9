/**
 * The admin API, written down: an OpenAPI 3.1 document generated from the routes' zod schemas
 * (the admin contract, @reef/protocol admin-api.ts) by @fastify/swagger and
 * fastify-type-provider-zod, served at `GET /api/openapi.json`. Nothing in it is written by
 * hand but the header: the schemas the node serializes its answers with are the ones it
 * documents. `registeredRoutes` lists what the app registered, so a test can hold the document
 * to every route.
 */
import fastifySwagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'

/** The document's header; its paths and schemas come from the routes. */
const INFO = {
  title: 'Reef node admin API',
  version: '1',
  summary: 'What an operator sees of a Reef node, and what an operator may change.',
  description:
    'Served on the admin listener (loopback by default, `admin.listen`). Reading (GET) needs no token. Every other method needs the operator token (`admin.token` or `admin.tokenFile`) as `Authorization: Bearer <token>`: without it or with a wrong one the answer is 401 `ERR_UNAUTHORIZED`; a node with no token configured answers 403 `ERR_NO_TOKEN_CONFIGURED`. Errors are JSON `{ code, message }` with a stable `code`.'
}

/** Routes that need the operator token declare this. */
export const BEARER = [{ bearer: [] }]

/** `:param` (fastify) → `{param}` (OpenAPI). */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

/** Every `METHOD /path` a document describes. */
export function documentedOperations(doc: { paths?: Record<string, object> }): Set<string> {
  const out = new Set<string>()
  for (const [path, item] of Object.entries(doc.paths ?? {})) for (const method of Object.keys(item)) out.add(`${method.toUpperCase()} ${path}`)
  return out
}

const collected = new WeakMap<FastifyInstance, string[]>()

/** The `METHOD /path` of every route registered on `app` after `registerOpenApi` (HEAD twins left out). */
export function registeredRoutes(app: FastifyInstance): string[] {
  return [...(collected.get(app) ?? [])]
}

/**
 * Validate and serialize with the routes' zod schemas, generate the document from them and
 * watch what is registered on `app`; call it first, right after creating the admin app, and
 * register the routes in a plugin after it (so the generator sees them).
 */
export function registerOpenApi(app: FastifyInstance): void {
  const routes: string[] = []
  collected.set(app, routes)
  app.addHook('onRoute', r => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) if (m !== 'HEAD') routes.push(`${m} ${openApiPath(r.url)}`)
  })
  useZodSchemas(app)
  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: INFO,
      servers: [{ url: 'http://127.0.0.1:9180', description: 'the default admin listener' }],
      tags: [
        { name: 'status', description: 'live load, crowd state and relief' },
        { name: 'ledger', description: 'the reciprocity ledger' },
        { name: 'governance', description: 'the consortium membership log' },
        { name: 'operations', description: 'health, metrics, authentication, this document' }
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the operator token: `admin.token` or the contents of `admin.tokenFile`' } }
      }
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject
  })
}

/** Check requests and serialize answers with the routes' zod schemas (the admin contract). */
export function useZodSchemas(app: FastifyInstance): void {
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
}

/** The generated document (after the app is ready). */
export function openApiDocument(app: FastifyInstance): { openapi: string; paths: Record<string, object> } {
  return (app as unknown as { swagger: () => { openapi: string; paths: Record<string, object> } }).swagger()
}
