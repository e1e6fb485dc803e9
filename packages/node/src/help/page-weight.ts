/**
 * What a redirected page brings the mirror it is sent to. A browser sent to a mirror for a
 * page fetches the page's images, scripts and stylesheets from the same mirror host (their
 * absolute paths resolve there), so redirecting an HTML page commits the helper's uplink to the
 * whole page load, not to the page alone. The front weighs each redirect by that (SPEC.md
 * §HTTP behaviour, Shedding): the page plus the subresources it links on the site's own origin,
 * at their cached sizes.
 */
import type { CachedObject, ContentCache } from '../origin/content-cache.ts'

/** Elements whose attribute a browser fetches while it loads the page. */
const FETCHED: Readonly<Record<string, string>> = {
  img: 'src',
  script: 'src',
  link: 'href',
  source: 'src',
  video: 'poster',
  audio: 'src',
  iframe: 'src',
  embed: 'src'
}
/** `<link rel>` values a browser fetches during the load. */
const LINK_RELS = /(^|\s)(stylesheet|icon|preload|modulepreload|apple-touch-icon)(\s|$)/i
/** Most subresources counted for one page (a page linking thousands is weighed by these). */
const MAX_LINKS = 256
const TAG = /<([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>/g
const ATTR = /\b([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g

/** Same-origin paths (with query) of the subresources a browser loads with this HTML page at `pagePath`. */
export function pageSubresources(html: string, pagePath: string): string[] {
  const base = new URL(pagePath, 'http://site.invalid')
  const out = new Set<string>()
  for (const tag of html.matchAll(TAG)) {
    const name = (tag[1] ?? '').toLowerCase()
    const attrName = FETCHED[name]
    if (attrName === undefined) continue
    const attrs = new Map<string, string>()
    for (const a of (tag[2] ?? '').matchAll(ATTR)) attrs.set((a[1] ?? '').toLowerCase(), a[2] ?? a[3] ?? '')
    if (name === 'link' && !LINK_RELS.test(attrs.get('rel') ?? '')) continue
    const raw = attrs.get(attrName)?.trim()
    if (raw === undefined || raw === '' || raw.startsWith('data:')) continue
    let url: URL
    try {
      url = new URL(raw, base)
    } catch {
      continue
    }
    if (url.origin !== base.origin) continue
    out.add(url.pathname + url.search)
    if (out.size >= MAX_LINKS) break
  }
  out.delete(pagePath)
  return [...out]
}

/** Weighs redirects: the object's size, plus for an HTML page its subresources' (parsed once per cached copy). */
export class PageWeigher {
  readonly #links = new WeakMap<CachedObject, readonly string[]>()
  readonly #cache: ContentCache
  readonly #site: string

  constructor(cache: ContentCache, site: string) {
    this.#cache = cache
    this.#site = site
  }

  /** Bytes a client redirected for `obj` will fetch from the mirror (whole bytes); unknown subresources at `meanBytes`. */
  weigh(obj: CachedObject, meanBytes: number): number {
    let links = this.#links.get(obj)
    if (links === undefined) {
      const type = obj.headers['content-type'] ?? ''
      links = /^text\/html\b|^application\/xhtml\+xml\b/i.test(type) ? pageSubresources(obj.body.toString('utf8'), obj.path) : []
      this.#links.set(obj, links)
    }
    let bytes = obj.body.byteLength
    for (const p of links) bytes += this.#cache.peek(this.#site, p)?.body.byteLength ?? meanBytes
    return Math.round(bytes)
  }
}
