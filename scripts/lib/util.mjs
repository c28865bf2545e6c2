// Small helpers shared by the stack scripts. Node builtins only: these run before `npm install`.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

const useColor = process.stdout.isTTY && !process.env.NO_COLOR
const paint = (code, s) => (useColor ? `\x1b[${code}m${s}\x1b[0m` : s)
export const c = {
  dim: (s) => paint(2, s),
  bold: (s) => paint(1, s),
  green: (s) => paint(32, s),
  red: (s) => paint(31, s),
  yellow: (s) => paint(33, s),
  cyan: (s) => paint(36, s),
}

/** One progress line. */
export function log(msg) {
  process.stdout.write(`${c.cyan('▸')} ${msg}\n`)
}
export function ok(msg) {
  process.stdout.write(`${c.green('✓')} ${msg}\n`)
}
export function warn(msg) {
  process.stderr.write(`${c.yellow('!')} ${msg}\n`)
}

export { setTimeout as sleep } from 'node:timers/promises'
export const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)}s`

/** Run a command to completion; rejects with its output on a non-zero exit. */
export function run(cmd, args, opts = {}) {
  const { env, cwd, input, quiet = true, timeoutMs } = opts
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: env ?? process.env,
      stdio: [input == null ? 'ignore' : 'pipe', quiet ? 'pipe' : 'inherit', quiet ? 'pipe' : 'inherit'],
    })
    let out = ''
    let err = ''
    child.stdout?.on('data', (d) => (out += d))
    child.stderr?.on('data', (d) => (err += d))
    let timer
    if (timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    if (input != null) child.stdin.end(input)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve({ stdout: out, stderr: err })
      else {
        const e = new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}\n${(err || out).trim().split('\n').slice(-20).join('\n')}`)
        e.stdout = out
        e.stderr = err
        e.code = code
        reject(e)
      }
    })
  })
}

const foreground = new Set()

/** Run a command with inherited stdio (visible output), resolve with its exit code. */
export function runVisible(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', ...opts })
    foreground.add(child)
    child.on('error', (e) => {
      foreground.delete(child)
      reject(e)
    })
    child.on('close', (code, signal) => {
      foreground.delete(child)
      resolve(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1))
    })
  })
}

/** SIGTERM the commands runVisible is waiting for (nuxt dev, vitest …), SIGKILL after `timeoutMs`. */
export async function terminateForeground(timeoutMs = 10_000) {
  await Promise.all(
    [...foreground].map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
          child.once('close', () => {
            clearTimeout(timer)
            resolve()
          })
          child.kill('SIGTERM')
        }),
    ),
  )
}

export function which(bin) {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

export function mkdirp(p) {
  fs.mkdirSync(p, { recursive: true })
  return p
}

export function lastLines(file, n = 20) {
  try {
    const fd = fs.openSync(file, 'r')
    const size = fs.fstatSync(fd).size
    const len = Math.min(size, 64 * 1024)
    const buf = Buffer.alloc(len)
    fs.readSync(fd, buf, 0, len, size - len)
    fs.closeSync(fd)
    return buf.toString('utf8').split('\n').filter((l) => l.length).slice(-n).join('\n')
  } catch {
    return '(no log)'
  }
}

// ---------------------------------------------------------------- ports

const handedOut = new Set()

/** A free TCP port on 127.0.0.1, never the same one twice in this process. */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer()
      srv.unref()
      srv.on('error', reject)
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address()
        srv.close(() => resolve(port))
      })
    })
    if (!handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error('could not find a free port')
}

/** True when something already listens on the port (checked on 0.0.0.0 and 127.0.0.1). */
export async function portInUse(port) {
  const tryListen = (host) =>
    new Promise((resolve) => {
      const srv = net.createServer()
      srv.unref()
      srv.once('error', (e) => resolve(e.code === 'EADDRINUSE' || e.code === 'EACCES'))
      srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(false)))
    })
  if (await tryListen('127.0.0.1')) return true
  if (await tryListen('0.0.0.0')) return true
  return await canConnect(port, 300)
}

export function canConnect(port, timeoutMs = 1000, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host })
    const done = (v) => {
      sock.destroy()
      resolve(v)
    }
    sock.setTimeout(timeoutMs, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

export class PortInUseError extends Error {}

/** Throws a clear error when a configured port is taken. */
export async function assertPortFree(port, label, envVar) {
  if (await portInUse(port)) {
    const hint = envVar ? `set ${envVar}=… or stop the process using it` : 'stop the process using it'
    throw new PortInUseError(`port ${port} (${label}) is already in use — ${hint}`)
  }
  handedOut.add(port)
}

/** GET a URL; resolves with the status code (0 when unreachable). */
export async function httpStatus(url, timeoutMs = 2000) {
  // A ref'd timer rather than AbortSignal.timeout (unref'd): while a service accepts connections but
  // has not answered yet (Keycloak importing its realm), nothing else may keep this process alive.
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const res = await fetch(url, { signal: controller.signal, redirect: 'manual' })
    await res.arrayBuffer().catch(() => {})
    return res.status
  } catch {
    return 0
  } finally {
    clearTimeout(timer)
  }
}

/** Render `${NAME}` placeholders; unknown names throw so a typo never ships a broken config. */
export function renderTemplate(text, vars) {
  return text.replace(/\$\{([A-Z0-9_]+)\}/g, (m, name) => {
    if (!(name in vars)) throw new Error(`template placeholder ${m} has no value`)
    return String(vars[name])
  })
}

/** Newest mtime (ms) of files under the given paths, skipping heavy folders. */
export function newestMtime(
  paths,
  skip = new Set(['node_modules', '.nuxt', '.output', '.stack', '.git', '.data', '.bench', 'test-results']),
) {
  let newest = 0
  const walk = (p) => {
    let st
    try {
      st = fs.statSync(p)
    } catch {
      return
    }
    if (st.isDirectory()) {
      if (skip.has(path.basename(p))) return
      for (const e of fs.readdirSync(p)) walk(path.join(p, e))
    } else if (st.mtimeMs > newest) newest = st.mtimeMs
  }
  for (const p of paths) walk(p)
  return newest
}

export function mtime(p) {
  try {
    return fs.statSync(p).mtimeMs
  } catch {
    return 0
  }
}
