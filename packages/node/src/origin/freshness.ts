/**
 * HTTP freshness for the front's micro-cache (RFC 9111 §4.2, RFC 5861). A stored response is
 * fresh for s-maxage, else max-age, else Expires − Date seconds, less its Age when stored; after
 * that it may still be served while it is revalidated (`stale-while-revalidate=N`) or when the
 * origin fails (`stale-if-error=N`).
 */
export interface Freshness {
  freshUntil: number
  staleWhileRevalidateUntil: number
  staleIfErrorUntil: number
}

type Directive = 's-maxage' | 'max-age' | 'stale-while-revalidate' | 'stale-if-error'
// Compiled once: freshness is computed on the micro-cache's hot path.
const DIRECTIVES: Record<Directive, RegExp> = {
  's-maxage': /(?:^|[,\s])s-maxage\s*=\s*"?(\d+)"?/i,
  'max-age': /(?:^|[,\s])max-age\s*=\s*"?(\d+)"?/i,
  'stale-while-revalidate': /(?:^|[,\s])stale-while-revalidate\s*=\s*"?(\d+)"?/i,
  'stale-if-error': /(?:^|[,\s])stale-if-error\s*=\s*"?(\d+)"?/i
}

function directive(cc: string, name: Directive): number | undefined {
  if (cc === '') return undefined
  const m = DIRECTIVES[name].exec(cc)
  return m === null ? undefined : Number(m[1])
}

/** Freshness of a response stored at `storedAt` (epoch ms) with these headers. */
export function freshnessOf(headers: Readonly<Record<string, string>>, storedAt: number): Freshness {
  const cc = headers['cache-control'] ?? ''
  let lifetime = directive(cc, 's-maxage') ?? directive(cc, 'max-age')
  if (lifetime === undefined && headers.expires !== undefined) {
    const expires = Date.parse(headers.expires)
    const date = headers.date !== undefined ? Date.parse(headers.date) : storedAt
    lifetime = Number.isNaN(expires) ? 0 : Math.max(0, Math.floor((expires - (Number.isNaN(date) ? storedAt : date)) / 1000))
  }
  const age = Number(headers.age ?? 0) || 0
  const freshUntil = storedAt + Math.max(0, (lifetime ?? 0) - age) * 1000
  return {
    freshUntil,
    staleWhileRevalidateUntil: freshUntil + (directive(cc, 'stale-while-revalidate') ?? 0) * 1000,
    staleIfErrorUntil: freshUntil + (directive(cc, 'stale-if-error') ?? 0) * 1000
  }
}

const memo = new WeakMap<object, Freshness>()

/** Freshness of a cached object, computed once per stored copy (the micro-cache's hot path). */
export function freshnessOfObject(obj: { headers: Readonly<Record<string, string>>; storedAt: number }): Freshness {
  let f = memo.get(obj)
  if (f === undefined) {
    f = freshnessOf(obj.headers, obj.storedAt)
    memo.set(obj, f)
  }
  return f
}
