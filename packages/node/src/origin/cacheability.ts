/**
 * What Reef may mirror. Only a GET or HEAD without credentials whose response is shared-cacheable
 * per RFC 9111 may ever leave the origin's site for a helper: status 200, no Set-Cookie, no
 * `private`, `no-store` or `no-cache` directive, no Vary beyond Accept-Encoding, no
 * Content-Encoding (mirrors hold the identity body that the manifest hash names).
 */
import type { IncomingHttpHeaders } from 'node:http'

export type HeaderBag = IncomingHttpHeaders | Record<string, string | string[] | undefined>

function header(h: HeaderBag, name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v.join(', ') : v
}

/** The request itself may be answered by a shared cache. */
export function isRequestShareable(method: string, headers: HeaderBag): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false
  if (headers.authorization !== undefined || headers.cookie !== undefined) return false
  if (headers.range !== undefined) return false
  const cc = header(headers, 'cache-control')
  if (cc !== undefined && /(^|,)\s*no-store\s*(,|$)/i.test(cc)) return false
  return true
}

/** The response may be stored by a shared cache and served to anyone. */
export function isResponseShareable(status: number, headers: HeaderBag): boolean {
  if (status !== 200) return false
  if (headers['set-cookie'] !== undefined) return false
  const cc = (header(headers, 'cache-control') ?? '').toLowerCase()
  if (/(^|[\s,])(private|no-store|no-cache)(\s*=|\s*,|\s*$)/.test(cc)) return false
  const vary = header(headers, 'vary')
  if (
    vary !== undefined &&
    vary.split(',').some(v => {
      const t = v.trim().toLowerCase()
      return t !== '' && t !== 'accept-encoding'
    })
  )
    return false
  const ce = header(headers, 'content-encoding')
  if (ce !== undefined && ce.toLowerCase() !== 'identity') return false
  return true
}

/** Response headers a mirror may repeat; everything else (cookies, hop-by-hop, server internals) is dropped. */
export const MIRRORED_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified', 'expires', 'content-language'] as const

export function pickMirroredHeaders(headers: HeaderBag): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of MIRRORED_HEADERS) {
    const v = header(headers, name)
    if (v !== undefined && /^[\t\x20-\x7e]{0,1024}$/.test(v)) out[name] = v
  }
  return out
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored; * matches any. */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const opaque = (t: string): string => t.trim().replace(/^W\//, '')
  const target = opaque(etag)
  return ifNoneMatch.split(',').some(t => t.trim() === '*' || opaque(t) === target)
}
