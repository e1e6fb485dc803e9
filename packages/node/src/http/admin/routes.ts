/**
 * The admin listener: the JSON API the dashboard and the CLI read (status, ledger, timeline,
 * governance), the operator's actions (proposals, votes, invitations, blocking a peer), the
 * Prometheus metrics and the dashboard page. Every route declares its answers with the admin
 * contract's zod schemas (@reef/protocol admin-api.ts): the node serializes with them and the
 * OpenAPI document is generated from them (openapi.ts). Every non-GET route needs the operator
 * token (auth.ts); every error answers `{ code, message }` with the status errors.ts gives its
 * code. Parameters and bodies are checked by the handlers (`attachValidation`), so that each
 * refusal keeps its own code.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { isResponseSerializationError } from 'fastify-type-provider-zod'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { DASHBOARD_CSP, DASHBOARD_HTML } from '@reef/dashboard'
import { evidenceHash } from '@reef/governance'
import {
  BlockedView,
  ErrorBody,
  GovernanceView,
  InvitationView,
  InviteInput,
  LedgerCheckView,
  LedgerEvidenceView,
  LedgerRecordsQuery,
  LedgerRecordsView,
  LedgerView,
  Ok,
  OpenApiDocument,
  PEER_ID_PATTERN,
  PROPOSAL_ID_PATTERN,
  PeerParams,
  ProposalIdParams,
  ProposeInput,
  ProposeResult,
  StatusView,
  TimelineQuery,
  TimelineView
} from '@reef/protocol'
import type { EvidenceItem, LogAction } from '@reef/protocol'
import type { ReefConfig } from '../../config/config.ts'
import { LEDGER_RECORDS_DEFAULT, LEDGER_RECORDS_MAX } from '../../constants.ts'
import { BadPeerError, BadRequestError, GovernanceOffError, errorBody, httpStatusOf } from '../../errors.ts'
import type { GovernanceService } from '../../governance/service.ts'
import type { LedgerStore } from '../../ledger/store.ts'
import type { TrafficTimeline } from '../../load/traffic-timeline.ts'
import type { PeerGate } from '../../p2p/peer-gate.ts'
import { createHttpApp } from '../app.ts'
import { adminAuth } from './auth.ts'
import { registerMetrics } from './metrics.ts'
import type { MetricsSource } from './metrics.ts'
import { BEARER, openApiDocument, registerOpenApi } from './openapi.ts'
import type { AdminViews } from './views.ts'

export interface AdminComponents {
  config: Pick<ReefConfig, 'admin'>
  log: Logger
  views: Pick<AdminViews, 'status' | 'governance' | 'ledger'>
  ledgerStore: Pick<LedgerStore, 'totals' | 'recordsOf' | 'evidence' | 'signals' | 'recompute' | 'allTotals' | 'recordCount'>
  timeline: Pick<TrafficTimeline, 'view'>
  gov: Pick<GovernanceService, 'propose' | 'vote' | 'invite'> | undefined
  peerGate: Pick<PeerGate, 'block' | 'unblock' | 'blocked'>
  /** This node's libp2p addresses (an invitation carries them). */
  addrs: () => string[]
  metrics: MetricsSource
}

/** The admin app with the zod type provider: handlers are checked against their response schemas. */
type ZodApi = ReturnType<typeof typed>

function typed(instance: FastifyInstance) {
  return instance.withTypeProvider<ZodTypeProvider>()
}

/** Answers every token-protected route may give besides its own. */
const GUARDED = {
  401: ErrorBody.describe('`ERR_UNAUTHORIZED`: no operator token, or a wrong one'),
  403: ErrorBody.describe('`ERR_NO_TOKEN_CONFIGURED`: changes through the API are disabled')
}

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  return reply.code(httpStatusOf(err)).send(errorBody(err))
}

function badBody(error: z.ZodError): BadRequestError {
  return new BadRequestError(`body: ${error.issues[0]?.path.join('.') ?? ''} ${error.issues[0]?.message ?? 'invalid'}`)
}

/** The admin app, built and not listening (tests inject into it). */
export function buildAdminApp(c: AdminComponents): FastifyInstance {
  const app = createHttpApp(c.log)
  registerOpenApi(app) // first: the document is generated from every route registered after it
  app.setErrorHandler((err, req, reply) => {
    if (!isResponseSerializationError(err)) return reply.send(err)
    // The node broke its own contract: a bug, logged with what did not fit.
    req.log.error({ err, url: req.url }, 'admin response does not match its schema')
    return reply.code(500).send({ code: 'ERR_INTERNAL', message: 'the response does not match the admin API contract' })
  })
  void app.register(async instance => {
    const api = typed(instance)
    adminAuth(instance, c.config.admin ?? {})
    registerMetrics(instance, c.metrics)
    api.get(
      '/api/openapi.json',
      { schema: { tags: ['operations'], operationId: 'getOpenApi', summary: 'This document (OpenAPI 3.1)', response: { 200: OpenApiDocument } } },
      async () => openApiDocument(app)
    )
    registerStatusRoutes(api, c)
    registerLedgerRoutes(api, c)
    registerGovernanceRoutes(api, c)
  })
  return app
}

