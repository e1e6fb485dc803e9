/**
 * What an operator sees: the dashboard of a struck node in a real browser (Debian's chromium,
 * driven by playwright-core) while a real flash crowd hits its site. Three Reef nodes on
 * loopback, a browser-like crowd of 20x the origin's capacity for 6 s; every check waits for
 * the page itself to show the state (DOM state, with deadlines), never for time. Screenshots
 * of the desktop and phone layouts go to test-output/dashboard/.
 *
 * The page must say "open consortium" while the node has none. How it renders a charter's log
 * and proposals (untrusted text stays text, a halted log, voting with the operator's token) is
 * checked here against an answer served by the browser's request routing, in the node's shape;
 * dashboard-governance.test.ts checks the panel against real chartered nodes.
 */
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { request } from 'undici'
import { loopbackDispatcher, runCrowd, startLocalConsortium, waitForMesh } from '@reef/node/demo'
import type { ReefNode } from '@reef/node'
import type { LocalConsortium } from '@reef/node/demo'
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS as OUT, requireChromium } from './browser.ts'
import { until } from './wait.ts'

const CAPACITY = 50
const CROWD_RPS = 20 * CAPACITY
const CROWD_MS = 6_000

describe('the dashboard of a struck node, in a browser', { timeout: 120_000 }, () => {
  let c: LocalConsortium
  let browser: Browser
  let desktopContext: BrowserContext
  let phoneContext: BrowserContext
  let desktop: Page
  let phone: Page
  let alpha: ReefNode
  let helpers: ReefNode[]
  let crowd: ReturnType<typeof runCrowd> | undefined
  const dispatcher = loopbackDispatcher()
  const pageErrors: string[] = []

  const watch = (page: Page): void => {
    page.on('pageerror', err => {
      pageErrors.push(`${page.url()}: ${err.message}`)
    })
    page.on('console', msg => {
      // A 404 from /api/governance (no charter yet) and the 401 of the wrong token are expected; script errors and CSP violations are not.
      if (msg.type() === 'error' && !/status of 40[14] /.test(msg.text())) pageErrors.push(`${page.url()}: ${msg.text()}`)
    })
  }

  before(async () => {
    await requireChromium()
    await mkdir(OUT, { recursive: true })
    c = await startLocalConsortium({ nodes: 3, capacityRps: CAPACITY, workers: 8, logLevel: 'warn', overrides: { ledger: { settleIntervalMs: 2_000 } } })
    alpha = c.sites[0]!.node!
    helpers = c.sites.slice(1).map(s => s.node!)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    desktopContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    desktop = await desktopContext.newPage()
    phone = await phoneContext.newPage()
    watch(desktop)
    watch(phone)
    await waitForMesh(c)
    await Promise.all([desktop.goto(alpha.adminUrl!), phone.goto(alpha.adminUrl!)])
  })

  after(async () => {
    await crowd?.catch(() => undefined)
    await browser?.close()
    await c?.close()
    await dispatcher.close()
  })

  it('is served with a content security policy that admits only its own script', async () => {
    const res = await request(`${alpha.adminUrl!}/`, { dispatcher })
    await res.body.dump()
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'; script-src 'sha256-/)
    const tl = await request(`${alpha.adminUrl!}/api/timeline`, { dispatcher })
    const body = (await tl.body.json()) as { capacityRps: number; intervalMs: number; points: unknown[] }
    assert.equal(body.capacityRps, CAPACITY)
    assert.equal(body.intervalMs, 1000)
    assert.ok(Array.isArray(body.points))
  })

  let balancesBefore: Record<string, string> = {}

  it('shows the whole consortium calm before the crowd', async () => {
    await desktop.waitForFunction(
      n =>
        document.querySelectorAll('#peers tr[data-key], #members tr[data-peer]').length >= 2 * n &&
        document.querySelectorAll('#ledger tr[data-peer]').length >= n,
      3,
      { timeout: 15_000, polling: 100 }
    )
    assert.equal(await desktop.textContent('#site'), 'alpha')
    assert.equal(await desktop.getAttribute('#state', 'data-state'), 'normal')
    balancesBefore = await balances(desktop)
    assert.deepEqual(Object.keys(balancesBefore).sort(), [alpha, ...helpers].map(n => n.peerId).sort())
    assert.notEqual(await desktop.getAttribute('#gov-status', 'data-mode'), 'unknown')
  })

  it('shows the struck state, the helpers by name and peer, and shed traffic while the crowd lasts', async t => {
    const started = Date.now()
    const site = c.sites[0]!
    const expected = new Map([...site.origin.files].filter(([, f]) => !f.private).map(([p, f]) => [p, f.body]))
    crowd = runCrowd({
      siteUrl: site.url,
      pages: site.origin.pages,
      profile: { kind: 'step', rps: CROWD_RPS, durationMs: CROWD_MS },
      maxRequests: (CROWD_RPS * CROWD_MS) / 1000 + 500,
      maxDurationMs: CROWD_MS + 10_000,
      expected,
      dispatcher,
      seed: 11
    })
    const deadline = { timeout: CROWD_MS + 10_000, polling: 100 }
    await desktop.waitForFunction(() => document.querySelector('#state')?.getAttribute('data-state') === 'struck', undefined, deadline)
    t.diagnostic(`struck shown after ${Date.now() - started} ms`)
    const helperIds = helpers.map(h => h.peerId)
    await desktop.waitForFunction(ids => ids.every(id => document.querySelector(`#helpers tr[data-peer="${id}"]`) !== null), helperIds, deadline)
    t.diagnostic(`both helpers shown after ${Date.now() - started} ms`)
    await desktop.waitForFunction(
      () =>
        Number(document.querySelector<HTMLElement>('#tl-sum-shedPeers')?.dataset.value ?? 0) > 0 &&
        document.querySelector('#timeline path.k-shedPeers') !== null,
      undefined,
      deadline
    )
    await desktop.waitForFunction(() => document.querySelector('#members tr[data-state="helping"]') !== null, undefined, deadline)

    // The helpers appear by site label with their peer id, here and in who-helps-whom.
    for (const [i, h] of helpers.entries()) {
      const row = desktop.locator(`#helpers tr[data-peer="${h.peerId}"]`)
      assert.equal(await row.locator('.name').textContent(), c.sites[i + 1]!.label)
      assert.equal(await row.locator('.peer').getAttribute('title'), h.peerId)
      // Keyboard users get the full id too: the short id is focusable and shows it on focus.
      await row.locator('.peer').focus()
      assert.ok(
        (await row.locator('.peer').evaluate(el => getComputedStyle(el, '::after').content)).includes(h.peerId),
        'the full peer id is not shown on focus'
      )
    }
    assert.equal(await desktop.getAttribute(`#members tr[data-peer="${alpha.peerId}"]`, 'data-state'), 'struck')
    assert.equal(await desktop.getAttribute(`#peers tr[data-key="${alpha.peerId}"] td[data-state]`, 'data-state'), 'struck')
    const sessions = await desktop.locator('#sessions tr').allTextContents()
    assert.ok(
      sessions.some(r => r.includes('bravo') && r.includes('alpha')) && sessions.some(r => r.includes('charlie') && r.includes('alpha')),
      `who helps whom: ${sessions.join(' | ')}`
    )
    const shot = join(OUT, 'desktop-crowd.png')
    await desktop.screenshot({ path: shot, fullPage: true })
    t.diagnostic(`screenshot (desktop, during the crowd): ${shot}`)

    const report = await crowd
    assert.ok(report.successRate >= 0.95, `the crowd was served at ${report.successRate}`)
    t.diagnostic(`crowd: ${report.sent} requests, success ${report.successRate}, helpers served ${report.byServer.helper}`)
  })

  it('shows the ledger balances the crowd changed, with their trend', async t => {
    const started = Date.now()
    const ids = { alpha: alpha.peerId, helpers: helpers.map(h => h.peerId) }
    await desktop.waitForFunction(
      ({ alpha, helpers }) => {
        const balance = (peer: string): number => Number(document.querySelector<HTMLElement>(`#ledger tr[data-peer="${peer}"]`)?.dataset.balance ?? 0)
        return balance(alpha) < 0 && helpers.every(h => balance(h) > 0)
      },
      ids,
      { timeout: 30_000, polling: 100 }
    )
    t.diagnostic(`balances changed on the page ${Date.now() - started} ms after the crowd`)
    const changed = await balances(desktop)
    for (const peer of Object.keys(balancesBefore)) assert.notEqual(changed[peer], balancesBefore[peer], `balance of ${peer} unchanged`)

    // Once the crowd has passed, the page shows what the node's ledger holds as its session settles.
    await desktop.waitForFunction(() => document.querySelector('#state')?.getAttribute('data-state') === 'normal', undefined, { timeout: 20_000, polling: 100 })
    t.diagnostic(`normal again on the page ${Date.now() - started} ms after the crowd`)
    const peers = Object.keys(balancesBefore)
    const wanted = (): string => {
      const view = new Map(alpha.views.ledger().members.map(m => [m.peer, String(m.balance)]))
      return JSON.stringify(peers.map(p => view.get(p)))
    }
    await until("the page to show the node's ledger", async () => JSON.stringify(Object.values(await balances(desktop, peers))) === wanted(), 15_000)
    // Each member's trend is drawn.
    const trend = await desktop.getAttribute(`#ledger tr[data-peer="${alpha.peerId}"] polyline.s-balance`, 'points')
    assert.ok(trend !== null && new Set(trend.split(' ').map(p => p.split(',')[1])).size > 1, `alpha's balance trend is flat: ${trend}`)
    assert.match((await desktop.textContent(`#ledger tr[data-peer="${alpha.peerId}"]`)) ?? '', /−\d/)

    const shot = join(OUT, 'desktop.png')
    await desktop.screenshot({ path: shot, fullPage: true })
    t.diagnostic(`screenshot (desktop, after the crowd): ${shot}`)
  })

  it('fits a phone screen: one column, each table row a card, nothing wider than the screen', async t => {
    await phone.waitForFunction(() => Number(document.querySelector<HTMLElement>('#tl-sum-shedPeers')?.dataset.value ?? 0) > 0, undefined, {
      timeout: 10_000,
      polling: 100
    })
    const layout = await phone.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      columns: getComputedStyle(document.querySelector('main')!).gridTemplateColumns.split(' ').length,
      chartWidth: document.querySelector('#timeline')!.getBoundingClientRect().width
    }))
    assert.ok(layout.overflow <= 0, `the page is ${layout.overflow}px wider than the phone`)
    assert.equal(layout.columns, 1)
    assert.ok(layout.chartWidth > 300 && layout.chartWidth <= 390, `chart ${layout.chartWidth}px wide`)
    const shot = join(OUT, 'phone.png')
    await phone.screenshot({ path: shot, fullPage: true })
    t.diagnostic(`screenshot (phone): ${shot}`)
  })

  it('says "open consortium (no charter)" while the node has no charter', async () => {
    const res = await request(`${alpha.adminUrl!}/api/governance`, { dispatcher })
    const g = res.statusCode === 404 ? undefined : ((await res.body.json()) as { enabled: boolean })
    if (res.statusCode === 404) await res.body.dump()
    const open = g === undefined || !g.enabled
    await desktop.waitForFunction(mode => document.querySelector<HTMLElement>('#gov-status')?.dataset.mode === mode, open ? 'open' : 'chartered', {
      timeout: 5_000,
      polling: 100
    })
    if (open) assert.equal(await desktop.textContent('#gov-status'), 'open consortium (no charter)')
  })

  it("renders a charter's log and proposals as text, and an operator votes by keyboard with the token", async t => {
    const page = await desktopContext.newPage()
    watch(page)
    const attacker = '<img src=x onerror="window.__pwned=1">'
    const votes: Array<{ auth: string | undefined; body: string | null }> = []
    let voted = false
    let halted: null | { height: number; hashes: [string, string] } = null
    // The shape of the node's answer (reef-node.ts governanceView()); the real one is checked in dashboard-governance.test.ts.
    const governance = (): unknown => ({
      enabled: true,
      consortium: 'demo',
      name: 'Demo sites',
      charterHash: 'c'.repeat(64),
      height: 4,
      headHash: 'd'.repeat(64),
      halted,
      policy: { quorumNum: 2, quorumDen: 3, auditIntervalMs: 60_000 },
      self: alpha.peerId,
      member: true,
      members: [alpha, ...helpers].map((n, i) => ({ peer: n.peerId, site: c.sites[i]!.label, mirrorUrl: 'http://x', self: i === 0 })),
      expelled: [{ peer: '12D3KooWExpelledMemberExpelledMemberExpelled', site: 'mallory' }],
      log: [
        {
          height: 4,
          hash: 'e'.repeat(64),
          kind: 'expel',
          subject: '12D3KooWExpelledMemberExpelledMemberExpelled',
          summary: 'expel mallory: equivocation',
          signers: 3,
          proposedAt: Date.now()
        },
        { height: 3, hash: 'f'.repeat(64), kind: 'admit', subject: helpers[1]!.peerId, summary: 'admit charlie', signers: 2, proposedAt: Date.now() }
      ],
      proposals: [
        {
          id: 'p-1',
          height: 5,
          kind: 'admit',
          subject: '12D3KooWNewcomerNewcomerNewcomerNewcomer',
          summary: attacker,
          reason: 'wants in',
          proposer: helpers[0]!.peerId,
          votes: 1,
          needed: 3,
          votedBySelf: voted,
          decision: 'needs-operator',
          detail: 'the operator decides',
          evidence: ['invitation']
        },
        {
          id: 'p-2',
          height: 5,
          kind: 'set-policy',
          subject: null,
          summary: 'raise newcomer grant',
          reason: '',
          proposer: helpers[1]!.peerId,
          votes: 2,
          needed: 3,
          votedBySelf: true,
          decision: 'auto-yes',
          detail: '',
          evidence: []
        }
      ],
      audits: [{ at: Date.now(), helper: helpers[0]!.peerId, url: 'http://mirror/' + attacker, ok: false, detail: attacker }],
      events: []
    })
    await page.route('**/api/governance', route => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(governance()) }))
    await page.route('**/api/governance/proposals/*/vote', async route => {
      const req = route.request()
      const auth = (await req.headerValue('authorization')) ?? undefined
      votes.push({ auth, body: req.postData() })
      if (auth !== 'Bearer operator-secret') return route.fulfill({ status: 401, contentType: 'application/json', body: '{"code":"ERR_UNAUTHORIZED"}' })
      voted = true
      return route.fulfill({ status: 200, contentType: 'application/json', body: '{"ok":true}' })
    })
    await page.goto(alpha.adminUrl!)
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('#gov-status')?.dataset.mode === 'chartered' && document.querySelector('#proposals tr[data-id="p-1"]') !== null,
      undefined,
      { timeout: 10_000, polling: 100 }
    )

    // Untrusted text stays text.
    assert.equal(await page.locator('#proposals tr[data-id="p-1"] td').nth(2).textContent(), attacker)
    assert.equal(await page.locator('#gov-audits tr[data-ok="false"] td').nth(4).textContent(), attacker)
    assert.equal(await page.locator('#proposals img, #gov-audits img').count(), 0)
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined)
    assert.equal(await page.getAttribute('#members tr[data-peer="12D3KooWExpelledMemberExpelledMemberExpelled"]', 'data-state'), 'expelled')
    assert.equal(await page.locator('#gov-log tr').count(), 2)
    assert.ok(await page.locator('#proposals tr[data-id="p-1"] button').isDisabled(), 'voting without a token')
    assert.equal(await page.locator('#proposals tr[data-id="p-2"] button').textContent(), 'voted')

    // Keyboard only: type the token, submit with Enter, Tab to the vote button, press Enter.
    const tabTo = async (selector: string): Promise<void> => {
      for (let i = 0; i < 25; i++) {
        if (await page.evaluate(s => document.activeElement === document.querySelector(s), selector)) return
        await page.keyboard.press('Tab')
      }
      assert.fail(`Tab never reached ${selector}`)
    }
    const enterToken = async (value: string): Promise<void> => {
      await page.focus('#token')
      await page.keyboard.type(value)
      await page.keyboard.press('Enter')
      await page.waitForFunction(() => !(document.querySelector('#proposals tr[data-id="p-1"] button') as HTMLButtonElement).disabled, undefined, {
        timeout: 5_000,
        polling: 50
      })
    }
    await enterToken('wrong-token')
    await tabTo('#proposals tr[data-id="p-1"] button')
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#vote-result')?.dataset.outcome === '401', undefined, { timeout: 5_000, polling: 50 })
    assert.match((await page.textContent('#vote-result')) ?? '', /refused the operator token/)

    await page.focus('#token-forget')
    await page.keyboard.press('Enter')
    await enterToken('operator-secret')
    await tabTo('#proposals tr[data-id="p-1"] button')
    // The button keeps focus across refreshes (rows are updated in place, not rebuilt).
    const updated = await page.textContent('#updated')
    await page.waitForFunction(u => document.querySelector('#updated')?.textContent !== u, updated, { timeout: 5_000, polling: 100 })
    assert.ok(await page.evaluate(() => document.activeElement === document.querySelector('#proposals tr[data-id="p-1"] button')), 'focus lost on refresh')
    await page.keyboard.press('Enter')
    await page.waitForFunction(
      () =>
        document.querySelector<HTMLElement>('#vote-result')?.dataset.outcome === 'ok' &&
        document.querySelector('#proposals tr[data-id="p-1"] button')?.textContent === 'voted',
      undefined,
      { timeout: 5_000, polling: 50 }
    )
    assert.deepEqual(votes, [
      { auth: 'Bearer wrong-token', body: '{}' },
      { auth: 'Bearer operator-secret', body: '{}' }
    ])
    assert.equal(await page.evaluate(() => sessionStorage.getItem('reef.operatorToken')), 'operator-secret')

    // A forked log: the page says so and offers no vote (the node would refuse it).
    halted = { height: 5, hashes: ['a'.repeat(64), 'b'.repeat(64)] }
    voted = false
    await page.waitForFunction(() => !(document.querySelector('#gov-halted') as HTMLElement).hidden, undefined, { timeout: 5_000, polling: 100 })
    assert.match((await page.textContent('#gov-halted')) ?? '', /halted at height 5: two valid entries conflict \(aaaaaaaaaaaa… vs bbbbbbbbbbbb…\)/)
    await page.waitForFunction(() => document.querySelector('#proposals tr[data-id="p-1"] button')?.textContent === 'vote yes', undefined, {
      timeout: 5_000,
      polling: 100
    })
    assert.ok(await page.locator('#proposals tr[data-id="p-1"] button').isDisabled(), 'a vote offered on a halted log')
    assert.equal(await page.getAttribute('#proposals tr[data-id="p-1"] button', 'title'), 'the membership log is halted')

    const shot = join(OUT, 'desktop-governance.png')
    await page.locator('#h-gov').scrollIntoViewIfNeeded()
    await page.screenshot({ path: shot, fullPage: true })
    t.diagnostic(`screenshot (governance, from a canned API answer): ${shot}`)
    await page.close()
  })

  it("says loudly when the node's ledger cannot write (a full data volume), and stops saying it once it writes again", async () => {
    const page = await desktopContext.newPage()
    watch(page)
    let full = true
    // The node's real status, with the ledger's storage as a full volume leaves it.
    await page.route('**/api/status', async route => {
      const res = await route.fetch()
      const body = (await res.json()) as { storage: { ledger: Record<string, unknown> } }
      if (full) Object.assign(body.storage.ledger, { writable: false, since: Date.now() - 5_000, error: 'No space left on device', backlog: 17 })
      await route.fulfill({ response: res, body: JSON.stringify(body) })
    })
    await page.goto(alpha.adminUrl!)
    await page.waitForFunction(() => !(document.querySelector('#storage-alert') as HTMLElement).hidden, undefined, { timeout: 5_000, polling: 100 })
    assert.match(
      (await page.textContent('#storage-alert')) ?? '',
      /^The ledger store refuses writes \(No space left on device\): the volume of the data dir is full or failing\. The site is still served and shed; 17 ledger records are held until there is room again\.$/
    )
    assert.equal(await page.getAttribute('#storage-alert', 'role'), 'alert')
    full = false
    await page.waitForFunction(() => (document.querySelector('#storage-alert') as HTMLElement).hidden, undefined, { timeout: 5_000, polling: 100 })
    await page.close()
  })

  it('raised no script error or CSP violation in any page', () => {
    assert.deepEqual(pageErrors, [])
  })
})

/** Each ledger row's balance as the page shows it (peer → data-balance), in the order of `peers` when given. */
async function balances(page: Page, peers?: string[]): Promise<Record<string, string>> {
  const shown = await page.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll<HTMLElement>('#ledger tr[data-peer]')].map(tr => [tr.dataset.peer!, tr.dataset.balance!]))
  )
  return peers === undefined ? shown : Object.fromEntries(peers.map(p => [p, shown[p] ?? '']))
}
