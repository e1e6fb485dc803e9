#!/usr/bin/env node
// The `reef` command. Needs Node >= 24 (type stripping); `pnpm exec reef` provides it.
const { main } = await import('../src/cli.ts')
process.exitCode = await main(process.argv.slice(2))