function registerStatusRoutes(zapi: ZodApi, c: AdminComponents): void {
  zapi.get(
    '/',
    {
      schema: {
        tags: ['status'],
        operationId: 'dashboard',
        summary: 'The live status page (HTML; reads only this API)',
        response: { 200: { description: 'the dashboard', content: { 'text/html': { schema: z.string() } } } }
      }
    },
    async (_req, reply) =>
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', DASHBOARD_CSP).send(DASHBOARD_HTML)
  )
  zapi.get(
    '/api/status',
    { schema: { tags: ['status'], operationId: 'getStatus', summary: 'Everything about this node now', response: { 200: StatusView } } },
    async () => c.views.status()
  )
  zapi.get(
    '/api/timeline',
    {
      attachValidation: true,
      schema: {
        tags: ['status'],
        operationId: 'getTimeline',
        summary: "Recent per-interval request counts by outcome, for the status page's chart",
        querystring: TimelineQuery,
        response: { 200: TimelineView, 400: ErrorBody.describe('since is not epoch milliseconds') }
      }
    },
    async (req, reply) => {
      const since = (req.query as { since?: string }).since
      if (since !== undefined && !/^\d{1,16}$/.test(since)) return fail(reply, new BadRequestError('since must be epoch milliseconds'))
      return c.timeline.view(since === undefined ? undefined : Number(since))
    }
  )
  zapi.get('/healthz', { schema: { tags: ['operations'], operationId: 'health', summary: 'Liveness: the node answers', response: { 200: Ok } } }, async () => ({
    ok: true as const
  }))
}

function registerLedgerRoutes(zapi: ZodApi, c: AdminComponents): void {
  const store = c.ledgerStore
  zapi.get(
    '/api/ledger',
    { schema: { tags: ['ledger'], operationId: 'getLedger', summary: 'Per member: given, taken, balance, quota and headroom', response: { 200: LedgerView } } },
    async () => c.views.ledger()
  )
  zapi.get(
    '/api/ledger/:peer/records',
    {
      attachValidation: true,
      schema: {
        tags: ['ledger'],
        operationId: 'getLedgerRecords',
        summary: "The signed records behind a member's balance, oldest first",
        params: PeerParams,
        querystring: LedgerRecordsQuery,
        response: { 200: LedgerRecordsView, 400: ErrorBody.describe('`ERR_BAD_PEER`: not a peer id') }
      }
    },
    async (req, reply) => {
      const { peer } = req.params as { peer: string }
      if (!PEER_ID_PATTERN.test(peer)) return fail(reply, new BadPeerError())
      const query = req.query as { limit?: string }
      const limit = Math.min(LEDGER_RECORDS_MAX, Math.max(1, Number(query.limit ?? LEDGER_RECORDS_DEFAULT) || LEDGER_RECORDS_DEFAULT))
      return { peer, totals: store.totals(peer), records: await store.recordsOf(peer, limit) }
    }
  )
  zapi.get(
    '/api/ledger/evidence',
    {
      schema: {
        tags: ['ledger'],
        operationId: 'getLedgerEvidence',
        summary: 'Misbehaviour proven by records (decreases, equivocations, over-claims) and signals, newest first',
        response: { 200: LedgerEvidenceView }
      }
    },
    async () => ({ evidence: await store.evidence(), signals: await store.signals() })
  )
  zapi.get(
    '/api/ledger/check',
    {
      schema: {
        tags: ['ledger'],
        operationId: 'checkLedger',
        summary: 'Rebuild every balance from the stored records alone and compare',
        response: { 200: LedgerCheckView }
      }
    },
    async () => {
      // Rebuild balances from the stored records alone and compare with what the store holds.
      const rebuilt = await store.recompute()
      const stored = store.allTotals()
      const members = new Set([...stored.keys(), ...rebuilt.totals.keys()])
      const zero = { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }
      const mismatches = [...members].filter(m => JSON.stringify(stored.get(m) ?? zero) !== JSON.stringify(rebuilt.totals.get(m) ?? zero))
      return { consistent: mismatches.length === 0, records: store.recordCount, mismatches }
    }
  )
}

