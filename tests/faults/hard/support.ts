/**
 * The hard-fault suite's harness (faults F1–F8 of docs/reliability.md): a sale through web instances and payment workers of the
 * test stack, a fault that really happens (SIGKILL, SIGSTOP, a fired failpoint, a full memory, …), and
 * the same checks after every fault — `recoversFully()`:
 *  1. within 60 s of recovery the audit command (`flash-sale audit`) passes;
 *  2. no shopper of the fault's burst (demand above the stock) was told SOLD_OUT while units came back,
 *     and a follow-up burst whose demand is above the remaining stock sells exactly the remaining stock;
 *  3. the history check (history.ts) holds over both bursts, and credits are conserved.
 * Each test prints a `RELIABILITY {…}` line (and appends it to $FLASH_SALE_STACK_DIR/reliability.jsonl)
 * with the figures of docs/reliability.md's results table.
 */
import { execFile } from 'node:child_process'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect } from 'vitest'
import { closeDb } from '../../../server/db'
import { closePaymentPublisher } from '../../../server/domain/orders/purchase'
import { closeRedis } from '../../../server/redis/client'
import { accessToken, createUser } from '../../support/keycloak'
import type { Shopper } from '../../support/shoppers'
import { couponState } from '../../support/data'
import { loseAofTail } from '../../../scripts/lib/crash.mjs'
import { burst, isAlive, redisRunId, sleep, testStack, untilSettled, type Attempt, type StackApi, type StackProc } from '../support'
import { creditViolations, historyViolations, OUTAGE_ANSWERS } from './history'

const run = promisify(execFile)
export const stack: StackApi = testStack()

/**
 * `count` shoppers with fresh tokens, shared by the suite's files through the stack dir (making
 * Keycloak users is the slow part of a fault test's set-up).
 */
export async function sharedShoppers(count: number): Promise<Shopper[]> {
  const file = join(stack.dir, 'fault-shoppers.json')
  const saved: Shopper[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : []
  const fresh = await Promise.all(saved.slice(0, count).map(async (s) => ({ ...s, token: await accessToken(s) })))
  let next = fresh.length
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < count) {
      next++
      const user = await createUser()
      fresh.push({ ...user, token: await accessToken(user) })
    }
  }))
  writeFileSync(file, JSON.stringify(fresh.length >= saved.length ? fresh : [...fresh, ...saved.slice(fresh.length)]))
  return fresh
}

/** A folder for failpoints to report into: `fired(dir, name)` counts how often `name` fired. */
export function failpointDir(): string {
  return mkdtempSync(join(tmpdir(), 'flash-failpoints-'))
}
export function fired(dir: string, name: string): number {
  const file = join(dir, name)
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).length : 0
}

