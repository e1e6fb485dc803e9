import { DEFAULT_QUOTA_POLICY as Q } from '@reef/governance'
import { formatRate } from '../config/rate.ts'

/**
 * The commented config file `reef init` writes: every section, every field explained, the
 * schema's defaults spelled out (a unit test holds them equal to ConfigSchema's), and the
 * few values an operator must choose filled in from init's options.
 */

export interface TemplateValues {
  label: string
  originUrl: string
  capacityRps: number
  maxConcurrent: number
  /** The machine's uplink, bytes/s. */
  uplinkBytesPerSec: number
  /** Absolute path of the data dir. */
  dataDir: string
  /** Where the file goes, for the commands in its header. */
  configFile: string
}

/** Where the written config listens, so tests and the doctor can reason about it. */
export const TEMPLATE_LISTEN = {
  front: { host: '0.0.0.0', port: 8000 },
  mirror: { host: '0.0.0.0', port: 8081 },
  admin: { host: '127.0.0.1', port: 9180 },
  p2p: { port: 4001 }
} as const

export function renderConfigTemplate(v: TemplateValues): string {
  const j = (x: unknown): string => JSON.stringify(x)
  const L = TEMPLATE_LISTEN
  return `// Reef node configuration, written by "reef init".
//
// JSON with comments: // and /* */ comments and trailing commas are fine. Units are in the
// field names (…Ms milliseconds, …Rps requests per second, …Bytes bytes). Fields marked
// REQUIRED must be there; every other field shows its default and may be deleted.
//
//   check it:   reef doctor --config ${v.configFile}
//   run it:     reef start --config ${v.configFile}
{
  // Consortium id: names the gossip topics, so every member of your consortium uses the
  // same one and nodes of different consortia ignore each other. a-z, 0-9 and "-".
  "consortium": "reef",

  "site": {
    // REQUIRED. This site's label, one lower-case DNS label. Helpers serve your site under
    // it on their mirror host: <label>.<their mirror host>, e.g. ${v.label}.mirror.bravo.example.
    "label": ${j(v.label)},
    // REQUIRED. Where clients reach this site, i.e. this node's front (below); mirrors
    // redirect clients back here. http(s) origin URL without a path. Change it to your
    // site's public address.
    "publicUrl": ${j(`http://localhost:${L.front.port}`)},
  },

  "origin": {
    // REQUIRED. Your web server as this node reaches it (the front forwards to it).
    "url": ${j(v.originUrl)},
    // REQUIRED. Requests/s the origin can serve. The front never sends more; a crowd is
    // what exceeds it. Measure it under load and stay a little below.
    "capacityRps": ${j(v.capacityRps)},
    // REQUIRED. Requests the origin can work on at once (its worker count). The front never
    // has more in flight.
    "maxConcurrent": ${j(v.maxConcurrent)},
    // One origin request may take this long before it fails, in ms.
    "timeoutMs": 15000,
    // Optional: the origin's upstream bandwidth, in bytes/s, when bytes rather than requests
    // are what it runs out of. Uncomment to use.
    // "bytesPerSec": 12500000,
  },

  // This machine's uplink: what it can send per second to the internet, shared by the
  // front, the mirror and the consortium's traffic. In a flash crowd a small site runs out
  // of it long before its CPU: the node is struck when its visitors' demand nears it, keeps
  // targetShare of it for its own site while it sheds, and offers other sites only what is
  // left of targetShare of it.
  "uplink": {
    // REQUIRED in practice. Your upload rate in bytes/s (${formatRate(v.uplinkBytesPerSec)}
    // here). 100 Mbit/s is 12500000; "reef init --uplink 40mbit" writes it for you. Without
    // it the node assumes 100 Mbit/s.
    "bytesPerSec": ${j(v.uplinkBytesPerSec)},
    // Share of the uplink the node fills: with its own site while it sheds, and in all
    // (its site plus what it serves for others) while it helps.
    "targetShare": 0.9,
  },

  // The front: clients' requests arrive here and go on to the origin (or, during a crowd,
  // are redirected to helpers). Point your site's DNS (or your TLS terminator) here. Port 80
  // needs root or CAP_NET_BIND_SERVICE.
  "front": {
    // REQUIRED. Where the front listens; 0.0.0.0 is every interface.
    "listen": { "host": ${j(L.front.host)}, "port": ${L.front.port} },
    // How long a request may wait for the origin before it is answered 503, in ms.
    "queueTimeoutMs": 4000,
    // How many requests may wait for the origin at once; beyond it, 503 at once.
    "queueLimit": 4096,
    // Retry-After of a 503, in seconds.
    "retryAfterS": 5,
    // The TLS terminator or load balancer in front (its address as the front sees it): its
    // X-Forwarded-Proto and X-Forwarded-Host reach the origin; anyone else's are replaced.
    "trustedProxies": ["127.0.0.1", "::1", "::ffff:127.0.0.1"],
    // WebSocket (and other upgraded) connections tunnelled to the origin at once; 0 refuses them.
    "maxUpgrades": 1024,
    // Largest request body forwarded to the origin, in bytes.
    "maxBodyBytes": 10485760,
  },

  // The mirror: serves other members' hot content while they are struck.
  "mirror": {
    // REQUIRED. Where the mirror listens.
    "listen": { "host": ${j(L.mirror.host)}, "port": ${L.mirror.port} },
    // REQUIRED. Base URL under which clients reach this mirror. Site X is served at
    // X.<this host>, so publish a wildcard DNS record, e.g. *.mirror.example.org, pointing at
    // this machine. (*.localhost works on one machine only.)
    "publicUrl": ${j(`http://mirror.localhost:${L.mirror.port}`)},
    // Requests/s this mirror offers other sites.
    "capacityRps": 500,
    // How long a released site's cached objects are still served, for clients already
    // redirected, in ms.
    "releaseGraceMs": 30000,
  },

  // The admin API and live status page ("reef status", "reef ledger", "reef doctor" use it).
  // It has no authentication: keep it on loopback. Delete the section to turn it off.
  "admin": {
    "listen": { "host": ${j(L.admin.host)}, "port": ${L.admin.port} },
    // Reading needs no token; every other request (governance votes, proposals, invitations)
    // needs this operator token as "Authorization: Bearer <token>": 16 to 1024 printable
    // characters. Keep it in a file only the reef user can read; uncomment to use.
    // "tokenFile": "/etc/reef/admin-token",
  },

  // The peer-to-peer host (libp2p) that talks to the other members.
  "p2p": {
    // Multiaddrs to listen on; other members dial this port.
    "listen": [${j(`/ip4/0.0.0.0/tcp/${L.p2p.port}`)}],
    // Members to connect to at start: their p2p address with peer id, e.g.
    // "/dns4/reef.bravo.example/tcp/4001/p2p/12D3KooW…". "reef init" prints yours.
    "bootstrap": [],
  },

  // REQUIRED. Where the node keeps its identity (identity.key: its peer id; back it up) and
  // its ledger.
  "dataDir": ${j(v.dataDir)},

  // The cache shared by the front's micro-cache and the mirror.
  "cache": {
    // Total size, in bytes (256 MiB).
    "maxBytes": 268435456,
    // Largest object cached or mirrored, in bytes (8 MiB; at most 16 MiB).
    "maxObjectBytes": 8388608,
  },

  // Crowd detection, from demand as a share of origin.capacityRps.
  "crowd": {
    // The site is struck when demand stays at or above this share of capacity…
    "strikeShare": 0.8,
    // …for this long, in ms (at once if requests already queue for the origin).
    "strikeHoldMs": 500,
    // Recovering when demand falls below this share (below strikeShare, so it cannot flap)…
    "releaseShare": 0.5,
    // …and normal again after this long below it, in ms.
    "calmMs": 2000,
    // While shedding, keep the origin at this share of its capacity.
    "targetShare": 0.85,
    // How often demand is sampled, in ms.
    "tickMs": 250,
    // A new visitor that neither the site nor a helper can take yet (a crowd's first second,
    // before help is engaged) waits this long for help before it gets 503, in ms (0: at once).
    "helpWaitMs": 2000,
  },

  // Load gossip between members.
  "gossip": {
    // How often this node publishes its signed load report, in ms.
    "reportIntervalMs": 1000,
    // A peer whose reports stop is dropped after this long, in ms.
    "peerExpiryMs": 5000,
  },

  // The relief ladder, rung by rung as load grows.
  "relief": {
    // Rung 1: answer fresh shareable responses from the front's cache once demand reaches
    // engageShare of the origin's capacity.
    "microCache": { "enabled": true, "engageShare": 0.5 },
    // Rung 3 (optional): while a crowd lasts, send what the origin and the helpers cannot
    // take to an external mirror. Placeholders {host}, {path}, {url}. Uncomment to use.
    // "externalMirror": { "template": "https://web.archive.org/web/{url}" },
  },

  // The reciprocity ledger.
  "ledger": {
    // How often a struck site signs what it delegated to each helper, in ms.
    "settleIntervalMs": 5000,
    "quota": {
      // Credit every member starts with, in bytes (1 GiB).
      "newcomerGrantBytes": ${j(Q.newcomerGrantBytes)},
      // Credit grows by this multiple of what a member gave over the window.
      "takeMultiple": ${j(Q.takeMultiple)},
      // The window, in ms (30 days).
      "windowMs": ${j(Q.windowMs)},
      // Share of help a member over quota still gets.
      "optimisticShare": ${j(Q.optimisticShare)},
    },
  },

  // Consortium governance (optional). Without this section the node runs an open consortium:
  // any peer on the topics counts. With it, only members of the charter's membership log do.
  // "governance": {
  //   // The signed charter file (from "reef consortium create"; newcomers get it on joining).
  //   "charter": "/etc/reef/charter.json",
  //   // Vote automatically on proposals whose evidence this node can verify itself.
  //   "autoVote": true,
  // },

  "log": {
    // fatal, error, warn, info, debug, trace or silent. Logs go to stdout as JSON lines.
    "level": "info",
  },
}
`
}
