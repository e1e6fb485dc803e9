/**
 * Primitive field schemas shared by records, frames and governance documents: site labels,
 * base URLs, paths, peer ids and digests.
 */
import { z } from 'zod'
import { MAX_PATH_CHARS } from './constants.ts'

/** A site label: one DNS label, used as the sub-domain of a mirror host. */
export const SITE_LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
export const SiteLabel = z.string().regex(SITE_LABEL_RE, 'a site label is one lower-case DNS label (a-z, 0-9, -)')

/** An absolute http(s) URL with no credentials, query or fragment: a base under which paths are appended. */
export const BaseUrl = z.string().max(512).refine(s => {
  try {
    const u = new URL(s)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' &&
      u.search === '' && u.hash === '' && (u.pathname === '/' || u.pathname === '')
  } catch { return false }
}, 'must be an http(s) origin URL without path, credentials, query or fragment')

/** A request target: absolute path with optional query, no fragment, printable ASCII only. */
export const UrlPath = z.string().min(1).max(MAX_PATH_CHARS).regex(/^\/[\x21-\x7e]*$/, 'a path starts with / and holds printable ASCII only')
  .refine(p => !p.includes('#') && !p.startsWith('//'), 'a path has no fragment and does not start with //')

export const PeerIdString = z.string().min(40).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a peer id is base58btc')

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest is 64 lower-case hex digits')
