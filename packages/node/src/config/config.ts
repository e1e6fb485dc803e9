/**
 * The node's configuration: one zod schema with defaults and units in the names. Parsed once at
 * start, frozen, and passed down; a wrong or missing field fails with one message naming it.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { BaseUrl, DEFAULT_POLICY, SiteLabel, canonicalBaseUrl } from '@reef/protocol'
import { DEFAULT_QUOTA_POLICY } from '@reef/governance'

/** A base URL the node publishes in its records: sent in canonical form (SPEC.md §Records, base URL), however the operator wrote it. */
const PublishedBaseUrl = BaseUrl.transform(canonicalBaseUrl)
import { ConfigError } from '../errors.ts'
import { parseMirrorTemplate } from './mirror-template.ts'
import { JsoncSyntaxError, parseJsonc } from './jsonc.ts'

const Listen = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535)
  })
  .strict()

const Share = z.number().min(0).max(1)

/** The uplink assumed when the config declares none: 100 Mbit/s (reef doctor warns). */
/** What an operator token may be: long enough not to guess, safe in an Authorization header. */
export const ADMIN_TOKEN = /^[\x21-\x7e]{16,1024}$/

export const DEFAULT_UPLINK_BYTES_PER_SEC = 12_500_000

export const ConfigSchema = z
  .object({
    /** Consortium id: names the gossip topics; nodes of different consortia ignore each other. */
    consortium: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a consortium id is lower-case letters, digits and -')
      .default('reef'),
    site: z
      .object({
        /** This site's label: the sub-domain under which helpers' mirrors serve it. */
        label: SiteLabel,
        /** The URL clients use to reach this site (the front), for redirects back from mirrors. */
        publicUrl: PublishedBaseUrl
      })
      .strict(),
    origin: z
      .object({
        url: BaseUrl,
        capacityRps: z.number().positive().max(1_000_000),
        maxConcurrent: z.number().int().positive().max(100_000),
        bytesPerSec: z.number().int().positive().optional(),
        timeoutMs: z.number().int().positive().default(15_000)
      })
      .strict(),
    front: z
      .object({
        listen: Listen,
        /** How long a request may wait for the origin before it is answered 503, in ms. */
        queueTimeoutMs: z.number().int().min(0).default(4_000),
        /** How many requests may wait for the origin at once; beyond it, 503 at once. */
        queueLimit: z.number().int().min(0).default(4_096),
        retryAfterS: z.number().int().min(1).default(5),
        /**
         * TLS terminators or load balancers in front of the front (their addresses as the front
         * sees them): their X-Forwarded-Proto and X-Forwarded-Host reach the origin.
         */
        trustedProxies: z.array(z.string().min(1).max(64)).max(64).default(['127.0.0.1', '::1', '::ffff:127.0.0.1']),
        /** Connection upgrades (WebSocket) tunnelled to the origin at once; past it, 503. 0 refuses them. */
        maxUpgrades: z.number().int().min(0).max(100_000).default(1024),
        maxBodyBytes: z
          .number()
          .int()
          .positive()
          .default(10 * 1024 * 1024)
      })
      .strict(),
    /** Limits on what clients may hold at the front and at the mirror (each server its own). */
    http: z
      .object({
        maxConnections: z.number().int().min(1).max(1_000_000).default(16_384),
        maxConnectionsPerIp: z.number().int().min(1).max(1_000_000).default(256),
        headersTimeoutMs: z.number().int().min(1_000).max(600_000).default(10_000),
        requestTimeoutMs: z.number().int().min(0).max(3_600_000).default(300_000),
        idleTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
        maxHeaderBytes: z.number().int().min(1_024).max(1_048_576).default(16_384),
        maxRequestsPerSocket: z.number().int().min(0).max(1_000_000).default(0)
      })
      .strict()
      .refine(h => h.requestTimeoutMs === 0 || h.headersTimeoutMs <= h.requestTimeoutMs, {
        message: 'http.headersTimeoutMs must not exceed http.requestTimeoutMs (unless that is 0)',
        path: ['headersTimeoutMs']
      })
      .default({
        maxConnections: 16_384,
        maxConnectionsPerIp: 256,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 300_000,
        idleTimeoutMs: 10_000,
        maxHeaderBytes: 16_384,
        maxRequestsPerSocket: 0
      }),
    mirror: z
      .object({
        listen: Listen,
        /** Base URL under which clients reach this node's mirror; site X is served at X.<host>. */
        publicUrl: PublishedBaseUrl,
        /** Requests/s this node's mirror can serve for others. */
        capacityRps: z.number().int().min(0).default(500),
        /** Keep serving a released site's cached objects this long, for clients already redirected. */
        releaseGraceMs: z.number().int().min(0).default(30_000)
      })
      .strict(),
    admin: z
      .object({
        listen: Listen,
        /** Operator token for the admin API's non-GET routes (Authorization: Bearer …). */
        token: z.string().regex(ADMIN_TOKEN, 'an operator token is 16 to 1024 printable ASCII characters without spaces').optional(),
        /** A file holding the operator token (read when the node starts; keeps it out of the config). */
        tokenFile: z.string().min(1).optional()
      })
      .strict()
      .refine(a => a.token === undefined || a.tokenFile === undefined, { message: 'set admin.token or admin.tokenFile, not both', path: ['tokenFile'] })
      .optional(),
    /**
     * The site machine's uplink: what it can send per second, shared by the front, the mirror
     * and libp2p. A flash crowd at a small site fills it long before the CPU: the node measures
     * what it sends against it, is struck when demand nears it, and offers others only what is
     * left of it.
     */
    uplink: z
      .object({
        /** Bytes/s the machine can send (its upload rate: 100 Mbit/s is 12500000). */
        bytesPerSec: z.number().int().min(10_000).max(1_000_000_000_000).default(DEFAULT_UPLINK_BYTES_PER_SEC),
        /**
         * Share of the uplink the node fills: with its own site's traffic while it sheds, and in
         * all (its site plus what it serves for others) while it helps.
         */
        targetShare: z.number().min(0.1).max(1).default(0.9)
      })
      .strict()
      .default({ bytesPerSec: DEFAULT_UPLINK_BYTES_PER_SEC, targetShare: 0.9 }),
    /**
     * Warm standby: in calm times `replicas` members keep a copy of this site's hot content (and
     * this node keeps theirs), so a crowd finds helpers ready. Transfers run only while both
     * sides are calm, at `uplinkShare` of the sending site's uplink; the replicas this node holds
     * for others share `maxBytes` equally.
     */
    standby: z
      .object({
        replicas: z.number().int().min(0).max(8).default(2),
        uplinkShare: z.number().min(0.001).max(0.5).default(0.05),
        maxBytes: z
          .number()
          .int()
          .min(0)
          .max(1024 ** 4)
          .default(128 * 1024 * 1024)
      })
      .strict()
      .default({ replicas: 2, uplinkShare: 0.05, maxBytes: 128 * 1024 * 1024 }),
    p2p: z
      .object({
        listen: z.array(z.string().min(1)).default(['/ip4/127.0.0.1/tcp/0']),
        bootstrap: z.array(z.string().min(1)).default([])
      })
      .strict()
      .default({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] }),
    dataDir: z.string().min(1),
    cache: z
      .object({
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024 * 1024),
        maxObjectBytes: z
          .number()
          .int()
          .positive()
          .max(16 * 1024 * 1024)
          .default(8 * 1024 * 1024)
      })
      .strict()
      .default({ maxBytes: 256 * 1024 * 1024, maxObjectBytes: 8 * 1024 * 1024 }),
    crowd: z
      .object({
        /** Struck when demand reaches this share of capacity. */
        strikeShare: Share.default(0.8),
        /** Recovering when demand falls below this share. */
        releaseShare: Share.default(0.5),
        /** Demand must stay over strikeShare this long before the site is struck, in ms. */
        strikeHoldMs: z.number().int().min(0).default(500),
        /** Demand must stay under releaseShare this long before the site is normal again, in ms. */
        calmMs: z.number().int().min(0).default(2_000),
        /** Shedding aims to keep the origin at this share of its capacity. */
        targetShare: Share.default(0.85),
        tickMs: z.number().int().min(10).max(5_000).default(250),
        /**
         * A new visitor neither the site nor any helper can take yet (a crowd's onset) waits this
         * long for help on its way before 503, in ms; 0: 503 at once. Only with other members
         * not struck themselves, or an external mirror.
         */
        helpWaitMs: z.number().int().min(0).max(10_000).default(2_000)
      })
      .strict()
      .default({ strikeShare: 0.8, releaseShare: 0.5, strikeHoldMs: 500, calmMs: 2_000, targetShare: 0.85, tickMs: 250, helpWaitMs: 2_000 }),
    gossip: z
      .object({
        reportIntervalMs: z.number().int().min(100).default(1_000),
        peerExpiryMs: z.number().int().min(500).default(5_000)
      })
      .strict()
      .default({ reportIntervalMs: 1_000, peerExpiryMs: 5_000 }),
    relief: z
      .object({
        /**
         * Rung 1: answer fresh shareable responses from the front's cache (one origin fetch per
         * object at a time; RFC 5861 stale-while-revalidate and stale-if-error) once demand reaches
         * this share of the origin's capacity; off again when the site is normal and demand is
         * below half of it for crowd.calmMs.
         */
        microCache: z
          .object({ enabled: z.boolean().default(true), engageShare: Share.default(0.5) })
          .strict()
          .default({ enabled: true, engageShare: 0.5 }),
        /**
         * External mirror URL template, used only while a crowd lasts for what the origin and
         * the helpers cannot take: placeholders {host}, {path}, {url}.
         */
        externalMirror: z
          .object({ template: z.string().min(8).max(512) })
          .strict()
          .optional()
      })
      .strict()
      .default({ microCache: { enabled: true, engageShare: 0.5 } }),
    ledger: z
      .object({
        /** How often a beneficiary signs what it delegated to each helper, in ms. */
        settleIntervalMs: z.number().int().min(100).default(DEFAULT_POLICY.settleIntervalMs),
        quota: z
          .object({
            newcomerGrantBytes: z.number().int().min(0).default(DEFAULT_QUOTA_POLICY.newcomerGrantBytes),
            takeMultiple: z.number().min(0).default(DEFAULT_QUOTA_POLICY.takeMultiple),
            windowMs: z.number().int().positive().default(DEFAULT_QUOTA_POLICY.windowMs),
            optimisticShare: Share.default(DEFAULT_QUOTA_POLICY.optimisticShare)
          })
          .strict()
          .default({ ...DEFAULT_QUOTA_POLICY })
      })
      .strict()
      .default({ settleIntervalMs: DEFAULT_POLICY.settleIntervalMs, quota: { ...DEFAULT_QUOTA_POLICY } }),
    /**
     * Consortium governance. Without this section the node runs an open consortium: any peer on
     * the topics counts. With it, only members of the charter's membership log count.
     */
    governance: z
      .object({
        /** The signed charter (from "reef consortium create"); newcomers get it with "reef join". */
        charter: z.string().min(1).optional(),
        /** Vote automatically on proposals whose evidence this node can verify itself. */
        autoVote: z.boolean().default(true)
      })
      .strict()
      .optional(),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
      })
      .strict()
      .default({ level: 'info' })
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.crowd.releaseShare >= c.crowd.strikeShare) {
      ctx.addIssue({ code: 'custom', path: ['crowd', 'releaseShare'], message: 'must be below crowd.strikeShare (hysteresis)' })
    }
    if (c.relief.externalMirror !== undefined) {
      try {
        parseMirrorTemplate(c.relief.externalMirror.template)
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['relief', 'externalMirror', 'template'],
          message: (err as Error).message.replace(/^relief\.externalMirror\.template:? ?/, '')
        })
      }
    }
  })

