/**
 * The external mirror's URL template (`relief.externalMirror.template`), checked when the
 * config is parsed. Placeholders: `{host}` — the site's host name, only in the template's
 * authority; `{path}` — the request's path and query; `{url}` — the site's public URL of the
 * request; `{path}` and `{url}` only after the authority (load/external-mirror.ts builds them).
 */
import { ConfigError } from '../errors.ts'

export const PLACEHOLDER = /\{(host|path|url)\}/g

function authorityOf(template: string): { scheme: string; authority: string; rest: string } | undefined {
  // The authority ends at the first / ? # or at a {path} / {url} placeholder.
  const m = /^(https?):\/\/((?:(?!\{path\}|\{url\})[^/?#])*)(.*)$/.exec(template)
  return m === null ? undefined : { scheme: m[1]!, authority: m[2]!, rest: m[3]! }
}

/** Check a template; throws ConfigError naming what is wrong. */
export function parseMirrorTemplate(template: string): string {
  const parts = authorityOf(template)
  if (parts === undefined) throw new ConfigError(`relief.externalMirror.template "${template}" must start with http:// or https://`)
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!['host', 'path', 'url'].includes(m[1]!))
      throw new ConfigError(`relief.externalMirror.template has an unknown placeholder {${m[1]!}} (use {host}, {path}, {url})`)
  }
  if (parts.authority.replace('{host}', 'h') === '' || /[{}]/.test(parts.authority.replace(/\{host\}/g, '')))
    throw new ConfigError('relief.externalMirror.template needs a host, where only {host} may stand')
  if (parts.rest.includes('{host}')) throw new ConfigError('relief.externalMirror.template: {host} may only stand in the host')
  if (!/\{(path|url)\}/.test(parts.rest)) throw new ConfigError('relief.externalMirror.template needs {path} or {url} after the host')
  const sample = template.replace(PLACEHOLDER, (_, p: string) => (p === 'host' ? 'example' : p === 'path' ? '/index.html' : 'http://example/index.html'))
  try {
    new URL(sample)
  } catch {
    throw new ConfigError(`relief.externalMirror.template "${template}" does not make a valid URL`)
  }
  return template
}
