#!/usr/bin/env node
// `npm test`: the unit tier (`npm run test:unit`, seconds, no services), lint, typecheck, build, then
// vitest against a throwaway stack (MariaDB, Redis, Kafka, Keycloak on free ports in
// $TMPDIR/flash-sale-test-*), removed afterwards (logs kept on failure).
//
//   npm test                                   everything (what CI runs)
//   npm test -- --skip-unit --skip-lint --skip-typecheck --skip-build tests/foo.test.ts
//   npm test -- --keep                         keep the stack dir (logs, data) even on success
//   npm test -- --faults                       only the fault suite (tests/faults, tests/purchase/faults.test.ts)
//                                              (no unit tier, lint or typecheck)
// Anything that is not one of these flags goes to `vitest run`. The tests get the stack env plus
// FLASH_SALE_STACK_DIR (see scripts/lib/stack.mjs: openStack(), startNginx(), restartRedis() …).
import './lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT, log, ok, c, secs, runVisible } from './lib/util.mjs'
import { ensureSystemPackages } from './lib/system.mjs'
import { ensureDownloads } from './lib/downloads.mjs'
import { ensureGoTool, GOFAKES3, TOXIPROXY } from './lib/go-tools.mjs'
import { ensurePythonTool, SCHEMATHESIS } from './lib/python-tools.mjs'
import { startStack, onShutdown, stopAll } from './lib/stack.mjs'
import { ensureNodeModules, build, migrate, step, npx } from './lib/project.mjs'

const OWN_FLAGS = new Set(['--skip-unit', '--skip-lint', '--skip-typecheck', '--skip-build', '--keep', '--faults'])
const argv = process.argv.slice(2).filter((a) => a !== '--')
const flags = new Set(argv.filter((a) => OWN_FLAGS.has(a)))
const vitestArgs = argv.filter((a) => !OWN_FLAGS.has(a))
// --faults (`npm run test:faults`): the fault suite only, without the unit tier, lint and typecheck
if (flags.has('--faults')) {
  flags.add('--skip-unit').add('--skip-lint').add('--skip-typecheck')
  if (!vitestArgs.some((a) => !a.startsWith('-'))) vitestArgs.push('tests/faults/', 'tests/purchase/faults.test.ts')
}

let tmpDir
let keepDir = flags.has('--keep')

async function main() {
  const t0 = Date.now()
  await ensureNodeModules()
  // first and fast: a broken unit fails the run before anything is installed, built or started
  if (!flags.has('--skip-unit')) await step('unit tests', npx, ['vitest', 'run', '--config', 'vitest.unit.config.ts'])
  await ensureSystemPackages()
  await ensureDownloads()
  // the S3 stand-in of tests/ops/upload-storage.test.ts; the network faults of tests/faults/network;
  // the API fuzzer of tests/api/schemathesis.test.ts
  await Promise.all([ensureGoTool(GOFAKES3), ensureGoTool(TOXIPROXY), ensurePythonTool(SCHEMATHESIS)])

  if (!flags.has('--skip-lint')) await step('lint', npx, ['eslint', '.'])
  if (!flags.has('--skip-typecheck')) await step('typecheck', npx, ['nuxt', 'typecheck'])

  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-sale-test-'))
  onShutdown(() => {
    keepDir = true
  })
  // the build and the services start side by side
  const stackP = startStack({ name: 'test', dir: tmpDir, ports: {} })
  const buildP = flags.has('--skip-build') ? Promise.resolve() : build({ force: true })
  const [sr, br] = await Promise.allSettled([stackP, buildP])
  if (sr.status === 'rejected') throw sr.reason
  if (br.status === 'rejected') throw br.reason
  const stack = sr.value

  await migrate(stack.env)

  const t1 = Date.now()
  log(`vitest run ${vitestArgs.join(' ')} ${c.dim(`(stack: ${tmpDir})`)}`)
  const code = await runVisible(path.join(ROOT, 'node_modules', '.bin', 'vitest'), ['run', ...vitestArgs], {
    cwd: ROOT,
    env: { ...process.env, ...stack.env, FLASH_SALE_STACK_DIR: tmpDir },
  })
  ;(code === 0 ? ok : (m) => console.error(`${c.red('✗')} ${m}`))(`vitest exited with ${code} after ${secs(t1)} (npm test total ${secs(t0)})`)
  return code
}

async function cleanup(code) {
  await stopAll()
  if (!tmpDir) return
  if (code === 0 && !keepDir) {
    fs.rmSync(tmpDir, { recursive: true, force: true })
  } else {
    console.error(`${c.yellow('!')} stack logs kept in ${path.join(tmpDir, 'logs')}/`)
  }
}

main()
  .then(async (code) => {
    await cleanup(code)
    process.exit(code)
  })
  .catch(async (e) => {
    console.error(`\n${c.red('✗')} ${e.message}`)
    await cleanup(1)
    process.exit(e.exitCode || 1)
  })
