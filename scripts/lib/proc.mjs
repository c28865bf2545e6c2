// Long-running child processes: each in its own process group, output appended to a log file.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { mkdirp, sleep } from './util.mjs'

/** Every live child we started, so an abrupt exit still takes them down. */
const live = new Set()
let exitHookInstalled = false

function installExitHook() {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const p of live) killGroup(p.pid, 'SIGKILL')
  })
}

export function isAlive(pid) {
  if (!pid) return false
  try {
    process.kill(pid, 0)
  } catch (e) {
    return e.code === 'EPERM'
  }
  // a zombie (exited, not yet reaped) counts as gone
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return true
  }
}

export function killGroup(pid, signal) {
  if (!pid) return
  try {
    process.kill(-pid, signal)
  } catch {
    try {
      process.kill(pid, signal)
    } catch {
      // already gone
    }
  }
}

/**
 * Starts `cmd args` detached (own process group, so Ctrl-C reaches only us and we stop children in
 * order), stdout+stderr appended to `logFile`. With killOnExit, the child is SIGKILLed if this
 * process exits without stopping it. Returns { pid, name, logFile, child, exited, exitCode }.
 */
export function startProcess(name, cmd, args, { env, cwd, logFile, killOnExit = true }) {
  installExitHook()
  mkdirp(path.dirname(logFile))
  const fd = fs.openSync(logFile, 'a')
  fs.writeSync(fd, `\n===== ${new Date().toISOString()} starting ${name}: ${cmd} ${args.join(' ')}\n`)
  const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['ignore', fd, fd], detached: true })
  fs.closeSync(fd)
  child.unref() // never keeps this process alive by itself
  const handle = { name, pid: child.pid, logFile, child, exitCode: undefined }
  handle.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      handle.exitCode = code ?? signal
      live.delete(handle)
      resolve(handle.exitCode)
    })
    child.on('error', (e) => {
      handle.exitCode = e.message
      live.delete(handle)
      resolve(e.message)
    })
  })
  if (killOnExit) live.add(handle)
  return handle
}

/**
 * SIGTERM the process group of `pid`, wait up to `timeoutMs`, then SIGKILL. Works for processes
 * started by another process too (pid from the stack state file).
 */
export async function stopPid(pid, timeoutMs = 10000) {
  if (!isAlive(pid)) return
  killGroup(pid, 'SIGTERM')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid)) break
    await sleep(100)
  }
  if (isAlive(pid)) {
    killGroup(pid, 'SIGKILL')
    for (let i = 0; i < 30 && isAlive(pid); i++) await sleep(100)
  }
  // whatever is left in the group (a kc.sh child, say)
  killGroup(pid, 'SIGKILL')
}

export async function stopProcess(handle, timeoutMs = 10000) {
  if (!handle?.pid) return
  if (handle.child && handle.exitCode === undefined) {
    killGroup(handle.pid, 'SIGTERM')
    const t = setTimeout(() => killGroup(handle.pid, 'SIGKILL'), timeoutMs)
    await handle.exited
    clearTimeout(t)
    killGroup(handle.pid, 'SIGKILL')
  } else {
    await stopPid(handle.pid, timeoutMs)
  }
}

/** The command line of a pid ('' when gone): used to recognise our own stale processes. */
export function cmdlineOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
  } catch {
    return ''
  }
}

/** Lets every child outlive this process (for `scripts/stack.mjs up`). */
export function detachAll() {
  for (const p of live) p.child?.unref()
  live.clear()
}
