/**
 * What a page load of a demo site weighs: the page plus the subresources a browser loads with it
 * (found the way the crowd finds them), and the mean under the crowd's Zipf popularity.
 */
import { extractLinks } from '../../src/demo/crowd.ts'
import type { SiteFile } from '../../src/demo/origin-site.ts'

export interface PageMix {
  pages: number
  /** Zipf(s)-weighted mean page-load bytes (bodies). */
  meanBytes: number
  /** Zipf(s)-weighted mean requests per page load. */
  meanRequests: number
  minBytes: number
  maxBytes: number
  /** Body bytes of one page load of each page, in popularity order. */
  perPage: Array<{ page: string, bytes: number, requests: number }>
}

/** Page-load bytes of `pages` (most popular first) served from `files`, weighted by Zipf(`zipfS`). */
export function pageMix (files: Map<string, SiteFile>, pages: string[], zipfS = 1): PageMix {
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
  const mean = (f: (p: { bytes: number, requests: number }) => number): number => perPage.reduce((a, p, k) => a + f(p) * (weights[k] ?? 0), 0) / total
  const sizes = perPage.map(p => p.bytes)
  return { pages: pages.length, meanBytes: mean(p => p.bytes), meanRequests: mean(p => p.requests), minBytes: Math.min(...sizes), maxBytes: Math.max(...sizes), perPage }
}
