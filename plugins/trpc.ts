import { createWSClient, splitLink, wsLink, type TRPCWebSocketClient } from '@trpc/client'
import { createTRPCNuxtClient, httpBatchLink } from 'trpc-nuxt/client'
import type { AppRouter } from '~~/server/trpc/routers/_app'

const MAX_BACKOFF_MS = 30_000

/** Exponential backoff with jitter, so a restarted server is not hit by every tab at once. */
function backoff(attempt: number): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt)
  return ceiling / 2 + Math.random() * ceiling / 2
}

/**
 * The app's one typed client: subscriptions over the tab's WebSocket (`/ws`, authenticated by the
 * session cookie), everything else over HTTP batches. The socket opens with the first subscription
 * (live stock on a catalogue page, the shopper's order updates) and closes a while after the last
 * one ends; it reconnects with backoff, and tRPC resubscribes with each subscription's last event id.
 */
export default defineNuxtPlugin({
  name: 'trpc',
  setup() {
    const http = httpBatchLink({ url: '/api/trpc', maxItems: 10 }) // the server refuses batches of more (maxBatchSize)
    let socket: TRPCWebSocketClient | null = null
    if (import.meta.client) {
      const url = new URL('/ws', window.location.href)
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
      socket = createWSClient({ url: url.href, lazy: { enabled: true, closeMs: 10_000 }, retryDelayMs: backoff })
      // Whether live updates flow: the pages poll slowly as a fallback only while they do not.
      const connected = useState('live-connected', () => false)
      socket.connectionState.subscribe({ next: (state) => { connected.value = state.state === 'pending' } })
    }
    const trpc = createTRPCNuxtClient<AppRouter>({
      links: socket
        ? [splitLink({ condition: (op) => op.type === 'subscription', true: wsLink({ client: socket }), false: http })]
        : [http],
    })
    return { provide: { trpc } }
  },
})
