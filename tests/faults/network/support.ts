/**
 * The stall and partition suite: a sale through web instances and workers whose every connection
 * goes through its own Toxiproxy proxy (harness.ts), one fault mid-burst, then the hard-fault
 * suite's checks (recoversFully: the audit passes, the remaining stock sells exactly, the history
 * holds, credits are conserved) and this suite's own:
 *  - both workers consuming again within 60 s of the heal, as Kafka itself lists the group's members
 *    (ConsumerGroupCommand), not as the workers say;
 *  - every answer a shopper got from the reason table (or PENDING), within 5 s.
 * Each test prints a `RELIABILITY {…}` row (docs/reliability.md, "Stalls and partitions").
 */
import { afterAll, beforeAll, expect } from 'vitest'
import { REASON_CODES } from '../../../server/trpc/errors'
import { redis } from '../../../server/redis/client'
import { createCouponOnSale } from '../../support/data'
import type { Shopper } from '../../support/shoppers'
import { procedureUrl, type CallPath } from '../../support/api'
import { burst, isAlive, kafkaDrained, keys, sleep, type Attempt, type StackProc } from '../support'
import { closeConnections, newSale, recoversFully, reporting, sharedShoppers, until, type Sale, type SaleProcesses } from '../hard/support'
import { consuming, membersUntil, networkFaults, procState, type NetworkFaults, type Part, type Paused } from './harness'

/** Shoppers wait this long for an answer at most (the web's deadlines are below it). */
export const ANSWER_WITHIN_MS = 5_000
export const WORKERS = ['net-worker-1', 'net-worker-2']

export interface NetworkSale {
  shoppers: Shopper[]
  net: NetworkFaults
  /** the web instances' proxies, and each worker's own */
  webs: Part
  workerParts: Part[]
  procs: SaleProcesses
  /** a worker of `workerParts[i]` with extra env (failpoints); stopped with the others */
  startWorker: (i: number, env?: Record<string, string>) => Promise<StackProc>
}

/**
 * The suite's set-up for a file: 121 shoppers (the last one reads while the others buy), two web
 * instances behind the `net-webs` proxies and
 * (unless `workers` is false, for tests that arm failpoints in their own) two workers, each behind
 * its own proxies (`net-worker-1`, `net-worker-2`: their Kafka client ids too).
 */
export function networkSale({ workers = true } = {}): NetworkSale {
  const sale = {} as NetworkSale
  const running: StackProc[] = []
  beforeAll(async () => {
    sale.net = await networkFaults()
    sale.webs = await sale.net.part('net-webs')
    sale.workerParts = []
    // one at a time: each takes the next free one of the broker's proxied listeners
    for (const name of WORKERS) sale.workerParts.push(await sale.net.part(name))
    sale.startWorker = async (i, env = {}) => {
      const worker = await sale.net.startWorker(sale.workerParts[i]!, { env })
      running.push(worker)
      return worker
    }
    const webEnv = { PURCHASE_RATE_LIMIT: '100' }
    const [shoppers, ...webs] = await Promise.all([
      sharedShoppers(121),
      sale.net.startWeb(sale.webs, { env: webEnv }),
      sale.net.startWeb(sale.webs, { env: webEnv }),
    ])
    sale.shoppers = shoppers as Shopper[]
    const webList = webs as (StackProc & { url: string, port: number })[]
    running.push(...webList)
    const workerList = workers ? await Promise.all(WORKERS.map((_, i) => sale.startWorker(i))) : []
    const gone = new Set<number>()
    for (const p of running) void p.exited.then(() => gone.add(p.pid))
    sale.procs = {
      webs: webList,
      workers: workerList,
      urls: () => webList.filter((w) => !gone.has(w.pid)).map((w) => w.url),
      stop: async () => { await Promise.all(running.map((p) => p.stop(15_000).catch(() => {}))) },
    }
  }, 240_000)
  afterAll(async () => {
    await sale.net?.healAll().catch(() => {})
    // the web instances first: the workers then settle what is left, so no later file inherits it
    await Promise.all((sale.procs?.webs ?? []).map((w) => w.stop(15_000).catch(() => {})))
    if (sale.procs?.workers.some((w) => isAlive(w.pid))) await kafkaDrained(30_000)
    await sale.procs?.stop()
    await sale.net?.close()
    await closeConnections()
  })
  return sale
}

/**
 * Holds `paused` (harness pause(): SIGSTOP of a process group, state T seen) for `ms` while `during`
 * runs, then SIGCONT — also when the test fails meanwhile. Asserts it was still stopped at the end.
 */
export async function heldPaused(
  paused: Paused,
  ms: number,
  during: () => Promise<unknown> = async () => {},
): Promise<{ resumedAt: number, happened: string }> {
  let stoppedMs: number
  try {
    await Promise.all([sleep(ms), during()])
    expect(procState(paused.pid), `process ${paused.pid} was not stopped for the whole pause`).toBe('T')
  } finally {
    stoppedMs = await paused.resume()
  }
  return { resumedAt: Date.now(), happened: `SIGSTOP ${(stoppedMs / 1000).toFixed(1)} s (state T in /proc at both ends), SIGCONT` }
}

/** Seconds from `since` until Kafka lists every one of `clientIds` as a member holding partitions; fails after 60 s. */
export async function consumingAgain(since: number, clientIds = WORKERS): Promise<number> {
  await membersUntil((members) => consuming(members, clientIds), 60_000 - (Date.now() - since))
  return (Date.now() - since) / 1000
}

const TABLE = new Set(['PENDING', ...Object.keys(REASON_CODES)])

