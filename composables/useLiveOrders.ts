import type { Unsubscribable } from '@trpc/server/observable'
import type { Order, OrderStatus } from './contract'
import { describeReason, reasonOf } from './errors'
import { refreshViewer } from './useMe'

/** What the page knows of an order; `order.onUpdate` and `order.get` refreshes keep it current. */
export interface LiveOrder {
  orderId: string
  couponId: number
  status: OrderStatus
  reason?: string | null
}

// One subscription per tab, shared by every component that uses the composable (client only).
let subscription: Unsubscribable | null = null
let wanted = false
const notified = new Set<string>()

/**
 * The id of the last update this tab received, kept across reloads of the tab: a subscription without
 * one starts with the last minute's updates (server/realtime/streams.ts), which would show a result
 * toasted before the reload again.
 */
const LAST_EVENT = 'flash-live-last-event'
function resumeFrom(): { lastEventId: string } | undefined {
  const id = sessionStorage.getItem(LAST_EVENT)
  return id && Date.now() - Date.parse(id.slice(0, 24)) < 60_000 ? { lastEventId: id } : undefined
}

/**
 * Live order results: the tab's `order.onUpdate` subscription (over its one socket, resumed with the
 * last event id after a reconnect); a toast when an order becomes PAID or FAILED. On every (re)start
 * the PENDING orders the page shows are read again with `order.get`, and components poll them while
 * the socket is down (`connected`), so nobody waits on a lost message.
 */
export function useLiveOrders() {
  const nuxtApp = useNuxtApp()
  const toast = useToast()
  const orders = useState<Record<string, LiveOrder>>('live-orders', () => ({}))
  const connected = useState('live-connected', () => false)

  function notify(order: LiveOrder) {
    if (order.status === 'PENDING' || notified.has(order.orderId)) return
    notified.add(order.orderId)
    const paid = order.status === 'PAID'
    toast.create({
      title: paid ? 'Payment complete' : 'Purchase failed',
      body: paid ? `Order ${order.orderId} is paid — the coupon is yours.` : `Order ${order.orderId}: ${describeReason(order.reason)}.`,
      variant: paid ? 'success' : 'danger',
      modelValue: 8000,
      isStatus: true,
    })
    // Credit changed (or the reservation was released): show fresh numbers in the header.
    refreshViewer()
  }

  function apply(update: LiveOrder) {
    const before = orders.value[update.orderId]
    if (before && before.status !== 'PENDING' && update.status === 'PENDING') return // stale
    orders.value = { ...orders.value, [update.orderId]: { ...before, ...update } }
    if (before?.status !== update.status || !before) notify(update)
  }

  /** Starts watching an order (e.g. right after `order.purchase`, or PENDING ones listed by `order.mine`). */
  function track(order: Pick<Order, 'orderId' | 'couponId' | 'status' | 'reason'>) {
    const known = orders.value[order.orderId]
    if (known && known.status !== 'PENDING') return
    if (order.status !== 'PENDING') notified.add(order.orderId) // already settled when we learnt of it
    orders.value = { ...orders.value, [order.orderId]: { ...order } }
  }

  async function refreshPending() {
    const pending = Object.values(orders.value).filter((o) => o.status === 'PENDING')
    await Promise.all(pending.map(async (o) => {
      try {
        const fresh = await nuxtApp.$trpc.order.get.query({ orderId: o.orderId })
        apply({ orderId: fresh.orderId, couponId: fresh.couponId, status: fresh.status, reason: fresh.reason })
      } catch { /* the subscription or the next refresh tells us */ }
    }))
  }

  /** Subscribes the tab to the shopper's order updates (idempotent). Call once the user is signed in. */
  function connect() {
    if (import.meta.server) return
    wanted = true
    if (subscription) return
    subscription = nuxtApp.$trpc.order.onUpdate.subscribe(resumeFrom(), {
      onStarted: () => { refreshPending() },
      onData: ({ id, data }) => {
        sessionStorage.setItem(LAST_EVENT, id)
        apply(data)
      },
      onError: (error) => {
        subscription = null
        // Signed out meanwhile (the server closed the socket, the session is gone): nothing to resume.
        if (reasonOf(error) !== 'UNAUTHORIZED') setTimeout(() => { if (wanted) connect() }, 5_000)
      },
    })
  }

  function disconnect() {
    wanted = false
    subscription?.unsubscribe()
    subscription = null
  }

  return { orders, connected, track, connect, disconnect, refreshPending }
}
