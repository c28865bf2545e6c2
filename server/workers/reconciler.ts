import { randomUUID } from 'node:crypto'
import type { Admin } from 'kafkajs'
import { db } from '../db'
import { PAYMENT_GROUP, sendInChunks, topics, type Sender } from '../kafka/client'
import { redis } from '../redis/client'
import { keys } from '../redis/keys'
import { holdLease, leaseScript } from '../redis/scripts'
import { StoppableLoop } from '../domain/loop'
import { Reconciler } from '../domain/payments/reconciler'
import { RepublishGate } from '../domain/payments/republish-gate'
import { LoadBarrier } from '../domain/stock/barrier'
import { groupPositions } from '../observability/kafka-lag'
import { log } from '../observability/log'

const LEASE_MS = 10_000
const PASS_EVERY_MS = 2_000

/**
 * The reconciler's loop in a worker: one worker at a time holds the lease `lock:reconciler` and runs a
 * pass every couple of seconds; it keeps the lease while it lives, and a dead holder's lease expires.
 */
export class ReconcilerLoop extends StoppableLoop {
  private readonly token = `${process.pid}-${randomUUID()}`

  constructor(private readonly deps: { producer: Sender, admin: Admin, consuming: () => boolean }) {
    super()
  }

  /** Passes while it holds the lease; on stop, lets a running pass end, then gives the lease up. */
  protected async run(): Promise<void> {
    const { producer, admin, consuming } = this.deps
    const lockKey = keys.lock('reconciler')
    const positions = () => groupPositions(admin, topics.paymentRequests, PAYMENT_GROUP)
    const reconcile = new Reconciler({
      db: db(),
      redis: redis(),
      consuming,
      barrier: new LoadBarrier(positions),
      gate: new RepublishGate(positions),
      republish: (events) =>
        sendInChunks(producer, topics.paymentRequests, events.map((e) => ({ key: e.orderId, value: JSON.stringify(e) }))),
    })
    while (!this.stopping) {
      let renew: NodeJS.Timeout | undefined
      try {
        const mine = await holdLease(redis(), lockKey, this.token, LEASE_MS)
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
      await this.sleep(PASS_EVERY_MS)
    }
    await leaseScript(redis(), lockKey, this.token, 'release').catch(() => {})
  }
}