/** Every answer is PENDING or a reason of the table, and came within ANSWER_WITHIN_MS. */
export function expectTimelyTableAnswers(attempts: Attempt[]): void {
  const offTable = attempts.filter((a) => !TABLE.has(a.answer))
  expect(offTable.map((a) => `${a.answer} (HTTP ${a.status}) after ${a.ms} ms`), 'answers outside the reason table').toEqual([])
  const slow = attempts.filter((a) => (a.ms ?? Infinity) > ANSWER_WITHIN_MS)
  expect(slow.map((a) => `${a.answer} after ${a.ms} ms`), `answers slower than ${ANSWER_WITHIN_MS} ms`).toEqual([])
}

/** How a burst was answered, for the reliability table: `PENDING 60, TRY_AGAIN_LATER 212, …; slowest 3.1 s`. */
export function answerSummary(attempts: Attempt[]): string {
  const counts = new Map<string, number>()
  for (const a of attempts) counts.set(a.answer, (counts.get(a.answer) ?? 0) + 1)
  const slowest = Math.max(0, ...attempts.map((a) => a.ms ?? 0))
  return `${[...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}; slowest ${(slowest / 1000).toFixed(1)} s`
}

export interface FaultOptions {
  stock?: number
  /** where shoppers send their purchases (default: the web instances in turn) */
  urls?: () => string[]
  /** the Kafka client ids that must be consuming again after the heal */
  workers?: string[]
}

/**
 * One fault of the suite: a coupon of `stock` units, twice as many shoppers bursting on it, the fault
 * injected once the burst is under way (`inject` returns when it is healed, saying how it happened),
 * then every check of the suite. Returns the sale, its row filled in.
 */
export async function faultMidBurst(
  fault: string,
  fixture: NetworkSale,
  inject: (sale: Sale) => Promise<{ resumedAt: number, happened: string }>,
  { stock = 60, urls = fixture.procs.urls, workers = WORKERS }: FaultOptions = {},
): Promise<Sale> {
  const shoppers = fixture.shoppers.slice(0, 2 * stock)
  expect(shoppers.length, 'demand must be twice the stock').toBe(2 * stock)
  const couponId = await createCouponOnSale({ stock, price: 10 })
  const sale = newSale(fault, couponId, shoppers, urls)
  await reporting(sale, async () => {
    const running = burst(urls, shoppers, couponId, { spreadMs: 3_000, deadlineMs: 120_000 })
    await until('buyers before the fault', () => redis().scard(keys.buyers(couponId)), Math.ceil(stock / 4))
    const { resumedAt, happened } = await inject(sale)
    sale.row.happened = happened
    const first = await running
    sale.attempts.push(...first.attempts)
    sale.row.answers = answerSummary(first.attempts)
    expect(
      first.outcomes.GAVE_UP ?? 0,
      `shoppers still unanswered when the burst's deadline passed: ${JSON.stringify(first.outcomes)}`,
    ).toBe(0)
    sale.row.workersConsumingAfter = `${(await consumingAgain(resumedAt, workers)).toFixed(1)} s`
    await recoversFully(sale, resumedAt, {}, 90_000)
    expectTimelyTableAnswers(sale.attempts)
  })
  return sale
}

export interface Read {
  path: CallPath
  status: number
  /** `OK`, the refusal's reason, or NO_ANSWER */
  answer: string
  ms: number
}

/**
 * What a shopper reads while a fault lasts (`ms`): their account and orders, a coupon with its live
 * stock, and a catalogue page no cache holds, once a second through `url`.
 */
export async function readsDuring(url: string, shopper: Shopper, couponId: number, ms: number): Promise<Read[]> {
  const reads: Read[] = []
  const end = Date.now() + ms
  for (let round = 0; Date.now() < end; round++) {
    const calls: [CallPath, string][] = [
      ['user.me', procedureUrl(url, 'user.me')],
      ['order.mine', procedureUrl(url, 'order.mine')],
      ['coupon.get', procedureUrl(url, 'coupon.get', { id: couponId })],
      // a page size nobody asked for yet: past both cache levels, to MySQL
      ['coupon.list', procedureUrl(url, 'coupon.list', { page: 1 + round, pageSize: 13 + (round % 30) })],
    ]
    const started = Date.now()
    reads.push(...await Promise.all(calls.map(async ([name, callUrl]) => {
      const sent = Date.now()
      try {
        const res = await fetch(callUrl, { headers: { authorization: `Bearer ${shopper.token}` }, signal: AbortSignal.timeout(10_000) })
        const json = await res.json().catch(() => ({})) as { error?: { data?: { reason?: string } } }
        return {
          path: name,
          status: res.status,
          answer: res.ok ? 'OK' : (json.error?.data?.reason ?? `HTTP ${res.status}`),
          ms: Date.now() - sent,
        }
      } catch {
        return { path: name, status: 0, answer: 'NO_ANSWER', ms: Date.now() - sent }
      }
    })))
    await sleep(Math.max(0, 1_000 - (Date.now() - started)))
  }
  return reads
}

/** Every read answered within ANSWER_WITHIN_MS, with its data or TRY_AGAIN_LATER; returns the answers each path got. */
export function expectTimelyReads(reads: Read[]): Partial<Record<CallPath, string[]>> {
  const wrong = reads.filter((r) => !['OK', 'TRY_AGAIN_LATER'].includes(r.answer) || r.ms > ANSWER_WITHIN_MS)
  expect(wrong.map((r) => `${r.path}: ${r.answer} after ${r.ms} ms`), 'reads answered late or otherwise than with data or TRY_AGAIN_LATER').toEqual([])
  const byPath: Partial<Record<CallPath, string[]>> = {}
  for (const r of reads) byPath[r.path] = [...new Set([...byPath[r.path] ?? [], r.answer])]
  return byPath
}