export type ReefConfig = Readonly<z.output<typeof ConfigSchema>>
export type ReefConfigInput = z.input<typeof ConfigSchema>

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}

/** Validate a configuration object; throws ConfigError naming the first wrong field. */
export function parseConfig(input: unknown): ReefConfig {
  const r = ConfigSchema.safeParse(input)
  if (!r.success) {
    const issue = r.error.issues[0]
    const where = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.join('.')
    // zod says "Invalid input: expected object, received undefined" for a field left out.
    const missing = issue?.code === 'invalid_type' && issue.message.endsWith(' received undefined')
    const message = missing ? `missing (${issue.expected} required)` : (issue?.message ?? 'invalid')
    throw new ConfigError(`config field ${where}: ${message}`, { field: where })
  }
  return deepFreeze(r.data)
}

/**
 * Read and validate a config file: JSON, with `//` and `/* *\/` comments and trailing commas
 * allowed (what `reef init` writes). A syntax error names the line and column.
 */
export async function loadConfigFile(file: string): Promise<ReefConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file })
  }
  let json: unknown
  try {
    json = parseJsonc(text)
  } catch (err) {
    if (!(err instanceof JsoncSyntaxError)) throw err
    throw new ConfigError(`config file ${file} is not valid JSON at line ${err.line} column ${err.column}: ${err.reason}`, {
      file,
      line: err.line,
      column: err.column
    })
  }
  try {
    return parseConfig(json)
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${file}: ${err.message}`, { ...err.location, file })
    throw err
  }
}
