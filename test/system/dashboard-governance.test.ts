/**
 * The governance panel against real nodes, in a real browser (Debian's chromium): three Reef
 * nodes under a charter signed by all three, alpha's dashboard open. The page must show the
 * charter as the node holds it; a policy change proposed through the admin API must appear as
 * a pending proposal the operator decides; the operator votes on alpha's page by keyboard with
 * the token, bravo and charlie vote through their API, and the page must then show the entry in
 * the log, the new policy and nothing pending. Last, an expulsion voted through the API shows
 * the member as expelled, and a refused vote shows the node's reason. Every check waits for
 * the page itself (DOM state, with deadlines).
 */
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { request } from 'undici'
import { loopbackDispatcher, startLocalConsortium, waitForMesh } from '@reef/node/demo'
import type { ReefNode } from '@reef/node'
import type { LocalConsortium } from '@reef/node/demo'
import { CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, requireChromium } from './browser.ts'
import { until } from './wait.ts'

const NAME = 'Reef dashboard consortium'

describe('the governance panel of a chartered consortium, against real nodes', { timeout: 120_000 }, () => {
  let c: LocalConsortium
  let browser: Browser
  let page: Page
  let nodes: ReefNode[]
  const dispatcher = loopbackDispatcher()
  const pageErrors: string[] = []
  const deadline = { timeout: 15_000, polling: 100 }

  const api = async (node: ReefNode, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await request(`${node.adminUrl!}${path}`, {
      method,
      dispatcher,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${c.adminToken}` } })
    })
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> }
  }
  /** Vote on `node` once it has the proposal (gossip may still be carrying it there). */
  const voteVia = async (node: ReefNode, id: string): Promise<void> => {
    await until(
      `${node.config.site.label} to hold proposal ${id.slice(0, 8)}`,
      async () => ((await api(node, 'GET', '/api/governance')).json.proposals as Array<{ id: string }>).some(p => p.id === id),
      10_000
    )
    const res = await api(node, 'POST', `/api/governance/proposals/${id}/vote`, {})
    assert.equal(res.status, 200, `vote on ${node.config.site.label}: ${JSON.stringify(res.json)}`)
  }
  const propose = async (action: Record<string, unknown>): Promise<string> => {
    const res = await api(nodes[0]!, 'POST', '/api/governance/propose', { action })
    assert.equal(res.status, 200, JSON.stringify(res.json))
    return res.json.id as string
  }

  before(async () => {
    await requireChromium()
    await mkdir(SCREENSHOTS, { recursive: true })
    c = await startLocalConsortium({ nodes: 3, capacityRps: 50, workers: 4, logLevel: 'error', governance: { name: NAME } })
    nodes = c.sites.map(s => s.node!)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
    page.on('pageerror', err => {
      pageErrors.push(err.message)
    })
    page.on('console', msg => {
      // The 409 of the refused vote is expected; script errors and CSP violations are not.
      if (msg.type() === 'error' && !/status of 409 /.test(msg.text())) pageErrors.push(msg.text())
    })
    await waitForMesh(c)
    await page.goto(nodes[0]!.adminUrl!)
  })

  after(async () => {
    await browser?.close()
    await c?.close()
    await dispatcher.close()
  })

  it('shows the charter the node holds: consortium, name, height 0 and the three founders by site', async () => {
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#gov-status')?.dataset.mode === 'chartered', undefined, deadline)
    const g = (await api(nodes[0]!, 'GET', '/api/governance')).json
    assert.equal(await page.textContent('#gov-status'), `chartered consortium “${NAME}”`)
    assert.equal(await page.textContent('#gov-consortium'), 'demo')
    assert.equal(await page.textContent('#gov-height'), '0')
    assert.equal(await page.getAttribute('#gov-charter', 'title'), g.charterHash)
    assert.equal(await page.getAttribute('#gov-head', 'title'), g.headHash)
    assert.equal(await page.textContent('#gov-members'), '3 (0 expelled)')
    assert.equal(await page.getAttribute('#gov-self', 'data-state'), 'member')
    assert.ok(await page.locator('#gov-halted').isHidden(), 'halted warning shown for a log that is not halted')
    assert.equal(await page.textContent('#gov-log tr'), 'the log is empty')
    assert.equal(await page.textContent('#proposals tr'), 'no pending proposals')
    for (const [i, n] of nodes.entries()) {
      const row = page.locator(`#gov-member-list tr[data-peer="${n.peerId}"]`)
      assert.equal(await row.getAttribute('data-state'), 'member')
      assert.equal(await row.locator('.name').textContent(), c.sites[i]!.label)
      assert.equal(await row.locator('.peer').getAttribute('title'), n.peerId)
      assert.equal(await row.locator('td').nth(2).textContent(), c.sites[i]!.configInput.mirror.publicUrl)
      assert.equal(await page.locator(`#members tr[data-peer="${n.peerId}"] .name`).textContent(), c.sites[i]!.label)
    }
    assert.equal(
      await page.textContent('#gov-policy tr[data-key="auditIntervalMs"] td:nth-child(2)'),
      String((g.policy as { auditIntervalMs: number }).auditIntervalMs)
    )
  })

  let proposal = ''

  it('shows a policy change proposed through the admin API as pending, for the operator to decide', async t => {
    const started = Date.now()
    const policy = (await api(nodes[0]!, 'GET', '/api/governance')).json.policy as Record<string, unknown>
    assert.notEqual(policy.auditIntervalMs, 5_000)
    proposal = await propose({ kind: 'set-policy', policy: { ...policy, auditIntervalMs: 5_000 } })
    await page.waitForFunction(id => document.querySelector(`#proposals tr[data-id="${id}"]`) !== null, proposal, deadline)
    t.diagnostic(`proposal shown ${Date.now() - started} ms after it was made`)
    const row = page.locator(`#proposals tr[data-id="${proposal}"]`)
    const cells = row.locator('td')
    assert.equal(await cells.nth(0).textContent(), 'set-policy')
    assert.equal(await cells.nth(1).textContent(), '–')
    assert.equal(await cells.nth(2).textContent(), 'change the policy: auditIntervalMs 60000 → 5000', 'a policy proposal must say what it changes')
    assert.equal(await cells.nth(4).locator('.name').textContent(), 'alpha')
    // 3 members, quorum 2/3: ⌊3·2/3⌋ + 1 = 3 signatures; nobody signs a policy change on their own.
    assert.equal(await cells.nth(5).textContent(), '0 / 3')
    assert.equal(await row.getAttribute('data-decision'), 'needs-operator')
    assert.match((await cells.nth(6).textContent()) ?? '', /^needs operator · /)
    const button = row.locator('button')
    assert.equal(await button.textContent(), 'vote yes')
    assert.ok(await button.isDisabled(), 'a vote is offered without the token')
    assert.equal(await button.getAttribute('title'), 'paste the operator token above to vote')
  })

  it("lets the operator vote on alpha's page by keyboard, with the token", async t => {
    const started = Date.now()
    const button = `#proposals tr[data-id="${proposal}"] button`
    await page.focus('#token')
    await page.keyboard.type(c.adminToken)
    await page.keyboard.press('Enter')
    await page.waitForFunction(s => !(document.querySelector(s) as HTMLButtonElement).disabled, button, deadline)
    for (let i = 0; i < 30 && !(await page.evaluate(s => document.activeElement === document.querySelector(s), button)); i++) await page.keyboard.press('Tab')
    assert.ok(await page.evaluate(s => document.activeElement === document.querySelector(s), button), `Tab never reached ${button}`)
    await page.keyboard.press('Enter')
    await page.waitForFunction(
      ({ s, id }) =>
        document.querySelector<HTMLElement>('#vote-result')?.dataset.outcome === 'ok' &&
        document.querySelector(s)?.textContent === 'voted' &&
        document.querySelector<HTMLElement>(`#proposals tr[data-id="${id}"]`)?.dataset.votes === '1',
      { s: button, id: proposal },
      deadline
    )
    t.diagnostic(`vote shown ${Date.now() - started} ms after typing the token`)
    assert.equal(await page.textContent('#vote-result'), `Vote recorded for proposal ${proposal.slice(0, 8)}.`)
    assert.equal(await page.textContent(`#proposals tr[data-id="${proposal}"] td:nth-child(6)`), '1 / 3')
    assert.ok(nodes[0]!.gov!.proposals.get(proposal)?.sigs.has(nodes[0]!.peerId), 'alpha holds no signature of its own')
    const shot = join(SCREENSHOTS, 'governance-real-pending.png')
    await page.locator('section[aria-labelledby="h-gov"]').screenshot({ path: shot })
    t.diagnostic(`screenshot (the governance panel, one vote of three): ${shot}`)
  })

  it('shows the change in the log, the new policy and nothing pending once bravo and charlie vote', async t => {
    const started = Date.now()
    await voteVia(nodes[1]!, proposal)
    await voteVia(nodes[2]!, proposal)
    await page.waitForFunction(
      () =>
        document.querySelector('#gov-height')?.textContent === '1' &&
        document.querySelector('#gov-log tr[data-height="1"]') !== null &&
        document.querySelector('#proposals tr[data-id]') === null,
      undefined,
      deadline
    )
    t.diagnostic(`entry shown ${Date.now() - started} ms after the API votes`)
    const entry = page.locator('#gov-log tr[data-height="1"] td')
    assert.equal(await entry.nth(1).textContent(), 'set-policy')
    assert.equal(await entry.nth(3).textContent(), 'change the policy: auditIntervalMs 60000 → 5000')
    assert.equal(await entry.nth(4).textContent(), '3')
    const g = (await api(nodes[0]!, 'GET', '/api/governance')).json
    assert.equal(await entry.nth(5).getAttribute('title'), g.headHash)
    assert.equal(await page.getAttribute('#gov-head', 'title'), g.headHash)
    assert.equal(await page.locator('#gov-log tr').count(), 1)
    assert.equal(await page.textContent('#proposals tr'), 'no pending proposals')
    await page.waitForFunction(
      () => document.querySelector('#gov-policy tr[data-key="auditIntervalMs"] td:nth-child(2)')?.textContent === '5000',
      undefined,
      deadline
    )
    for (const n of nodes) assert.equal(n.gov!.state!.policy.auditIntervalMs, 5_000, `${n.config.site.label} runs the old policy`)

    const shot = join(SCREENSHOTS, 'governance-real.png')
    await page.locator('section[aria-labelledby="h-gov"]').screenshot({ path: shot })
    t.diagnostic(`screenshot (the governance panel, policy changed): ${shot}`)
  })

  it('shows a member expelled through the API as expelled', async t => {
    const started = Date.now()
    const charlie = nodes[2]!
    const id = await propose({ kind: 'expel', peer: charlie.peerId, reason: 'test: the operators agreed', evidence: [] })
    await page.waitForFunction(id => document.querySelector(`#proposals tr[data-id="${id}"]`) !== null, id, deadline)
    // The subject does not vote on its own expulsion: 2 voters, ⌊2·2/3⌋ + 1 = 2 signatures.
    assert.equal(await page.textContent(`#proposals tr[data-id="${id}"] td:nth-child(6)`), '0 / 2')
    assert.equal(await page.textContent(`#proposals tr[data-id="${id}"] td:nth-child(4)`), 'test: the operators agreed')
    await voteVia(nodes[0]!, id)
    await voteVia(nodes[1]!, id)
    await page.waitForFunction(
      peer =>
        document.querySelector('#gov-height')?.textContent === '2' &&
        document.querySelector(`#gov-member-list tr[data-peer="${peer}"]`)?.getAttribute('data-state') === 'expelled' &&
        document.querySelector(`#members tr[data-peer="${peer}"]`)?.getAttribute('data-state') === 'expelled',
      charlie.peerId,
      deadline
    )
    t.diagnostic(`expulsion shown ${Date.now() - started} ms after it was proposed`)
    assert.equal(await page.textContent('#gov-members'), '2 (1 expelled)')
    assert.equal(await page.textContent(`#gov-member-list tr[data-peer="${charlie.peerId}"] .name`), 'charlie')
    assert.equal(await page.textContent(`#gov-log tr[data-height="2"] td:nth-child(2)`), 'expel')
    assert.equal(await page.textContent(`#gov-log tr[data-height="2"] td:nth-child(3) .name`), 'charlie')
    assert.equal(await page.getAttribute('#gov-self', 'data-state'), 'member')
  })

  it('tells the operator why the node refuses a vote: it already signed another entry at that height', async () => {
    const policy = (await api(nodes[0]!, 'GET', '/api/governance')).json.policy as Record<string, unknown>
    const first = await propose({ kind: 'set-policy', policy: { ...policy, auditIntervalMs: 7_000 } })
    const second = await propose({ kind: 'set-policy', policy: { ...policy, auditIntervalMs: 9_000 } })
    await voteVia(nodes[0]!, first)
    await page.waitForFunction(
      ({ first, second }) =>
        document.querySelector<HTMLElement>(`#proposals tr[data-id="${first}"]`)?.dataset.votes === '1' &&
        !(document.querySelector(`#proposals tr[data-id="${second}"] button`) as HTMLButtonElement | null)?.disabled,
      { first, second },
      deadline
    )
    await page.click(`#proposals tr[data-id="${second}"] button`)
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#vote-result')?.dataset.outcome === '409', undefined, deadline)
    assert.match((await page.textContent('#vote-result')) ?? '', /^The vote failed: the node answered 409: this node already signed another entry at height 3$/)
    assert.equal(await page.textContent(`#proposals tr[data-id="${second}"] td:nth-child(6)`), '0 / 2')
  })

  it('raised no script error or CSP violation', () => {
    assert.deepEqual(pageErrors, [])
  })
})
