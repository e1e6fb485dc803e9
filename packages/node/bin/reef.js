#!/usr/bin/env node
// The `reef` command. Installed from the packed artifact (`pnpm pack:reef`) it runs the compiled
// JavaScript in ../dist: Node does not strip types under node_modules. In a checkout, where
// there is no ../dist, it runs the TypeScript in ../src (`pnpm exec reef`, under the Node 24 that
// the workspace pins). This file must parse on any Node, so that an old one is told what it is.
import { existsSync } from 'node:fs'

const MIN_NODE_MAJOR = 24
const major = Number(process.versions.node.split('.')[0])
if (!(major >= MIN_NODE_MAJOR)) {
  process.stderr.write(
    `reef: needs Node.js ${MIN_NODE_MAJOR} or later; ${process.execPath} is ${process.version}\n` +
      `hint: install Node.js ${MIN_NODE_MAJOR} LTS and put it first on PATH (node --version)\n`
  )
  // 2: the machine's set-up is wrong; systemd's RestartPreventExitStatus=2 does not retry it.
  process.exit(2)
}
const cli = existsSync(new URL('../dist/cli/main.js', import.meta.url)) ? '../dist/cli/main.js' : '../src/cli/main.ts'
const { main } = await import(cli)
process.exitCode = await main(process.argv.slice(2))
