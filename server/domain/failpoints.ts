/**
 * Failpoints: named places in the code where a fault test can make the process die, stall or throw
 * at exactly the moment it wants (a worker between its MySQL commit and its offset commit, a web
 * between the reserve script and the publish). Armed only by the environment:
 *
 *   FLASH_SALE_FAILPOINTS="worker.after-commit=kill,web.after-reserve=pause:2000,worker.dead-letter=throw*1"
 *
 * Actions: `kill` (SIGKILL this process), `pause:<ms>`, `throw`; an optional `*<n>` fires only the
 * first n times. When one fires and FLASH_SALE_FAILPOINT_DIR is set, a line is appended to
 * `$FLASH_SALE_FAILPOINT_DIR/<name>` first, so the test can assert that it did. Unarmed (no variable,
 * the production case) `failpoint()` is one map lookup.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

interface Armed { action: 'kill' | 'pause' | 'throw', ms: number, left: number }

function parse(spec: string | undefined): Map<string, Armed> {
  const armed = new Map<string, Armed>()
  for (const item of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([\w.-]+)=(kill|throw|pause:(\d+))(?:\*(\d+))?$/.exec(item)
    if (!m) throw new Error(`FLASH_SALE_FAILPOINTS: cannot read "${item}" (expected name=kill|throw|pause:<ms>[*<n>])`)
    const action = m[2]!.startsWith('pause') ? 'pause' : m[2] as 'kill' | 'throw'
    armed.set(m[1]!, { action, ms: Number(m[3] ?? 0), left: m[4] ? Number(m[4]) : Infinity })
  }
  return armed
}

const armed = parse(process.env.FLASH_SALE_FAILPOINTS)

export class FailpointError extends Error {}

/** Fires the failpoint `name` if the environment armed it; otherwise does nothing. */
export async function failpoint(name: string): Promise<void> {
  if (armed.size === 0) return
  const point = armed.get(name)
  if (!point || point.left <= 0) return
  point.left--
  const dir = process.env.FLASH_SALE_FAILPOINT_DIR
  if (dir) appendFileSync(join(dir, name), `${process.pid} ${new Date().toISOString()} ${point.action}\n`)
  if (point.action === 'kill') {
    process.kill(process.pid, 'SIGKILL')
    await new Promise(() => {}) // the signal is delivered asynchronously: nothing after this runs
  }
  if (point.action === 'pause') await new Promise((r) => setTimeout(r, point.ms))
  if (point.action === 'throw') throw new FailpointError(`failpoint ${name} fired`)
}
