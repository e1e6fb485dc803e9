/**
 * The operator's live view of one node, as one self-contained HTML page (no build step, nothing
 * from a CDN). Its script (`client.ts`) reads only the node's HTTP API, once a second, and
 * renders with textContent, never innerHTML, so nothing a peer puts in its load report or a
 * governance proposal can inject markup. `DASHBOARD_CSP` backs that up: only this page's own
 * script and style run (by hash), and it may connect only to the node that served it.
 */
import { createHash } from 'node:crypto'
import { dashboardClient } from './client.ts'

const STYLE = `
:root {
  --fg: #14232f; --muted: #5b6b78; --bg: #ffffff; --card: #f6f8fb; --line: #dbe2ea; --focus: #f08c00;
  --k-origin: #3a7bd5; --k-microCache: #58b4c6; --k-shedPeers: #35a05a; --k-shedExternal: #9466cf; --k-refused: #d64545;
  --ok: #d7f3dc; --bad: #ffd3d3; --warn: #fff0bf; --info: #d9e8ff; --gone: #e2e2e2;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4ebf1; --muted: #9aabb9; --bg: #0f1820; --card: #16222c; --line: #2a3a48;
    --ok: #1e4a2a; --bad: #5a2226; --warn: #54461a; --info: #1f3a5f; --gone: #3a3a3a; }
}
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: var(--fg); background: var(--bg); }
.wrap { max-width: 86rem; margin: 0 auto; padding: .75rem; }
a.skip { position: absolute; left: -100vw; }
a.skip:focus { left: .5rem; top: .5rem; background: var(--bg); padding: .4rem .8rem; z-index: 1; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
header h1 { font-size: 1.3rem; margin: .2rem 0; }
header p { margin: 0; color: var(--muted); font-size: .9rem; }
h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
h3 { font-size: .95rem; margin: 1rem 0 .4rem; }
main { display: grid; grid-template-columns: minmax(0, 1fr); gap: .9rem; margin-top: .8rem; }
main:focus { outline: none; }
@media (min-width: 62rem) { main { grid-template-columns: repeat(2, minmax(0, 1fr)); } .wide { grid-column: 1 / -1; } }
section { background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: .8rem 1rem; min-width: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
td.text { white-space: normal; min-width: 12rem; }
tr.empty td { color: var(--muted); font-style: italic; }
tr.self td:first-child .name::after { content: " (this node)"; color: var(--muted); }
tfoot td { font-weight: 600; border-bottom: 0; }
.peer { color: var(--muted); font-size: .8rem; font-family: ui-monospace, monospace; }
.peer:focus::after { content: " " attr(data-full); color: var(--fg, inherit); word-break: break-all; }
.state { display: inline-block; padding: .05rem .55rem; border-radius: 1rem; font-weight: 600; font-size: .85rem; background: var(--gone); }
h1 .state { font-size: 1rem; vertical-align: middle; }
.state.normal { background: var(--ok); } .state.struck { background: var(--bad); } .state.recovering { background: var(--warn); }
.state.helping { background: var(--info); } .state.expelled { background: var(--gone); text-decoration: line-through; }
.state.member, .state.ok { background: var(--ok); } .state.failed { background: var(--bad); }
.pos { color: #1f7a3a; } .neg { color: #b3261e; }
@media (prefers-color-scheme: dark) { .pos { color: #7fd49a; } .neg { color: #ff8f86; } }
.bar { height: .7rem; min-width: 4rem; background: var(--line); border-radius: .35rem; overflow: hidden; }
.bar > div { height: 100%; width: 0; background: var(--k-origin); }
.bar > div.over { background: var(--k-refused); }
#loadbar-wrap { margin: .3rem 0 .8rem; }
.figures { margin: 0; }
.figures b { font-size: 1.1rem; }
#timeline { display: block; width: 100%; height: 220px; }
#timeline .grid { stroke: var(--line); }
#timeline .axis { fill: var(--muted); font-size: 11px; }
#timeline .capacity { stroke: var(--fg); stroke-width: 1.5; stroke-dasharray: 6 4; }
#timeline .capacity-label { fill: var(--fg); font-size: 12px; font-weight: 600; }
.area { stroke: none; opacity: .9; }
.k-origin { fill: var(--k-origin); background: var(--k-origin); }
.k-microCache { fill: var(--k-microCache); background: var(--k-microCache); }
.k-shedPeers { fill: var(--k-shedPeers); background: var(--k-shedPeers); }
.k-shedExternal { fill: var(--k-shedExternal); background: var(--k-shedExternal); }
.k-refused { fill: var(--k-refused); background: var(--k-refused); }
.legend { list-style: none; padding: 0; margin: .5rem 0 0; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; font-size: .9rem; }
.sw { display: inline-block; width: .8rem; height: .8rem; border-radius: .15rem; margin-right: .35rem; vertical-align: -.05rem; }
.note { color: var(--muted); font-size: .85rem; margin: .4rem 0 0; }
.spark { display: block; }
.spark polyline { fill: none; stroke-width: 1.2; }
.spark .s-balance { stroke: var(--k-origin); stroke-width: 2; }
.spark .s-given { stroke: var(--k-shedPeers); }
.spark .s-taken { stroke: var(--k-refused); }
.spark .zero { stroke: var(--line); }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: 0 0 .6rem; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; overflow-wrap: anywhere; }
#gov-status { font-weight: 600; }
.alert, #error:not(:empty) { background: var(--bad); padding: .4rem .7rem; border-radius: .4rem; }
#error:empty { display: none; }
form { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: .4rem 0; }
input[type=password] { font: inherit; padding: .3rem .5rem; min-width: 0; flex: 1 1 12rem; max-width: 28rem; }
button { font: inherit; padding: .3rem .8rem; border-radius: .35rem; border: 1px solid var(--muted); background: var(--bg); color: var(--fg); cursor: pointer; }
button:disabled { opacity: .55; cursor: not-allowed; }
#token-state, #vote-result { margin: .2rem 0; font-size: .9rem; }
@media (max-width: 40rem) {
  body { font-size: 14px; }
  .wrap { padding: .5rem; }
  section { padding: .6rem .6rem; }
  th, td { padding: .25rem .35rem; }
  /* Each row becomes a small card: the first cell is its title, the others "column: value". */
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  tr { display: block; padding: .35rem 0; border-bottom: 1px solid var(--line); }
  td { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; border: 0; padding: .1rem .2rem; white-space: normal; text-align: right; }
  td::before { content: attr(data-label); color: var(--muted); font-size: .85rem; text-align: left; flex: none; }
  td:first-child { font-weight: 600; text-align: left; }
  td:first-child::before, tr.empty td::before { content: none; }
  td.num, td.text { text-align: right; min-width: 0; }
  td .bar { flex: 0 1 10rem; }
  tfoot tr { border-bottom: 0; }
  tfoot td:empty { display: none; }
}
`

