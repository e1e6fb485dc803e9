/**
 * Content audits (SPEC.md §Content integrity). Every member follows help sessions on the help
 * topic: each site's signed manifest (path → size, sha256) and its accepted helpers. Every
 * audit interval it fetches one random manifest object through one random helper's public
 * mirror URL, as any client would, and compares the body with the manifest and with the
 * helper's attestation header. A mismatch becomes an expulsion proposal with the evidence:
 * `content-signed` when the helper signed a hash other than the site's (proof by signatures
 * alone), `content-observed` otherwise (voters fetch the URL themselves).
 */
import { createHash } from 'node:crypto'
import { Agent, request } from 'undici'
import { ATTESTATION_HEADER, verifyRecord } from '@reef/protocol'
import type { Attestation, EvidenceItem, HelpAccept, HelpRelease, HelpRequest, VerifiedRecord } from '@reef/protocol'
import { siteUrlOn } from '@reef/governance'
import type { Logger } from 'pino'
import { localhostLookup } from '../p2p/localhost-lookup.ts'
import type { RecordChannel } from '../p2p/record-bus.ts'
import { AUDIT_FETCH_TIMEOUT_MS, AUDIT_SESSION_EXPIRY_MS } from '../constants.ts'

interface WatchedSession {
  site: string
  beneficiary: string
  manifestBytes: Uint8Array
  manifest: HelpRequest
  helpers: Map<string, string> // peer → mirror URL
  seenAt: number
}

export interface AuditResult {
  at: number
  helper: string
  url: string
  ok: boolean
  detail: string
}

export interface AuditorDeps {
  bus: RecordChannel
  log: Logger
  selfId: string
  maxObjectBytes: number
  isMember: (peer: string) => boolean
  /** Raise a finding: propose the helper's expulsion with this evidence. */
  accuse: (helper: string, reason: string, evidence: EvidenceItem[]) => Promise<unknown>
  /** Told at once of a helper caught serving wrong content for `site` (before any vote). */
  caught?: (helper: string, site: string) => void
}

export class Auditor {
  readonly #d: AuditorDeps
  readonly #sessions = new Map<string, WatchedSession>()
  readonly #agent = new Agent({ connect: { lookup: localhostLookup }, connections: 8 })
  readonly results: AuditResult[] = []
  /** Audits that compared content (ok) or found a mismatch, since start. */
  readonly counts = { ok: 0, mismatch: 0 }
  #unsubscribe: (() => void) | undefined
  #timer: NodeJS.Timeout | undefined
  #running = false
  #stopped = false

  constructor(deps: AuditorDeps) {
    this.#d = deps
  }

