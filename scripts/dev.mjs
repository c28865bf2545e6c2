#!/usr/bin/env node
// `npm run dev`: the dev stack's services (same data as `npm start`, .stack/dev), migrations and the
// demo seed, then `nuxt dev` with the stack env (hot reload, no NGINX, one web process).
// DEV_PORT=3000 is the Nuxt dev server port (and the PUBLIC_URL Keycloak redirects back to).
// Payment workers are not started: run `npm run build:worker && npm run worker` with the env from
// .stack/dev/env (e.g. `node --env-file=.stack/dev/env .output/worker/index.mjs`) when you need them,
// or pass --with-worker.
import './lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import path from 'node:path'
import fs from 'node:fs'
import { ROOT, c, log, mtime, newestMtime, freePort, runVisible } from './lib/util.mjs'
import { ensureSystemPackages } from './lib/system.mjs'
import { ensureDownloads } from './lib/downloads.mjs'
import { startStack, defaultPorts, onShutdown, stopAll } from './lib/stack.mjs'
import { ensureNodeModules, migrate, step, npm, npmArgs } from './lib/project.mjs'

const args = process.argv.slice(2)
const withWorker = args.includes('--with-worker')
const nuxtArgs = args.filter((a) => a !== '--with-worker' && a !== '--')

async function main() {
  const devPort = Number(process.env.DEV_PORT || 3000)
  process.env.PUBLIC_URL ||= `http://localhost:${devPort}`
  await ensureNodeModules()
  await ensureSystemPackages()
  await ensureDownloads()
  onShutdown() // Ctrl-C: nuxt dev first, then the services
  const stack = await startStack({ name: 'dev', dir: path.join(ROOT, '.stack', 'dev'), ports: defaultPorts() })

  // migrations run from the worker bundle: rebuild it when the server code changed
  const bundle = path.join(ROOT, '.output', 'worker', 'cli.mjs')
  if (!fs.existsSync(bundle) || newestMtime([path.join(ROOT, 'server'), path.join(ROOT, 'lua')]) > mtime(bundle)) {
    await step('worker bundle', npm, npmArgs('run', 'build:worker'))
  }
  await migrate(stack.env, { seed: true })
  if (withWorker) await stack.startWorker({ metricsPort: await freePort() })

  log(`nuxt dev on ${c.bold(stack.env.PUBLIC_URL)} ${c.dim(`(Keycloak ${stack.env.KEYCLOAK_URL}, logs ${stack.logsDir})`)}`)
  const code = await runVisible(path.join(ROOT, 'node_modules', '.bin', 'nuxt'), ['dev', '--port', String(devPort), ...nuxtArgs], {
    cwd: ROOT,
    env: { ...process.env, ...stack.env },
  })
  await stopAll()
  process.exit(code)
}

main().catch(async (e) => {
  console.error(`\n${c.red('✗')} ${e.message}`)
  await stopAll()
  process.exit(e.exitCode || 1)
})
