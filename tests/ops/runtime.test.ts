import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWeb, startWorker, type Proc } from '../support/processes'
import { scrape } from './support/backends'

/*
 * The runtime the project promises: every process on Node 24 LTS. A running web instance and a worker
 * report their Node version on /metrics (prom-client's nodejs_version_info), allocate through jemalloc,
 * and log pino JSON lines.
 */

let web: Proc
let worker: Proc

beforeAll(async () => {
  ;[web, worker] = await Promise.all([startWeb(), startWorker()])
})

afterAll(async () => {
  await Promise.all([web?.stop(), worker?.stop()])
})

function reportedNode(metrics: string): { version: string, major: number } {
  const line = metrics.split('\n').find((l) => l.startsWith('nodejs_version_info{'))
  expect(line, 'nodejs_version_info on /metrics').toBeDefined()
  const version = /version="(v[\d.]+)"/.exec(line!)![1]!
  return { version, major: Number(/major="(\d+)"/.exec(line!)![1]) }
}

describe('Node 24 everywhere', () => {
  it('runs the tests themselves on Node 24', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(24)
  })

  it('runs a web instance and a payment worker on Node 24 (nodejs_version_info)', async () => {
    const [fromWeb, fromWorker] = [reportedNode(await scrape(web.url)), reportedNode(await scrape(worker.url))]
    expect(fromWeb.major).toBe(24)
    expect(fromWorker.major).toBe(24)
    expect(fromWeb.version).toBe(process.version)
    expect(fromWorker.version).toBe(process.version)
  })

  it('runs them on jemalloc (the system packages install it; appNodeEnv preloads it)', () => {
    for (const proc of [web, worker]) {
      const maps = readFileSync(`/proc/${proc.proc.pid}/maps`, 'utf8')
      expect(maps).toMatch(/\/libjemalloc\.so\.2$/m)
    }
  })

  it('logs JSON lines through pino with the process context', () => {
    const lines = worker.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) {
      expect(line).toMatchObject({ level: expect.stringMatching(/^(debug|info|warn|error)$/), service: 'worker' })
      expect(new Date(String(line.time)).toISOString()).toBe(line.time)
      expect(typeof line.msg).toBe('string')
    }
  })
})
