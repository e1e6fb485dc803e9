/**
 * `reef init`: a new node's directory: the data dir, the node's identity (its peer id) and a
 * commented config file. An existing identity is always kept (it is the node's standing in
 * the consortium's ledger); an existing config file only goes with --force.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ConfigExistsError, UsageError } from '../errors.ts'
import { parseJsonc } from '../config/jsonc.ts'
import type { Command } from './command.ts'
import { EXIT, flag, JSON_OPTION, numberOption, stringOption } from './command.ts'
import { renderConfigTemplate, TEMPLATE_LISTEN } from './config-template.ts'
import { formatRate, parseRate } from '../config/rate.ts'

export const INIT_DEFAULTS = { dir: 'reef', label: 'mysite', originUrl: 'http://127.0.0.1:8080', capacityRps: 50, maxConcurrent: 8, uplink: '100mbit' } as const

export interface InitResult {
  config: string
  dataDir: string
  identity: string
  peerId: string
  identityCreated: boolean
  configOverwritten: boolean
}

export const initCommand: Command = {
  name: 'init',
  summary: 'create a data dir, the node identity and a commented config file',
  synopsis: 'init [--dir DIR] [--site LABEL] [--origin URL] [--capacity RPS] [--uplink RATE] [--config FILE] [--force] [--json]',
  description: `Set up a new node in DIR: the data dir DIR/data with the node's identity (identity.key,
which is its peer id: back it up), and a config file, DIR/reef.jsonc unless --config says
otherwise, with every section and field explained in comments and sensible defaults. An
existing identity is kept; an existing config file is only overwritten with --force. The
machine's upload rate (--uplink) matters most: in a crowd a small site runs out of it first;
at a terminal, init asks for it when it is not given. Then edit
the config (at least site.publicUrl and mirror.publicUrl), check it with "reef doctor" and run
"reef start".`,
  options: {
    dir: { type: 'string', short: 'd', value: 'DIR', description: `the node's directory (default ./${INIT_DEFAULTS.dir})` },
    site: { type: 'string', value: 'LABEL', description: `this site's label, one lower-case DNS label (default ${INIT_DEFAULTS.label})` },
    origin: { type: 'string', value: 'URL', description: `the origin web server, http(s) without a path (default ${INIT_DEFAULTS.originUrl})` },
    capacity: { type: 'string', value: 'RPS', description: `requests/s the origin can serve (default ${INIT_DEFAULTS.capacityRps})` },
    uplink: {
      type: 'string',
      value: 'RATE',
      description: `this machine's upload rate: 40mbit, 100 Mbps, 5MB/s or bytes/s (asked at a terminal; default ${INIT_DEFAULTS.uplink})`
    },
    config: { type: 'string', short: 'c', value: 'FILE', description: 'where to write the config file (default DIR/reef.jsonc)' },
    force: { type: 'boolean', short: 'f', description: 'overwrite an existing config file (the identity is kept)' },
    json: JSON_OPTION
  },
  examples: [
    'reef init --site alpha --origin http://127.0.0.1:8080 --capacity 50 --uplink 40mbit',
    'reef init --dir /var/lib/reef --config /etc/reef/reef.jsonc --site alpha',
    'reef init --dir ./reef --force          # rewrite the config, keep the identity'
  ],
  async run(args, io) {
    // Loaded on use: zod, the protocol schemas and libp2p's key code would slow every command's --help.
    const [{ BaseUrl, SiteLabel }, { parseConfig }, { identityFile, loadOrCreateIdentity, readIdentity }, { peerIdFromPrivateKey }] = await Promise.all([
      import('@reef/protocol'),
      import('../config/config.ts'),
      import('../p2p/host.ts'),
      import('@libp2p/peer-id')
    ])
    const label = stringOption(args, 'site') ?? INIT_DEFAULTS.label
    if (!SiteLabel.safeParse(label).success) {
      throw new UsageError(`init: --site "${label}" is not a site label`, {
        command: 'init',
        hint: 'use one lower-case DNS label: a-z, 0-9 and "-", e.g. --site alpha'
      })
    }
    const originUrl = stringOption(args, 'origin') ?? INIT_DEFAULTS.originUrl
    if (!BaseUrl.safeParse(originUrl).success) {
      throw new UsageError(`init: --origin "${originUrl}" is not an http(s) URL without a path`, {
        command: 'init',
        hint: "give the origin server's scheme, host and port, e.g. --origin http://127.0.0.1:8080"
      })
    }
    const capacityRps = numberOption('init', args, 'capacity', 0.001, 1_000_000) ?? INIT_DEFAULTS.capacityRps
    const uplinkBytesPerSec = await uplinkOf(args, io)
    const dir = resolve(stringOption(args, 'dir') ?? INIT_DEFAULTS.dir)
    const configFile = resolve(stringOption(args, 'config') ?? join(dir, 'reef.jsonc'))
    const dataDir = join(dir, 'data')
    const force = flag(args, 'force')

    const text = renderConfigTemplate({
      label,
      originUrl,
      capacityRps,
      uplinkBytesPerSec,
      maxConcurrent: Math.min(INIT_DEFAULTS.maxConcurrent, Math.max(1, Math.ceil(capacityRps))),
      dataDir,
      configFile: configFile.replace(/[\r\n]/g, ' ')
    })
    // What init writes must be what start accepts; a failure here is a bug, not the operator's.
    parseConfig(parseJsonc(text))

    const exists = await fileExists(configFile)
    if (exists && !force) {
      throw new ConfigExistsError(`init: ${configFile} already exists; not overwriting it`, {
        hint: 'add --force to replace it with a fresh commented config (the identity is kept), or choose another --dir or --config'
      })
    }
    const identityCreated = (await readIdentity(dataDir)) === undefined
    const key = await loadOrCreateIdentity(dataDir)
    const peerId = peerIdFromPrivateKey(key).toString()
    await mkdir(resolve(configFile, '..'), { recursive: true })
    await writeConfig(configFile, text, force)

    const result: InitResult = { config: configFile, dataDir, identity: identityFile(dataDir), peerId, identityCreated, configOverwritten: exists }
    if (flag(args, 'json')) {
      io.out(JSON.stringify(result, null, 2) + '\n')
      return EXIT.ok
    }
    io.out(`${exists ? 'Rewrote' : 'Wrote'} ${configFile}\n`)
    io.out(`${identityCreated ? 'Created' : 'Kept'} identity ${result.identity} (back it up)\n`)
    io.out(`Peer id ${peerId}\n`)
    io.out(
      `Uplink ${formatRate(uplinkBytesPerSec)}${stringOption(args, 'uplink') === undefined && io.ask === undefined ? " assumed: set uplink.bytesPerSec to this machine's upload rate (or use --uplink)" : ''}\n`
    )
    io.out(`
Next:
  1. Edit ${configFile}
     at least site.publicUrl and mirror.publicUrl, and add members' p2p addresses to
     p2p.bootstrap; every field is explained there.
  2. reef doctor --config ${configFile}
  3. reef start --config ${configFile}
Other members bootstrap from your p2p address:
  /ip4/<this machine's public IP>/tcp/${TEMPLATE_LISTEN.p2p.port}/p2p/${peerId}
`)
    return EXIT.ok
  }
}

/** --uplink, else the operator's answer at a terminal, else the default. */
async function uplinkOf(args: Parameters<Command['run']>[0], io: Parameters<Command['run']>[1]): Promise<number> {
  const parse = (text: string, from: string): number => {
    try {
      return parseRate(text)
    } catch (err) {
      throw new UsageError(`init: ${from} ${(err as Error).message}`, {
        command: 'init',
        hint: "give the upload rate of this machine's internet link, e.g. --uplink 40mbit or --uplink 5MB/s"
      })
    }
  }
  const given = stringOption(args, 'uplink')
  if (given !== undefined) return parse(given, '--uplink')
  if (io.ask !== undefined) {
    const answer = (await io.ask(`Upload rate of this machine's internet link (e.g. 40mbit, 5MB/s) [${INIT_DEFAULTS.uplink}]: `)).trim()
    if (answer !== '') return parse(answer, 'uplink')
  }
  return parseRate(INIT_DEFAULTS.uplink)
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** A new file is created exclusively; a replaced one is written aside and renamed over it. */
async function writeConfig(file: string, text: string, force: boolean): Promise<void> {
  if (!force) {
    try {
      await writeFile(file, text, { flag: 'wx' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new ConfigExistsError(`init: ${file} already exists; not overwriting it`, { hint: 'add --force to replace it' })
      throw err
    }
    return
  }
  const tmp = `${file}.${process.pid}.tmp`
  try {
    await writeFile(tmp, text)
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}
