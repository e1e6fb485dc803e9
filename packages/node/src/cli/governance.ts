/**
 * Governance from the command line (SPEC.md §Governance):
 *
 *   reef consortium create|sign|show   the founders' charter, offline
 *   reef invite                        a member's node issues an invitation token
 *   reef join TOKEN                    a newcomer's node stores it (then `reef start`)
 *   reef members                       the membership, the log and open proposals
 *   reef propose expel|policy|leave    a proposal signed by this member's node
 *   reef vote ID                       this member's signature on a proposal
 */
import type { CharterBody, GovernanceView, InvitationView, Member, MultiSigned, Policy, ProposeResult } from '@reef/protocol'
import { ConfigError, UsageError } from '../errors.ts'
import { adminGet, adminPost, resolveAdminUrl, resolveToken } from './admin-api.ts'
import type { Command, CommandArgs, CommandGroup, OptionSpec } from './command.ts'
import { ADMIN_OPTION, CONFIG_OPTION, EXIT, flag, JSON_OPTION, listOption, numberOption, stringOption } from './command.ts'
import { shortPeer, table } from './format.ts'

const TOKEN_FILE_OPTION: OptionSpec = {
  type: 'string',
  value: 'FILE',
  description: 'a file holding the operator token (default: admin.token / admin.tokenFile of --config, or $REEF_ADMIN_TOKEN)'
}
/** The charter's policy keys (Policy in @reef/protocol; a unit test keeps the two equal). Written out so that `reef help` need not load the protocol. */
export const POLICY_KEYS: ReadonlyArray<keyof Policy> = [
  'quorumNum',
  'quorumDen',
  'newcomerGrantBytes',
  'takeMultiple',
  'windowMs',
  'optimisticSharePct',
  'settleIntervalMs',
  'auditIntervalMs',
  'freeloadExpelPct',
  'standbyReplicas'
]

async function loadNode(command: string, args: CommandArgs): Promise<{ config: import('../config/config.ts').ReefConfig; file: string }> {
  const file = stringOption(args, 'config')
  if (file === undefined) throw new UsageError(`${command}: --config FILE is required (this node's config: its identity, site and mirror)`, { command })
  const { loadConfigFile } = await import('../config/config.ts')
  return { config: await loadConfigFile(file), file }
}

async function identity(command: string, dataDir: string): Promise<{ key: import('@libp2p/interface').PrivateKey; peer: string }> {
  const { readIdentity } = await import('../p2p/host.ts')
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const key = await readIdentity(dataDir)
  if (key === undefined) throw new ConfigError(`${command}: no node identity in ${dataDir}`, { hint: 'run "reef init" (or start the node once) to create it' })
  return { key, peer: peerIdFromPrivateKey(key).toString() }
}

function parseSet(command: string, sets: string[], base: Policy): Policy {
  const policy = { ...base }
  for (const s of sets) {
    const m = /^([A-Za-z]+)=(\d+)$/.exec(s)
    if (m === null || !POLICY_KEYS.includes(m[1] as keyof Policy)) {
      throw new UsageError(`${command}: --set "${s}" is not KEY=INTEGER`, { command, hint: `policy keys: ${POLICY_KEYS.join(', ')}` })
    }
    policy[m[1] as keyof Policy] = Number(m[2])
  }
  return policy
}

async function readCharter(file: string): Promise<MultiSigned<CharterBody>> {
  const { readCharterFile } = await import('../governance/charter-file.ts')
  return readCharterFile(file)
}

function founderOf(command: string, spec: string): Member {
  const [peer, site, mirrorUrl, ...rest] = spec.split(',')
  if (peer === undefined || site === undefined || mirrorUrl === undefined || rest.length > 0) {
    throw new UsageError(`${command}: --founder "${spec}" is not PEER,SITE,MIRROR_URL`, {
      command,
      hint: 'each founder gives its peer id ("reef init" prints it), its site label and its mirror\'s public URL'
    })
  }
  return { peer, site, mirrorUrl }
}