  /** Audit every `intervalMs()` (read each time: the charter's policy may change it). */
  start(intervalMs: () => number): void {
    this.#unsubscribe = this.#d.bus.onRecord(r => {
      this.#onRecord(r)
    })
    const next = (): void => {
      if (this.#stopped) return
      this.#timer = setTimeout(() => {
        void this.auditOnce().finally(next)
      }, intervalMs())
      this.#timer.unref()
    }
    next()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    this.#unsubscribe?.()
    await this.#agent.close()
  }

  #onRecord(r: VerifiedRecord): void {
    if (r.type === 'help-request') {
      const body = r.body as HelpRequest
      const prev = this.#sessions.get(body.session)
      if (prev !== undefined && prev.beneficiary !== r.author) return
      this.#sessions.set(body.session, {
        site: body.site,
        beneficiary: r.author,
        manifestBytes: r.bytes,
        manifest: body,
        helpers: prev?.helpers ?? new Map(),
        seenAt: Date.now()
      })
    } else if (r.type === 'help-accept') {
      const body = r.body as HelpAccept
      const s = this.#sessions.get(body.session)
      if (s === undefined || s.beneficiary !== r.author) return
      s.helpers = new Map(body.helpers.map(h => [h.peer, h.mirrorUrl]))
      s.seenAt = Date.now()
    } else if (r.type === 'help-release') {
      const s = this.#sessions.get((r.body as HelpRelease).session)
      if (s !== undefined && s.beneficiary === r.author) this.#sessions.delete((r.body as HelpRelease).session)
    }
  }

  /** Fetch a URL as a client: status, body hash and the attestation header. */
  async fetch(url: string): Promise<{ status: number; sha256: string; attestation: string | undefined }> {
    const res = await request(url, { dispatcher: this.#agent, signal: AbortSignal.timeout(AUDIT_FETCH_TIMEOUT_MS), headers: { 'user-agent': 'reef-audit/1' } })
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of res.body) {
      size += (chunk as Buffer).byteLength
      if (size > this.#d.maxObjectBytes) {
        res.body.destroy()
        throw new Error(`${url} is larger than ${this.#d.maxObjectBytes} bytes`)
      }
      hash.update(chunk as Buffer)
    }
    const att = res.headers[ATTESTATION_HEADER]
    return { status: res.statusCode, sha256: hash.digest('hex'), attestation: typeof att === 'string' ? att : undefined }
  }

  /** Audit one random (helper, object) of a live session; returns what was found. */
  async auditOnce(now = Date.now()): Promise<AuditResult | undefined> {
    if (this.#running) return undefined
    for (const [id, s] of this.#sessions) if (now - s.seenAt > AUDIT_SESSION_EXPIRY_MS) this.#sessions.delete(id)
    const candidates: Array<{ s: WatchedSession; helper: string; mirrorUrl: string }> = []
    for (const s of this.#sessions.values()) {
      for (const [helper, mirrorUrl] of s.helpers) {
        if (helper !== this.#d.selfId && this.#d.isMember(helper) && s.manifest.manifest.length > 0) candidates.push({ s, helper, mirrorUrl })
      }
    }
    const pick = candidates[Math.floor(Math.random() * candidates.length)]
    if (pick === undefined) return undefined
    const entry = pick.s.manifest.manifest[Math.floor(Math.random() * pick.s.manifest.manifest.length)]!
    const url = siteUrlOn(pick.mirrorUrl, pick.s.site) + entry.path.slice(1)
    this.#running = true
    try {
      const seen = await this.fetch(url)
      if (seen.status !== 200) return this.#result(pick.helper, url, true, `answered ${seen.status}: nothing to compare`)
      if (seen.sha256 === entry.sha256) {
        this.counts.ok++
        return this.#result(pick.helper, url, true, 'matches the manifest')
      }
      this.counts.mismatch++
      const manifest = Buffer.from(pick.s.manifestBytes).toString('base64url')
      let evidence: EvidenceItem = {
        kind: 'content-observed',
        manifest,
        url,
        path: entry.path,
        servedSha256: seen.sha256,
        ...(seen.attestation === undefined ? {} : { attestation: seen.attestation })
      }
      if (seen.attestation !== undefined) {
        try {
          const att = await verifyRecord(Buffer.from(seen.attestation, 'base64url'), { expectType: 'attestation', ignoreTime: true })
          const a = att.body as Attestation
          if (
            att.author === pick.helper &&
            a.site === pick.s.site &&
            a.path === entry.path &&
            a.session === pick.s.manifest.session &&
            a.sha256 !== entry.sha256
          ) {
            evidence = { kind: 'content-signed', manifest, attestation: seen.attestation }
          }
        } catch {}
      }
      const result = this.#result(pick.helper, url, false, `served ${seen.sha256.slice(0, 12)}…, the site published ${entry.sha256.slice(0, 12)}…`)
      this.#d.log.warn(
        { helper: pick.helper, url, served: seen.sha256, published: entry.sha256, evidence: evidence.kind },
        'audit: helper served tampered content'
      )
      this.#d.caught?.(pick.helper, pick.s.site)
      await this.#d.accuse(pick.helper, `tampered content: ${entry.path} on ${pick.s.site}`, [evidence])
      return result
    } catch (err) {
      return this.#result(pick.helper, url, true, `could not fetch: ${(err as Error).message}`)
    } finally {
      this.#running = false
    }
  }

  #result(helper: string, url: string, ok: boolean, detail: string): AuditResult {
    const r = { at: Date.now(), helper, url, ok, detail }
    this.results.push(r)
    if (this.results.length > 200) this.results.shift()
    return r
  }
}
