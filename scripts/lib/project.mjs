// Project steps shared by the entry scripts: npm install, build, migrations, coupons into Redis.
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, log, ok, secs, mtime, newestMtime, runVisible, c } from './util.mjs'
import { npmCliPath } from './node-runtime.mjs'

// npm's CLI run by this process's Node (24, see scripts/node24.mjs), so engine checks and install
// scripts run on it; npx and the tools in node_modules/.bin find the same Node first on PATH.
const npm = process.execPath
const npmArgs = (...args) => [npmCliPath(), ...args]
const npx = 'npx'

/** Runs a command with visible output; throws when it fails. */
export async function step(label, cmd, args, opts = {}) {
  const t0 = Date.now()
  log(`${label} ${c.dim(`(${[cmd, ...args].join(' ')})`)}`)
  const code = await runVisible(cmd, args, { cwd: ROOT, ...opts })
  if (code !== 0) {
    const e = new Error(`${label} failed (exit code ${code})`)
    e.exitCode = code
    throw e
  }
  ok(`${label} done in ${secs(t0)}`)
}

/** `npm ci` (or `npm install` without a lock file) when node_modules is missing or older than the lock. */
export async function ensureNodeModules() {
  const lock = path.join(ROOT, 'package-lock.json')
  const installed = path.join(ROOT, 'node_modules', '.package-lock.json')
  const hasLock = fs.existsSync(lock)
  const stale =
    !fs.existsSync(installed) || (hasLock ? mtime(lock) > mtime(installed) : mtime(path.join(ROOT, 'package.json')) > mtime(installed))
  if (!stale) {
    ok('node_modules up to date')
    return
  }
  await step(hasLock ? 'npm ci' : 'npm install', npm, npmArgs(hasLock ? 'ci' : 'install', '--no-audit', '--no-fund'))
}

const SOURCES = [
  'app', 'assets', 'components', 'composables', 'layouts', 'lua', 'middleware', 'pages', 'plugins', 'public',
  'server', 'shared', 'utils', 'app.vue', 'app.config.ts', 'error.vue', 'nuxt.config.ts', 'package-lock.json',
  'package.json', 'tsconfig.json', 'scripts/build-worker.mjs',
]

/** True when .output is missing or older than any source file. */
export function buildIsStale() {
  const outputs = [path.join(ROOT, '.output', 'server', 'index.mjs'), path.join(ROOT, '.output', 'worker', 'index.mjs')]
  if (!outputs.every((f) => fs.existsSync(f))) return true
  const built = Math.min(...outputs.map(mtime))
  return newestMtime(SOURCES.map((s) => path.join(ROOT, s))) > built
}

export async function build({ force = false } = {}) {
  if (!force && !buildIsStale()) {
    ok('build output is up to date (.output)')
    return
  }
  await step('npm run build', npm, npmArgs('run', 'build'))
}

/** A command of the operator CLI (.output/worker/cli.mjs), run as a step with the stack env. */
function cliStep(label, env, ...args) {
  const cli = path.join(ROOT, '.output', 'worker', 'cli.mjs')
  return step(label, process.execPath, [cli, ...args], { env: { ...process.env, ...env } })
}

/** Migrations (and optionally the demo seed) with the stack env. */
export async function migrate(env, { seed = false } = {}) {
  await cliStep('migrations', env, 'migrate')
  if (seed) await cliStep('seed data', env, 'seed')
}

/**
 * Every coupon on sale (or opening within 10 minutes) loaded into Redis, behind the Kafka barrier, the
 * way a worker's reconciler loads it a few seconds later: until then a purchase is answered "Stock is
 * being checked, try again in a moment". With the payment workers running; a loaded coupon is left as is.
 */
export async function loadCoupons(env) {
  await cliStep('coupons on sale loaded into Redis', env, 'coupon', 'load', '--timeout', '120')
}

export { npm, npmArgs, npx }