const createCommand: Command = {
  name: 'create',
  summary: "write a new consortium's charter, signed by this node",
  synopsis: 'consortium create --config FILE --id ID --name NAME [--founder PEER,SITE,MIRROR_URL]… [--set KEY=VALUE]… --out FILE',
  description: `Write the charter of a new consortium: its id and name, the founding members (this node,
from its config, plus every --founder), and the policy (defaults, changed with --set). The file is
signed by this node; every other founder adds its signature with "reef consortium sign". Once all
have signed, each founder sets governance.charter in its config to the file and starts its node,
which verifies the charter at start.`,
  options: {
    config: CONFIG_OPTION,
    id: { type: 'string', value: 'ID', description: 'consortium id: lower-case letters, digits and - (also the config\'s "consortium")' },
    name: { type: 'string', value: 'NAME', description: 'a human name for the consortium' },
    founder: { type: 'string', value: 'PEER,SITE,MIRROR_URL', multiple: true, description: 'another founding member (repeat for each)' },
    set: { type: 'string', value: 'KEY=VALUE', multiple: true, description: `a policy parameter (repeatable): ${POLICY_KEYS.join(', ')}` },
    out: { type: 'string', short: 'o', value: 'FILE', description: 'where to write the charter (JSON)' },
    force: { type: 'boolean', description: 'overwrite --out if it exists' },
    json: JSON_OPTION
  },
  examples: [
    'reef consortium create --config reef.jsonc --id smallsites --name "Small sites" \\\n      --founder 12D3KooWB…,bravo,https://mirror.bravo.example --set auditIntervalMs=30000 --out charter.json'
  ],
  async run(args, io) {
    const { config } = await loadNode('consortium create', args)
    const id = stringOption(args, 'id') ?? config.consortium
    const name = stringOption(args, 'name')
    const out = stringOption(args, 'out')
    if (name === undefined || out === undefined) throw new UsageError('consortium create: --name and --out are required', { command: 'consortium create' })
    const { existsSync } = await import('node:fs')
    if (existsSync(out) && !flag(args, 'force'))
      throw new UsageError(`consortium create: ${out} exists`, { command: 'consortium create', hint: 'choose another --out or pass --force' })
    if (id !== config.consortium)
      throw new ConfigError(`consortium create: --id ${id} differs from the config's consortium "${config.consortium}"`, {
        hint: `set "consortium": "${id}" in the config (it names the gossip topics)`
      })
    const self = await identity('consortium create', config.dataDir)
    const founders = [
      { peer: self.peer, site: config.site.label, mirrorUrl: config.mirror.publicUrl },
      ...listOption(args, 'founder').map(f => founderOf('consortium create', f))
    ]
    const { charterBody, signCharter, unsignedFounders, writeCharterFile } = await import('../governance/charter-file.ts')
    const { DEFAULT_POLICY } = await import('@reef/protocol')
    const body = charterBody({ id, name, founders, policy: parseSet('consortium create', listOption(args, 'set'), DEFAULT_POLICY) })
    const doc = await signCharter({ body, sigs: [] }, self.key, self.peer)
    await writeCharterFile(out, doc)
    const missing = unsignedFounders(doc)
    if (flag(args, 'json')) {
      io.out(JSON.stringify({ file: out, charter: doc, unsigned: missing.map(m => m.peer) }, null, 2) + '\n')
      return EXIT.ok
    }
    io.out(`Wrote ${out}: consortium "${id}" (${name}), ${founders.length} founders, signed by this node (${shortPeer(self.peer)}).\n`)
    if (missing.length > 0) {
      io.out(`Waiting for ${missing.length} more signature(s). Send the file to each founder, who runs:\n  reef consortium sign ${out} --config THEIR_CONFIG\n`)
      for (const m of missing) io.out(`    ${m.site.padEnd(12)} ${m.peer}\n`)
    } else {
      io.out(`Complete. Set "governance": { "charter": "${out}" } in the config and start the node.\n`)
    }
    return EXIT.ok
  }
}

