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
import { ConfigError } from '../errors.ts'

const PLACEHOLDER = /\{(host|path|url)\}/g

function authorityOf (template: string): { scheme: string, authority: string, rest: string } | undefined {
  // The authority ends at the first / ? # or at a {path} / {url} placeholder.
  const m = /^(https?):\/\/((?:(?!\{path\}|\{url\})[^/?#])*)(.*)$/.exec(template)
  return m === null ? undefined : { scheme: m[1]!, authority: m[2]!, rest: m[3]! }
}

/** Check a template; throws ConfigError naming what is wrong. */
export function parseMirrorTemplate (template: string): string {
  const parts = authorityOf(template)
  if (parts === undefined) throw new ConfigError(`relief.externalMirror.template "${template}" must start with http:// or https://`)
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!['host', 'path', 'url'].includes(m[1]!)) throw new ConfigError(`relief.externalMirror.template has an unknown placeholder {${m[1]!}} (use {host}, {path}, {url})`)
  }
  if (parts.authority.replace('{host}', 'h') === '' || /[{}]/.test(parts.authority.replace(/\{host\}/g, ''))) throw new ConfigError('relief.externalMirror.template needs a host, where only {host} may stand')
  if (parts.rest.includes('{host}')) throw new ConfigError('relief.externalMirror.template: {host} may only stand in the host')
  if (!/\{(path|url)\}/.test(parts.rest)) throw new ConfigError('relief.externalMirror.template needs {path} or {url} after the host')
  const sample = template.replace(PLACEHOLDER, (_, p: string) => p === 'host' ? 'example' : p === 'path' ? '/index.html' : 'http://example/index.html')
  try { new URL(sample) } catch { throw new ConfigError(`relief.externalMirror.template "${template}" does not make a valid URL`) }
  return template
}

export class ExternalMirror {
  readonly template: string
  readonly #host: string
  readonly #siteUrl: string
  readonly #origin: string

  constructor (template: string, siteUrl: string) {
    this.template = parseMirrorTemplate(template)
    const site = new URL(siteUrl)
    this.#host = site.hostname
    this.#siteUrl = `${site.protocol}//${site.host}`
    this.#origin = new URL(template.replace(PLACEHOLDER, (_, p: string) => p === 'host' ? this.#host : p === 'path' ? '/' : '/')).origin
  }

  /** Where to send a client for `path` (already a safe path), or undefined if that would leave the template's origin. */
  location (path: string): string | undefined {
    const loc = this.template.replace(PLACEHOLDER, (_, p: string) => p === 'host' ? this.#host : p === 'path' ? path : this.#siteUrl + path)
    let u: URL
    try { u = new URL(loc) } catch { return undefined }
    return u.origin === this.#origin ? loc : undefined
  }
}
