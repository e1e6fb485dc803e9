/**
 * What a page load of a demo site weighs: the page plus the subresources a browser loads with it
 * (found the way the crowd finds them), and the mean under the crowd's Zipf popularity.
 */
import { extractLinks } from '../../demo/crowd.ts'
import { buildDemoSite } from '../../demo/origin-site.ts'
import type { SiteFile } from '../../demo/origin-site.ts'

export interface PageMix {
  pages: number
  /** Zipf(s)-weighted mean page-load bytes (bodies). */
  meanBytes: number
  /** Zipf(s)-weighted mean requests per page load. */
  meanRequests: number
  minBytes: number
  maxBytes: number
  /** Body bytes of one page load of each page, in popularity order. */
  perPage: Array<{ page: string; bytes: number; requests: number }>
}

/** Page-load bytes of `pages` (most popular first) served from `files`, weighted by Zipf(`zipfS`). */
export function pageMix(files: Map<string, SiteFile>, pages: string[], zipfS = 1): PageMix {
  const base = new URL('http://site.invalid/')
  const perPage = pages.map(page => {
    const html = files.get(page)
    if (html === undefined) throw new Error(`page ${page} is not among the site's files`)
    const links = extractLinks(html.body.toString('utf8'), new URL(page, base))
    let bytes = html.body.length
    for (const u of links.subresources) {
      const f = files.get(u.pathname)
      if (f === undefined) throw new Error(`page ${page} links ${u.pathname}, which the site does not have`)
      bytes += f.body.length
    }
    return { page, bytes, requests: 1 + links.subresources.length }
  })
  const weights = perPage.map((_, k) => 1 / Math.pow(k + 1, zipfS))
  const total = weights.reduce((a, w) => a + w, 0)
  const mean = (f: (p: { bytes: number; requests: number }) => number): number => perPage.reduce((a, p, k) => a + f(p) * (weights[k] ?? 0), 0) / total
  const sizes = perPage.map(p => p.bytes)
  return {
    pages: pages.length,
    meanBytes: mean(p => p.bytes),
    meanRequests: mean(p => p.requests),
    minBytes: Math.min(...sizes),
    maxBytes: Math.max(...sizes),
    perPage
  }
}

/** The blog-like site a testbed site serves (seed = its index, named by its label) and its page mix. */
export function blogSite(index: number, label: string): { files: Map<string, SiteFile>; pages: string[]; mix: PageMix } {
  const files = buildDemoSite({ seed: index, siteName: label, profile: 'blog' })
  // The order startDemoOrigin lists them in: '/' first, then as built.
  const pages = [...files.values()]
    .filter(f => !f.private && f.type.startsWith('text/html'))
    .map(f => f.path)
    .sort((a, b) => (a === '/' ? -1 : b === '/' ? 1 : 0))
  return { files, pages, mix: pageMix(files, pages) }
}

/** A mirror's request capacity from its uplink: what it can send ÷ the mean request of the mix. */
export function mirrorCapacityRps(uplinkBytesPerSec: number, mix: PageMix): number {
  return Math.floor(uplinkBytesPerSec / (mix.meanBytes / mix.meanRequests))
}
