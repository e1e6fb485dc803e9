/**
 * Builds the installable Reef: one npm tarball, `dist/reef-node-<version>.tgz`, that installs
 * the `reef` command with nothing but npm and Node.js ≥ 24, and without a registry:
 *
 *   npm install --global --prefix /usr/local ./reef-node-0.1.0.tgz     → /usr/local/bin/reef
 *
 * Node runs TypeScript only outside node_modules, so what gets installed must be JavaScript:
 * each workspace package's src/ is compiled on its own (tsc, rewriting `./x.ts` imports to
 * `./x.js`, with `.d.ts` beside each file) and packed as @reef/node with @reef/protocol,
 * @reef/governance and @reef/dashboard under its node_modules. The third-party dependencies are
 * the ones pnpm-lock.yaml pins, laid out flat by `pnpm deploy` (node-linker=hoisted) and
 * bundled too (bundleDependencies), so an install needs no registry and gets exactly the tree
 * that the tests ran; classic-level's native addon comes as the prebuilds its package ships
 * for each platform. Source maps and third-party TypeScript sources are left out.
 *
 *   pnpm pack:reef [--out DIR]      the tarball goes to DIR (default dist/); its path is printed
 *
 * It is staged in .tsbuild/pack/ (left there only when a step fails) and packed with GNU tar.
 * Progress goes to stderr; stdout is the tarball's absolute path alone, for scripts.
 */
import { spawn } from 'node:child_process'
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** The packages that go into the artifact: @reef/node, and the workspace packages it bundles. */
const LIBRARIES = ['protocol', 'governance', 'dashboard'] as const
/**
 * The Node.js the artifact supports: 24, the LTS line the project runs and tests on (Node 20 is
 * end of life; libp2p 3 and undici 8 would need at least 22.19, which no test runs on).
 */
export const NODE_ENGINES = '>=24'
/** Repository files the package carries at the same paths: the operator's docs and deploy/. */
export const SHIPPED_FILES = ['README.md', 'docs/production.md', 'deploy/README.md', 'deploy/reef.service', 'deploy/reef.example.json'] as const
/** Every entry's time in the tarball, as npm pack sets it: the same tree packs to the same bytes. */
const TAR_MTIME = '1985-10-26 08:15:00Z'

interface Manifest {
  name: string
  version: string
  description?: string
  dependencies?: Record<string, string>
}

/** A failure of one build step, with the command's output already on stderr. */
export class PackError extends Error {
  readonly code = 'ERR_PACK'
  override readonly name = 'PackError'
}

function say(line: string): void {
  process.stderr.write(`pack: ${line}\n`)
}

/** Runs a command with its output on our stderr: stdout is kept for the result. */
async function run(cmd: string, args: string[], opts: { cwd: string }): Promise<void> {
  const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 2, 2] })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject).on('close', resolve)
  })
  if (code !== 0) throw new PackError(`${cmd} ${args.join(' ')} failed (exit ${String(code)}) in ${opts.cwd}`)
}

async function readManifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest
}

/** Dependencies with `workspace:*` replaced by the workspace package's version (all are bundled). */
function pinned(deps: Record<string, string> | undefined, version: string): Record<string, string> {
  return Object.fromEntries(Object.entries(deps ?? {}).map(([name, range]) => [name, range.startsWith('workspace:') ? version : range]))
}

/** Compiles packages/<name>/src to `out`: ES modules with `.js` imports and `.d.ts` beside them. */
async function compile(name: string, work: string, out: string): Promise<void> {
  const src = join(ROOT, 'packages', name, 'src')
  const config = join(work, `tsconfig.${name}.json`)
  await writeFile(
    config,
    JSON.stringify(
      {
        extends: relative(work, join(ROOT, 'tsconfig.base.json')),
        compilerOptions: {
          composite: false,
          incremental: false,
          noEmit: false,
          emitDeclarationOnly: false,
          declaration: true,
          rootDir: relative(work, src),
          outDir: relative(work, out)
        },
        include: [relative(work, src)]
      },
      null,
      2
    )
  )
  await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', config], { cwd: ROOT })
}

/** Files under `dir` and their bytes. */
async function tally(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0
  let bytes = 0
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    files++
    bytes += (await stat(join(entry.parentPath, entry.name))).size
  }
  return { files, bytes }
}

/**
 * Removes what an installed tree does not need: pnpm's bookkeeping, bin links, source maps, and
 * the TypeScript sources that some packages ship beside their JavaScript (Node never runs a
 * `.ts` file under node_modules; declarations, `.d.ts`, stay).
 */
