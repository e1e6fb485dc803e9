/**
 * A small, real demo web site served by a small, real (deliberately weak) server.
 *
 * The content is generated deterministically from a seed: ~20 HTML pages that
 * link (with absolute paths) a shared stylesheet, a shared script, 2–6 images
 * each and sometimes a large download, plus a few private routes that a cache
 * must never mirror.
 *
 * Profile 'blog' is a heavier site for bandwidth experiments: ~30 long posts
 * whose page loads (HTML, a shared stylesheet and script, 2–8 images each, no
 * downloads) weigh about 410 KB on average under Zipf(1) popularity, like a
 * small blog whose uplink, not its CPU, gives out under a flash crowd.
 *
 * The server models a small machine: exactly `workers` requests are in service
 * at once, each occupying its worker for `1000 * workers / capacityRps` ms (plus
 * body transfer time through a shared bandwidth bucket when `bytesPerSec` is
 * set). Excess requests wait in a bounded FIFO queue; a full queue answers 503
 * at once and a request that waits longer than `queueTimeoutMs` gets 504.
 */
import { seededRandom } from './crowd.ts'
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'

export interface DemoOriginOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string
  /** Port to listen on. Default 0 (ephemeral). */
  port?: number
  /** Requests in service at once. */
  workers: number
  /** Sustainable throughput in requests per second. */
  capacityRps: number
  /** Maximum queued (waiting) requests; beyond this 503. Default 64. */
  queueLimit?: number
  /** A queued request that waited longer than this gets 504. Default 2000. */
  queueTimeoutMs?: number
  /** Optional bandwidth cap shared by all responses, in body bytes per second. */
  bytesPerSec?: number
  seed?: number
  siteName?: string
  /** Which site to serve: the demo site (default) or the heavier blog. */
  profile?: DemoSiteProfile
}

/** 'demo': ~20 pages with downloads (the default); 'blog': ~30 pages of ~410 KB page loads, no downloads. */
export type DemoSiteProfile = 'demo' | 'blog'

export interface SiteFile {
  path: string
  type: string
  body: Buffer
  cacheControl: string
  private: boolean
}

export interface OriginStats {
  /** Requests received (all methods and outcomes). */
  total: number
  /** Responses sent with status < 500. */
  served: number
  /** 503 answers because the queue was full. */
  rejected: number
  /** 504 answers because a request waited in the queue too long. */
  timedOut: number
  /** Requests currently occupying a worker. */
  inFlight: number
  /** Requests currently waiting in the queue. */
  queued: number
  /** Per epoch second: responses sent with status < 500 and their body bytes, ascending by second. */
  /** Per epoch second: requests that arrived (whatever became of them), responses served below 500, and their bytes. */
  perSecond(): Array<{ second: number; arrived: number; served: number; bytes: number }>
  /** Maximum `arrived` over the recorded seconds: the load offered to the origin. */
  peakArrivalsRps(): number
  /** Maximum `served` over the recorded seconds (0 when none). */
  peakRps(): number
  /** Clear the counters and the per-second record (inFlight/queued are live values). */
  reset(): void
}

export interface DemoOrigin {
  url: string
  port: number
  files: Map<string, SiteFile>
  /** Public HTML pages (paths), `/` first. */
  pages: string[]
  stats: OriginStats
  close(): Promise<void>
}

// ---------------------------------------------------------------------------
// Deterministic content
// ---------------------------------------------------------------------------

function intBetween(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1))
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)]
  if (item === undefined) throw new Error('pick from empty list')
  return item
}

function sample<T>(rand: () => number, items: readonly T[], n: number): T[] {
  const copy = items.slice()
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const a = copy[i] as T
    copy[i] = copy[j] as T
    copy[j] = a
  }
  return copy.slice(0, Math.min(n, copy.length))
}

