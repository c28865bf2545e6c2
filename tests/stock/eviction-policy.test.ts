import { spawn } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { closeRedis, redis } from '../../server/redis/client'
import { freePort } from '../support/processes'

afterAll(async () => {
  await closeRedis()
})

/** Runs a built entrypoint until it exits (or 60 s pass); returns its exit code and output. */
async function runUntilExit(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, output }
}

describe('Redis that may evict keys', () => {
  it('makes web and worker refuse to start, saying which setting to change', async () => {
    const [, before] = await redis().config('GET', 'maxmemory-policy') as [string, string]
    expect(before).toBe('noeviction') // how the stack starts Redis
    await redis().config('SET', 'maxmemory-policy', 'allkeys-lru')
    try {
      const port = String(await freePort())
      const [worker, web] = await Promise.all([
        runUntilExit('.output/worker/index.mjs', { METRICS_PORT: port }),
        runUntilExit('.output/server/index.mjs', { HOST: '127.0.0.1', PORT: String(await freePort()) }),
      ])
      for (const proc of [worker, web]) {
        expect(proc.code).toBe(1)
        const lines = proc.output
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg?: string, error?: unknown })
        const refusal = lines.find((l) => l.msg === 'refusing to start')
        expect(JSON.stringify(refusal?.error)).toMatch(/maxmemory-policy allkeys-lru.*noeviction/)
      }
    } finally {
      await redis().config('SET', 'maxmemory-policy', before)
    }
  }, 90_000)
})
