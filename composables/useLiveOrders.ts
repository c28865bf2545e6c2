import type { Order, OrderStatus } from './contract'
import { describeReason } from './errors'
import { refreshViewer } from './useMe'

/** What the page knows of an order; `order.updated` messages and `order.get` refreshes keep it current. */
export interface LiveOrder {
  orderId: string
  couponId: number
  status: OrderStatus
  reason?: string | null
}

interface OrderUpdated extends LiveOrder {
  type: 'order.updated'
}

type Notify = (order: LiveOrder) => void

// One socket per tab, shared by every component that uses the composable (client only).
let socket: WebSocket | null = null
let reconnectTimer: ReturnType<typeof setTimeout> | undefined
let failures = 0
let wanted = false
const notified = new Set<string>()
/** Coupons whose stock this tab shows (the coupon page), subscribed again on every (re)connect. */
const stockWatched = new Map<number, number>()

function send(message: object) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message))
}

const MAX_BACKOFF_MS = 30_000

/** Exponential backoff with jitter, so a restarted server is not hit by every tab at once. */
function backoff(attempt: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt)
  return ceiling / 2 + Math.random() * ceiling / 2
}

/**
 * Live order results: one `/ws` connection, reconnecting with backoff; a toast when an order becomes
 * PAID or FAILED; on every (re)connect the PENDING orders are re-read with `order.get`, because
 * pub/sub may have dropped a message while the socket was down.
 */
export function useLiveOrders() {
  const nuxtApp = useNuxtApp()
  const toast = useToast()
  const orders = useState<Record<string, LiveOrder>>('live-orders', () => ({}))
  const connected = useState('live-connected', () => false)
  /** Live stock by coupon, pushed by the server's per-instance tick while a page watches it. */
  const stock = useState<Record<number, number>>('live-stock', () => ({}))

  const notify: Notify = (order) => {
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
      } catch { /* the next reconnect or message tells us */ }
    }))
  }

  function open() {
    if (!wanted || socket) return
    const url = new URL('/ws', window.location.href)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    const ws = new WebSocket(url)
    socket = ws
    ws.onopen = () => {
      failures = 0
      connected.value = true
      for (const couponId of stockWatched.keys()) send({ type: 'subscribe', couponId })
      refreshPending()
    }
    ws.onmessage = (event) => {
      let message: Partial<OrderUpdated> | { type: 'stock', couponId: number, stock: number }
      try { message = JSON.parse(String(event.data)) } catch { return }
      if (message.type === 'stock') {
        const m = message as { couponId: number, stock: number }
        if (Number.isInteger(m.couponId) && Number.isFinite(m.stock)) stock.value = { ...stock.value, [m.couponId]: m.stock }
        return
      }
      if (message.type !== 'order.updated' || !message.orderId || !message.status) return
      apply({ orderId: message.orderId, couponId: Number(message.couponId), status: message.status, reason: message.reason })
    }
    ws.onclose = (event) => {
      socket = null
      connected.value = false
      if (!wanted) return
      // 1012 = the server is restarting: come back quickly (still jittered) instead of backing off.
      const delay = event.code === 1012 ? backoff(0) : backoff(failures++)
      reconnectTimer = setTimeout(open, delay)
    }
    // onerror is always followed by onclose, which schedules the reconnect.
  }

  /** Opens the tab's socket (idempotent). Call from onMounted once the user is signed in. */
  function connect() {
    if (import.meta.server) return
    wanted = true
    open()
  }

  function disconnect() {
    wanted = false
    clearTimeout(reconnectTimer)
    socket?.close(1000)
    socket = null
  }

  /** Live stock of a coupon while a page shows it; returns the function that stops watching. */
  function watchStock(couponId: number): () => void {
    if (import.meta.server) return () => {}
    stockWatched.set(couponId, (stockWatched.get(couponId) ?? 0) + 1)
    send({ type: 'subscribe', couponId })
    return () => {
      const n = (stockWatched.get(couponId) ?? 1) - 1
      if (n > 0) return void stockWatched.set(couponId, n)
      stockWatched.delete(couponId)
      send({ type: 'unsubscribe', couponId })
    }
  }

  return { orders, connected, stock, track, connect, disconnect, refreshPending, watchStock }
}
