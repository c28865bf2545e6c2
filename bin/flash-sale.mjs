#!/usr/bin/env node
// `npx flash-sale <command>`: the operator CLI, bundled by `npm run build` into .output/worker/cli.mjs.
import '../scripts/lib/on-node24.mjs' // first: re-runs the CLI on Node 24 when started on an older Node
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../.output/worker/cli.mjs', import.meta.url))
if (!existsSync(cli)) {
  console.error('✗ the CLI is not built yet: run `npm run build` (or `npm run build:worker`) first')
  process.exit(2)
}
await import(cli)
