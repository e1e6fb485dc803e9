/**
 * The operator's live view of one node, as one self-contained HTML page. It reads only the
 * node's HTTP API (`GET /api/status`, polled every second) and renders with textContent
 * (never innerHTML), so nothing a peer puts in its load report can inject markup.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reef node</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #123; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
  .state { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; font-weight: 600; }
  .normal { background: #d8f5dd; } .struck { background: #ffd6d6; } .recovering { background: #fff1c4; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #dde; }
  .bar { height: .8rem; background: #e8ecf2; border-radius: .4rem; overflow: hidden; } .bar > div { height: 100%; background: #3a7bd5; }
  #error { color: #a00; }
</style>
</head>
<body>
<h1>Reef · site <span id="site">…</span> <span id="state" class="state">…</span></h1>
<p id="error" role="alert"></p>
<section aria-label="load">
  <p>Demand <b id="demand">–</b> req/s of capacity <b id="capacity">–</b> · origin <b id="origin">–</b> req/s · shed to helpers <b id="shed">–</b> req/s · refused <b id="refused">–</b> total</p>
  <div class="bar" aria-hidden="true"><div id="loadbar" style="width:0"></div></div>
</section>
<h2>Helpers of this site</h2>
<table><thead><tr><th>peer</th><th>weight req/s</th><th>mirror</th></tr></thead><tbody id="helpers"></tbody></table>
<h2>Sites this node helps</h2>
<table><thead><tr><th>site</th><th>status</th><th>offered req/s</th><th>manifest</th></tr></thead><tbody id="helping"></tbody></table>
<h2>Consortium</h2>
<table><thead><tr><th>site</th><th>state</th><th>demand req/s</th><th>spare req/s</th></tr></thead><tbody id="peers"></tbody></table>
<script>
const $ = id => document.getElementById(id)
function rows (tbody, items, cells) {
  tbody.replaceChildren(...items.map(item => {
    const tr = document.createElement('tr')
    for (const c of cells(item)) { const td = document.createElement('td'); td.textContent = String(c); tr.append(td) }
    return tr
  }))
}
async function refresh () {
  try {
    const res = await fetch('/api/status', { cache: 'no-store' })
    if (!res.ok) throw new Error('status API answered ' + res.status)
    const s = await res.json()
    $('error').textContent = ''
    $('site').textContent = s.site
    $('state').textContent = s.state
    $('state').className = 'state ' + s.state
    $('demand').textContent = s.demandRps
    $('capacity').textContent = s.capacityRps
    $('origin').textContent = s.originRps
    $('shed').textContent = s.shedRps
    $('refused').textContent = s.totals.refused
    $('loadbar').style.width = Math.min(100, Math.round(100 * s.demandRps / Math.max(1, s.capacityRps))) + '%'
    rows($('helpers'), s.session ? s.session.helpers : [], h => [h.peer.slice(-12), h.weightRps, h.siteBase])
    rows($('helping'), s.helping, h => [h.site, h.released ? 'released' : h.accepted ? 'helping' : 'offered', h.offeredRps, h.manifest])
    rows($('peers'), s.peers, p => [p.site, p.state, p.demandRps, p.spareRps])
  } catch (err) {
    $('error').textContent = 'Cannot reach the node: ' + err.message
  }
}
refresh()
setInterval(refresh, 1000)
</script>
</body>
</html>
`