/** Governance admin routes; every POST needs the operator token (admin auth). */
function registerGovernanceRoutes(zapi: ZodApi, c: AdminComponents): void {
  const needGov = (): NonNullable<AdminComponents['gov']> => {
    if (c.gov === undefined) throw new GovernanceOffError()
    return c.gov
  }
  zapi.get(
    '/api/governance',
    {
      schema: {
        tags: ['governance'],
        operationId: 'getGovernance',
        summary: "The consortium's charter, membership log, policy and open proposals",
        response: { 200: GovernanceView }
      }
    },
    async () => c.views.governance()
  )
  zapi.post(
    '/api/governance/propose',
    {
      attachValidation: true,
      schema: {
        tags: ['governance'],
        operationId: 'propose',
        summary: 'Sign and publish a proposal as this member (admit, expel, change policy, …)',
        security: BEARER,
        body: ProposeInput,
        response: {
          200: ProposeResult,
          400: ErrorBody.describe('the proposal is malformed'),
          409: ErrorBody.describe('the log does not allow it now (halted, not a member, …)'),
          ...GUARDED
        }
      }
    },
    async (req, reply) => {
      const parsed = ProposeInput.safeParse(req.body)
      if (!parsed.success) return fail(reply, badBody(parsed.error))
      const evidence = parsed.data.evidence as EvidenceItem[]
      let action = parsed.data.action as LogAction
      // An expulsion proposed with evidence names it by hash; fill the hashes in if left out.
      if (action.kind === 'expel' && action.evidence.length === 0 && evidence.length > 0) action = { ...action, evidence: evidence.map(evidenceHash) }
      try {
        return { id: await needGov().propose(action, evidence) }
      } catch (err) {
        return fail(reply, err)
      }
    }
  )
  zapi.post(
    '/api/governance/proposals/:id/vote',
    {
      attachValidation: true,
      schema: {
        tags: ['governance'],
        operationId: 'vote',
        summary: "Sign and publish this member's vote on a proposal",
        security: BEARER,
        params: ProposalIdParams,
        response: {
          200: Ok,
          400: ErrorBody.describe('not a proposal id'),
          404: ErrorBody.describe('no such open proposal'),
          409: ErrorBody.describe('already voted, or governance is off'),
          ...GUARDED
        }
      }
    },
    async (req, reply) => {
      const { id } = req.params as { id: string }
      if (!PROPOSAL_ID_PATTERN.test(id)) return fail(reply, new BadRequestError('a proposal id is 64 hex digits'))
      try {
        await needGov().vote(id)
        return { ok: true as const }
      } catch (err) {
        return fail(reply, err)
      }
    }
  )
  zapi.post(
    '/api/invitations',
    {
      attachValidation: true,
      schema: {
        tags: ['governance'],
        operationId: 'invite',
        summary: 'Issue a signed invitation for a prospective member',
        security: BEARER,
        body: InviteInput,
        response: {
          200: InvitationView,
          400: ErrorBody.describe('the request is malformed'),
          409: ErrorBody.describe('this node is not a member or runs an open consortium'),
          ...GUARDED
        }
      }
    },
    async (req, reply) => {
      const parsed = InviteInput.safeParse(req.body ?? {})
      if (!parsed.success) return fail(reply, badBody(parsed.error))
      try {
        return {
          token: await needGov().invite({
            addrs: c.addrs(),
            ttlMs: parsed.data.ttlHours * 3_600_000,
            ...(parsed.data.site === undefined ? {} : { site: parsed.data.site })
          })
        }
      } catch (err) {
        return fail(reply, err)
      }
    }
  )
  for (const [action, summary] of [
    ['block', 'Refuse a peer at the connection gater and close its connections (until unblocked)'],
    ['unblock', 'Accept a blocked peer again']
  ] as const) {
    zapi.post(
      `/api/peers/:peer/${action}`,
      {
        attachValidation: true,
        schema: {
          tags: ['operations'],
          operationId: `${action}Peer`,
          summary,
          security: BEARER,
          params: PeerParams,
          response: { 200: BlockedView, 400: ErrorBody.describe('`ERR_BAD_PEER`: not a peer id'), ...GUARDED }
        }
      },
      async (req, reply) => {
        const { peer } = req.params as { peer: string }
        if (!PEER_ID_PATTERN.test(peer)) return fail(reply, new BadPeerError())
        if (action === 'block') await c.peerGate.block(peer)
        else c.peerGate.unblock(peer)
        return { ok: true as const, blocked: c.peerGate.blocked }
      }
    )
  }
}
