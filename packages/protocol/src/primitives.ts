/**
 * Primitive field schemas shared by records, frames and governance documents: site labels,
 * base URLs, paths, peer ids and digests.
 */
import { z } from 'zod'
import { MAX_PATH_CHARS } from './constants.ts'
import { SchemaError } from './errors.ts'

/** A site label: one DNS label, used as the sub-domain of a mirror host. */
export const SITE_LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
export const SiteLabel = z.string().regex(SITE_LABEL_RE, 'a site label is one lower-case DNS label (a-z, 0-9, -)')

/**
 * A base URL (SPEC.md §Records, base URL): `scheme://host[:port]` with an optional trailing `/`,
 * scheme http or https in any case, printable ASCII, at most MAX_BASE_URL_CHARS. Receivers accept
 * every spelling of this grammar and use its canonical form (`canonicalBaseUrl`); senders send
 * the canonical form. The schema only validates: signed bytes are never rewritten.
 */
export const MAX_BASE_URL_CHARS = 512
const BASE_URL_RE = /^https?:\/\/[A-Za-z0-9._\-[\]:]+\/?$/i
export function isBaseUrl(s: string): boolean {
  if (s.length > MAX_BASE_URL_CHARS || !BASE_URL_RE.test(s)) return false
  try {
    const u = new URL(s)
    return (
      (u.protocol === 'http:' || u.protocol === 'https:') &&
      u.username === '' &&
      u.password === '' &&
      u.search === '' &&
      u.hash === '' &&
      u.pathname === '/' &&
      u.hostname !== ''
    )
  } catch {
    return false
  }
}
export const BaseUrl = z.string().max(MAX_BASE_URL_CHARS).refine(isBaseUrl, 'must be an http(s) base URL: scheme://host[:port] with at most a trailing /')

/**
 * The canonical form of a base URL: the WHATWG URL origin (scheme and host lower-case, IDNA
 * applied, default port left out, no trailing `/`). Throws a SchemaError for a string that is
 * not a base URL.
 */
export function canonicalBaseUrl(s: string): string {
  if (!isBaseUrl(s)) throw new SchemaError(`"${s.slice(0, 80)}" is not a base URL`)
  return new URL(s).origin
}

/** An HTTP field value as Reef carries it: HTAB, SP and visible ASCII (RFC 9110 field-value without obs-text). */
export const HEADER_VALUE_RE = /^[\t\x20-\x7e]*$/

/** A request target: absolute path with optional query, no fragment, printable ASCII only. */
export const UrlPath = z
  .string()
  .min(1)
  .max(MAX_PATH_CHARS)
  .regex(/^\/[\x21-\x7e]*$/, 'a path starts with / and holds printable ASCII only')
  .refine(p => !p.includes('#') && !p.startsWith('//'), 'a path has no fragment and does not start with //')

export const PeerIdString = z
  .string()
  .min(40)
  .max(128)
  .regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a peer id is base58btc')

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest is 64 lower-case hex digits')