const signCommand: Command = {
  name: 'sign',
  summary: "add this founder's signature to a charter",
  synopsis: 'consortium sign FILE --config FILE',
  description: `Add this node's signature to a charter file written by "reef consortium create", after checking
that this node is one of its founders. Prints who still has to sign.`,
  options: { config: CONFIG_OPTION, json: JSON_OPTION },
  positionals: { min: 1, max: 1 },
  examples: ['reef consortium sign charter.json --config reef.jsonc'],
  async run(args, io) {
    const file = args.positionals[0]!
    const { config } = await loadNode('consortium sign', args)
    const self = await identity('consortium sign', config.dataDir)
    const { signCharter, unsignedFounders, writeCharterFile } = await import('../governance/charter-file.ts')
    const doc = await signCharter(await readCharter(file), self.key, self.peer)
    await writeCharterFile(file, doc)
    const missing = unsignedFounders(doc)
    if (flag(args, 'json')) {
      io.out(JSON.stringify({ file, unsigned: missing.map(m => m.peer) }, null, 2) + '\n')
      return EXIT.ok
    }
    io.out(
      `Signed ${file} as ${shortPeer(self.peer)}. ${missing.length === 0 ? 'Every founder has signed: the charter is complete.' : `Still to sign: ${missing.map(m => m.site).join(', ')}.`}\n`
    )
    return EXIT.ok
  }
}

const showCommand: Command = {
  name: 'show',
  summary: 'verify a charter and print it',
  synopsis: 'consortium show FILE [--json]',
  description:
    'Verify every signature of a charter file and print the consortium, its founders, who has signed and its policy. Exits 1 if a signature is bad or a founder has not signed yet.',
  options: { json: JSON_OPTION },
  positionals: { min: 1, max: 1 },
  examples: ['reef consortium show charter.json'],
  async run(args, io) {
    const file = args.positionals[0]!
    const doc = await readCharter(file)
    const { verifiedSigners } = await import('@reef/protocol')
    const { bodyHash } = await import('@reef/governance')
    let signed: string[] = []
    let problem: string | undefined
    try {
      signed = await verifiedSigners('charter', doc)
    } catch (err) {
      problem = (err as Error).message
    }
    const missing = doc.body.founders.filter(f => !signed.includes(f.peer))
    if (problem === undefined && missing.length > 0) problem = `not signed yet by ${missing.map(m => m.site).join(', ')}`
    if (flag(args, 'json')) {
      io.out(
        JSON.stringify({ file, hash: bodyHash(doc.body), complete: problem === undefined, problem: problem ?? null, charter: doc.body, signed }, null, 2) + '\n'
      )
      return problem === undefined ? EXIT.ok : EXIT.failure
    }
    const c = doc.body
    io.out(`Consortium "${c.id}" (${c.name}), created ${new Date(c.createdAt).toISOString()}\ncharter hash ${bodyHash(c)}\n\n`)
    io.out(table([['founder', 'peer', 'mirror', 'signed'], ...c.founders.map(f => [f.site, f.peer, f.mirrorUrl, signed.includes(f.peer) ? 'yes' : 'NO'])]))
    io.out(
      '\npolicy:\n' +
        Object.entries(c.policy)
          .map(([k, v]) => `  ${k.padEnd(20)} ${String(v)}`)
          .join('\n') +
        '\n'
    )
    io.out(problem === undefined ? '\nValid: every founder signed.\n' : `\nNOT VALID: ${problem}\n`)
    return problem === undefined ? EXIT.ok : EXIT.failure
  }
}

export const consortiumGroup: CommandGroup = {
  name: 'consortium',
  summary: "create, sign and check a consortium's charter",
  description:
    'A governed consortium starts with a charter signed by every founder: its id and name, the founding members and the policy (quorum, quotas, audit interval, freeloading limit). These commands work offline on the charter file.',
  commands: [createCommand, signCommand, showCommand]
}

const REMOTE = { admin: ADMIN_OPTION, config: CONFIG_OPTION, 'token-file': TOKEN_FILE_OPTION }

