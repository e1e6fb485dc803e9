/**
 * The admin API, written down: a hand-written OpenAPI 3.1 document served at
 * `GET /api/openapi.json`.
 *
 * It is kept honest by the routes themselves: `registerOpenApi` collects every route registered
 * on the admin app after it (fastify's `onRoute` hook), logs a warning at start for any route
 * the document does not describe, and the test `openapi.test.ts` fails on one. GET routes are
 * open; every other route needs the operator token (`bearer` security, see admin-auth.ts).
 */
import type { FastifyInstance } from 'fastify'

const json = (schema: Record<string, unknown>, description: string): Record<string, unknown> => ({ description, content: { 'application/json': { schema } } })
const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` })
const int = { type: 'integer', minimum: 0 }
const num = { type: 'number' }
const str = { type: 'string' }
const bool = { type: 'boolean' }
const peerId = { type: 'string', pattern: '^[1-9A-HJ-NP-Za-km-z]{40,128}$', description: 'a libp2p peer id (base58btc)' }
const epochMs = { type: 'integer', description: 'epoch milliseconds' }
const loose = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)): Record<string, unknown> => ({ type: 'object', properties, required })

/** Responses every token-protected route may give besides its own. */
const guarded = {
  401: { $ref: '#/components/responses/Unauthorized' },
  403: { $ref: '#/components/responses/NoTokenConfigured' }
}
const bearer = [{ bearer: [] }]

export const ADMIN_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Reef node admin API',
    version: '1',
    summary: 'What an operator sees of a Reef node, and what an operator may change.',
    description: 'Served on the admin listener (loopback by default, `admin.listen`). Reading (GET) needs no token. Every other method needs the operator token (`admin.token` or `admin.tokenFile`) as `Authorization: Bearer <token>`: without it or with a wrong one the answer is 401 `ERR_UNAUTHORIZED`; a node with no token configured answers 403 `ERR_NO_TOKEN_CONFIGURED`. Errors are JSON `{ code, message }` with a stable `code`.'
  },
  servers: [{ url: 'http://127.0.0.1:9180', description: 'the default admin listener' }],
  tags: [
    { name: 'status', description: 'live load, crowd state and relief' },
    { name: 'ledger', description: 'the reciprocity ledger' },
    { name: 'governance', description: 'the consortium membership log' },
    { name: 'operations', description: 'health, metrics, authentication, this document' }
  ],
  paths: {
    '/': {
      get: { tags: ['status'], operationId: 'dashboard', summary: 'The live status page (HTML; reads only this API)', responses: { 200: { description: 'the dashboard', content: { 'text/html': { schema: str } } } } }
    },
    '/api/status': {
      get: { tags: ['status'], operationId: 'getStatus', summary: 'Everything about this node now', responses: { 200: json(ref('Status'), 'the node\'s status') } }
    },
    '/api/timeline': {
      get: {
        tags: ['status'], operationId: 'getTimeline', summary: 'Recent per-interval request counts by outcome, for the status page\'s chart',
        parameters: [{ name: 'since', in: 'query', required: false, schema: { type: 'integer', minimum: 0 }, description: 'only the points after this time (epoch ms): what a poller does not hold yet' }],
        responses: { 200: json(ref('Timeline'), 'the timeline'), 400: json(ref('Error'), 'since is not epoch milliseconds') }
      }
    },
    '/api/ledger': {
      get: { tags: ['ledger'], operationId: 'getLedger', summary: 'Per member: given, taken, balance, quota and headroom', responses: { 200: json(ref('LedgerView'), 'the ledger as this node holds it') } }
    },
    '/api/ledger/{peer}/records': {
      get: {
        tags: ['ledger'],
        operationId: 'getLedgerRecords',
        summary: 'The signed records behind a member\'s balance',
        parameters: [
          { name: 'peer', in: 'path', required: true, schema: peerId },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 } }
        ],
        responses: {
          200: json(loose({ peer: peerId, totals: ref('MemberTotals'), records: { type: 'array', items: ref('StoredRecord') } }), 'the records, oldest first'),
          400: json(ref('Error'), '`ERR_BAD_PEER`: not a peer id')
        }
      }
    },
    '/api/ledger/evidence': {
      get: {
        tags: ['ledger'],
        operationId: 'getLedgerEvidence',
        summary: 'Misbehaviour proven by records (decreases, equivocations, over-claims) and signals',
        responses: { 200: json(loose({ evidence: { type: 'array', items: ref('Evidence') }, signals: { type: 'array', items: ref('Signal') } }), 'newest first') }
      }
    },
    '/api/ledger/check': {
      get: {
        tags: ['ledger'],
        operationId: 'checkLedger',
        summary: 'Rebuild every balance from the stored records alone and compare',
        responses: { 200: json(loose({ consistent: bool, records: int, mismatches: { type: 'array', items: peerId } }), 'the comparison') }
      }
    },
    '/api/governance': {
      get: { tags: ['governance'], operationId: 'getGovernance', summary: 'The consortium\'s charter, membership log, policy and open proposals', responses: { 200: json(ref('Governance'), 'the governance state as this node holds it') } }
    },
    '/api/governance/propose': {
      post: {
        tags: ['governance'],
        operationId: 'propose',
        summary: 'Sign and publish a proposal as this member (admit, expel, change policy, …)',
        security: bearer,
        requestBody: { required: true, content: { 'application/json': { schema: ref('ProposalInput') } } },
        responses: { 200: json(loose({ id: str }), 'the proposal\'s id'), 400: json(ref('Error'), 'the proposal is malformed'), 409: json(ref('Error'), 'the log does not allow it now (halted, not a member, …)'), ...guarded }
      }
    },
    '/api/governance/proposals/{id}/vote': {
      post: {
        tags: ['governance'],
        operationId: 'vote',
        summary: 'Sign and publish this member\'s vote on a proposal',
        security: bearer,
        parameters: [{ name: 'id', in: 'path', required: true, schema: str, description: 'the proposal\'s id (hash)' }],
        requestBody: { required: true, content: { 'application/json': { schema: ref('VoteInput') } } },
        responses: { 200: json(loose({ ok: { const: true } }), 'the vote is signed and published'), 400: json(ref('Error'), 'the vote is malformed'), 404: json(ref('Error'), 'no such open proposal'), 409: json(ref('Error'), 'already voted, or the proposal is closed'), ...guarded }
      }
    },
    '/api/invitations': {
      post: {
        tags: ['governance'],
        operationId: 'invite',
        summary: 'Issue a signed invitation for a prospective member',
        security: bearer,
        requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { site: { ...str, description: 'the site label the newcomer must use' }, ttlHours: { ...num, description: 'validity, default 168 (7 days)' } } } } } },
        responses: { 200: json(loose({ token: { ...str, description: 'give it to the newcomer: reef join <token>' } }), 'the invitation'), 400: json(ref('Error'), 'the request is malformed'), 409: json(ref('Error'), 'this node is not a member or runs an open consortium'), ...guarded }
      }
    },
    '/api/peers/{peer}/block': {
      post: {
        tags: ['operations'],
        operationId: 'blockPeer',
        summary: 'Refuse a peer at the connection gater and close its connections (until unblocked)',
        security: bearer,
        parameters: [{ name: 'peer', in: 'path', required: true, schema: peerId }],
        responses: { 200: json(loose({ ok: { const: true }, blocked: { type: 'array', items: peerId } }), 'blocked'), 400: json(ref('Error'), 'not a peer id'), ...guarded }
      }
    },
    '/api/peers/{peer}/unblock': {
      post: {
        tags: ['operations'],
        operationId: 'unblockPeer',
        summary: 'Accept a blocked peer again',
        security: bearer,
        parameters: [{ name: 'peer', in: 'path', required: true, schema: peerId }],
        responses: { 200: json(loose({ ok: { const: true }, blocked: { type: 'array', items: peerId } }), 'unblocked'), 400: json(ref('Error'), 'not a peer id'), ...guarded }
      }
    },
    '/api/auth/check': {
      post: {
        tags: ['operations'],
        operationId: 'checkToken',
        summary: 'Check an operator token (for a UI to validate a pasted one)',
        security: bearer,
        responses: { 200: json(loose({ ok: { const: true } }), 'the token is right'), ...guarded }
      }
    },
    '/api/openapi.json': {
      get: { tags: ['operations'], operationId: 'getOpenApi', summary: 'This document', responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1') } }
    },
    '/metrics': {
      get: {
        tags: ['operations'],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (text exposition format 0.0.4), names prefixed `reef_`',
        responses: { 200: { description: 'the metrics', content: { 'text/plain; version=0.0.4': { schema: str } } } }
      }
    },
    '/healthz': {
      get: { tags: ['operations'], operationId: 'health', summary: 'Liveness: the node answers', responses: { 200: json(loose({ ok: { const: true } }), 'alive') } }
    }
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'the operator token: `admin.token` or the contents of `admin.tokenFile`' }
    },
    responses: {
      Unauthorized: json(ref('Error'), '`ERR_UNAUTHORIZED`: no operator token, or a wrong one'),
      NoTokenConfigured: json(ref('Error'), '`ERR_NO_TOKEN_CONFIGURED`: this node has no operator token, so nothing can be changed through the API')
    },
    schemas: {
      Error: loose({ code: { type: 'string', examples: ['ERR_UNAUTHORIZED', 'ERR_NO_TOKEN_CONFIGURED', 'ERR_BAD_PEER'] }, message: str }),
      CrowdState: { type: 'string', enum: ['normal', 'struck', 'recovering'] },
      Status: {
        type: 'object',
        required: ['peerId', 'site', 'state', 'capacityRps', 'totals', 'cache', 'peers', 'connections'],
        properties: {
          peerId,
          site: str,
          state: ref('CrowdState'),
          demandRps: num,
          capacityRps: num,
          arrivalsRps: num,
          originRps: num,
          shedRps: num,
          shedShare: { type: 'number', minimum: 0, maximum: 1 },
          originInFlight: int,
          originQueued: int,
          originLatencyMs: num,
          spareRps: num,
          totals: { type: 'object', description: 'cumulative counts since start (arrivals, shed, origin, refused, originErrors, mirrorServed, mirrorMisses, integrityFailures, microCache, …)', additionalProperties: int },
          cache: loose({ bytes: int, objects: int, hits: int, misses: int }),
          session: {
            oneOf: [{ type: 'null' }, loose({ id: str, neededRps: num, offers: { type: 'array', items: { type: 'object' } }, helpers: { type: 'array', items: loose({ peer: peerId, weightRps: num, siteBase: str }) } })],
            description: 'this site\'s help session while it is struck'
          },
          helping: { type: 'array', items: loose({ site: str, beneficiary: peerId, accepted: bool, released: bool, offeredRps: num, manifest: int }) },
          peers: { type: 'array', items: loose({ peer: peerId, site: str, state: ref('CrowdState'), demandRps: num, spareRps: num, helping: { type: 'array', items: loose({ site: str, rps: num }) } }) },
          connections: int,
          stateHistory: { type: 'array', items: loose({ from: ref('CrowdState'), to: ref('CrowdState'), at: epochMs }) },
          relief: loose({
            rungs: { type: 'object', additionalProperties: bool, description: 'micro-cache, helpers, external-mirror, refusing: engaged now?' },
            history: { type: 'array', items: loose({ rung: { type: 'string', enum: ['micro-cache', 'helpers', 'external-mirror', 'refusing'] }, engaged: bool, at: epochMs }) },
            externalMirror: { type: ['string', 'null'] }
          }),
          helpEvents: { type: 'array', items: { type: 'object', required: ['at', 'kind', 'session'], properties: { at: epochMs, kind: str, session: str, peer: peerId, site: str } } },
          gossipRejected: int,
          gossipIgnored: int
        }
      },
      Timeline: loose({
        capacityRps: num,
        intervalMs: int,
        points: {
          type: 'array',
          items: loose({ t: epochMs, origin: int, shedPeers: int, shedExternal: int, refused: int, microCache: int }),
          description: 'oldest first; requests per interval by how they were answered'
        }
      }),
      MemberTotals: loose({ given: int, taken: int, givenRequests: int, takenRequests: int }),
      LedgerMember: loose({
        peer: peerId,
        site: { type: ['string', 'null'] },
        given: { ...int, description: 'bytes this member served for others' },
        taken: { ...int, description: 'bytes others served for this member' },
        balance: { type: 'integer', description: 'given - taken, bytes' },
        givenRequests: int,
        takenRequests: int,
        windowGiven: int,
        windowTaken: int,
        quota: { ...int, description: 'credit: newcomer grant + multiple × given over the window' },
        headroom: { type: 'integer' },
        overQuota: bool
      }),
      LedgerView: loose({ self: peerId, members: { type: 'array', items: ref('LedgerMember') } }),
      StoredRecord: loose({
        type: { type: 'string', enum: ['delegation', 'receipt'] },
        author: peerId,
        seq: int,
        ts: epochMs,
        hash: { type: 'string', description: 'SHA-256 (hex) of the canonical bytes' },
        body: { type: 'object', description: 'DelegationBody { session, helper, round, requests, bytes, final } or ReceiptBody { session, beneficiary, round, delegation, requests, bytes }' },
        bytes: { type: 'string', contentEncoding: 'base64', description: 'the signed record, to re-verify' }
      }),
      Evidence: loose({ kind: str, accused: peerId, pair: str, records: { type: 'array', items: str }, at: epochMs, recordBytes: { type: 'string', contentEncoding: 'base64' } }),
      Signal: loose({ kind: { type: 'string', enum: ['over-quota', 'declined-with-spare', 'unsigned-delegation'] }, accused: peerId, at: epochMs, detail: { type: 'object' } }),
      Governance: loose({
        enabled: bool,
        consortium: str,
        name: { type: ['string', 'null'] },
        charterHash: { type: ['string', 'null'], description: 'SHA-256 of the charter body' },
        height: int,
        headHash: { type: ['string', 'null'] },
        halted: { type: ['object', 'null'], description: 'set when two valid entries were seen at one height: { height, hashes }' },
        policy: { type: ['object', 'null'], description: 'the charter policy now in force (SPEC.md §Charter)' },
        members: { type: 'array', items: loose({ peer: peerId, site: str, mirrorUrl: str, self: bool }) },
        expelled: { type: 'array', items: loose({ peer: peerId, site: { type: ['string', 'null'] } }) },
        self: peerId,
        member: { ...bool, description: 'whether this node is a member now' },
        audits: { type: 'array', items: loose({ at: epochMs, helper: peerId, url: str, ok: bool, detail: str }), description: 'this node\'s latest content audits of helpers' },
        events: { type: 'array', items: loose({ at: epochMs, kind: str, detail: str }), description: 'recent governance events on this node (proposals, votes, entries, halts)' },
        log: { type: 'array', items: loose({ height: int, hash: { type: ['string', 'null'] }, kind: { enum: ['admit', 'readmit', 'expel', 'leave', 'set-policy'] }, subject: { type: ['string', 'null'] }, summary: str, signers: int, proposedAt: epochMs }), description: 'newest first, last 100' },
        proposals: { type: 'array', items: ref('Proposal') }
      }, ['enabled', 'consortium', 'height', 'members', 'log', 'proposals']),
      Proposal: loose({
        id: { type: 'string', pattern: '^[0-9a-f]{64}$' }, height: int, kind: str, subject: { type: ['string', 'null'] }, summary: str, reason: str, proposer: peerId,
        votes: int, needed: { type: ['integer', 'null'] }, votedBySelf: bool,
        decision: { enum: ['pending', 'auto-yes', 'needs-operator', 'rejected'] }, detail: str, evidence: { type: 'array', items: str },
        policy: { type: 'object', description: 'set-policy only: the proposed policy (summary lists what changes)' }
      }, ['id', 'height', 'kind', 'summary', 'proposer', 'votes', 'needed', 'votedBySelf', 'decision']),
      ProposalInput: {
        type: 'object',
        required: ['action'],
        properties: {
          action: { type: 'object', description: 'a log action (SPEC.md §Membership log): {kind:"admit"|"readmit", member}, {kind:"expel", peer, reason, evidence:[sha256]}, {kind:"leave", peer} or {kind:"set-policy", policy}' },
          evidence: { type: 'array', maxItems: 8, items: { type: 'object', description: 'evidence items (SPEC.md §Evidence); their hashes must be listed in an expel action' } }
        }
      },
      VoteInput: { type: 'object', description: 'empty: a vote is this member\'s signature on the proposal' }
    }
  }
} as const

/** `:param` (fastify) → `{param}` (OpenAPI). */
export function openApiPath (url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
}

/** Every `METHOD /path` the document describes. */
export function documentedOperations (doc: { paths: Record<string, object> } = ADMIN_OPENAPI): Set<string> {
  const out = new Set<string>()
  for (const [path, item] of Object.entries(doc.paths)) for (const method of Object.keys(item)) out.add(`${method.toUpperCase()} ${path}`)
  return out
}

const collected = new WeakMap<FastifyInstance, string[]>()

/** The `METHOD /path` of every route registered on `app` after `registerOpenApi` (HEAD twins left out). */
export function registeredRoutes (app: FastifyInstance): string[] {
  return [...(collected.get(app) ?? [])]
}

/**
 * Serve the document at `GET /api/openapi.json` and watch what is registered on `app` after
 * this call; call it first, right after creating the admin app.
 */
export function registerOpenApi (app: FastifyInstance): void {
  const routes: string[] = []
  collected.set(app, routes)
  app.addHook('onRoute', r => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) if (m !== 'HEAD') routes.push(`${m} ${openApiPath(r.url)}`)
  })
  app.addHook('onReady', async () => {
    const documented = documentedOperations()
    const missing = routes.filter(r => !documented.has(r))
    if (missing.length > 0) app.log.warn({ routes: missing }, 'admin routes missing from the OpenAPI document (packages/node/src/openapi.ts)')
  })
  const body = JSON.stringify(ADMIN_OPENAPI)
  app.get('/api/openapi.json', async (_req, reply) => reply.type('application/json; charset=utf-8').send(body))
}
