/**
 * The layout of packages/node/src drawn from its imports: which folder (concern) imports
 * which, in layers, lowest first. The arrows must point one way: no file imports itself back
 * through others, and no folder does either (errors.ts and constants.ts are the base every
 * folder may use). `pnpm layout` prints the layers, or the circles and exits 1;
 * test/layout.test.ts holds the source to it.
 *
 * Every relative import counts, `import type` and `import()` too: a type-only circle is still
 * two concerns that cannot be read one without the other.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SRC = fileURLToPath(new URL('../src/', import.meta.url))
/** Root files every folder may import: they import nothing of the package. */
const BASE = new Set(['errors.ts', 'constants.ts'])

export interface ImportGraph {
  /** src-relative file → the src-relative files it imports. */
  files: Map<string, Set<string>>
  /** Folder (or root file, or `base`) → the ones it imports, with one file-level example each. */
  folders: Map<string, Map<string, string>>
}

/** The node of `file` in the folder graph: its folder, `base`, or a root file itself. */
export function folderOf(file: string): string {
  if (!file.includes('/')) return BASE.has(file) ? 'base' : file
  return file.slice(0, file.lastIndexOf('/'))
}

export function importGraph(src = SRC): ImportGraph {
  const files = new Map<string, Set<string>>()
  const folders = new Map<string, Map<string, string>>()
  for (const e of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts')) continue
    const abs = join(e.parentPath, e.name)
    const from = relative(src, abs)
    const to = new Set<string>()
    for (const m of readFileSync(abs, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)'(\.\.?\/[^']+)'/g)) to.add(relative(src, resolve(dirname(abs), m[1]!)))
    files.set(from, to)
    const a = folderOf(from)
    for (const t of to) {
      const b = folderOf(t)
      if (a === b) continue
      if (!folders.has(a)) folders.set(a, new Map())
      if (!folders.get(a)!.has(b)) folders.get(a)!.set(b, `${from} → ${t}`)
    }
  }
  return { files, folders }
}

/** Every elementary circle found by a depth-first search (each reported once, from its first node). */
export function cycles(edges: ReadonlyMap<string, Iterable<string>>): string[][] {
  const found: string[][] = []
  const seen = new Set<string>()
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (n: string): void => {
    state.set(n, 'open')
    stack.push(n)
    for (const m of edges.get(n) ?? []) {
      if (state.get(m) === 'open') {
        const circle = stack.slice(stack.indexOf(m))
        const key = [...circle].sort().join('|')
        if (!seen.has(key)) {
          seen.add(key)
          found.push([...circle, m])
        }
      } else if (state.get(m) === undefined) visit(m)
    }
    stack.pop()
    state.set(n, 'done')
  }
  for (const n of [...edges.keys()].sort()) if (state.get(n) === undefined) visit(n)
  return found
}

/** The folders in layers: each imports only from layers before it (undefined when there is a circle). */
export function layers(folders: ReadonlyMap<string, ReadonlyMap<string, string>>): string[][] | undefined {
  const nodes = new Set<string>([...folders.keys(), ...[...folders.values()].flatMap(m => [...m.keys()])])
  const level = new Map<string, number>()
  const depth = (n: string, path: Set<string>): number => {
    const known = level.get(n)
    if (known !== undefined) return known
    if (path.has(n)) throw new Error('circle')
    path.add(n)
    let d = 0
    for (const m of folders.get(n)?.keys() ?? []) d = Math.max(d, depth(m, path) + 1)
    path.delete(n)
    level.set(n, d)
    return d
  }
  try {
    for (const n of nodes) depth(n, new Set())
  } catch {
    return undefined
  }
  const out: string[][] = []
  for (const [n, d] of level) (out[d] ??= []).push(n)
  return out.map(l => l.sort())
}

if (import.meta.main) {
  const g = importGraph()
  const circles = [...cycles(g.files), ...cycles(new Map([...g.folders].map(([k, v]) => [k, [...v.keys()]])))]
  if (circles.length > 0) {
    for (const c of circles) process.stderr.write(`circle: ${c.join(' → ')}\n`)
    process.exitCode = 1
  } else {
    const ls = layers(g.folders)!
    ls.forEach((l, i) => {
      process.stdout.write(`${i}  ${l.join(', ')}\n`)
      for (const f of l) {
        const to = [...(g.folders.get(f)?.keys() ?? [])].sort()
        if (to.length > 0) process.stdout.write(`     ${f} → ${to.join(', ')}\n`)
      }
    })
  }
}