async function prune(dir: string, top: boolean): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name === '.bin' || (top && entry.name === '.pnpm')) await rm(path, { recursive: true, force: true })
      else await prune(path, false)
    } else if (entry.name.endsWith('.map') || (entry.name.endsWith('.ts') && !/\.d\.[cm]?ts$/.test(entry.name)) || (top && entry.name.startsWith('.'))) {
      await rm(path, { force: true })
    }
  }
}

export async function pack(opts: { out: string }): Promise<{ tarball: string; packedBytes: number; unpackedBytes: number; files: number }> {
  const started = Date.now()
  const work = join(ROOT, '.tsbuild', 'pack')
  const stage = join(work, 'package')
  await rm(work, { recursive: true, force: true })
  await mkdir(work, { recursive: true })
  const node = await readManifest(join(ROOT, 'packages', 'node'))
  const pnpm = `pnpm@${((await readManifest(ROOT)) as Manifest & { packageManager: string }).packageManager.replace(/^pnpm@/, '')}`

  say('compiling packages/{protocol,governance,dashboard,node}/src to JavaScript')
  await Promise.all(['node', ...LIBRARIES].map(async name => compile(name, work, join(work, 'build', name))))

  say('laying out the dependencies that pnpm-lock.yaml pins (pnpm deploy, hoisted)')
  await run('npx', ['-y', pnpm, '--filter', node.name, 'deploy', '--prod', '--config.node-linker=hoisted', join(work, 'deploy')], { cwd: ROOT })

  say(`assembling ${relative(ROOT, stage)}`)
  await mkdir(stage)
  await rename(join(work, 'deploy', 'node_modules'), join(stage, 'node_modules'))
  await prune(join(stage, 'node_modules'), true)
  for (const name of LIBRARIES) {
    const dir = join(stage, 'node_modules', '@reef', name)
    const manifest = await readManifest(join(ROOT, 'packages', name))
    await rm(dir, { recursive: true, force: true })
    await mkdir(dir, { recursive: true })
    await rename(join(work, 'build', name), join(dir, 'dist'))
    await writeFile(
      join(dir, 'package.json'),
      JSON.stringify(
        {
          name: manifest.name,
          version: manifest.version,
          description: manifest.description,
          type: 'module',
          engines: { node: NODE_ENGINES },
          exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
          dependencies: pinned(manifest.dependencies, manifest.version)
        },
        null,
        2
      ) + '\n'
    )
  }
  await rename(join(work, 'build', 'node'), join(stage, 'dist'))
  await cp(join(ROOT, 'packages', 'node', 'bin', 'reef.js'), join(stage, 'bin', 'reef.js'))
  for (const file of SHIPPED_FILES) await cp(join(ROOT, file), join(stage, file))
  const dependencies = pinned(node.dependencies, node.version)
  await writeFile(
    join(stage, 'package.json'),
    JSON.stringify(
      {
        name: node.name,
        version: node.version,
        description: node.description,
        // Installed from the file, never published to a registry.
        private: true,
        type: 'module',
        engines: { node: NODE_ENGINES },
        bin: { reef: 'bin/reef.js' },
        exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
        dependencies,
        bundleDependencies: Object.keys(dependencies)
      },
      null,
      2
    ) + '\n'
  )

  // Not `npm pack`: npm 11's file walker never returns on some packages (zod), and it would
  // apply each bundled package's `files` list again. pnpm lays files out as hard links into its
  // store; npm drops hard-link entries when it unpacks, so each file goes in as itself.
  say('packing (tar)')
  const { files, bytes } = await tally(stage)
  await mkdir(opts.out, { recursive: true })
  const tarball = join(opts.out, `${node.name.replace(/^@/, '').replace('/', '-')}-${node.version}.tgz`)
  await run(
    'tar',
    [
      '--create',
      '--gzip',
      '--file',
      tarball,
      '--hard-dereference',
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=go-w',
      `--mtime=${TAR_MTIME}`,
      '--directory',
      work,
      'package'
    ],
    { cwd: ROOT }
  )
  const packedBytes = (await stat(tarball)).size
  await rm(work, { recursive: true, force: true })
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`
  say(
    `${relative(process.cwd(), tarball)}: ${mb(packedBytes)} packed, ${mb(bytes)} unpacked, ${files} files, in ${((Date.now() - started) / 1000).toFixed(1)} s`
  )
  const path = relative(process.cwd(), tarball)
  say(`install: npm install --global --prefix /usr/local ${path.startsWith('.') ? path : `./${path}`}   (Node.js ${NODE_ENGINES})`)
  return { tarball, packedBytes, unpackedBytes: bytes, files }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } })
  const { tarball } = await pack({ out: resolve(values.out ?? join(ROOT, 'dist')) })
  process.stdout.write(`${tarball}\n`)
}
