import { createTRPCClient, createWSClient, httpBatchLink, splitLink, wsLink, type TRPCClient, type TRPCWebSocketClient } from '@trpc/client'
import WebSocket from 'ws'
import type { AppRouter } from '../../server/trpc/routers/_app'

export interface LiveClient {
  api: TRPCClient<AppRouter>
  socket: TRPCWebSocketClient
  /** Close codes of every socket this client had, in order. */
  closes: number[]
  close: () => Promise<void>
}

/**
 * The typed client a script or the app uses: subscriptions over `${baseUrl}/ws` (a token in
 * connectionParams, or a session cookie on the upgrade), everything else over HTTP. `retryDelayMs`
 * as in createWSClient (how long it waits before reconnecting).
 */
export function liveClient(
  baseUrl: string,
  options: { token?: string, cookie?: string, retryDelayMs?: (attempt: number) => number } = {},
): LiveClient {
  const { token, cookie } = options
  const closes: number[] = []
  // ws instead of Node's WebSocket: it can send the Cookie header a browser would.
  class TestWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, cookie ? { headers: { cookie } } : {})
      this.addEventListener('close', (event) => closes.push(event.code))
    }
  }
  const socket = createWSClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/ws`,
    WebSocket: TestWebSocket as unknown as typeof globalThis.WebSocket,
    ...(token ? { connectionParams: () => ({ token }) } : {}),
    retryDelayMs: options.retryDelayMs ?? (() => 100),
  })
  const headers = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(cookie ? { cookie } : {}) }
  const api = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: wsLink({ client: socket }),
        false: httpBatchLink({ url: `${baseUrl}/api/trpc`, headers }),
      }),
    ],
  })
  return { api, socket, closes, close: () => socket.close() }
}

export interface Collected<T> {
  items: T[]
  /** Resolves when the server confirmed the subscription (each time it does, after a reconnect too). */
  started: Promise<void>
  /** How often the server confirmed it. */
  starts: () => number
  /** When it did (Date.now()), each time. */
  startedAt: number[]
  /** The error that ended it, if one did. */
  error: () => unknown
  stop: () => void
}

/** Subscribes and keeps what arrives. */
export function collect<T>(
  subscribe: (handlers: { onStarted: () => void, onData: (value: T) => void, onError: (error: unknown) => void }) => {
    unsubscribe: () => void
  },
): Collected<T> {
  const items: T[] = []
  let error: unknown
  const startedAt: number[] = []
  let resolveStarted: () => void
  let rejectStarted: (error: unknown) => void
  const started = new Promise<void>((resolve, reject) => {
    resolveStarted = resolve
    rejectStarted = reject
  })
  started.catch(() => {})
  const sub = subscribe({
    onStarted: () => {
      startedAt.push(Date.now())
      resolveStarted()
    },
    onData: (value) => items.push(value),
    onError: (e) => {
      error = e
      rejectStarted(e)
    },
  })
  return { items, started, starts: () => startedAt.length, startedAt, error: () => error, stop: () => sub.unsubscribe() }
}
