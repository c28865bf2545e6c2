import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { once } from 'node:events'
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

async function waitHealthy(url: string, proc: ChildProcess, output: () => string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`process exited (${proc.exitCode}) before it was healthy:\n${output()}`)
    try {
      const res = await fetch(`${url}/healthz`)
      if (res.ok) return
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms:\n${output()}`)
}

function launch(script: string, port: number, env: Record<string, string>): Proc & { ready: Promise<void> } {
  const proc = spawn(process.execPath, [...APP_NODE_FLAGS, script], {
    env: { ...appNodeEnv(), ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  const keep = (chunk: Buffer) => { log = (log + chunk.toString()).slice(-200_000) }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
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
  return { proc, port, url, output: () => log, stop, ready: waitHealthy(url, proc, () => log) }
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
