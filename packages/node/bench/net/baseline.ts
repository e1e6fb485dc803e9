/**
 * The "before" code for a comparison: a detached git worktree of REF under the run's temp dir,
 * with its dependencies installed from the pnpm store (offline first). Removed at clean-up.
 */
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { run, TestbedError } from './testbed.ts'
import type { Testbed } from './testbed.ts'

const PNPM = ['-y', 'pnpm@12.4.2']
const INSTALL_TIMEOUT_MS = 10 * 60_000

export interface Baseline {
  root: string
  sha: string
}

export async function prepareBaseline(tb: Testbed, repoRoot: string, ref: string, note: (line: string) => void): Promise<Baseline> {
  let sha: string
  try {
    sha = (await run('git', ['-C', repoRoot, 'rev-parse', '--short', `${ref}^{commit}`])).trim()
  } catch (err) {
    throw new TestbedError(`--baseline ${ref}: not a commit in ${repoRoot}`, { cause: err })
  }
  const dir = join(tb.tmpDir, 'baseline')
  // Registered first: an interruption during `worktree add` or the install still removes it.
  tb.onCleanup('remove the baseline worktree', () => {
    const r = spawnSync('git', ['-C', repoRoot, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' })
    if (r.status !== 0) rmSync(dir, { recursive: true, force: true })
    spawnSync('git', ['-C', repoRoot, 'worktree', 'prune'], { stdio: 'ignore' })
  })
  note(`baseline: git worktree add --detach ${dir} ${ref} (${sha})`)
  await run('git', ['-C', repoRoot, 'worktree', 'add', '--detach', dir, ref], 120_000)
  try {
    await run('npx', [...PNPM, '--dir', dir, 'install', '--offline', '--frozen-lockfile'], INSTALL_TIMEOUT_MS)
  } catch (err) {
    note(`baseline: offline install failed (${(err as Error).message.split('\n')[0]}); installing from the registry`)
    await run('npx', [...PNPM, '--dir', dir, 'install', '--frozen-lockfile'], INSTALL_TIMEOUT_MS)
  }
  return { root: dir, sha }
}
