#!/usr/bin/env node
// Keep the services running between test runs:
//   node scripts/stack.mjs up [test|dev]    start them (test: fresh data, free ports; dev: .stack/dev, fixed ports)
//   node scripts/stack.mjs down [test|dev]  stop them
//   node scripts/stack.mjs status [test|dev]
// `up` writes the env to .stack/<name>/env (KEY=value lines):
//   set -a; . .stack/test/env; set +a; npx vitest run tests/foo.test.ts
//   node --env-file=.stack/test/env .output/worker/index.mjs
// Flags for up: --keep-data (test: reuse the previous data), --nginx (also NGINX; needs web ports),
//               --no-migrate.
import './lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, c, ok, warn } from './lib/util.mjs'
import { ensureSystemPackages } from './lib/system.mjs'
import { ensureDownloads } from './lib/downloads.mjs'
import { startStack, openStack, defaultPorts, stopAll } from './lib/stack.mjs'
import { migrate } from './lib/project.mjs'
import { detachAll } from './lib/proc.mjs'

const [cmd = 'status', name = 'test', ...rest] = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const flags = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')))
const dir = path.join(ROOT, '.stack', name)

async function up() {
  if (!['test', 'dev'].includes(name)) throw new Error(`unknown stack ${name} (test or dev)`)
  if (name === 'test' && !flags.has('--keep-data') && fs.existsSync(dir)) {
    try {
      await openStack(dir).stop()
    } catch {
      // nothing was running
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  await ensureSystemPackages()
  await ensureDownloads()
  const stack = await startStack({ name, dir, ports: name === 'dev' ? defaultPorts() : {} })
  try {
    if (!flags.has('--no-migrate')) {
      if (fs.existsSync(path.join(ROOT, '.output', 'worker', 'cli.mjs'))) await migrate(stack.env, { seed: name === 'dev' })
      else warn('no .output/worker/cli.mjs yet: run `npm run build` (or build:worker), then `node scripts/stack.mjs up` again or migrate by hand')
    }
  } catch (e) {
    await stopAll()
    throw e
  }
  fs.rmSync(path.join(dir, 'owner'), { force: true })
  detachAll()
  const envFile = stack.writeEnvFile()
  ok(`${name} stack running; env in ${c.bold(path.relative(process.cwd(), envFile))}`)
  console.log(`  set -a; . ${path.relative(process.cwd(), envFile)}; set +a; npx vitest run`)
  console.log(`  node scripts/stack.mjs down ${name}`)
  process.exit(0)
}

async function down() {
  if (!fs.existsSync(path.join(dir, 'stack.json'))) return ok(`no ${name} stack in ${dir}`)
  await openStack(dir).stop()
  fs.rmSync(path.join(dir, 'owner'), { force: true })
  ok(`${name} stack stopped`)
}

function status() {
  if (!fs.existsSync(path.join(dir, 'stack.json'))) return console.log(`no ${name} stack in ${dir}`)
  const stack = openStack(dir)
  const procs = stack.processes()
  console.log(`${name} stack in ${dir}`)
  for (const [k, v] of Object.entries(procs)) console.log(`  ${k.padEnd(14)} pid ${String(v.pid).padEnd(8)} ${c.dim(v.log ?? '')}`)
  if (!Object.keys(procs).length) console.log('  (nothing running)')
  for (const [k, v] of Object.entries(stack.env)) if (!/PASSWORD|SECRET/.test(k)) console.log(`  ${k}=${v}`)
}

const commands = { up, down, status }
if (!commands[cmd] || rest.length) {
  console.error('usage: node scripts/stack.mjs up|down|status [test|dev] [--keep-data] [--no-migrate]')
  process.exit(2)
}
Promise.resolve(commands[cmd]()).catch(async (e) => {
  console.error(`${c.red('✗')} ${e.message}`)
  await stopAll()
  process.exit(1)
})