export const inviteCommand: Command = {
  name: 'invite',
  summary: 'issue an invitation for a new member (prints a token)',
  synopsis: 'invite [--config FILE | --admin URL --token-file FILE] [--site LABEL] [--ttl-hours N] [--json]',
  description: `Ask this member's running node for a signed invitation. Give the printed token to the newcomer,
who runs "reef join TOKEN --config THEIR_CONFIG" and starts its node; it then syncs the log and asks
this node to propose its admission, on which the members vote (automatically: the invitation is
the evidence).`,
  options: {
    ...REMOTE,
    site: { type: 'string', value: 'LABEL', description: 'the site label the newcomer must use' },
    'ttl-hours': { type: 'string', value: 'N', description: 'how long the invitation is valid (default 168 = 7 days)' },
    json: JSON_OPTION
  },
  examples: ['reef invite --config reef.jsonc --site echo'],
  async run(args, io) {
    const { url, config } = await resolveAdminUrl('invite', args)
    const token = await resolveToken('invite', args, config)
    const ttl = numberOption('invite', args, 'ttl-hours', 1, 24 * 90)
    const site = stringOption(args, 'site')
    const data = (await adminPost(
      url,
      '/api/invitations',
      { ...(site === undefined ? {} : { site }), ...(ttl === undefined ? {} : { ttlHours: ttl }) },
      token
    )) as InvitationView
    if (flag(args, 'json')) {
      io.out(JSON.stringify(data, null, 2) + '\n')
      return EXIT.ok
    }
    io.out(
      `Invitation (give it to the newcomer; valid ${ttl ?? 168} h):\n\n${data.token}\n\nThe newcomer runs:\n  reef join <token> --config THEIR_CONFIG && reef start --config THEIR_CONFIG\n`
    )
    return EXIT.ok
  }
}

export const joinCommand: Command = {
  name: 'join',
  summary: 'store an invitation so that this node joins a consortium at start',
  synopsis: 'join TOKEN --config FILE',
  description: `Check an invitation token and store it in this node's data directory (the node must be stopped).
The config must name the invitation's consortium and have a "governance" section. On "reef start"
the node fetches the charter and log from the inviter, asks to be admitted and waits for the
members' votes; "reef members" shows when it is in.`,
  options: { config: CONFIG_OPTION, json: JSON_OPTION },
  positionals: { min: 1, max: 1 },
  examples: ['reef join eyJwYXlsb2Fk… --config reef.jsonc'],
  async run(args, io) {
    const { config, file } = await loadNode('join', args)
    const { decodeInvitation } = await import('../governance/service.ts')
    const inv = await decodeInvitation(args.positionals[0]!)
    if (inv.body.consortium !== config.consortium)
      throw new ConfigError(`the invitation is for consortium "${inv.body.consortium}", the config says "${config.consortium}"`, {
        file,
        field: 'consortium',
        hint: `set "consortium": "${inv.body.consortium}"`
      })
    if (config.governance === undefined)
      throw new ConfigError(`${file} has no governance section`, { file, field: 'governance', hint: 'add "governance": {} to the config' })
    if (inv.body.site !== undefined && inv.body.site !== config.site.label)
      throw new ConfigError(`the invitation is for site "${inv.body.site}", the config says "${config.site.label}"`, { file, field: 'site.label' })
    const { join } = await import('node:path')
    const { GovernanceStore } = await import('../governance/store.ts')
    let store
    try {
      store = await GovernanceStore.open(join(config.dataDir, 'governance'))
    } catch (err) {
      throw new ConfigError(`cannot open ${join(config.dataDir, 'governance')}: ${(err as Error).message}`, {
        hint: 'stop the node first ("reef join" writes to its data directory)'
      })
    }
    try {
      if ((await store.charter()) !== undefined && (await store.charter())!.body.id !== inv.body.consortium)
        throw new ConfigError('this node already belongs to another consortium')
      await store.putInvitation(inv.token)
    } finally {
      await store.close()
    }
    if (flag(args, 'json')) {
      io.out(JSON.stringify({ consortium: inv.body.consortium, inviter: inv.record.author, expiresAt: inv.body.expiresAt }, null, 2) + '\n')
      return EXIT.ok
    }
    io.out(
      `Invitation to "${inv.body.consortium}" from ${shortPeer(inv.record.author)} stored (valid until ${new Date(inv.body.expiresAt).toISOString()}).\nNext: reef start --config ${file}   (then "reef members" shows when the members have admitted it)\n`
    )
    return EXIT.ok
  }
}

