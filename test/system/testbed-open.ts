/** The namespace testbed for a system test: made with the test's diagnostics as its notes, or the test skipped with why when namespaces cannot be made here. */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'
import { namespacesUnavailable, Testbed } from '@reef/node/bench/net'

export const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)))

/** The testbed, or undefined when the test was skipped (no root or no namespaces). The caller cleans it up. */
export async function openTestbed(t: TestContext): Promise<Testbed | undefined> {
  const why = await namespacesUnavailable()
  if (why !== undefined) {
    t.skip(`no network namespaces here: ${why}`)
    return undefined
  }
  return await Testbed.create({
    repoRoot: REPO_ROOT,
    note: line => {
      t.diagnostic(line)
    }
  })
}
