/**
 * The admin listener: the JSON API the dashboard and the CLI read (status, ledger, timeline,
 * governance), the operator's actions (proposals, votes, invitations, blocking a peer), the
 * Prometheus metrics and the dashboard page. Every non-GET route needs the operator token
 * (auth.ts); every error answers `{ code, message }` with the status errors.ts gives its code.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import { z } from 'zod'
import { DASHBOARD_CSP, DASHBOARD_HTML } from '@reef/dashboard'
import { evidenceHash } from '@reef/governance'
import { EvidenceItem as EvidenceItemSchema, LogAction as LogActionSchema, SiteLabel } from '@reef/protocol'
import type { EvidenceItem, LogAction } from '@reef/protocol'
import type { ReefConfig } from '../../config/config.ts'
import { INVITATION_TTL_HOURS_DEFAULT, INVITATION_TTL_HOURS_MAX, LEDGER_RECORDS_DEFAULT, LEDGER_RECORDS_MAX, PROPOSAL_EVIDENCE_MAX } from '../../constants.ts'
import { BadPeerError, BadRequestError, GovernanceOffError, errorBody, httpStatusOf } from '../../errors.ts'
import type { GovernanceService } from '../../governance/service.ts'
import type { LedgerStore } from '../../ledger/store.ts'
import type { TrafficTimeline } from '../../load/traffic-timeline.ts'
import type { PeerGate } from '../../p2p/peer-gate.ts'
import { createHttpApp } from '../app.ts'
import { adminAuth } from './auth.ts'
import { registerMetrics } from './metrics.ts'
import type { MetricsSource } from './metrics.ts'
import { registerOpenApi } from './openapi.ts'
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

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,128}$/
const ProposeBody = z.object({ action: LogActionSchema, evidence: z.array(EvidenceItemSchema).max(PROPOSAL_EVIDENCE_MAX).default([]) }).strict()
const InviteBody = z.object({ site: SiteLabel.optional(), ttlHours: z.number().positive().max(INVITATION_TTL_HOURS_MAX).default(INVITATION_TTL_HOURS_DEFAULT) }).strict()

function fail (reply: FastifyReply, err: unknown): FastifyReply {
  return reply.code(httpStatusOf(err)).send(errorBody(err))
}

function badBody (error: z.ZodError): BadRequestError {
  return new BadRequestError(`body: ${error.issues[0]?.path.join('.') ?? ''} ${error.issues[0]?.message ?? 'invalid'}`)
}

/** The admin app, built and not listening (tests inject into it). */
export function buildAdminApp (c: AdminComponents): FastifyInstance {
  const app = createHttpApp(c.log)
  registerOpenApi(app) // first: it checks every route registered after it against the document
  adminAuth(app, c.config.admin ?? {})
  registerMetrics(app, c.metrics)
  registerLedgerRoutes(app, c)
  app.get('/api/status', async () => c.views.status())
  registerGovernanceRoutes(app, c)
  app.get<{ Querystring: { since?: string } }>('/api/timeline', async (req, reply) => {
    const since = req.query.since
    if (since !== undefined && !/^\d{1,16}$/.test(since)) return fail(reply, new BadRequestError('since must be epoch milliseconds'))
    return c.timeline.view(since === undefined ? undefined : Number(since))
  })
  app.get('/healthz', async () => ({ ok: true }))
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', DASHBOARD_CSP).send(DASHBOARD_HTML))
  return app
}

function registerLedgerRoutes (app: FastifyInstance, c: AdminComponents): void {
  const store = c.ledgerStore
  app.get('/api/ledger', async () => c.views.ledger())
  app.get<{ Params: { peer: string }, Querystring: { limit?: string } }>('/api/ledger/:peer/records', async (req, reply) => {
    if (!PEER_ID.test(req.params.peer)) return fail(reply, new BadPeerError())
    const limit = Math.min(LEDGER_RECORDS_MAX, Math.max(1, Number(req.query.limit ?? LEDGER_RECORDS_DEFAULT) || LEDGER_RECORDS_DEFAULT))
    return { peer: req.params.peer, totals: store.totals(req.params.peer), records: await store.recordsOf(req.params.peer, limit) }
  })
  app.get('/api/ledger/evidence', async () => ({ evidence: await store.evidence(), signals: await store.signals() }))
  app.get('/api/ledger/check', async () => {
    // Rebuild balances from the stored records alone and compare with what the store holds.
    const rebuilt = await store.recompute()
    const stored = store.allTotals()
    const members = new Set([...stored.keys(), ...rebuilt.totals.keys()])
    const zero = { given: 0, taken: 0, givenRequests: 0, takenRequests: 0 }
    const mismatches = [...members].filter(m => JSON.stringify(stored.get(m) ?? zero) !== JSON.stringify(rebuilt.totals.get(m) ?? zero))
    return { consistent: mismatches.length === 0, records: store.recordCount, mismatches }
  })
}

/** Governance admin routes; every POST needs the operator token (admin auth). */
function registerGovernanceRoutes (app: FastifyInstance, c: AdminComponents): void {
  const needGov = (): NonNullable<AdminComponents['gov']> => {
    if (c.gov === undefined) throw new GovernanceOffError()
    return c.gov
  }
  app.get('/api/governance', async () => c.views.governance())
  app.post('/api/governance/propose', async (req, reply) => {
    const parsed = ProposeBody.safeParse(req.body)
    if (!parsed.success) return fail(reply, badBody(parsed.error))
    const evidence = parsed.data.evidence as EvidenceItem[]
    let action = parsed.data.action as LogAction
    // An expulsion proposed with evidence names it by hash; fill the hashes in if left out.
    if (action.kind === 'expel' && action.evidence.length === 0 && evidence.length > 0) action = { ...action, evidence: evidence.map(evidenceHash) }
    try { return { id: await needGov().propose(action, evidence) } } catch (err) { return fail(reply, err) }
  })
  app.post<{ Params: { id: string } }>('/api/governance/proposals/:id/vote', async (req, reply) => {
    if (!/^[0-9a-f]{64}$/.test(req.params.id)) return fail(reply, new BadRequestError('a proposal id is 64 hex digits'))
    try { await needGov().vote(req.params.id); return { ok: true } } catch (err) { return fail(reply, err) }
  })
  app.post('/api/invitations', async (req, reply) => {
    const parsed = InviteBody.safeParse(req.body ?? {})
    if (!parsed.success) return fail(reply, badBody(parsed.error))
    try {
      return { token: await needGov().invite({ addrs: c.addrs(), ttlMs: parsed.data.ttlHours * 3_600_000, ...(parsed.data.site === undefined ? {} : { site: parsed.data.site }) }) }
    } catch (err) { return fail(reply, err) }
  })
  app.post<{ Params: { peer: string } }>('/api/peers/:peer/block', async (req, reply) => {
    if (!PEER_ID.test(req.params.peer)) return fail(reply, new BadPeerError())
    await c.peerGate.block(req.params.peer)
    return { ok: true, blocked: c.peerGate.blocked }
  })
  app.post<{ Params: { peer: string } }>('/api/peers/:peer/unblock', async (req, reply) => {
    if (!PEER_ID.test(req.params.peer)) return fail(reply, new BadPeerError())
    c.peerGate.unblock(req.params.peer)
    return { ok: true, blocked: c.peerGate.blocked }
  })
}
