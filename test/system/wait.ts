/**
 * Waiting in system tests: poll a condition until it holds, with a deadline that names what was
 * awaited when it passes. Never a bare sleep.
 */

/** Check `cond` every `pollMs` until it holds; resolves to the ms it took, throws after `timeoutMs`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, pollMs = 50): Promise<number> {
  const start = Date.now()
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, pollMs))
  }
  return Date.now() - start
}
