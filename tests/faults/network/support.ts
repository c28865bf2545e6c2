/**
 * The stall and partition suite's harness. A fault here leaves connections open and silent (a paused
 * process, a black-holed link) instead of resetting them. On top of the hard-fault suite's checks
 * (recoversFully: the audit passes, the remaining stock sells exactly, the history holds, credits are
 * conserved), each fault must leave:
 *  - both workers consuming again within 60 s of the heal, as Kafka's own view of the group says
 *    (members with partitions assigned), not as the workers say;
 *  - every answer a shopper got from the reason table (or PENDING), within 5 s.
 */
import { readFileSync } from 'node:fs'
import { AssignerProtocol } from 'kafkajs'
import { expect } from 'vitest'
import { kafka, PAYMENT_GROUP, topics } from '../../../server/kafka/client'
import { redis } from '../../../server/redis/client'
import { REASON_CODES } from '../../../server/trpc/errors'
import { createCouponOnSale } from '../../support/data'
import type { Shopper } from '../../support/shoppers'
import { burst, keys, sleep, type Attempt } from '../support'
import { newSale, recoversFully, reporting, stack, until, type Sale, type SaleProcesses } from '../hard/support'

/** Shoppers wait this long for an answer at most (the web's deadline is below it). */
export const ANSWER_WITHIN_MS = 5_000

/** The state letter of a process in /proc (R running, S sleeping, T stopped, …); '?' once it is gone. */
export function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch {
    return '?'
  }
}

async function stateBecomes(pid: number, want: (state: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 2_000
  let state = processState(pid)
  while (!want(state)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} never ${what} (state ${state})`)
    await sleep(20)
    state = processState(pid)
  }
  return state
}

/**
 * SIGSTOPs a process group for `ms` (connections stay open, nothing answers), then SIGCONTs it —
 * also when the test fails meanwhile. Asserts that the process was stopped (state T in /proc) at the
 * start and at the end of the pause. Returns when it resumed.
 */
export async function paused(pid: number, ms: number, during: () => Promise<void> = async () => {}): Promise<{ resumedAt: number, happened: string }> {
  let happened: string
  process.kill(-pid, 'SIGSTOP')
  try {
    await stateBecomes(pid, (s) => s === 'T', 'stopped')
    const started = Date.now()
    await Promise.all([sleep(ms), during()])
    const state = processState(pid)
    expect(state, `process ${pid} was not stopped for the whole pause`).toBe('T')
    happened = `SIGSTOP ${((Date.now() - started) / 1000).toFixed(1)} s (state ${state} in /proc at both ends), SIGCONT`
  } finally {
    process.kill(-pid, 'SIGCONT')
    await stateBecomes(pid, (s) => s !== 'T', 'resumed')
  }
  return { resumedAt: Date.now(), happened }
}

/** paused(…) for a stack service (mariadb, redis, kafka): its whole process group. */
export async function pauseService(name: 'mariadb' | 'redis' | 'kafka', ms: number, during?: () => Promise<void>) {
  const proc = stack.processes()[name]
  if (!proc) throw new Error(`${name} is not running`)
  return await paused(proc.pid, ms, during)
}

export interface GroupMember {
  memberId: string
  clientHost: string
  partitions: number[]
}

/** The payment-workers group as its coordinator sees it: state and members with their partitions. */
export async function paymentGroup(): Promise<{ state: string, members: GroupMember[] }> {
  const admin = kafka().admin()
  await admin.connect()
  try {
    const { groups } = await admin.describeGroups([PAYMENT_GROUP])
    const group = groups[0]!
    return {
      state: group.state,
      members: group.members.map((m) => ({
        memberId: m.memberId,
        clientHost: m.clientHost,
        partitions: m.memberAssignment.length ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topics.paymentRequests] ?? [] : [],
      })),
    }
  } finally {
    await admin.disconnect()
  }
}

/**
 * Waits until the group is Stable with `count` members that each hold partitions; the seconds since
 * `since`. Fails after `withinMs` with the group as last seen.
 */
export async function membersConsuming(count: number, since: number, withinMs = 60_000): Promise<number> {
  let last = 'not read'
  while (Date.now() - since < withinMs) {
    try {
      const group = await paymentGroup()
      last = JSON.stringify(group)
      if (group.state === 'Stable' && group.members.length === count && group.members.every((m) => m.partitions.length > 0)) return (Date.now() - since) / 1000
    } catch (error) {
      last = `describeGroups failed: ${(error as Error).message}`
    }
    await sleep(500)
  }
  throw new Error(`the payment-workers group did not have ${count} consuming members ${withinMs / 1000} s after the heal: ${last}`)
}

const TABLE = new Set(['PENDING', ...Object.keys(REASON_CODES)])

/** Every answer is PENDING or a reason of the table, and came within ANSWER_WITHIN_MS. */
export function expectTimelyTableAnswers(attempts: Attempt[]): void {
  const offTable = attempts.filter((a) => !TABLE.has(a.answer))
  expect(offTable.map((a) => `${a.answer} (HTTP ${a.status}) after ${a.ms} ms`), 'answers outside the reason table').toEqual([])
  const slow = attempts.filter((a) => (a.ms ?? Infinity) > ANSWER_WITHIN_MS)
  expect(slow.map((a) => `${a.answer} after ${a.ms} ms`), `answers slower than ${ANSWER_WITHIN_MS} ms`).toEqual([])
}

/** How a burst was answered, for the reliability table: `PENDING 60, TRY_AGAIN_LATER 212, …` (slowest answer). */
export function answerSummary(attempts: Attempt[]): string {
  const counts = new Map<string, number>()
  for (const a of attempts) counts.set(a.answer, (counts.get(a.answer) ?? 0) + 1)
  const slowest = Math.max(0, ...attempts.map((a) => a.ms ?? 0))
  return `${[...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}; slowest ${(slowest / 1000).toFixed(1)} s`
}

/**
 * One fault of the suite: a coupon of `stock` units, twice as many shoppers bursting on it, the fault
 * injected once the burst is under way (`inject` returns when it is healed, saying how it happened),
 * then every check of the suite. Returns the sale, its row filled in.
 */
export async function faultMidBurst(fault: string, fixture: { shoppers: Shopper[], procs: SaleProcesses }, inject: (sale: Sale) => Promise<{ resumedAt: number, happened: string }>, { stock = 60 } = {}): Promise<Sale> {
  const shoppers = fixture.shoppers.slice(0, 2 * stock)
  expect(shoppers.length, 'demand must be twice the stock').toBe(2 * stock)
  const couponId = await createCouponOnSale({ stock, price: 10 })
  const sale = newSale(fault, couponId, shoppers, fixture.procs.urls)
  await reporting(sale, async () => {
    const running = burst(fixture.procs.urls, shoppers, couponId, { spreadMs: 3_000, deadlineMs: 120_000 })
    await until('buyers before the fault', () => redis().scard(keys.buyers(couponId)), Math.ceil(stock / 4))
    const { resumedAt, happened } = await inject(sale)
    sale.row.happened = happened
    const first = await running
    sale.attempts.push(...first.attempts)
    sale.row.answers = answerSummary(first.attempts)
    expect(first.outcomes.GAVE_UP ?? 0, `shoppers still unanswered when the burst's deadline passed: ${JSON.stringify(first.outcomes)}`).toBe(0)
    sale.row.workersConsumingAfter = `${(await membersConsuming(fixture.procs.workers.length, resumedAt)).toFixed(1)} s`
    await recoversFully(sale, resumedAt, {}, 90_000)
    expectTimelyTableAnswers(sale.attempts)
  })
  return sale
}

