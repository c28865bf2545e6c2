import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { once } from 'node:events'
import path from 'node:path'
import { expect } from 'vitest'
import { APP_NODE_FLAGS, appNodeEnv } from '../../scripts/lib/node-runtime.mjs'

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export interface Proc {
  proc: ChildProcess
  port: number
  url: string
  /** Everything the process printed, for assertions and failure messages. */
  output: () => string
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/**
 * Polls `url` + `route` every 100 ms until it answers 200. With `proc`, fails at once when the process
 * exits, and both failures carry what it printed.
 */
async function untilAnswering(url: string, route: string, timeoutMs: number, proc?: ChildProcess, output = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let status = 0
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`process exited (${proc.exitCode}) before ${route} answered:\n${output()}`)
    status = await fetch(`${url}${route}`).then((res) => res.status, () => 0) // 0: not listening yet
    if (status === 200) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url}${route} answered ${status || 'nothing'} for ${timeoutMs} ms:\n${output()}`)
}

/**
 * Under `npm test` (FLASH_SALE_STACK_DIR set), each process started here also writes its output to the
 * stack's logs/apps/ (`web-<port>.log`, `worker-<port>.log`), which npm test keeps when a test fails.
 */
function logFile(script: string, port: number) {
  const stackDir = process.env.FLASH_SALE_STACK_DIR
  if (!stackDir) return undefined
  const dir = path.join(stackDir, 'logs', 'apps')
  mkdirSync(dir, { recursive: true })
  const kind = script.includes('worker') ? 'worker' : 'web'
  const file = createWriteStream(path.join(dir, `${kind}-${port}.log`), { flags: 'a' })
  const testFile = path.relative(process.cwd(), expect.getState().testPath ?? '?')
  file.write(`--- ${new Date().toISOString()} ${testFile} starts ${script}\n`)
  return file
}

function launch(script: string, port: number, env: Record<string, string>): Proc & { ready: Promise<void> } {
  const proc = spawn(process.execPath, [...APP_NODE_FLAGS, script], {
    env: { ...appNodeEnv(), ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  const file = logFile(script, port)
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-200_000)
    file?.write(chunk)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  proc.once('close', () => file?.end())
  const url = `http://127.0.0.1:${port}`
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode
    const exited = once(proc, 'exit')
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
    return proc.exitCode
  }
  return { proc, port, url, output: () => log, stop, ready: untilAnswering(url, '/healthz', 30_000, proc, () => log) }
}

/** Polls `url`/readyz until it answers 200 (what NGINX's and Kubernetes' routing wait for). */
export async function untilReady(url: string, timeoutMs = 30_000): Promise<void> {
  await untilAnswering(url, '/readyz', timeoutMs)
}

/** Starts a built web instance (node .output/server/index.mjs) on a free (or the given) port and waits for /healthz. */
export async function startWeb(env: Record<string, string> = {}, port?: number): Promise<Proc> {
  port ??= await freePort()
  const p = launch('.output/server/index.mjs', port, {
    HOST: '127.0.0.1',
    PORT: String(port),
    NITRO_HOST: '127.0.0.1',
    NITRO_PORT: String(port),
    ...env,
  })
  await p.ready
  return p
}

/** Starts a built payment worker (node .output/worker/index.mjs) and waits for its /healthz. */
export async function startWorker(env: Record<string, string> = {}): Promise<Proc> {
  const port = await freePort()
  const p = launch('.output/worker/index.mjs', port, { METRICS_PORT: String(port), ...env })
  await p.ready
  return p
}