const SCRIPT = `(${dashboardClient.toString()})()\n`

for (const [what, text] of [
  ['script', SCRIPT],
  ['style', STYLE]
] as const) {
  // Either would end its element early (and the page's CSP hash would no longer match).
  if (/<\/(script|style)|<!--/i.test(text)) throw new Error(`dashboard ${what} contains a closing tag or comment opener`)
}

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

/** The Content-Security-Policy to serve with DASHBOARD_HTML: its own script and style only, fetches to its origin only. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')

const legend = (kind: string, label: string): string =>
  `<li><span class="sw k-${kind}" aria-hidden="true"></span>${label} <b id="tl-now-${kind}">0</b> req/s now · <span id="tl-sum-${kind}">0</span> in the window</li>`

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>Reef node</title>
<style>${STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to the dashboard</a>
<div class="wrap">
<header>
  <h1>Reef · site <span id="site">…</span> <span id="state" class="state" data-state="">…</span></h1>
  <p>peer <span id="peer" class="peer">…</span> · <span id="updated">connecting…</span></p>
</header>
<p id="error" role="alert"></p>
<p id="storage-alert" class="alert" role="alert" hidden></p>
<main id="main" tabindex="-1">

<section class="wide" aria-labelledby="h-load">
  <h2 id="h-load">Traffic of this site</h2>
  <p class="figures">Demand <b id="demand">–</b> req/s of capacity <b id="capacity">–</b> · origin <b id="origin">–</b> req/s · shed <b id="shed">–</b> req/s · refused <b id="refused">–</b> total</p>
  <div id="loadbar-wrap" class="bar" role="meter" aria-label="Demand as a share of the origin's capacity" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div id="loadbar"></div></div>
  <h3 id="timeline-title">Requests/s by destination, last 5 minutes</h3>
  <svg id="timeline" role="img" aria-labelledby="timeline-title" aria-describedby="timeline-desc" xmlns="http://www.w3.org/2000/svg"></svg>
  <ul class="legend" aria-label="Timeline legend">
    ${legend('origin', 'origin')}
    ${legend('microCache', 'micro-cache')}
    ${legend('shedPeers', 'shed to peers')}
    ${legend('shedExternal', 'shed to external mirror')}
    ${legend('refused', 'refused')}
  </ul>
  <p id="timeline-desc" class="note">waiting for the first samples…</p>
</section>

<section aria-labelledby="h-consortium">
  <h2 id="h-consortium">Consortium load and spare capacity</h2>
  <div class="scroll" tabindex="0" role="region" aria-labelledby="h-consortium">
  <table>
    <thead><tr><th scope="col">site</th><th scope="col">state</th><th scope="col" class="num">demand</th><th scope="col" class="num">capacity</th><th scope="col" class="num">spare</th><th scope="col">load</th></tr></thead>
    <tbody id="peers"></tbody>
    <tfoot><tr><td>all members</td><td data-label="state"></td><td id="sum-demand" class="num" data-label="demand">–</td><td id="sum-capacity" class="num" data-label="capacity">–</td><td id="sum-spare" class="num" data-label="spare">–</td><td data-label=""></td></tr></tfoot>
  </table>
  </div>
  <p class="note">Requests/s. Demand and capacity are each member's own site and origin; spare is what its mirror offers the others now (none while its own site sheds).</p>
</section>

<section aria-labelledby="h-members">
  <h2 id="h-members">Members</h2>
  <p id="members-summary" class="note"></p>
  <div class="scroll" tabindex="0" role="region" aria-labelledby="h-members">
  <table>
    <thead><tr><th scope="col">member</th><th scope="col">state</th><th scope="col">seen</th><th scope="col" class="num">spare req/s</th><th scope="col" class="text">serving now</th></tr></thead>
    <tbody id="members"></tbody>
  </table>
  </div>
</section>

<section class="wide" aria-labelledby="h-help">
  <h2 id="h-help">Help sessions</h2>
  <h3 id="h-helpers">Helpers of this site</h3>
  <p id="session" class="note"></p>
  <div class="scroll" tabindex="0" role="region" aria-labelledby="h-helpers">
  <table>
    <thead><tr><th scope="col">helper</th><th scope="col" class="num">weight req/s</th><th scope="col" class="num">serving now req/s</th><th scope="col">mirror</th></tr></thead>
    <tbody id="helpers"></tbody>
  </table>
  </div>
  <h3 id="h-helping">Sites this node helps</h3>
  <div class="scroll" tabindex="0" role="region" aria-labelledby="h-helping">
  <table>
    <thead><tr><th scope="col">site</th><th scope="col">status</th><th scope="col" class="num">offered req/s</th><th scope="col" class="num">manifest objects</th></tr></thead>
    <tbody id="helping"></tbody>
  </table>
  </div>
  <h3 id="h-standby">Warm standby</h3>
  <p class="note" id="standby-summary"></p>
  <div class="scroll" tabindex="0" role="region" aria-labelledby="h-standby">
  <table>
    <thead><tr><th scope="col">standby</th><th scope="col">for site</th><th scope="col" class="num">holds</th><th scope="col" class="num">of hot set</th><th scope="col">updated</th></tr></thead>
    <tbody id="standby"></tbody>
  </table>
  </div>
  <h3 id="h-sessions">Who helps whom across the consortium</h3>
  <div class="scroll" tabindex="0" role="region" aria-labelledby="h-sessions">
  <table>
    <thead><tr><th scope="col">helper</th><th scope="col">helps site</th><th scope="col" class="num">serving now req/s</th><th scope="col" class="num">offered req/s</th></tr></thead>
    <tbody id="sessions"></tbody>
  </table>
  </div>
</section>

<section class="wide" aria-labelledby="h-ledger">
  <h2 id="h-ledger">Reciprocity ledger</h2>
  <div class="scroll" tabindex="0" role="region" aria-labelledby="h-ledger">
  <table>
    <thead><tr><th scope="col">member</th><th scope="col">given</th><th scope="col">taken</th><th scope="col" class="num">balance</th><th scope="col">quota</th><th scope="col">headroom</th><th scope="col">trend</th></tr></thead>
    <tbody id="ledger"></tbody>
  </table>
  </div>
  <p class="note">Trend since this page opened: <span class="sw k-origin" aria-hidden="true"></span>balance, <span class="sw k-shedPeers" aria-hidden="true"></span>given, <span class="sw k-refused" aria-hidden="true"></span>taken. Quota is the credit a member may take over the window; headroom what is left of it.</p>
</section>

<section class="wide" aria-labelledby="h-gov">
  <h2 id="h-gov">Governance</h2>
  <p id="gov-status" data-mode="unknown">loading…</p>
  <div id="gov-details" hidden>
    <p id="gov-halted" class="alert" role="alert" hidden></p>
    <dl class="facts">
      <dt>consortium</dt><dd id="gov-consortium">–</dd>
      <dt>charter</dt><dd id="gov-charter" class="peer">–</dd>
      <dt>log height</dt><dd id="gov-height">–</dd>
      <dt>log head</dt><dd id="gov-head" class="peer">–</dd>
      <dt>members</dt><dd id="gov-members">–</dd>
      <dt>this node</dt><dd id="gov-self">–</dd>
    </dl>
    <form id="token-form" autocomplete="off">
      <label for="token">Operator token</label>
      <input id="token" name="token" type="password" spellcheck="false" autocomplete="off">
      <button type="submit">Use token</button>
      <button type="button" id="token-forget" hidden>Forget token</button>
    </form>
    <p id="token-state"></p>
    <p id="vote-result" role="status" aria-live="polite"></p>
    <h3 id="h-proposals">Pending proposals</h3>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="h-proposals">
    <table>
      <thead><tr><th scope="col">kind</th><th scope="col">subject</th><th scope="col" class="text">summary</th><th scope="col" class="text">reason</th><th scope="col">proposer</th><th scope="col">votes</th><th scope="col" class="text">decision</th><th scope="col">vote</th></tr></thead>
      <tbody id="proposals"></tbody>
    </table>
    </div>
    <h3 id="h-log">Membership log, newest first</h3>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="h-log">
    <table>
      <thead><tr><th scope="col" class="num">height</th><th scope="col">kind</th><th scope="col">subject</th><th scope="col" class="text">summary</th><th scope="col" class="num">signers</th><th scope="col">hash</th></tr></thead>
      <tbody id="gov-log"></tbody>
    </table>
    </div>
    <h3 id="h-gov-members">Charter members</h3>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="h-gov-members">
    <table>
      <thead><tr><th scope="col">member</th><th scope="col">status</th><th scope="col">mirror</th></tr></thead>
      <tbody id="gov-member-list"></tbody>
    </table>
    </div>
    <h3 id="h-audits">Content audits by this node, newest first</h3>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="h-audits">
    <table>
      <thead><tr><th scope="col">time</th><th scope="col">helper</th><th scope="col">result</th><th scope="col" class="text">object</th><th scope="col" class="text">detail</th></tr></thead>
      <tbody id="gov-audits"></tbody>
    </table>
    </div>
    <h3 id="h-policy">Policy</h3>
    <div class="scroll" tabindex="0" role="region" aria-labelledby="h-policy">
    <table>
      <thead><tr><th scope="col">setting</th><th scope="col">value</th></tr></thead>
      <tbody id="gov-policy"></tbody>
    </table>
    </div>
  </div>
</section>

</main>
</div>
<script>${SCRIPT}</script>
</body>
</html>
`
