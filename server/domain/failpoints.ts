import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { config } from '../config'
import { log } from '../observability/log'

/**
 * Failpoints: named places where a test can make a process pause, throw or die at exactly that
 * moment. Armed only by `FLASH_SALE_FAILPOINTS` (e.g. `worker.after-commit=kill,repair.before-apply=pause:2000`);
 * unset, `failpoint()` is one map lookup that returns undefined.
 *
 * Actions: `pause:<ms>`, `throw`, `kill` (SIGKILL to this process), each optionally limited to the
 * first n hits with `*<n>` (`throw*1`: throw once). A fired failpoint logs `failpoint fired` and, when
 * `FLASH_SALE_FAILPOINT_DIR` is set, appends a line `{pid, at, hit}` to `<dir>/<name>` (written before
 * a kill, so the test can prove the kill happened there).
 */
interface Armed { action: 'pause' | 'throw' | 'kill', ms: number, limit: number, hits: number }

let armed: Map<string, Armed> | undefined

export function parseFailpoints(spec: string): Map<string, Armed> {
  const out = new Map<string, Armed>()
  for (const item of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^([\w.-]+)=(pause|throw|kill)(?::(\d+))?(?:\*(\d+))?$/.exec(item)
    if (!match) throw new Error(`FLASH_SALE_FAILPOINTS: cannot read "${item}" (expected name=pause:<ms>|throw|kill[*n])`)
    out.set(match[1]!, {
      action: match[2] as Armed['action'],
      ms: Number(match[3] ?? 0),
      limit: match[4] ? Number(match[4]) : Infinity,
      hits: 0,
    })
  }
  return out
}

export class FailpointError extends Error {
  constructor(readonly failpoint: string) {
    super(`failpoint ${failpoint} fired`)
    this.name = 'FailpointError'
  }
}

/** Fires the named failpoint if it is armed; await the result (undefined when inert). */
export function failpoint(name: string): Promise<void> | undefined {
  armed ??= parseFailpoints(config().FLASH_SALE_FAILPOINTS)
  if (!armed.size) return undefined
  const point = armed.get(name)
  if (!point || point.hits >= point.limit) return undefined
  point.hits++
  record(name, point)
  if (point.action === 'kill') process.kill(process.pid, 'SIGKILL')
  if (point.action === 'throw') return Promise.reject(new FailpointError(name))
  return new Promise((resolve) => setTimeout(resolve, point.ms))
}

function record(name: string, point: Armed): void {
  log.warn('failpoint fired', { failpoint: name, action: point.action, hit: point.hits })
  const dir = config().FLASH_SALE_FAILPOINT_DIR
  if (!dir) return
  mkdirSync(dir, { recursive: true })
  appendFileSync(join(dir, name), `${JSON.stringify({ pid: process.pid, at: Date.now(), hit: point.hits })}\n`)
}