/** Runs the real audit command; ok = exit 0 (every invariant passes). */
export async function runAudit(env: Record<string, string | undefined> = {}): Promise<{ ok: boolean, output: string }> {
  try {
    const { stdout } = await run(process.execPath, ['.output/worker/cli.mjs', 'audit'], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    })
    return { ok: true, output: stdout }
  } catch (error) {
    const e = error as { stdout?: string, stderr?: string, message: string }
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? e.message}` }
  }
}

/** Polls the audit until it passes or `deadline` (ms since epoch); the seconds from `since` to the pass. */
export async function auditPassesBy(since: number, deadline: number, env: Record<string, string | undefined> = {}) {
  let last = await runAudit(env)
  while (!last.ok && Date.now() < deadline) {
    await sleep(1_000)
    last = await runAudit(env)
  }
  return { ...last, seconds: (Date.now() - since) / 1000 }
}

export interface Sale {
  couponId: number
  shoppers: Shopper[]
  urls: () => string[]
  /** every attempt on this coupon so far (both bursts) */
  attempts: Attempt[]
  /** the figures of the reliability table, filled in as the test goes */
  row: ReliabilityRow
}

export interface ReliabilityRow {
  fault: string
  /** how the test saw the fault happen */
  happened: string
  http500: number | string
  auditAfterRecovery: string
  remainingSold: string
  secondsToHeal: number | string
  /** stall and partition faults: how soon both workers were consuming again, and how shoppers were answered */
  workersConsumingAfter?: string
  answers?: string
}

export function newSale(fault: string, couponId: number, shoppers: Shopper[], urls: () => string[]): Sale {
  const row = { fault, happened: 'no', http500: '?', auditAfterRecovery: 'not reached', remainingSold: 'not reached', secondsToHeal: '?' }
  return { couponId, shoppers, urls, attempts: [], row }
}

/**
 * Runs a fault test and reports its figures whatever happens: printed as `RELIABILITY {…}` and
 * appended to the stack's reliability.jsonl (docs/reliability.md's table is made from those lines).
 */
export async function reporting(sale: Sale, test: () => Promise<void>): Promise<void> {
  try {
    await test()
  } finally {
    sale.row.http500 = http500s(sale.attempts)
    const line = JSON.stringify(sale.row)
    console.info(`RELIABILITY ${line}`)
    appendFileSync(join(stack.dir, 'reliability.jsonl'), `${line}\n`)
  }
}

export function http500s(attempts: Attempt[]): number {
  return attempts.filter((a) => a.status !== null && a.status >= 500 && !OUTAGE_ANSWERS.has(a.answer)).length
}

/**
 * The checks after a fault (see the file's header). `recoveredAt`: when the fault ended (the service
 * was back, the replica had taken over, …). `env`: where the audit looks (another Redis, another DB).
 * `auditWithinMs`: how long after recovery the audit may take to pass.
 */
export async function recoversFully(
  sale: Sale,
  recoveredAt: number,
  env: Record<string, string | undefined> = {},
  auditWithinMs = 60_000,
): Promise<void> {
  const audit = await auditPassesBy(recoveredAt, recoveredAt + auditWithinMs, env)
  const within = `${auditWithinMs / 1000} s`
  sale.row.auditAfterRecovery = audit.ok
    ? `passed after ${audit.seconds.toFixed(1)} s`
    : `FAILED for ${within}: ${audit.output
        .split('\n')
        .filter((l) => l.startsWith('FAIL'))
        .join('; ')}`
  expect(audit.ok, `the audit still failed ${within} after recovery:\n${audit.output}`).toBe(true)

  const before = await couponState(sale.couponId)
  const remaining = before.totalStock - before.paid
  // SOLD_OUT only when no unit can come back: a shopper sent away while units were still held by
  // reservations that then failed was wrongly refused (every shopper has the credit)
  const toldSoldOut = sale.attempts.filter((a) => a.answer === 'SOLD_OUT').length
  expect(toldSoldOut > 0 ? remaining : 0, `${toldSoldOut} shoppers were told SOLD_OUT, yet ${remaining} units came back unsold`).toBe(0)
  expect(sale.shoppers.length - before.paid, 'the follow-up burst must want more than what is left').toBeGreaterThan(remaining)
  const again = await burst(sale.urls, sale.shoppers, sale.couponId, { spreadMs: 1_000, deadlineMs: 60_000 })
  sale.attempts.push(...again.attempts)
  const after = await untilSettled(sale.couponId, 60_000)
  const sold = (after?.paid ?? (await couponState(sale.couponId)).paid) - before.paid
  sale.row.remainingSold = `${before.paid}/${before.totalStock} sold in the fault's burst; the rest: ${sold} of ${remaining}`
  expect(after, 'the coupon never settled after the follow-up burst').toBeTruthy()
  expect({ sold, redisStock: after!.redisStock, mysqlStock: after!.mysqlStock }).toEqual({ sold: remaining, redisStock: 0, mysqlStock: 0 })

  expect(await historyViolations(sale.couponId, sale.attempts)).toEqual([])
  expect(await creditViolations(sale.shoppers.map((s) => s.id))).toEqual([])
  const final = await runAudit(env)
  expect(final.ok, final.output).toBe(true)
  sale.row.secondsToHeal = Math.round(audit.seconds * 10) / 10
}

