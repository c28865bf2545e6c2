import { kafka, PAYMENT_GROUP } from '../kafka/client'
import type { RedisClient } from '../redis/client'
import { DRAIN_POLL_MS, drainedWorkers, requestDrain, resumeWorkers } from '../domain/payments/drain'
import type { Output } from './output'
import { setTimeout as sleep } from 'node:timers/promises'


async function groupMembers(): Promise<number> {
  const admin = kafka().admin()
  await admin.connect()
  try {
    const { groups } = await admin.describeGroups([PAYMENT_GROUP])
    return groups[0]?.members.length ?? 0
  } finally {
    await admin.disconnect()
  }
}

/**
 * Sets the drain flag and waits until every member of the payment-workers group has committed the
 * batch in hand and paused. Events keep arriving in Kafka and wait there until `worker resume`.
 */
export async function workerDrain(redis: RedisClient, out: Output, timeoutMs: number) {
  const token = await requestDrain(redis)
  out.progress('drain flag set; waiting for every worker to commit its batch in hand and pause')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [members, drained] = await Promise.all([groupMembers(), drainedWorkers(redis, token)])
    out.progress(`${drained.length}/${members} worker(s) drained`)
    if (drained.length >= members) {
      out.result({ drained: true, workers: drained, members }, () => `${drained.length} worker(s) drained: settlement is paused until \`flash-sale worker resume\``)
      return true
    }
    if (Date.now() > deadline) {
      out.result({ drained: false, workers: drained, members }, () => `only ${drained.length} of ${members} worker(s) drained within ${timeoutMs / 1000}s (the flag stays set)`)
      return false
    }
    await sleep(DRAIN_POLL_MS / 2)
  }
}

export async function workerResume(redis: RedisClient, out: Output) {
  const wasDrained = await resumeWorkers(redis)
  out.result({ resumed: wasDrained }, () => (wasDrained ? 'drain flag removed: workers resume within a second' : 'workers were not drained'))
}