function randomBody(rand: () => number, size: number, head: Buffer, tail: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(size)
  let i = 0
  for (; i + 4 <= size; i += 4) buf.writeUInt32LE(Math.floor(rand() * 4294967296), i)
  for (; i < size; i++) buf[i] = Math.floor(rand() * 256)
  head.copy(buf, 0, 0, Math.min(head.length, size))
  if (size >= head.length + tail.length) tail.copy(buf, size - tail.length)
  return buf
}

/** Log-uniform size in [lo, hi] bytes. */
function logUniform(rand: () => number, lo: number, hi: number): number {
  return Math.round(Math.exp(Math.log(lo) + rand() * (Math.log(hi) - Math.log(lo))))
}

const WORDS = (
  'harbor tide reef coral current signal lantern beacon mirror relay crowd ' +
  'river market bridge garden orchard meadow summit valley island village ' +
  'archive ledger story season weather festival concert library workshop ' +
  'neighbor volunteer council school bakery ferry station lighthouse pier ' +
  'morning evening quiet bright open local small early late careful steady ' +
  'shared public gentle sudden remarkable ordinary familiar distant nearby ' +
  'gathers opens closes returns welcomes explains describes remembers builds ' +
  'repairs visits follows carries invites records celebrates measures plans'
).split(' ')

const TOPICS = [
  'harbor-festival',
  'reef-survey',
  'lighthouse-restoration',
  'ferry-timetable',
  'market-day',
  'storm-report',
  'school-concert',
  'library-hours',
  'coral-census',
  'bridge-repairs',
  'orchard-harvest',
  'council-minutes',
  'volunteer-week',
  'tide-tables',
  'bakery-opening',
  'island-walks',
  'night-sky',
  'fishing-season',
  'village-history',
  'summer-regatta'
]

const IMAGE_NAMES = [
  'harbor',
  'beacon',
  'crowd',
  'reef',
  'pier',
  'ferry',
  'sunset',
  'market',
  'bridge',
  'garden',
  'festival',
  'storm',
  'boat',
  'coral',
  'gull',
  'orchard',
  'tower',
  'dune',
  'school',
  'lantern',
  'meadow',
  'island',
  'stars',
  'regatta'
]

const DOWNLOADS: Array<{ path: string; type: string; label: string }> = [
  { path: '/files/report.pdf', type: 'application/pdf', label: 'Annual report' },
  { path: '/files/tide-data.zip', type: 'application/zip', label: 'Tide data archive' },
  { path: '/files/brochure.pdf', type: 'application/pdf', label: 'Visitor brochure' },
  { path: '/files/field-recordings.zip', type: 'application/zip', label: 'Field recordings' }
]

const PNG_HEAD = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const PNG_TAIL = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82])
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00])
const JPEG_TAIL = Buffer.from([0xff, 0xd9])
const PDF_HEAD = Buffer.from('%PDF-1.7\n')
const PDF_TAIL = Buffer.from('\n%%EOF\n')
const ZIP_HEAD = Buffer.from([0x50, 0x4b, 0x03, 0x04])
const ZIP_TAIL = Buffer.from([0x50, 0x4b, 0x05, 0x06])