export interface SaleProcesses {
  webs: (StackProc & { url: string })[]
  workers: StackProc[]
  /** the live web instances' URLs (what NGINX would route to) */
  urls: () => string[]
  stop: () => Promise<void>
}

/** Web instances and payment workers of the test stack (shared env plus each one's own). */
export async function startSaleProcesses({
  webs = 2,
  workers = 2,
  env = {},
}: { webs?: number, workers?: number, env?: Record<string, string> } = {}): Promise<SaleProcesses> {
  const all: StackProc[] = []
  const webList = await Promise.all(Array.from({ length: webs }, () => stack.startWeb({ env: { PURCHASE_RATE_LIMIT: '100', ...env } })))
  const workerList = await Promise.all(Array.from({ length: workers }, () => stack.startWorker({ env })))
  all.push(...webList, ...workerList)
  const gone = new Set<number>()
  for (const p of all) void p.exited.then(() => gone.add(p.pid))
  return {
    webs: webList,
    workers: workerList,
    urls: () => webList.filter((w) => !gone.has(w.pid)).map((w) => w.url),
    stop: async () => {
      await Promise.all(all.map((p) => p.stop(15_000).catch(() => {})))
    },
  }
}

/** `promise`, or a rejection naming `what` after `ms` (so a fault that never happens fails, not hangs). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** Starts a stack service again if a failed test left it dead (so the next test files find it). */
export async function ensureRunning(name: 'redis' | 'kafka' | 'mariadb'): Promise<void> {
  if (!stack.processes()[name]) await stack.startService(name)
}

/** Closes this test process's own connections (publisher, Redis, MySQL) at the end of a file. */
export async function closeConnections(): Promise<void> {
  await closePaymentPublisher()
  await closeRedis()
  await closeDb()
}

/**
 * The usual set-up of a fault file: the shared shoppers and web instances + workers (two of each
 * unless told) before its tests; after them, `restore` services a failed test left dead are started
 * again, then everything stops.
 */
export function saleFixture({ restore = [], webs, workers }: {
  restore?: ('redis' | 'kafka' | 'mariadb')[]
  webs?: number
  workers?: number
} = {}) {
  const fixture = { shoppers: [] as Shopper[], procs: undefined as unknown as SaleProcesses }
  beforeAll(async () => {
    ;[fixture.shoppers, fixture.procs] = await Promise.all([sharedShoppers(120), startSaleProcesses({ webs, workers })])
  }, 240_000)
  afterAll(async () => {
    for (const name of restore) await ensureRunning(name)
    await fixture.procs?.stop()
    await closeConnections()
  })
  return fixture
}

/**
 * Waits until `count()` reaches `atLeast` (e.g. the coupon's buyers: the burst is really under way),
 * so a fault lands mid-burst however slow the machine is; fails after `timeoutMs`.
 */
/**
 * Redis dies as in a power cut under `appendfsync everysec`: SIGKILLed, half of what was appended to its
 * newest AOF file since `aofAtStart` (its size then) cut, started again on the rest. Asserts that the
 * fault happened (the process died, a new Redis answers, bytes were cut); returns the cut and when
 * Redis answered again.
 */
export async function crashRedisLosingAofTail(aofAtStart: number) {
  const runIdBefore = await redisRunId()
  const pidBefore = stack.processes().redis!.pid
  await stack.killService('redis')
  expect(isAlive(pidBefore), 'Redis survived its SIGKILL').toBe(false)
  const cut = await loseAofTail(stack.redisDir, { from: aofAtStart, fraction: 0.5 })
  await stack.startService('redis')
  const recoveredAt = Date.now()
  expect(await redisRunId()).not.toBe(runIdBefore)
  expect(cut.cut).toBeGreaterThan(0)
  return { cut, recoveredAt }
}

export async function until(what: string, count: () => Promise<number>, atLeast: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let n = await count()
  while (n < atLeast) {
    if (Date.now() > deadline) throw new Error(`${what}: ${n} after ${timeoutMs / 1000} s, waited for ${atLeast}`)
    await sleep(50)
    n = await count()
  }
  return n
}
