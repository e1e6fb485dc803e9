/** What the browser tests share: Debian's chromium, how it is launched, where screenshots go. */
import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export const CHROMIUM = process.env.REEF_CHROMIUM ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]
export const SCREENSHOTS = fileURLToPath(new URL('../../test-output/dashboard/', import.meta.url))

/** Fail loudly, not skip, when the browser is missing: CI must install it. */
export async function requireChromium(): Promise<void> {
  try {
    await access(CHROMIUM, constants.X_OK)
  } catch {
    throw new Error(
      `The dashboard test needs a chromium binary at ${CHROMIUM}, which is missing. Install it with \`apt-get install -y chromium\` (Debian/Ubuntu), or point REEF_CHROMIUM at one.`
    )
  }
}
