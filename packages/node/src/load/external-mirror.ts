/**
 * The external mirror rung of the relief ladder: a URL template the operator configures
 * (`https://{host}.nyud.net{path}` as Coral had it, `https://web.archive.org/web/{url}`, a CDN of
 * their own), used only while a crowd lasts and only for shareable requests that neither the
 * origin nor consortium helpers take.
 *
 * Placeholders: `{host}` — the site's host name (from site.publicUrl, never from the request);
 * `{path}` — the request's path and query (already checked by `isSafePath`); `{url}` — the
 * site's public URL of the request. `{host}` may stand only in the template's authority,
 * `{path}` and `{url}` only after it. Every location built is checked to keep the template's
 * origin, so no request can turn the front into an open redirect.
 */
import { PLACEHOLDER, parseMirrorTemplate } from '../config/mirror-template.ts'

export { parseMirrorTemplate }

export class ExternalMirror {
  readonly template: string
  readonly #host: string
  readonly #siteUrl: string
  readonly #origin: string

  constructor(template: string, siteUrl: string) {
    this.template = parseMirrorTemplate(template)
    const site = new URL(siteUrl)
    this.#host = site.hostname
    this.#siteUrl = `${site.protocol}//${site.host}`
    this.#origin = new URL(template.replace(PLACEHOLDER, (_, p: string) => (p === 'host' ? this.#host : p === 'path' ? '/' : '/'))).origin
  }

  /** Where to send a client for `path` (already a safe path), or undefined if that would leave the template's origin. */
  location(path: string): string | undefined {
    const loc = this.template.replace(PLACEHOLDER, (_, p: string) => (p === 'host' ? this.#host : p === 'path' ? path : this.#siteUrl + path))
    let u: URL
    try {
      u = new URL(loc)
    } catch {
      return undefined
    }
    return u.origin === this.#origin ? loc : undefined
  }
}
