/**
 * The dashboard's script, run in the operator's browser. It is written as one self-contained
 * function so that it is type-checked and linted with the rest of the code and still ships
 * without a build step: the page embeds `dashboardClient.toString()` (Node strips the type
 * annotations to whitespace, leaving plain JavaScript). So it must not refer to anything
 * outside its own body except browser globals, and may only import types.
 *
 * Every second it reads `/api/status`, `/api/ledger`, `/api/timeline` and `/api/governance`
 * from the node that served it and updates the page in place. Rows are keyed and updated cell
 * by cell, so a focused button survives the refresh and screen readers are not flooded. Every
 * string from the API goes into the page with `textContent` or as a plain attribute value;
 * nothing is parsed as markup and no URL from the API becomes a link.
 */
import type { GovernanceView, LedgerView, StatusView, TimelineView, TrafficKind } from './api.ts'

export function dashboardClient(): void {
  const REFRESH_MS = 1000
  /** How often to look again for a charter while the consortium has none. */
  const OPEN_CONSORTIUM_RECHECK_MS = 10_000
  const HISTORY = 180
  /** Points of the traffic timeline kept (the node keeps 300: five minutes at one a second). */
  const TIMELINE_POINTS = 300
  const TOKEN_KEY = 'reef.operatorToken'
  const SVG = 'http://www.w3.org/2000/svg'
  const KINDS: Array<{ kind: TrafficKind; label: string }> = [
    { kind: 'origin', label: 'origin' },
    { kind: 'microCache', label: 'micro-cache' },
    { kind: 'shedPeers', label: 'shed to peers' },
    { kind: 'shedExternal', label: 'shed to external mirror' },
    { kind: 'refused', label: 'refused' }
  ]

  type Cell = string | number | ((td: HTMLTableCellElement) => void)
  type Member = { peer: string; site: string | null; self: boolean; live: boolean; state: string; spareRps: number | null; serving: string }

  let status: StatusView | undefined
  let ledger: LedgerView | undefined
  let timeline: TimelineView | undefined
  let governance: GovernanceView | null | undefined // null: open consortium
  let governanceDueAt = 0
  const history = new Map<string, Array<{ given: number; taken: number; balance: number }>>()
  const errors = new Map<string, string>()

  const $ = (id: string): HTMLElement => {
    const el = document.getElementById(id)
    if (el === null) throw new Error('missing #' + id)
    return el
  }
  const setText = (el: Element, text: string): void => {
    if (el.textContent !== text) el.textContent = text
  }
  const setAttr = (el: Element, name: string, value: string): void => {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value)
  }
  const num = new Intl.NumberFormat('en', { maximumFractionDigits: 0 })
  const fmt = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : num.format(n))
  const bytes = (n: number): string => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    let v = Math.abs(n)
    let u = 0
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024
      u++
    }
    return (n < 0 ? '−' : '') + (u === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[u]
  }
  const shortPeer = (peer: string): string => '…' + peer.slice(-8)
  const short = (hash: string | null): string => (hash === null ? '–' : hash.slice(0, 12) + '…')

  function siteOf(peer: string): string | null {
    if (status !== undefined) {
      if (peer === status.peerId) return status.site
      const p = status.peers.find(x => x.peer === peer)
      if (p !== undefined) return p.site
    }
    const m = governance?.members.find(x => x.peer === peer) ?? governance?.expelled.find(x => x.peer === peer) ?? ledger?.members.find(x => x.peer === peer)
    return m?.site ?? null
  }

  /** A member shown as its site label with the end of its peer id (the full id on hover, and on focus for the keyboard). */
  function who(peer: string, site: string | null = siteOf(peer)): (td: HTMLTableCellElement) => void {
    return td => {
      let name = td.querySelector<HTMLElement>('.name')
      let id = td.querySelector<HTMLElement>('.peer')
      if (name === null || id === null) {
        name = document.createElement('span')
        name.className = 'name'
        id = document.createElement('span')
        id.className = 'peer'
        td.replaceChildren(name, ' ', id)
      }
      setText(name, site ?? '(unknown site)')
      setText(id, shortPeer(peer))
      setAttr(id, 'title', peer)
      setAttr(id, 'data-full', peer)
      setAttr(id, 'tabindex', '0')
      setAttr(id, 'aria-label', 'peer id ' + peer)
      td.dataset.peer = peer
    }
  }

  function badge(state: string): (td: HTMLTableCellElement) => void {
    return td => {
      let b = td.firstElementChild as HTMLElement | null
      if (b === null) {
        b = document.createElement('span')
        td.replaceChildren(b)
      }
      setText(b, state)
      setAttr(b, 'class', 'state ' + state)
      td.dataset.state = state
    }
  }

  /**
   * Make `tbody` hold one row per item, in order, reusing the row of the same key: cells are
   * updated in place (text only when it changed), so focus and selection inside survive.
   */
  const rowMaps = new WeakMap<HTMLElement, Map<string, HTMLTableRowElement>>()
  function sync<T>(
    tbody: HTMLElement,
    items: T[],
    key: (item: T) => string,
    cells: (item: T) => Cell[],
    emptyText: string,
    rowHook?: (tr: HTMLTableRowElement, item: T) => void
  ): void {
    let rows = rowMaps.get(tbody)
    if (rows === undefined) {
      rows = new Map()
      rowMaps.set(tbody, rows)
    }
    const wanted: Array<{ k: string; cs: Cell[]; item: T | undefined }> = items.map(item => ({ k: 'r:' + key(item), cs: cells(item), item }))
    if (wanted.length === 0) wanted.push({ k: 'empty', cs: [emptyText], item: undefined })
    const seen = new Set<string>()
    let prev: Element | null = null
    for (const w of wanted) {
      seen.add(w.k)
      let tr = rows.get(w.k)
      if (tr === undefined) {
        tr = document.createElement('tr')
        rows.set(w.k, tr)
        if (w.item === undefined) {
          tr.className = 'empty'
          const td = tr.insertCell()
          td.colSpan = tbody.closest('table')?.querySelectorAll('thead th').length ?? 1
        }
      }
      if (w.item !== undefined) {
        const heads = tbody.closest('table')?.querySelectorAll('thead th')
        // A new cell takes its column's alignment and wrapping from its header.
        while (tr.cells.length < w.cs.length) {
          const head = heads?.[tr.cells.length]
          const td = tr.insertCell()
          td.className = head?.className ?? ''
          // The column's name, shown beside the value where a narrow screen stacks the cells.
          td.dataset.label = head?.textContent ?? ''
        }
      }
      w.cs.forEach((c, i) => {
        const td = tr.cells[i]
        if (td === undefined) return
        if (typeof c === 'function') c(td)
        else setText(td, typeof c === 'number' ? fmt(c) : c)
      })
      if (w.item !== undefined) {
        tr.dataset.key = w.k.slice(2)
        rowHook?.(tr, w.item)
      }
      const at: Element | null = prev === null ? tbody.firstElementChild : prev.nextElementSibling
      if (at !== tr) tbody.insertBefore(tr, at)
      prev = tr
    }
    for (const [k, tr] of rows)
      if (!seen.has(k)) {
        tr.remove()
        rows.delete(k)
      }
  }

  function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
    const el = document.createElementNS(SVG, tag)
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
    if (text !== undefined) el.textContent = text
    return el
  }

  // ---- data -------------------------------------------------------------------------------

  async function getJson<T>(path: string): Promise<T | null> {
    const res = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } })
    if (res.status === 404) return null
    if (!res.ok) throw new Error(path + ' answered ' + res.status)
    return (await res.json()) as T
  }

  async function load(): Promise<void> {
    const [s, l, t, g] = await Promise.allSettled([
      getJson<StatusView>('/api/status'),
      getJson<LedgerView>('/api/ledger'),
      // Only the points after the last one held (the first poll takes all five minutes).
      getJson<TimelineView>(
        timeline === undefined || timeline.points.length === 0
          ? '/api/timeline'
          : '/api/timeline?since=' + String(timeline.points[timeline.points.length - 1]!.t)
      ),
      Date.now() >= governanceDueAt ? getJson<GovernanceView>('/api/governance') : Promise.resolve(governance ?? null)
    ])
    const take = <T>(name: string, r: PromiseSettledResult<T | null>): T | null | undefined => {
      if (r.status === 'fulfilled') {
        errors.delete(name)
        return r.value
      }
      errors.set(name, r.reason instanceof Error ? r.reason.message : String(r.reason))
      return undefined
    }
    const sv = take('status', s)
    if (sv !== undefined) status = sv ?? undefined
    const lv = take('ledger', l)
    if (lv !== undefined) {
      ledger = lv ?? undefined
      for (const m of ledger?.members ?? []) {
        let h = history.get(m.peer)
        if (h === undefined) {
          h = []
          history.set(m.peer, h)
        }
        h.push({ given: m.given, taken: m.taken, balance: m.balance })
        if (h.length > HISTORY) h.splice(0, h.length - HISTORY)
      }
    }
    const tv = take('timeline', t)
    if (tv !== undefined) {
      if (tv === null || timeline === undefined) timeline = tv ?? undefined
      else timeline = { ...tv, points: [...timeline.points, ...tv.points].slice(-TIMELINE_POINTS) }
    }
    const gv = take('governance', g)
    if (gv !== undefined) {
      governance = gv !== null && gv.enabled ? gv : null
      if (governance === null && Date.now() >= governanceDueAt) governanceDueAt = Date.now() + OPEN_CONSORTIUM_RECHECK_MS
    }
  }

  // ---- rendering --------------------------------------------------------------------------

  function render(): void {
    const parts: Array<[string, () => void]> = [
      ['header', renderHeader],
      ['load', renderLoad],
      ['timeline', renderTimeline],
      ['consortium', renderConsortium],
      ['members', renderMembers],
      ['help', renderHelp],
      ['ledger', renderLedger],
      ['governance', renderGovernance]
    ]
    for (const [name, fn] of parts) {
      try {
        fn()
      } catch (err) {
        errors.set('render ' + name, err instanceof Error ? err.message : String(err))
      }
    }
    const e = errors.get('status')
    setText(
      $('error'),
      e !== undefined
        ? 'Cannot reach the node: ' + e
        : [...errors.entries()]
            .filter(([k]) => k !== 'governance')
            .map(([k, v]) => k + ': ' + v)
            .join(' · ')
    )
    for (const k of errors.keys()) if (k.startsWith('render ')) errors.delete(k)
  }

  function renderHeader(): void {
    if (status === undefined) return
    setText($('site'), status.site)
    setText($('state'), status.state)
    setAttr($('state'), 'class', 'state ' + status.state)
    $('state').dataset.state = status.state
    setText($('peer'), shortPeer(status.peerId))
    setAttr($('peer'), 'title', status.peerId)
    setText($('updated'), 'updated ' + new Date().toLocaleTimeString())
    document.title = 'Reef · ' + status.site + ' · ' + status.state
    // A store that refuses writes (full volume): the node serves on, its ledger waits for room.
    const st = status.storage
    const broken = st === undefined ? [] : (['ledger', 'governance'] as const).filter(k => st[k] !== null && st[k]?.writable === false)
    const alert = $('storage-alert')
    alert.hidden = broken.length === 0
    setText(
      alert,
      st === undefined || broken.length === 0
        ? ''
        : 'The ' +
            broken.join(' and ') +
            ' store refuses writes (' +
            (st[broken[0]!]?.error ?? 'unknown error') +
            '): the volume of the data dir is full or failing. The site is still served and shed; ' +
            fmt(st.ledger.backlog) +
            ' ledger records are held until there is room again.'
    )
  }

  function renderLoad(): void {
    const s = status
    if (s === undefined) return
    setText($('demand'), fmt(s.demandRps))
    setText($('capacity'), fmt(s.capacityRps))
    setText($('origin'), fmt(s.originRps))
    setText($('shed'), fmt(s.shedRps))
    setText($('refused'), fmt(s.totals.refused))
    const pct = Math.min(100, Math.round((100 * s.demandRps) / Math.max(1, s.capacityRps)))
    $('loadbar').style.width = pct + '%'
    $('loadbar').className = s.demandRps > s.capacityRps ? 'over' : ''
    setAttr($('loadbar-wrap'), 'aria-valuenow', String(pct))
    setAttr($('loadbar-wrap'), 'aria-valuetext', pct + "% of the origin's capacity")
  }

  function renderTimeline(): void {
    const tl = timeline
    const el = $('timeline')
    if (tl === undefined) return
    const points = tl.points
    const width = Math.max(280, Math.round(el.getBoundingClientRect().width) || 640)
    const height = 220
    const m = { l: 44, r: 8, t: 10, b: 22 }
    const iw = width - m.l - m.r
    const ih = height - m.t - m.b
    const end = points.at(-1)?.t ?? Date.now()
    // The whole window once there is that much history; until then at least a minute, so a
    // node that just started does not squeeze its first seconds into the right edge.
    const spanMs = Math.min(300 * tl.intervalMs, Math.max(60_000, end - (points[0]?.t ?? end)))
    const start = end - spanMs
    const total = (p: Record<TrafficKind, number>): number => KINDS.reduce((a, k) => a + p[k.kind], 0)
    const peak = points.reduce((a, p) => Math.max(a, total(p)), 0)
    const rawMax = Math.max(1, tl.capacityRps * 1.25, peak * 1.05)
    const mag = 10 ** Math.floor(Math.log10(rawMax))
    const yMax = [1, 2, 2.5, 5, 10].map(f => f * mag).find(v => v >= rawMax) ?? rawMax
    const x = (t: number): number => m.l + Math.max(0, Math.min(1, (t - start) / spanMs)) * iw
    const y = (v: number): number => m.t + ih - Math.min(1, v / yMax) * ih
    const out: SVGElement[] = []
    for (const v of [0, yMax / 2, yMax]) {
      out.push(svg('line', { x1: m.l, x2: m.l + iw, y1: y(v), y2: y(v), class: 'grid' }))
      out.push(svg('text', { x: m.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(v)))
    }
    const maxTicks = Math.max(2, Math.floor(iw / 64))
    const stepMs = [10, 15, 20, 30, 60, 120, 300].map(s => s * 1000).find(st => spanMs / st <= maxTicks) ?? spanMs
    for (let ago = 0; ago <= spanMs; ago += stepMs) {
      const label = ago === 0 ? 'now' : ago < 120_000 || ago % 60_000 !== 0 ? '−' + ago / 1000 + ' s' : '−' + ago / 60_000 + ' min'
      out.push(
        svg('text', { x: x(end - ago), y: height - 6, 'text-anchor': ago === 0 ? 'end' : ago + stepMs > spanMs ? 'start' : 'middle', class: 'axis' }, label)
      )
    }
    // Stacked areas, origin at the bottom: each layer from the sum below it to the sum with it.
    const base = points.map(() => 0)
    for (const { kind } of KINDS) {
      if (points.length < 2) break
      const upper = points.map((p, i) => base[i]! + p[kind])
      if (upper.some((u, i) => u > base[i]!)) {
        let d = ''
        points.forEach((p, i) => {
          d += (i === 0 ? 'M' : 'L') + x(p.t).toFixed(1) + ',' + y(upper[i]!).toFixed(1)
        })
        for (let i = points.length - 1; i >= 0; i--) d += 'L' + x(points[i]!.t).toFixed(1) + ',' + y(base[i]!).toFixed(1)
        out.push(svg('path', { d: d + 'Z', class: 'area k-' + kind }))
      }
      upper.forEach((u, i) => {
        base[i] = u
      })
    }
    out.push(svg('line', { x1: m.l, x2: m.l + iw, y1: y(tl.capacityRps), y2: y(tl.capacityRps), class: 'capacity' }))
    out.push(
      svg(
        'text',
        { x: m.l + iw - 4, y: y(tl.capacityRps) - 5, 'text-anchor': 'end', class: 'capacity-label' },
        'origin capacity ' + fmt(tl.capacityRps) + ' req/s'
      )
    )
    setAttr(el, 'viewBox', '0 0 ' + width + ' ' + height)
    setAttr(el, 'height', String(height))
    el.replaceChildren(...out)

    const last = points.at(-1)
    const sums: string[] = []
    for (const { kind, label } of KINDS) {
      const sum = Math.round(points.reduce((a, p) => a + (p[kind] * tl.intervalMs) / 1000, 0))
      setText($('tl-now-' + kind), fmt(last?.[kind] ?? 0))
      setText($('tl-sum-' + kind), fmt(sum))
      $('tl-sum-' + kind).dataset.value = String(sum)
      sums.push(fmt(sum) + ' ' + label)
    }
    const seconds = Math.round((points.length * tl.intervalMs) / 1000)
    setText(
      $('timeline-desc'),
      'Requests over the last ' +
        (seconds < 120 ? seconds + ' s' : Math.round(seconds / 60) + ' min') +
        ': ' +
        sums.join(', ') +
        '. Origin capacity ' +
        fmt(tl.capacityRps) +
        ' req/s; peak ' +
        fmt(peak) +
        ' req/s.'
    )
  }

  function renderConsortium(): void {
    const s = status
    if (s === undefined) return
    type Row = { peer: string; site: string; state: string; demand: number; capacity: number | null; spare: number }
    const rows: Row[] = [{ peer: s.peerId, site: s.site, state: s.state, demand: s.demandRps, capacity: s.capacityRps, spare: s.spareRps }]
    for (const p of [...s.peers].sort((a, b) => a.site.localeCompare(b.site)))
      rows.push({ peer: p.peer, site: p.site, state: p.state, demand: p.demandRps, capacity: p.capacityRps ?? null, spare: p.spareRps })
    sync(
      $('peers'),
      rows,
      r => r.peer,
      r => [
        who(r.peer, r.site),
        badge(r.state),
        r.demand,
        r.capacity ?? '–',
        r.spare,
        td => {
          let bar = td.querySelector<HTMLElement>('.bar > div')
          if (bar === null) {
            const wrap = document.createElement('div')
            wrap.className = 'bar'
            bar = document.createElement('div')
            wrap.append(bar)
            td.replaceChildren(wrap)
          }
          const pct = r.capacity === null ? 0 : Math.min(100, Math.round((100 * r.demand) / Math.max(1, r.capacity)))
          bar.style.width = pct + '%'
          bar.className = r.demand > (r.capacity ?? Infinity) ? 'over' : ''
          setAttr(td, 'title', r.capacity === null ? 'capacity unknown' : pct + '% of capacity')
        }
      ],
      'no members seen yet'
    )
    const sum = (f: (r: Row) => number | null): number => rows.reduce((a, r) => a + (f(r) ?? 0), 0)
    setText($('sum-demand'), fmt(sum(r => r.demand)))
    setText($('sum-capacity'), fmt(sum(r => r.capacity)))
    setText($('sum-spare'), fmt(sum(r => r.spare)))
  }

  function members(): Member[] {
    const s = status
    const out = new Map<string, Member>()
    if (s !== undefined) {
      const helpsNow = s.helping.filter(h => h.accepted && !h.released)
      out.set(s.peerId, {
        peer: s.peerId,
        site: s.site,
        self: true,
        live: true,
        spareRps: s.spareRps,
        state: s.state !== 'normal' ? s.state : helpsNow.length > 0 ? 'helping' : 'normal',
        serving: helpsNow.map(h => h.site + ' (offered ' + fmt(h.offeredRps) + ' req/s)').join(', ')
      })
      for (const p of s.peers) {
        const serving = p.helping.filter(h => h.rps > 0)
        out.set(p.peer, {
          peer: p.peer,
          site: p.site,
          self: false,
          live: true,
          spareRps: p.spareRps,
          state: p.state !== 'normal' ? p.state : serving.length > 0 ? 'helping' : 'normal',
          serving: serving.map(h => h.site + ' ' + fmt(h.rps) + ' req/s').join(', ')
        })
      }
    }
    for (const m of governance?.members ?? []) {
      if (!out.has(m.peer)) out.set(m.peer, { peer: m.peer, site: m.site, self: m.self, live: false, spareRps: null, state: 'silent', serving: '' })
    }
    for (const m of ledger?.members ?? []) {
      if (!out.has(m.peer)) out.set(m.peer, { peer: m.peer, site: m.site, self: false, live: false, spareRps: null, state: 'silent', serving: '' })
    }
    for (const e of governance?.expelled ?? []) {
      const prev = out.get(e.peer)
      out.set(e.peer, {
        peer: e.peer,
        site: e.site ?? prev?.site ?? null,
        self: prev?.self ?? false,
        live: prev?.live ?? false,
        spareRps: prev?.spareRps ?? null,
        state: 'expelled',
        serving: prev?.serving ?? ''
      })
    }
    return [...out.values()].sort((a, b) => Number(b.self) - Number(a.self) || (a.site ?? '~').localeCompare(b.site ?? '~') || a.peer.localeCompare(b.peer))
  }

  function renderMembers(): void {
    const list = members()
    sync(
      $('members'),
      list,
      m => m.peer,
      m => [
        who(m.peer, m.site),
        badge(m.state),
        m.self ? 'this node' : m.live ? 'reporting' : 'no load report',
        m.spareRps ?? '–',
        m.serving === '' ? '–' : m.serving
      ],
      'no members yet',
      (tr, m) => {
        tr.dataset.peer = m.peer
        tr.dataset.state = m.state
      }
    )
    const counts = new Map<string, number>()
    for (const m of list) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
    setText($('members-summary'), list.length + ' member' + (list.length === 1 ? '' : 's') + ': ' + [...counts].map(([k, v]) => v + ' ' + k).join(', '))
  }

  function renderHelp(): void {
    const s = status
    if (s === undefined) return
    const servingFor = (peer: string, site: string): number | null => s.peers.find(p => p.peer === peer)?.helping.find(h => h.site === site)?.rps ?? null
    const helpers = s.session?.helpers ?? []
    sync(
      $('helpers'),
      helpers,
      h => h.peer,
      h => [who(h.peer), h.weightRps, servingFor(h.peer, s.site) ?? '–', h.siteBase],
      s.session === null ? 'none: this site is not shedding' : 'asking for help…',
      (tr, h) => {
        tr.dataset.peer = h.peer
        tr.dataset.site = siteOf(h.peer) ?? ''
      }
    )
    setText($('session'), s.session === null ? '' : 'Session ' + s.session.id.slice(0, 8) + ' · needs ' + fmt(s.session.neededRps) + ' req/s')
    sync(
      $('helping'),
      s.helping,
      h => h.site + '\n' + h.beneficiary,
      h => [h.site, h.released ? 'released' : h.accepted ? 'helping' : 'offered', h.offeredRps, h.manifest],
      'none'
    )

    // Warm standby: who keeps this site's hot content, and whose this node keeps.
    const sb = s.standby
    type SbRow = { key: string; who: Cell; site: string; held: number; of: number; updated: string }
    const sbRows: SbRow[] =
      sb === undefined
        ? []
        : [
            ...sb.standbys.map(x => ({
              key: 'for-us\n' + x.peer,
              who: who(x.peer),
              site: s.site,
              held: x.heldBytes,
              of: sb.manifestBytes,
              updated: x.revision === undefined ? '–' : 'revision ' + String(x.revision)
            })),
            ...sb.holding.map(h => ({
              key: 'by-us\n' + h.site,
              who: 'this node',
              site: h.site,
              held: h.heldBytes,
              of: h.manifestBytes,
              updated: Math.round(h.ageMs / 1000) + ' s ago'
            }))
          ]
    const mb = (b: number): string => (b / 1e6).toFixed(2) + ' MB'
    sync(
      $('standby'),
      sbRows,
      r => r.key,
      r => [r.who, r.site, mb(r.held), r.of > 0 ? Math.round((100 * r.held) / r.of) + '%' : '–', r.updated],
      'none yet'
    )
    setText(
      $('standby-summary'),
      sb === undefined || sb.revision === null
        ? 'This site has named no standbys yet (it does once calm, with hot content).'
        : "This site's standby record: revision " + String(sb.revision) + ', hot set ' + mb(sb.manifestBytes) + '.'
    )

    // Every help relation anyone reports: this node's helpers, whom this node helps, and what
    // each peer's mirror serves for whom.
    type Rel = { helper: string; helperSite: string | null; beneficiarySite: string; rps: number | null; offered: number | null }
    const rels = new Map<string, Rel>()
    const add = (r: Rel): void => {
      const k = r.helper + '\n' + r.beneficiarySite
      const prev = rels.get(k)
      rels.set(k, { ...r, rps: r.rps ?? prev?.rps ?? null, offered: r.offered ?? prev?.offered ?? null })
    }
    for (const p of s.peers)
      for (const h of p.helping) if (h.rps > 0) add({ helper: p.peer, helperSite: p.site, beneficiarySite: h.site, rps: h.rps, offered: null })
    for (const h of helpers) add({ helper: h.peer, helperSite: siteOf(h.peer), beneficiarySite: s.site, rps: null, offered: h.weightRps })
    for (const h of s.helping)
      if (h.accepted && !h.released) add({ helper: s.peerId, helperSite: s.site, beneficiarySite: h.site, rps: null, offered: h.offeredRps })
    const list = [...rels.values()].sort((a, b) => a.beneficiarySite.localeCompare(b.beneficiarySite) || (a.helperSite ?? '').localeCompare(b.helperSite ?? ''))
    sync(
      $('sessions'),
      list,
      r => r.helper + '\n' + r.beneficiarySite,
      r => [who(r.helper, r.helperSite), r.beneficiarySite, r.rps ?? '–', r.offered ?? '–'],
      'no help sessions now'
    )
  }

  function sparkline(peer: string): (td: HTMLTableCellElement) => void {
    return td => {
      const h = history.get(peer) ?? []
      const w = 120
      const ht = 30
      let el = td.querySelector('svg')
      if (el === null) {
        el = svg('svg', { viewBox: '0 0 ' + w + ' ' + ht, width: w, height: ht, class: 'spark', role: 'img' })
        el.append(
          svg('line', { class: 'zero', x1: 0, x2: w }),
          svg('polyline', { class: 's-given' }),
          svg('polyline', { class: 's-taken' }),
          svg('polyline', { class: 's-balance' })
        )
        td.replaceChildren(el)
      }
      const values = h.flatMap(p => [p.given, p.taken, p.balance])
      const lo = Math.min(0, ...values)
      const hi = Math.max(1, ...values)
      const y = (v: number): number => ht - 2 - ((v - lo) / (hi - lo)) * (ht - 4)
      const pts = (f: (p: { given: number; taken: number; balance: number }) => number): string =>
        h.map((p, i) => (h.length === 1 ? w - 1 : 1 + (i * (w - 2)) / (h.length - 1)).toFixed(1) + ',' + y(f(p)).toFixed(1)).join(' ')
      const [zero, given, taken, balance] = [...el.children]
      zero?.setAttribute('y1', y(0).toFixed(1))
      zero?.setAttribute('y2', y(0).toFixed(1))
      given?.setAttribute(
        'points',
        pts(p => p.given)
      )
      taken?.setAttribute(
        'points',
        pts(p => p.taken)
      )
      balance?.setAttribute(
        'points',
        pts(p => p.balance)
      )
      const first = h[0]
      const last = h.at(-1)
      setAttr(
        el,
        'aria-label',
        first === undefined || last === undefined
          ? 'no history yet'
          : 'balance ' +
              bytes(first.balance) +
              ' → ' +
              bytes(last.balance) +
              ' over the last ' +
              h.length +
              ' s; given ' +
              bytes(last.given) +
              ', taken ' +
              bytes(last.taken)
      )
    }
  }

  function renderLedger(): void {
    const l = ledger
    if (l === undefined) return
    sync(
      $('ledger'),
      l.members,
      m => m.peer,
      m => [
        who(m.peer, m.site ?? siteOf(m.peer)),
        bytes(m.given) + ' · ' + fmt(m.givenRequests) + ' req',
        bytes(m.taken) + ' · ' + fmt(m.takenRequests) + ' req',
        td => {
          setText(td, bytes(m.balance))
          setAttr(td, 'class', 'num ' + (m.balance < 0 ? 'neg' : m.balance > 0 ? 'pos' : ''))
        },
        bytes(m.quota),
        td => {
          setText(td, bytes(m.headroom) + (m.overQuota ? ' · over quota' : ''))
          setAttr(td, 'class', 'num' + (m.overQuota ? ' neg' : ''))
        },
        sparkline(m.peer)
      ],
      'no ledger entries yet',
      (tr, m) => {
        tr.dataset.peer = m.peer
        tr.dataset.balance = String(m.balance)
        tr.dataset.given = String(m.given)
        tr.dataset.taken = String(m.taken)
        tr.classList.toggle('self', m.peer === l.self)
      }
    )
  }

  // ---- governance -------------------------------------------------------------------------

  const token = (): string | null => {
    try {
      return sessionStorage.getItem(TOKEN_KEY)
    } catch {
      return null
    }
  }
  const voting = new Set<string>()

  function renderGovernance(): void {
    const g = governance
    const open = g === null
    $('gov-details').hidden = g === null || g === undefined
    setText(
      $('gov-status'),
      g === undefined
        ? errors.has('governance')
          ? 'Governance unavailable: ' + errors.get('governance')
          : 'loading…'
        : open
          ? 'open consortium (no charter)'
          : 'chartered consortium “' + (g.name ?? g.consortium) + '”'
    )
    $('gov-status').dataset.mode = g === undefined ? 'unknown' : open ? 'open' : 'chartered'
    renderToken()
    if (g === null || g === undefined) return
    setText($('gov-consortium'), g.consortium)
    setText($('gov-charter'), short(g.charterHash))
    setAttr($('gov-charter'), 'title', g.charterHash ?? '')
    setText($('gov-height'), fmt(g.height))
    setText($('gov-head'), short(g.headHash))
    setAttr($('gov-head'), 'title', g.headHash ?? '')
    setText($('gov-members'), fmt(g.members.length) + ' (' + fmt(g.expelled.length) + ' expelled)')
    const expelledSelf = g.self !== undefined && g.expelled.some(e => e.peer === g.self)
    const member = g.member ?? g.members.some(m => m.self)
    setText($('gov-self'), member ? 'member' : expelledSelf ? 'expelled: it takes no part in votes' : 'not a member (yet): it cannot vote')
    $('gov-self').dataset.state = member ? 'member' : expelledSelf ? 'expelled' : 'outsider'
    // `halted` is null, or the height and the two conflicting entries' hashes.
    const h = g.halted
    const halted = $('gov-halted')
    halted.hidden = h === null
    setText(
      halted,
      h === null
        ? ''
        : 'The membership log is halted at height ' +
            fmt(h.height) +
            ': two valid entries conflict (' +
            h.hashes.map(short).join(' vs ') +
            '). No membership or policy change is applied, and no vote counts, until operators resolve the fork.'
    )
    const policy = Object.entries(g.policy ?? {})
    sync(
      $('gov-policy'),
      policy,
      ([k]) => k,
      ([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)],
      'no policy set'
    )
    type Listed = { peer: string; site: string | null; mirrorUrl: string | null; state: 'member' | 'expelled'; self: boolean }
    const listed: Listed[] = [
      ...g.members.map(m => ({ peer: m.peer, site: m.site, mirrorUrl: m.mirrorUrl, state: 'member' as const, self: m.self })),
      ...g.expelled.map(e => ({ peer: e.peer, site: e.site, mirrorUrl: null, state: 'expelled' as const, self: e.peer === g.self }))
    ].sort((a, b) => (a.site ?? '~').localeCompare(b.site ?? '~') || a.peer.localeCompare(b.peer))
    sync(
      $('gov-member-list'),
      listed,
      m => m.peer,
      m => [who(m.peer, m.site), badge(m.state), m.mirrorUrl ?? '–'],
      'no members',
      (tr, m) => {
        tr.dataset.peer = m.peer
        tr.dataset.state = m.state
        tr.classList.toggle('self', m.self)
      }
    )
    const audits = (g.audits ?? []).slice(-10).reverse()
    sync(
      $('gov-audits'),
      audits,
      a => a.at + '\n' + a.helper + '\n' + a.url,
      a => [new Date(a.at).toLocaleTimeString(), who(a.helper), badge(a.ok ? 'ok' : 'failed'), a.url, a.detail],
      'no content audited yet (members audit helpers while a site is being helped)',
      (tr, a) => {
        tr.dataset.ok = String(a.ok)
      }
    )
    // The node refuses votes while the log is halted or it is not a member; say so rather than offer them.
    const why =
      h !== null ? 'the membership log is halted' : !member ? 'this node is not a member' : token() === null ? 'paste the operator token above to vote' : null
    sync(
      $('proposals'),
      g.proposals,
      p => p.id,
      p => [
        p.kind,
        p.subject === null ? '–' : who(p.subject, siteOf(p.subject)),
        p.summary,
        p.reason === '' ? '–' : p.reason,
        who(p.proposer),
        fmt(p.votes) + ' / ' + fmt(p.needed),
        td => {
          setText(td, (p.decision === 'needs-operator' ? 'needs operator' : p.decision) + (p.detail === '' ? '' : ' · ' + p.detail))
          setAttr(td, 'title', p.evidence.length === 0 ? 'no evidence attached' : 'evidence: ' + p.evidence.join(', '))
        },
        td => {
          let b = td.querySelector('button')
          if (b === null) {
            b = document.createElement('button')
            b.type = 'button'
            b.addEventListener('click', () => {
              void vote(p.id, b!)
            })
            td.replaceChildren(b)
          }
          const busy = voting.has(p.id)
          setText(b, p.votedBySelf ? 'voted' : busy ? 'voting…' : 'vote yes')
          b.disabled = p.votedBySelf || busy || why !== null
          setAttr(
            b,
            'aria-label',
            (p.votedBySelf ? 'Already voted for ' : 'Vote yes on ') +
              p.kind +
              ' ' +
              (p.subject === null ? '' : (siteOf(p.subject) ?? shortPeer(p.subject)) + ' ') +
              '(proposal ' +
              p.id.slice(0, 8) +
              ')'
          )
          if (why !== null && !p.votedBySelf) setAttr(b, 'title', why)
          else b.removeAttribute('title')
        }
      ],
      'no pending proposals',
      (tr, p) => {
        tr.dataset.id = p.id
        tr.dataset.decision = p.decision
        tr.dataset.votes = String(p.votes)
      }
    )
    sync(
      $('gov-log'),
      g.log.slice(0, 50),
      e => String(e.height),
      e => [
        e.height,
        e.kind,
        e.subject === null ? '–' : who(e.subject, siteOf(e.subject)),
        e.summary,
        e.signers,
        td => {
          setText(td, short(e.hash))
          setAttr(td, 'title', e.hash ?? '')
        }
      ],
      'the log is empty',
      (tr, e) => {
        tr.dataset.height = String(e.height)
        tr.dataset.kind = e.kind
      }
    )
  }

  function renderToken(): void {
    const has = token() !== null
    setText(
      $('token-state'),
      has ? 'Votes are sent with the operator token you pasted (kept in this tab only).' : 'Paste the operator token to vote on proposals.'
    )
    $('token-forget').hidden = !has
  }

  async function vote(id: string, button: HTMLButtonElement): Promise<void> {
    const t = token()
    const result = $('vote-result')
    if (t === null) {
      setText(result, 'Paste the operator token first.')
      return
    }
    voting.add(id)
    button.disabled = true
    setText(button, 'voting…')
    try {
      const res = await fetch('/api/governance/proposals/' + encodeURIComponent(id) + '/vote', {
        method: 'POST',
        cache: 'no-store',
        headers: { authorization: 'Bearer ' + t, 'content-type': 'application/json' },
        body: '{}'
      })
      // Errors come as { code, message }; the message says why (e.g. already signed another entry).
      let message = ''
      if (!res.ok) {
        try {
          const e = (await res.json()) as { message?: unknown }
          if (typeof e.message === 'string') message = e.message
        } catch {
          /* not JSON */
        }
      }
      setText(
        result,
        res.ok
          ? 'Vote recorded for proposal ' + id.slice(0, 8) + '.'
          : res.status === 401 || res.status === 403
            ? 'The node refused the operator token (' + res.status + '). Paste the right token and try again.'
            : res.status === 404
              ? 'Proposal ' + id.slice(0, 8) + ' is no longer pending.'
              : 'The vote failed: the node answered ' + res.status + (message === '' ? '.' : ': ' + message)
      )
      result.dataset.outcome = res.ok ? 'ok' : String(res.status)
    } catch (err) {
      setText(result, 'The vote failed: ' + (err instanceof Error ? err.message : String(err)))
      result.dataset.outcome = 'error'
    } finally {
      voting.delete(id)
    }
    await refresh()
  }

  $('token-form').addEventListener('submit', ev => {
    ev.preventDefault()
    const input = $('token') as HTMLInputElement
    const value = input.value.trim()
    if (value === '') return
    try {
      sessionStorage.setItem(TOKEN_KEY, value)
    } catch {
      setText($('vote-result'), 'This browser does not allow keeping the token for this tab.')
    }
    input.value = ''
    render()
  })
  $('token-forget').addEventListener('click', () => {
    try {
      sessionStorage.removeItem(TOKEN_KEY)
    } catch {
      /* nothing kept */
    }
    render()
    ;($('token') as HTMLInputElement).focus()
  })

  // ---- loop -------------------------------------------------------------------------------

  let running: Promise<void> | undefined
  function refresh(): Promise<void> {
    running ??= load()
      .then(render, render)
      .finally(() => {
        running = undefined
      })
    return running
  }
  async function loop(): Promise<void> {
    if (!document.hidden) await refresh()
    setTimeout(() => {
      void loop()
    }, REFRESH_MS)
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh()
  })
  window.addEventListener('resize', () => {
    try {
      renderTimeline()
    } catch {
      /* next refresh shows it */
    }
  })
  void loop()
}