export const membersCommand: Command = {
  name: 'members',
  summary: "the consortium's members, its log and open proposals",
  synopsis: 'members [--admin URL | --config FILE] [--json]',
  description:
    'Ask a running node for the membership as its log says: members, expelled peers, the latest log entries and the open proposals with their votes.',
  options: { admin: ADMIN_OPTION, config: CONFIG_OPTION, json: JSON_OPTION },
  examples: ['reef members --config reef.jsonc'],
  async run(args, io) {
    const { url } = await resolveAdminUrl('members', args)
    const { data } = await adminGet(url, '/api/governance')
    if (flag(args, 'json')) {
      io.out(JSON.stringify(data, null, 2) + '\n')
      return EXIT.ok
    }
    const g = data as GovernanceView
    if (!g.enabled) {
      io.out('This node runs an open consortium (no governance section in its config).\n')
      return EXIT.ok
    }
    if (g.members.length === 0) {
      io.out(`Not a member yet of "${g.consortium}": waiting for the charter and the members' votes.\n`)
      return EXIT.ok
    }
    io.out(
      `Consortium "${g.consortium}"${g.name === null ? '' : ` (${g.name})`}: log height ${g.height}${g.member === false ? '; this node is NOT a member' : ''}\n`
    )
    if (g.halted !== null) io.out(`HALTED: two valid log entries at height ${g.halted.height}; no change is accepted until operators resolve it.\n`)
    io.out('\n' + table([['site', 'peer', 'mirror', ''], ...g.members.map(m => [m.site, m.peer, m.mirrorUrl, m.self ? '(this node)' : ''])]))
    for (const e of g.expelled) io.out(`expelled: ${e.site ?? '?'} ${e.peer}\n`)
    if (g.proposals.length > 0) {
      io.out(
        '\nopen proposals:\n' +
          table([
            ['id', 'height', 'change', 'votes', 'this node'],
            ...g.proposals.map(p => [
              p.id.slice(0, 16),
              String(p.height),
              p.summary,
              `${p.votes}/${p.needed ?? '?'}`,
              p.votedBySelf ? 'voted' : p.decision === 'needs-operator' ? 'waits for you: reef vote ID' : p.decision
            ])
          ])
      )
    }
    if (g.log.length > 0)
      io.out(
        '\nlatest log entries:\n' +
          g.log
            .slice(0, 10)
            .map(e => `  #${e.height} ${e.summary} (${e.signers} signatures)`)
            .join('\n') +
          '\n'
      )
    return EXIT.ok
  }
}

