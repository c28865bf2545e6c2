#!/usr/bin/env node
// Runs a project command on Node 24, whatever `node` started it (the npm scripts all go through here):
//
//   node scripts/node24.mjs scripts/test.mjs [args]     a script, run by Node 24
//   node scripts/node24.mjs nuxt build                  a tool from node_modules/.bin or PATH
//
// Node 24 comes from FLASH_SALE_NODE, the running Node if it is new enough, or the pinned npm
// registry package (scripts/lib/node-runtime.mjs). Its folder goes first on PATH, so npm, npx and
// every `#!/usr/bin/env node` tool started from here runs on it too. Imports nothing but builtins
// and node-runtime.mjs, so it parses and runs on Node 20.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { resolveNodeOrExit, envWithNode } from './lib/node-runtime.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [target, ...args] = process.argv.slice(2)
if (!target) {
  console.error('usage: node scripts/node24.mjs <script.mjs | tool> [args…]')
  process.exit(2)
}

const node = resolveNodeOrExit()
const outermost = !process.env.FLASH_SALE_NODE_SOURCE
const source = process.env.FLASH_SALE_NODE_SOURCE || node.source
if (outermost && !process.env.FLASH_SALE_QUIET_NODE) process.stdout.write(`✓ Node ${node.version} (${source})\n`)

const env = { ...envWithNode(node), FLASH_SALE_NODE_SOURCE: source }
env.PATH = [path.join(ROOT, 'node_modules', '.bin'), env.PATH].join(path.delimiter)
const isScript = /\.[cm]?js$/.test(target) && fs.existsSync(path.resolve(target))
const child = isScript
  ? spawn(node.bin, [target, ...args], { stdio: 'inherit', env })
  : spawn(target, args, { stdio: 'inherit', env })

// Ctrl-C reaches the whole process group, the child included: wait for it to finish its cleanup.
process.on('SIGINT', () => {})
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
child.on('error', (e) => {
  console.error(`✗ ${target}: ${e.message}`)
  process.exit(127)
})
child.on('exit', (code, signal) => process.exit(code ?? 128 + ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal] ?? 1)))
