import { tracked, type TrackedEnvelope } from '@trpc/server'
import { db } from '../db'
import { findCoupon } from '../domain/coupons/catalogue'
import { DomainError } from '../domain/errors'
import { parseUpdateId, selectUpdatesSince, type OrderUpdate, type PublishedUpdate, type UpdateCursor } from '../domain/orders/updates'
import { watchQueue } from '../domain/queue/service'
import type { QueueStatus } from '../domain/queue/schemas'
import type { LiveSocket } from './connections'
import { openStream, orderFeed, stockFeed } from './index'
import type { PushStream } from './stream'
import type { StockUpdate } from './stock-feed'

/**
 * Without a lastEventId, the updates of this last stretch come first: a client whose first socket died
 * before its first event reconnects without one, and must still get the result it was waiting for.
 */
export const RECENT_WITHOUT_CURSOR_MS = 60_000
/** Ids a subscription remembers having sent (a worker may publish an update twice). */
const REMEMBERED_IDS = 256

/**
 * `order.onUpdate`: the user's updates after `lastEventId` read from MySQL, then the live ones the
 * workers publish to this instance, each once. The listener and the presence record are in place
 * before MySQL is read, so an update lands in the read, in the live stream, or in both (then it is
 * sent once): none falls between them.
 */
export async function orderUpdates(socket: LiveSocket, userId: number, lastEventId: string | undefined, signal: AbortSignal | undefined): Promise<PushStream<TrackedEnvelope<OrderUpdate>>> {
  const stream = openStream<TrackedEnvelope<OrderUpdate>>(socket, signal)
  let sent: Set<string> | undefined // made with the first update: most subscriptions wait idle
  const send = ({ id, update }: Pick<PublishedUpdate, 'id' | 'update'>) => {
    sent ??= new Set()
    if (sent.has(id)) return
    sent.add(id)
    if (sent.size > REMEMBERED_IDS) sent.delete(sent.values().next().value!)
    stream.push(tracked(id, update))
  }
  let arrivedDuringReplay: PublishedUpdate[] | null = []
  try {
    stream.onEnd(await orderFeed.listen(userId, (event) => (arrivedDuringReplay ? arrivedDuringReplay.push(event) : send(event))))
    const cursor: UpdateCursor = (lastEventId && parseUpdateId(lastEventId)) || { after: new Date(Date.now() - RECENT_WITHOUT_CURSOR_MS), orderId: '' }
    for (const missed of await selectUpdatesSince(db(), userId, cursor)) send(missed)
  } catch (error) {
    stream.end()
    throw error instanceof DomainError ? error : new DomainError('TRY_AGAIN_LATER', 'Live updates are unavailable for a moment; try again', 1)
  }
  for (const event of arrivedDuringReplay) send(event)
  arrivedDuringReplay = null
  return stream
}

/** `coupon.onStock`: the coupons' current stock, then its changes (at most one message per coupon per tick). */
export async function stockUpdates(socket: LiveSocket, couponIds: number[], signal: AbortSignal | undefined): Promise<PushStream<StockUpdate>> {
  const ids = [...new Set(couponIds)]
  await assertCouponsExist(ids)
  const stream = openStream<StockUpdate>(socket, signal)
  try {
    stream.onEnd(await stockFeed.watch(ids, (update) => stream.push(update)))
  } catch {
    stream.end()
    throw new DomainError('TRY_AGAIN_LATER', 'Live stock is unavailable for a moment; try again', 1)
  }
  return stream
}

async function assertCouponsExist(ids: number[]): Promise<void> {
  const coupons = await Promise.all(ids.map((id) => findCoupon(id)))
  const missing = ids.filter((_, i) => !coupons[i])
  if (missing.length) throw new DomainError('NOT_FOUND', `No such coupon: ${missing.join(', ')}`)
}

/**
 * `queue.onStatus`: the shopper's waiting-room status now, then its changes. The instance's queue feed
 * reads each room once a tick for all its subscribers and the shopper's place once
 * (server/domain/queue/feed.ts): a subscription costs no Redis read per update.
 */
export async function queueUpdates(socket: LiveSocket, userId: number, couponId: number, signal: AbortSignal | undefined): Promise<PushStream<QueueStatus>> {
  const stream = openStream<QueueStatus>(socket, signal)
  try {
    stream.onEnd(await watchQueue(userId, couponId, (status) => stream.push(status)))
  } catch (error) {
    stream.end()
    throw error
  }
  return stream
}