export const proposeCommand: Command = {
  name: 'propose',
  summary: "propose an expulsion, a policy change or this node's leaving",
  synopsis:
    'propose expel PEER --reason TEXT [--evidence FILE] | propose policy --set KEY=VALUE… | propose leave  [--config FILE | --admin URL --token-file FILE]',
  description: `Sign and publish a proposal as this member. Members' nodes vote automatically only where they
can verify the evidence themselves (tampered content, contradicting ledger records, freeloading,
invitations); a proposal made here waits for each operator's "reef vote". It takes effect once
⌊2n/3⌋ + 1 of the n voting members have signed it (the subject of an expulsion does not vote).`,
  options: {
    ...REMOTE,
    reason: { type: 'string', value: 'TEXT', description: 'why (expel)' },
    evidence: {
      type: 'string',
      value: 'FILE',
      description:
        'expel: a JSON array of evidence items (SPEC.md §Evidence), e.g. ledger records from /api/ledger/evidence; voters check them and vote on their own'
    },
    set: { type: 'string', value: 'KEY=VALUE', multiple: true, description: `a policy parameter (policy): ${POLICY_KEYS.join(', ')}` },
    json: JSON_OPTION
  },
  positionals: { min: 1, max: 2 },
  examples: [
    'reef propose expel 12D3KooW… --reason "serves ads in mirrored pages" --config reef.jsonc',
    'reef propose policy --set freeloadExpelPct=200 --config reef.jsonc',
    'reef propose leave --config reef.jsonc'
  ],
  async run(args, io) {
    const [kind, peer] = args.positionals
    const { url, config } = await resolveAdminUrl('propose', args)
    let action: Record<string, unknown>
    let evidence: unknown[] = []
    if (kind === 'expel') {
      const reason = stringOption(args, 'reason')
      if (peer === undefined || reason === undefined) throw new UsageError('propose expel: give the PEER and --reason TEXT', { command: 'propose' })
      action = { kind: 'expel', peer, reason, evidence: [] }
      const file = stringOption(args, 'evidence')
      if (file !== undefined) {
        const { readFile } = await import('node:fs/promises')
        let items: unknown
        try {
          items = JSON.parse(await readFile(file, 'utf8'))
        } catch (err) {
          throw new UsageError(`propose: --evidence ${file} is not readable JSON: ${(err as Error).message}`, { command: 'propose' })
        }
        if (!Array.isArray(items)) throw new UsageError(`propose: --evidence ${file} must hold a JSON array of evidence items`, { command: 'propose' })
        evidence = items
      }
    } else if (kind === 'policy') {
      const { data } = await adminGet(url, '/api/governance')
      const current = (data as GovernanceView).policy
      if (current === null) throw new UsageError('propose policy: the node holds no charter', { command: 'propose' })
      if (listOption(args, 'set').length === 0) throw new UsageError('propose policy: give at least one --set KEY=VALUE', { command: 'propose' })
      action = { kind: 'set-policy', policy: parseSet('propose policy', listOption(args, 'set'), current) }
    } else if (kind === 'leave') {
      const { data } = await adminGet(url, '/api/governance')
      action = { kind: 'leave', peer: (data as GovernanceView).self }
    } else {
      throw new UsageError(`propose: unknown proposal "${kind ?? ''}"`, { command: 'propose', hint: 'one of: expel, policy, leave' })
    }
    const token = await resolveToken('propose', args, config)
    const data = (await adminPost(url, '/api/governance/propose', { action, evidence }, token)) as ProposeResult
    if (flag(args, 'json')) {
      io.out(JSON.stringify(data, null, 2) + '\n')
      return EXIT.ok
    }
    io.out(`Proposed ${data.id}.\nMembers vote with: reef vote ${data.id.slice(0, 16)} --config THEIR_CONFIG\n`)
    return EXIT.ok
  }
}

export const voteCommand: Command = {
  name: 'vote',
  summary: 'sign an open proposal as this member',
  synopsis: 'vote ID [--config FILE | --admin URL --token-file FILE]',
  description:
    'Sign an open proposal (its id, or a unique prefix of at least 8 hex digits, as "reef members" lists it). A node signs at most one proposal per log height; a second vote at the same height is refused.',
  options: { ...REMOTE, json: JSON_OPTION },
  positionals: { min: 1, max: 1 },
  examples: ['reef vote 3f2a9c01d4e5b6a7 --config reef.jsonc'],
  async run(args, io) {
    const prefix = args.positionals[0]!.toLowerCase()
    if (!/^[0-9a-f]{8,64}$/.test(prefix))
      throw new UsageError(`vote: "${prefix}" is not a proposal id`, { command: 'vote', hint: '"reef members" lists the open proposals' })
    const { url, config } = await resolveAdminUrl('vote', args)
    const { data } = await adminGet(url, '/api/governance')
    const matches = (data as GovernanceView).proposals.filter(p => p.id.startsWith(prefix))
    if (matches.length !== 1)
      throw new UsageError(`vote: ${matches.length === 0 ? 'no open proposal' : 'several open proposals'} match ${prefix}`, {
        command: 'vote',
        hint: '"reef members" lists the open proposals'
      })
    const id = matches[0]!.id
    const token = await resolveToken('vote', args, config)
    await adminPost(url, `/api/governance/proposals/${id}/vote`, {}, token)
    if (flag(args, 'json')) {
      io.out(JSON.stringify({ ok: true, id }, null, 2) + '\n')
      return EXIT.ok
    }
    io.out(`Voted for ${id.slice(0, 16)}: ${matches[0]!.summary}\n`)
    return EXIT.ok
  }
}