export interface Read {
  path: string
  status: number
  /** `OK`, the refusal's reason, or NO_ANSWER */
  answer: string
  ms: number
}

/**
 * What a shopper reads while a fault lasts (`ms`): their account and orders, a coupon with its live
 * stock, and a catalogue page no cache holds, once a second through `url`. Every read must be
 * answered within ANSWER_WITHIN_MS, with its data or TRY_AGAIN_LATER.
 */
export async function readsDuring(url: string, shopper: Shopper, couponId: number, ms: number): Promise<Read[]> {
  const reads: Read[] = []
  const end = Date.now() + ms
  for (let round = 0; Date.now() < end; round++) {
    const paths = [
      'user.me',
      'order.mine',
      `coupon.get?input=${encodeURIComponent(JSON.stringify({ id: couponId }))}`,
      // a page size nobody asked for yet: past both cache levels, to MySQL
      `coupon.list?input=${encodeURIComponent(JSON.stringify({ page: 1 + round, pageSize: 13 + (round % 30) }))}`,
    ]
    const started = Date.now()
    reads.push(...await Promise.all(paths.map(async (path) => {
      const sent = Date.now()
      try {
        const res = await fetch(`${url}/api/trpc/${path}`, { headers: { authorization: `Bearer ${shopper.token}` }, signal: AbortSignal.timeout(10_000) })
        const json = await res.json().catch(() => ({})) as { error?: { data?: { reason?: string } } }
        return { path: path.split('?')[0]!, status: res.status, answer: res.ok ? 'OK' : json.error?.data?.reason ?? `HTTP ${res.status}`, ms: Date.now() - sent }
      } catch {
        return { path: path.split('?')[0]!, status: 0, answer: 'NO_ANSWER', ms: Date.now() - sent }
      }
    })))
    await sleep(Math.max(0, 1_000 - (Date.now() - started)))
  }
  return reads
}

/** Every read answered in time with its data or TRY_AGAIN_LATER; returns the answers each path got. */
export function expectTimelyReads(reads: Read[]): Record<string, string[]> {
  const wrong = reads.filter((r) => !['OK', 'TRY_AGAIN_LATER'].includes(r.answer) || r.ms > ANSWER_WITHIN_MS)
  expect(wrong.map((r) => `${r.path}: ${r.answer} after ${r.ms} ms`), 'reads answered late or otherwise than with data or TRY_AGAIN_LATER').toEqual([])
  const byPath: Record<string, string[]> = {}
  for (const r of reads) byPath[r.path] = [...new Set([...byPath[r.path] ?? [], r.answer])]
  return byPath
}