const CC_HTML = 'public, max-age=30'
const CC_ASSET = 'public, max-age=60'

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function titleCase(slug: string): string {
  return slug
    .split('-')
    .map(w => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ')
}

function paragraph(rand: () => number): string {
  const sentences: string[] = []
  const n = intBetween(rand, 3, 6)
  for (let s = 0; s < n; s++) {
    const words: string[] = []
    const len = intBetween(rand, 8, 16)
    for (let w = 0; w < len; w++) words.push(pick(rand, WORDS))
    const first = words[0] ?? 'the'
    words[0] = first.charAt(0).toUpperCase() + first.slice(1)
    sentences.push(words.join(' ') + '.')
  }
  return sentences.join(' ')
}

function makeCss(rand: () => number, target: number): string {
  const parts: string[] = [
    'html{font-family:system-ui,sans-serif;line-height:1.5;color:#1d2b36;background:#f7fafc}',
    'header,footer{padding:1rem 2rem;background:#0b4f6c;color:#fff}',
    'main{max-width:46rem;margin:0 auto;padding:1rem}',
    'figure img{max-width:100%;height:auto;border-radius:4px}'
  ]
  let size = parts.join('\n').length
  let i = 0
  while (size < target) {
    const rule =
      `.${pick(rand, WORDS)}-${i}{margin:${intBetween(rand, 0, 32)}px ${intBetween(rand, 0, 32)}px;` +
      `padding:${intBetween(rand, 0, 24)}px;color:#${intBetween(rand, 0, 0xffffff).toString(16).padStart(6, '0')};` +
      `font-size:${(0.75 + rand()).toFixed(2)}rem}`
    parts.push(rule)
    size += rule.length + 1
    i++
  }
  return parts.join('\n') + '\n'
}

function makeJs(rand: () => number, target: number): string {
  const parts: string[] = ["'use strict';", '(function () {', '  var site = {};']
  let size = parts.join('\n').length
  let i = 0
  while (size < target) {
    const name = `${pick(rand, WORDS)}${i}`
    const fn =
      `  site.${name} = function (el) {\n` +
      `    var n = ${intBetween(rand, 1, 9999)};\n` +
      `    if (!el) { return n * ${intBetween(rand, 2, 17)}; }\n` +
      `    el.setAttribute('data-${pick(rand, WORDS)}', String(n + ${intBetween(rand, 0, 99)}));\n` +
      `    return n;\n  };`
    parts.push(fn)
    size += fn.length + 1
    i++
  }
  parts.push('  window.site = site;', '})();')
  return parts.join('\n') + '\n'
}

interface PageSpec {
  path: string
  title: string
  images: string[]
  downloads: Array<{ path: string; label: string }>
  related: Array<{ path: string; title: string }>
}

function renderPage(rand: () => number, siteName: string, page: PageSpec, paragraphRange: [number, number] = [3, 6]): string {
  const lines: string[] = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtml(page.title)} | ${escapeHtml(siteName)}</title>`,
    '<link rel="stylesheet" href="/css/site.css">',
    '<script src="/js/app.js" defer></script>',
    '</head>',
    '<body>',
    `<header><a href="/">${escapeHtml(siteName)}</a> <nav><a href="/about.html">About</a> ` +
      '<a href="/gallery.html">Gallery</a> <a href="/account">My account</a></nav></header>',
    '<main>',
    `<h1>${escapeHtml(page.title)}</h1>`
  ]
  const paragraphs = intBetween(rand, paragraphRange[0], paragraphRange[1])
  for (let p = 0; p < paragraphs; p++) {
    lines.push(`<p>${paragraph(rand)}</p>`)
    const img = page.images[p]
    if (img !== undefined) {
      lines.push(`<figure><img src="${img}" alt="${escapeHtml(pick(rand, WORDS))}" loading="eager"></figure>`)
    }
  }
  for (let k = paragraphs; k < page.images.length; k++) {
    lines.push(`<figure><img src="${page.images[k] ?? ''}" alt="${escapeHtml(pick(rand, WORDS))}"></figure>`)
  }
  for (const d of page.downloads) {
    lines.push(`<p class="download">Download: <a href="${d.path}">${escapeHtml(d.label)}</a></p>`)
  }
  if (page.related.length > 0) {
    lines.push('<h2>Related</h2>', '<ul>')
    for (const r of page.related) lines.push(`<li><a href="${r.path}">${escapeHtml(r.title)}</a></li>`)
    lines.push('</ul>')
  }
  lines.push('</main>', `<footer>&copy; ${escapeHtml(siteName)}</footer>`, '</body>', '</html>', '')
  return lines.join('\n')
}

/**
 * Build the demo site's files deterministically from `seed`. Includes the
 * private routes (`/account`, `/private/report.html`) marked `private: true`.
 */
export function buildDemoSite(opts: { seed?: number; siteName?: string; profile?: DemoSiteProfile } = {}): Map<string, SiteFile> {
  const seed = opts.seed ?? 1
  const siteName = opts.siteName ?? 'Harbor Gazette'
  const rand = seededRandom(seed)
  const files = new Map<string, SiteFile>()
  const add = (path: string, type: string, body: Buffer, cacheControl: string, isPrivate = false): void => {
    files.set(path, { path, type, body, cacheControl, private: isPrivate })
  }
  const profile = opts.profile ?? 'demo'
  if (profile === 'blog') buildBlog(rand, siteName, add)
  else if (profile === 'demo') buildGazette(rand, siteName, add)
  else throw new RangeError(`unknown demo site profile "${String(profile)}"`)
  addPrivateRoutes(rand, siteName, add)
  return files
}

type AddFile = (path: string, type: string, body: Buffer, cacheControl: string, isPrivate?: boolean) => void

/**
 * The blog: long posts under /posts/, a home page listing them, about and archive pages. Sizes
 * are chosen so that a page load (page + stylesheet + script + its images) weighs ~410 KB on
 * average when popularity is Zipf(1) over the pages in order (home first).
 */
function buildBlog(rand: () => number, siteName: string, add: AddFile): void {
  add('/css/site.css', 'text/css; charset=utf-8', Buffer.from(makeCss(rand, 28 * 1024)), CC_ASSET)
  add('/js/app.js', 'text/javascript; charset=utf-8', Buffer.from(makeJs(rand, 84 * 1024)), CC_ASSET)
  const images: string[] = []
  for (let i = 0; i < 48; i++) {
    const name = IMAGE_NAMES[i % IMAGE_NAMES.length] ?? 'image'
    const jpeg = rand() < 0.5
    const path = `/img/${name}-${i + 1}.${jpeg ? 'jpg' : 'png'}`
    const size = logUniform(rand, 26 * 1024, 100 * 1024)
    const body = jpeg ? randomBody(rand, size, JPEG_HEAD, JPEG_TAIL) : randomBody(rand, size, PNG_HEAD, PNG_TAIL)
    add(path, jpeg ? 'image/jpeg' : 'image/png', body, CC_ASSET)
    images.push(path)
  }
  const posts: Array<{ path: string; title: string }> = []
  const seen = new Set<string>()
  while (posts.length < 27) {
    const slug = `${pick(rand, WORDS)}-${pick(rand, WORDS)}-${pick(rand, WORDS)}`
    if (seen.has(slug)) continue
    seen.add(slug)
    posts.push({ path: `/posts/${slug}.html`, title: titleCase(slug) })
  }
  const pages: Array<{ spec: PageSpec; paragraphs: [number, number] }> = [
    {
      spec: { path: '/', title: `${siteName}: latest posts`, images: sample(rand, images, intBetween(rand, 6, 8)), downloads: [], related: posts },
      paragraphs: [8, 12]
    },
    {
      spec: { path: '/about.html', title: 'About this blog', images: sample(rand, images, 2), downloads: [], related: sample(rand, posts, 3) },
      paragraphs: [4, 8]
    },
    {
      spec: { path: '/archive.html', title: 'Archive', images: sample(rand, images, intBetween(rand, 2, 4)), downloads: [], related: posts },
      paragraphs: [2, 4]
    }
  ]
  for (const post of posts) {
    const related = [
      { path: '/', title: 'Home' },
      ...sample(
        rand,
        posts.filter(x => x.path !== post.path),
        4
      )
    ]
    pages.push({
      spec: { path: post.path, title: post.title, images: sample(rand, images, intBetween(rand, 2, 8)), downloads: [], related },
      paragraphs: [20, 60]
    })
  }
  for (const { spec, paragraphs } of pages) {
    add(spec.path, 'text/html; charset=utf-8', Buffer.from(renderPage(rand, siteName, spec, paragraphs)), CC_HTML)
  }
}

/** The original demo site (the default profile): its content must not change for a given seed. */
function buildGazette(rand: () => number, siteName: string, add: AddFile): void {
  add('/css/site.css', 'text/css; charset=utf-8', Buffer.from(makeCss(rand, 10 * 1024)), CC_ASSET)
  add('/js/app.js', 'text/javascript; charset=utf-8', Buffer.from(makeJs(rand, 30 * 1024)), CC_ASSET)

  const images: string[] = []
  for (const [i, name] of IMAGE_NAMES.entries()) {
    const jpeg = rand() < 0.5
    const path = `/img/${name}-${i + 1}.${jpeg ? 'jpg' : 'png'}`
    const size = logUniform(rand, 5 * 1024, 150 * 1024)
    const body = jpeg ? randomBody(rand, size, JPEG_HEAD, JPEG_TAIL) : randomBody(rand, size, PNG_HEAD, PNG_TAIL)
    add(path, jpeg ? 'image/jpeg' : 'image/png', body, CC_ASSET)
    images.push(path)
  }

  for (const d of DOWNLOADS) {
    const size = intBetween(rand, 300 * 1024, 1536 * 1024)
    const pdf = d.type === 'application/pdf'
    add(d.path, d.type, randomBody(rand, size, pdf ? PDF_HEAD : ZIP_HEAD, pdf ? PDF_TAIL : ZIP_TAIL), CC_ASSET)
  }

  const slugs = sample(rand, TOPICS, 17)
  const articles = slugs.map(slug => ({ path: `/articles/${slug}.html`, title: titleCase(slug) }))
  const specs: PageSpec[] = []
  specs.push({
    path: '/',
    title: `Welcome to ${siteName}`,
    images: sample(rand, images, intBetween(rand, 3, 5)),
    downloads: [],
    related: articles
  })
  specs.push({
    path: '/about.html',
    title: 'About us',
    images: sample(rand, images, 2),
    downloads: [{ path: DOWNLOADS[2]?.path ?? '', label: DOWNLOADS[2]?.label ?? '' }],
    related: sample(rand, articles, 3)
  })
  specs.push({
    path: '/gallery.html',
    title: 'Gallery',
    images: sample(rand, images, 6),
    downloads: [],
    related: sample(rand, articles, 2)
  })
  for (const a of articles) {
    const downloads = rand() < 0.35 ? sample(rand, DOWNLOADS, intBetween(rand, 1, 2)).map(d => ({ path: d.path, label: d.label })) : []
    specs.push({
      path: a.path,
      title: a.title,
      images: sample(rand, images, intBetween(rand, 2, 6)),
      downloads,
      related: [
        { path: '/', title: 'Home' },
        ...sample(
          rand,
          articles.filter(x => x.path !== a.path),
          3
        )
      ]
    })
  }
  for (const spec of specs) {
    add(spec.path, 'text/html; charset=utf-8', Buffer.from(renderPage(rand, siteName, spec)), CC_HTML)
  }
}

function addPrivateRoutes(rand: () => number, siteName: string, add: AddFile): void {
  // Private content: must never be mirrored.
  add(
    '/account',
    'text/html; charset=utf-8',
    Buffer.from(
      renderPage(rand, siteName, {
        path: '/account',
        title: 'Your account',
        images: [],
        downloads: [],
        related: [{ path: '/private/report.html', title: 'Your private report' }]
      })
    ),
    'no-cache',
    true
  )
  add(
    '/private/report.html',
    'text/html; charset=utf-8',
    Buffer.from(renderPage(rand, siteName, { path: '/private/report.html', title: 'Private report', images: [], downloads: [], related: [] })),
    'private, max-age=60',
    true
  )
}

/** Public HTML pages of a site map, `/` first then in insertion order. */
function publicPages(files: Map<string, SiteFile>): string[] {
  const pages: string[] = []
  for (const f of files.values()) {
    if (!f.private && f.type.startsWith('text/html')) pages.push(f.path)
  }
  pages.sort((a, b) => (a === '/' ? -1 : b === '/' ? 1 : 0))
  return pages
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

interface FileMeta {
  file: SiteFile
  etag: string | undefined
  lastModified: Date
  lastModifiedHeader: string
}

interface Job {
  req: IncomingMessage
  res: ServerResponse
  body: Buffer | undefined
  timer: NodeJS.Timeout | undefined
  state: 'queued' | 'service' | 'done'
}

interface Reply {
  status: number
  headers: Record<string, string | number>
  body: Buffer | undefined
}

const MAX_ECHO_BYTES = 1024 * 1024
const MAX_SECONDS_KEPT = 86_400

function etagMatches(header: string, etag: string): boolean {
  const weak = (t: string): string => (t.startsWith('W/') ? t.slice(2) : t)
  return header
    .split(',')
    .map(t => t.trim())
    .some(t => t === '*' || weak(t) === weak(etag))
}

function textReply(status: number, text: string, extra: Record<string, string> = {}): Reply {
  const body = Buffer.from(text + '\n')
  return {
    status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': body.length,
      'cache-control': 'no-store',
      ...extra
    },
    body
  }
}

/** Start the demo origin. Resolves once it is listening. */
export async function startDemoOrigin(opts: DemoOriginOptions): Promise<DemoOrigin> {
  const host = opts.host ?? '127.0.0.1'
  const workers = opts.workers
  const capacityRps = opts.capacityRps
  const queueLimit = opts.queueLimit ?? 64
  const queueTimeoutMs = opts.queueTimeoutMs ?? 2000
  const bytesPerSec = opts.bytesPerSec
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError('workers must be an integer >= 1')
  if (!(capacityRps > 0) || !Number.isFinite(capacityRps)) throw new RangeError('capacityRps must be > 0')
  if (!Number.isInteger(queueLimit) || queueLimit < 0) throw new RangeError('queueLimit must be an integer >= 0')
  if (!(queueTimeoutMs > 0)) throw new RangeError('queueTimeoutMs must be > 0')
  if (bytesPerSec !== undefined && !(bytesPerSec > 0)) throw new RangeError('bytesPerSec must be > 0')
  const serviceMs = (1000 * workers) / capacityRps

  const siteOpts: { seed?: number; siteName?: string; profile?: DemoSiteProfile } = {}
  if (opts.seed !== undefined) siteOpts.seed = opts.seed
  if (opts.siteName !== undefined) siteOpts.siteName = opts.siteName
  if (opts.profile !== undefined) siteOpts.profile = opts.profile
  const files = buildDemoSite(siteOpts)
  const pages = publicPages(files)

  // Deterministic Last-Modified per file, derived from the content hash.
  const meta = new Map<string, FileMeta>()
  const epochBase = Date.UTC(2024, 4, 1)
  for (const file of files.values()) {
    const digest = createHash('sha256').update(file.path).update(file.body).digest()
    const hours = digest.readUInt32BE(0) % (24 * 365)
    const lastModified = new Date(epochBase + hours * 3_600_000)
    meta.set(file.path, {
      file,
      etag: file.path === '/account' ? undefined : `"${digest.subarray(0, 12).toString('hex')}"`,
      lastModified,
      lastModifiedHeader: lastModified.toUTCString()
    })
  }

  // --- stats ---------------------------------------------------------------
  let total = 0
  let served = 0
  let rejected = 0
  let timedOut = 0
  let busy = 0
  const queue: Job[] = []
  const seconds = new Map<number, { arrived: number; served: number; bytes: number }>()
  const stats: OriginStats = {
    get total() {
      return total
    },
    get served() {
      return served
    },
    get rejected() {
      return rejected
    },
    get timedOut() {
      return timedOut
    },
    get inFlight() {
      return busy
    },
    get queued() {
      return queue.length
    },
    perSecond() {
      return [...seconds.entries()].sort((a, b) => a[0] - b[0]).map(([second, v]) => ({ second, arrived: v.arrived, served: v.served, bytes: v.bytes }))
    },
    peakArrivalsRps() {
      let peak = 0
      for (const v of seconds.values()) peak = Math.max(peak, v.arrived)
      return peak
    },
    peakRps() {
      let peak = 0
      for (const v of seconds.values()) peak = Math.max(peak, v.served)
      return peak
    },
    reset() {
      total = 0
      served = 0
      rejected = 0
      timedOut = 0
      seconds.clear()
    }
  }

  function slotNow(): { arrived: number; served: number; bytes: number } {
    const second = Math.floor(Date.now() / 1000)
    let slot = seconds.get(second)
    if (slot === undefined) {
      slot = { arrived: 0, served: 0, bytes: 0 }
      seconds.set(second, slot)
      if (seconds.size > MAX_SECONDS_KEPT) {
        const oldest = seconds.keys().next().value
        if (oldest !== undefined) seconds.delete(oldest)
      }
    }
    return slot
  }

  function record(status: number, bytes: number): void {
    if (status >= 500) return
    served++
    const slot = slotNow()
    slot.served++
    slot.bytes += bytes
  }

  // --- timers (all tracked so close() can cancel them) ----------------------
  let closed = false
  const timers = new Set<NodeJS.Timeout>()
  function later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(
      () => {
        timers.delete(t)
        if (!closed) fn()
      },
      Math.max(0, ms)
    )
    timers.add(t)
    return t
  }
  function cancel(t: NodeJS.Timeout | undefined): void {
    if (t === undefined) return
    clearTimeout(t)
    timers.delete(t)
  }
  /** Call fn once at least `ms` of monotonic time has passed since `from` (timers may fire early). */
  function atLeast(from: number, ms: number, fn: () => void): void {
    const remaining = ms - (performance.now() - from)
    if (remaining <= 0) {
      fn()
      return
    }
    later(Math.ceil(remaining), () => atLeast(from, ms, fn))
  }

  // Shared bandwidth: responses are transmitted one after another at bytesPerSec.
  let linkFreeAt = 0
  function reserveTransfer(bytes: number): number {
    if (bytesPerSec === undefined || bytes === 0) return 0
    const now = performance.now()
    const startAt = Math.max(now, linkFreeAt)
    linkFreeAt = startAt + (bytes * 1000) / bytesPerSec
    return linkFreeAt - now
  }

  function send(job: Job, reply: Reply): void {
    job.state = 'done'
    const { res } = job
    if (res.destroyed || res.writableEnded) return
    const isHead = job.req.method === 'HEAD'
    const bytes = isHead || reply.body === undefined ? 0 : reply.body.length
    record(reply.status, bytes)
    res.writeHead(reply.status, { server: 'reef-demo-origin', ...reply.headers })
    if (isHead || reply.body === undefined) res.end()
    else res.end(reply.body)
  }

  function route(job: Job): Reply {
    const { req } = job
    const method = req.method ?? 'GET'
    let pathname: string
    try {
      pathname = new URL(req.url ?? '/', 'http://origin.invalid').pathname
    } catch {
      return textReply(400, 'bad request')
    }
    if (pathname === '/api/echo') {
      if (method !== 'POST') return textReply(405, 'method not allowed', { allow: 'POST' })
      const body = job.body ?? Buffer.alloc(0)
      return {
        status: 200,
        headers: {
          'content-type': req.headers['content-type'] ?? 'application/octet-stream',
          'content-length': body.length,
          'cache-control': 'no-store'
        },
        body
      }
    }
    const m = meta.get(pathname)
    if (m === undefined) {
      const body = Buffer.from('<!doctype html><title>Not found</title><h1>404 Not found</h1>\n')
      return {
        status: 404,
        headers: { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' },
        body
      }
    }
    if (method !== 'GET' && method !== 'HEAD') return textReply(405, 'method not allowed', { allow: 'GET, HEAD' })
    const { file } = m
    const headers: Record<string, string | number> = {
      'content-type': file.type,
      'cache-control': file.cacheControl,
      'last-modified': m.lastModifiedHeader
    }
    if (m.etag !== undefined) headers['etag'] = m.etag
    if (file.path === '/account') {
      headers['set-cookie'] = `session=${randomBytes(16).toString('hex')}; Path=/; HttpOnly; SameSite=Lax`
    } else {
      const inm = req.headers['if-none-match']
      const ims = req.headers['if-modified-since']
      let notModified = false
      if (inm !== undefined && m.etag !== undefined) notModified = etagMatches(inm, m.etag)
      else if (inm === undefined && ims !== undefined) {
        const since = Date.parse(ims)
        notModified = Number.isFinite(since) && m.lastModified.getTime() <= since
      }
      if (notModified) return { status: 304, headers, body: undefined }
    }
    headers['content-length'] = file.body.length
    return { status: 200, headers, body: file.body }
  }

  function startService(job: Job): void {
    job.state = 'service'
    busy++
    const began = performance.now()
    atLeast(began, serviceMs, () => {
      const reply = route(job)
      const transferMs = job.req.method === 'HEAD' || reply.body === undefined ? 0 : reserveTransfer(reply.body.length)
      atLeast(performance.now(), transferMs, () => {
        send(job, reply)
        busy--
        pump()
      })
    })
  }

  function pump(): void {
    while (!closed && busy < workers && queue.length > 0) {
      const job = queue.shift()
      if (job === undefined) break
      cancel(job.timer)
      job.timer = undefined
      startService(job)
    }
  }

  function admit(job: Job): void {
    if (closed) {
      job.res.destroy()
      return
    }
    if (busy < workers && queue.length === 0) {
      startService(job)
      return
    }
    if (queue.length >= queueLimit) {
      rejected++
      send(job, textReply(503, 'server overloaded', { 'retry-after': '1' }))
      return
    }
    job.state = 'queued'
    queue.push(job)
    job.timer = later(queueTimeoutMs, () => {
      job.timer = undefined
      const i = queue.indexOf(job)
      if (i < 0) return
      queue.splice(i, 1)
      timedOut++
      send(job, textReply(504, 'timed out waiting for a worker'))
    })
    // A client that gives up while queued frees its queue slot.
    job.res.once('close', () => {
      if (job.state !== 'queued') return
      const i = queue.indexOf(job)
      if (i >= 0) queue.splice(i, 1)
      cancel(job.timer)
      job.state = 'done'
    })
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    total++
    slotNow().arrived++
    const job: Job = { req, res, body: undefined, timer: undefined, state: 'queued' }
    if (req.method !== 'POST' && req.method !== 'PUT') {
      req.resume()
      admit(job)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_ECHO_BYTES) tooLarge = true
      else chunks.push(chunk)
    })
    req.on('end', () => {
      if (tooLarge) {
        send(job, textReply(413, 'payload too large'))
        return
      }
      job.body = Buffer.concat(chunks)
      admit(job)
    })
    req.on('error', () => res.destroy())
  }

  const server: Server = createServer({ keepAlive: true }, onRequest)
  server.keepAliveTimeout = 5000
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    else socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host

  let closing: Promise<void> | undefined
  async function close(): Promise<void> {
    if (closing !== undefined) return closing
    closed = true
    for (const t of timers) clearTimeout(t)
    timers.clear()
    queue.length = 0
    closing = new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    return closing
  }

  return { url: `http://${urlHost}:${port}`, port, files, pages, stats, close }
}
