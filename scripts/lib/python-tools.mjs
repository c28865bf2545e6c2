// Python tools the tests use, installed from PyPI with pip into a venv of their own in the download
// cache (one per tool and version), the first time they are needed.
import fs from 'node:fs'
import path from 'node:path'
import { atomicDir, cacheDir } from './downloads.mjs'
import { aptInstall } from './system.mjs'
import { log, ok, run, secs, which } from './util.mjs'

/**
 * Schemathesis: an API fuzzer that knows the shop only through docs/openapi.json (npm run fuzz,
 * tests/api/schemathesis.test.ts). Run as a module: a venv built in a temporary folder and renamed
 * keeps the old path in its scripts' first lines, not in its interpreter.
 */
export const SCHEMATHESIS = { name: 'schemathesis', version: '4.32.5', module: 'schemathesis.cli' }

/** The command that runs `tool`: [python, '-m', module], installed the first time. */
export async function ensurePythonTool(tool) {
  const dir = path.join(cacheDir(), 'python-tools', `${tool.name}-${tool.version}`)
  const command = [path.join(dir, 'bin', 'python'), '-m', tool.module]
  if (fs.existsSync(path.join(dir, '.complete'))) return command
  const t0 = Date.now()
  log(`installing ${tool.name} ${tool.version} (pip, into ${dir})`)
  await atomicDir(dir, async (tmp) => {
    await makeVenv(tmp)
    await run(
      path.join(tmp, 'bin', 'python'),
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', `${tool.name}==${tool.version}`],
      { timeoutMs: 600_000 },
    )
  })
  ok(`${tool.name} ${tool.version} installed in ${secs(t0)}`)
  return command
}

/** A venv of python3 (≥ 3.10, what Schemathesis 4 needs); Debian's python3 needs python3-venv for it. */
async function makeVenv(dir) {
  if (!which('python3')) await aptInstall(['python3', 'python3-venv'])
  const { stdout } = await run('python3', ['-c', 'import sys; print(sys.version_info >= (3, 10))'])
  if (stdout.trim() !== 'True') throw new Error(`python3 is older than 3.10 (${which('python3')}): Schemathesis 4 needs 3.10 or later`)
  try {
    await run('python3', ['-m', 'venv', dir])
  } catch {
    await aptInstall(['python3-venv'])
    fs.rmSync(dir, { recursive: true, force: true })
    await run('python3', ['-m', 'venv', dir])
  }
}
