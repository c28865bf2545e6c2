import { randomUUID } from 'node:crypto'
import type { Admin, Producer } from 'kafkajs'
import { db } from '../db'
import { PAYMENT_GROUP, topics } from '../kafka/client'
import { redis } from '../redis/client'
import { keys } from '../redis/keys'
import { leaseScript } from '../redis/scripts'
import { Reconciler } from '../domain/payments/reconciler'
import { LoadBarrier } from '../domain/stock/barrier'
import { groupPositions } from '../observability/kafka-lag'
import { log } from '../observability/log'

const LEASE_MS = 10_000
const PASS_EVERY_MS = 2_000

/**
 * The reconciler's loop in a worker: one worker at a time holds the lease `lock:reconciler` and runs a
 * pass every couple of seconds; it keeps the lease while it lives, and a dead holder's lease expires.
 */
export class ReconcilerLoop {
  private readonly token = `${process.pid}-${randomUUID()}`
  private stopping = false
  private wake: (() => void) | undefined
  private loop: Promise<void> | undefined

  constructor(private readonly deps: { producer: Producer, admin: Admin, consuming: () => boolean }) {}

  start(): void {
    this.loop ??= this.run()
  }

  /** Lets a running pass end, then gives the lease up. */
  async stop(): Promise<void> {
    this.stopping = true
    this.wake?.()
    await this.loop
  }

  private async run(): Promise<void> {
    const { producer, admin, consuming } = this.deps
    const lockKey = keys.lock('reconciler')
    const reconcile = new Reconciler({
      db: db(),
      redis: redis(),
      consuming,
      barrier: new LoadBarrier(() => groupPositions(admin, topics.paymentRequests, PAYMENT_GROUP)),
      republish: async (events) => {
        await producer.send({
          topic: topics.paymentRequests,
          acks: -1,
          messages: events.map((e) => ({ key: e.orderId, value: JSON.stringify(e) })),
        })
      },
    })
    while (!this.stopping) {
      let renew: NodeJS.Timeout | undefined
      try {
        const mine =
          (await redis().set(lockKey, this.token, 'PX', LEASE_MS, 'NX')) === 'OK' ||
          (await leaseScript(redis(), lockKey, this.token, 'renew', LEASE_MS))
        if (mine) {
          renew = setInterval(() => { leaseScript(redis(), lockKey, this.token, 'renew', LEASE_MS).catch(() => {}) }, LEASE_MS / 3)
          const done = await reconcile.pass()
          if (done.loaded || done.repaired || done.republished || done.finished || done.skipped) log.info('reconciled', done)
        }
      } catch (error) {
        log.warn('reconciler pass failed', { error })
      } finally {
        clearInterval(renew)
      }
      await this.pause(PASS_EVERY_MS)
    }
    await leaseScript(redis(), lockKey, this.token, 'release').catch(() => {})
  }

  /** A pause that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => { clearTimeout(timer); resolve() }
    })
  }
}
