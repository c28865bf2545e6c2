import { TRPCError, type TrackedEnvelope } from '@trpc/server'
import type { TRPCClientOutgoingMessage } from '@trpc/server/rpc'
import { getDefaultErrorShape, getTRPCErrorFromUnknown, isAsyncIterable, isObject, isTrackedEnvelope, parseConnectionParamsFromUnknown, parseTRPCMessage, type AnyProcedure, type ProcedureType } from '@trpc/server/unstable-core-do-not-import'
import { PushStream, type StreamSink } from '../realtime/stream'
import { MAX_BATCH_SIZE } from './http'
import type { Context } from './init'
import { appRouter } from './routers/_app'

const procedures = appRouter._def.procedures as unknown as Record<string, AnyProcedure>
/** The router's own formatter (it also records refusals for the metrics, server/trpc/observe.ts). */
const formatError = appRouter._def._config.errorFormatter

/** What a session needs of its socket. */
export interface SocketTransport {
  send: (text: string) => void
  close: (code: number, reason: string) => void
}

type ConnectionParams = ReturnType<typeof parseConnectionParamsFromUnknown>
type Id = string | number
/**
 * A subscription of the socket: stopped by the client (or the socket's end) before or after it
 * started. One object per subscription, and the sink of its stream: thousands of them sit idle, so
 * none holds closures of its own.
 */
class Running implements StreamSink<unknown> {
  stopped = false
  /** What it sends from once started: a drained stream, or (any other iterable) the stop of its loop. */
  stream: PushStream<unknown> | undefined
  stopLoop: (() => void) | undefined

  constructor(
    private readonly session: SocketSession,
    readonly id: Id,
    readonly jsonrpc: '2.0' | undefined,
    readonly path: string,
  ) {}

  stop(): void {
    this.stopped = true
    this.stream?.end()
    this.stopLoop?.()
  }

  /** An event of the stream. */
  item(value: unknown): void {
    this.session.sendEvent(this, value)
  }

  /** The stream ended. */
  end(): void {
    this.session.finish(this)
  }
}

/**
 * tRPC's WebSocket protocol on one socket of /ws (docs/decisions.md, "Live updates"): the messages
 * `@trpc/client`'s wsLink sends and expects — connectionParams first when the URL says so, calls and
 * batches of calls, `subscription.stop`, PING/PONG; answers `started`, `data` (with the id of a
 * `tracked()` event), `stopped` and errors in the router's error shape — as tRPC's own handler
 * (`@trpc/server/adapters/ws`) speaks them. Leaner than that handler: a subscription that returns a
 * PushStream is drained, so an idle one waits on no promise and holds no AbortController — under 1 KB
 * where the standard handler's race of promises holds ~10 KB (docs/decisions.md has the measurements).
 * Procedures get no `signal` here: a subscription ends through the stream it returned.
 */
export class SocketSession {
  private context: Promise<Context | null> | undefined
  /** The context once made (the error formatter reads its requestId). */
  private ctx: Context | undefined
  private readonly subscriptions = new Map<Id, Running>()
  private open = true

  constructor(
    private readonly transport: SocketTransport,
    private readonly createContext: (params: ConnectionParams) => Promise<Context>,
    /** The client sends its connectionParams as its first message (`?connectionParams=1`). */
    awaitsConnectionParams: boolean,
  ) {
    if (!awaitsConnectionParams) this.context = this.start(() => null)
  }

  receive(text: string): void {
    if (text === 'PING') return this.transport.send('PONG')
    if (text === 'PONG') return
    if (!this.context) {
      this.context = this.start(() => {
        const message: unknown = JSON.parse(text)
        if (!isObject(message)) throw new Error('Message was not an object')
        return parseConnectionParamsFromUnknown(message.data)
      })
      return
    }
    let messages: TRPCClientOutgoingMessage[]
    try {
      const json: unknown = JSON.parse(text)
      const list = Array.isArray(json) ? json : [json]
      if (list.length > MAX_BATCH_SIZE) return this.refuseBatch(list)
      messages = list.map((raw) => parseTRPCMessage(raw, appRouter._def._config.transformer))
    } catch (cause) {
      return this.respondError(null, undefined, new TRPCError({ code: 'PARSE_ERROR', cause }))
    }
    messages.forEach((message, index) => void this.handle(message, index))
  }

  /** The socket closed: every subscription stops (and frees what it held). */
  closed(): void {
    this.open = false
    for (const running of this.subscriptions.values()) running.stop()
    this.subscriptions.clear()
  }

  private async start(params: () => ConnectionParams): Promise<Context | null> {
    try {
      let parsed: ConnectionParams
      try {
        parsed = params()
      } catch (cause) {
        throw new TRPCError({ code: 'PARSE_ERROR', message: 'Malformed TRPCConnectionParamsMessage', cause })
      }
      this.ctx = await this.createContext(parsed)
      return this.ctx
    } catch (cause) {
      // Refused (a bad token, a shopper over their cap): the one error body, then the socket ends.
      const error = getTRPCErrorFromUnknown(cause)
      this.respondError(null, undefined, error)
      setImmediate(() => this.transport.close(1008, error.message.slice(0, 120)))
      return null
    }
  }

  private async handle(message: TRPCClientOutgoingMessage, batchIndex: number): Promise<void> {
    const { id, jsonrpc } = message
    if (id === null) return this.respondError(null, jsonrpc, new TRPCError({ code: 'PARSE_ERROR', message: '`id` is required' }))
    if (message.method === 'subscription.stop') {
      return this.subscriptions.get(id)?.stop()
    }
    const {
      method: type,
      params: { path, lastEventId },
    } = message
    let input = message.params.input
    // As tRPC does: a resumed subscription gets the id of the last event it received in its input.
    if (lastEventId !== undefined) input = isObject(input) ? { ...input, lastEventId } : (input ?? { lastEventId })
    let running: Running | undefined
    if (type === 'subscription') {
      if (this.subscriptions.has(id)) {
        return this.respondError(id, jsonrpc, new TRPCError({ code: 'BAD_REQUEST', message: `Duplicate id ${id}` }), path, type)
      }
      running = new Running(this, id, jsonrpc, path)
      this.subscriptions.set(id, running)
    }
    try {
      const ctx = await this.context
      if (!ctx) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'The socket was refused' })
      if (running?.stopped) return this.forget(running)
      const procedure = procedures[path]
      if (!procedure) throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` })
      if (procedure._def.type !== type) {
        throw new TRPCError({
          code: 'METHOD_NOT_SUPPORTED',
          message: `Unsupported ${type} call to ${procedure._def.type} procedure at path "${path}"`,
        })
      }
      // No signal: a subscription is stopped through what it returned (its stream ends, or the loop below stops).
      const result: unknown = await procedure({ ctx, getRawInput: async () => input, path, type, signal: undefined, batchIndex })
      if (!running) {
        if (isAsyncIterable(result)) {
          throw new TRPCError({
            code: 'UNSUPPORTED_MEDIA_TYPE',
            message: `Cannot return an async iterable from a ${type} procedure with WebSockets`,
          })
        }
        return this.respond({ id, jsonrpc, result: { type: 'data', data: result } })
      }
      if (!isAsyncIterable(result)) {
        throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: `Subscription ${path} did not return an async iterable` })
      }
      if (running.stopped) {
        void Promise.resolve(result[Symbol.asyncIterator]().return?.()).catch(() => {})
        return this.forget(running)
      }
      this.respond({ id, jsonrpc, result: { type: 'started' } })
      this.pump(result, running)
    } catch (cause) {
      if (running) this.forget(running)
      this.respondError(id, jsonrpc, getTRPCErrorFromUnknown(cause), path, type)
    }
  }

  /** Sends a subscription's events until it ends or is stopped, then `stopped`. */
  private pump(events: AsyncIterable<unknown>, running: Running): void {
    if (events instanceof PushStream) {
      running.stream = events
      return events.drain(running)
    }
    // Any other async iterable: pulled, each wait raced against a stop.
    const iterator = events[Symbol.asyncIterator]()
    const stopped = new Promise<'stopped'>((resolve) => {
      running.stopLoop = () => resolve('stopped')
    })
    void (async () => {
      try {
        for (;;) {
          const next = await Promise.race([iterator.next(), stopped])
          if (next === 'stopped' || next.done) break
          this.sendEvent(running, next.value)
        }
        this.finish(running)
      } catch (cause) {
        this.finish(running, cause)
      } finally {
        void Promise.resolve(iterator.return?.()).catch(() => {})
      }
    })()
  }

  /** One event of a subscription (with its id when it is `tracked()`). */
  sendEvent({ id, jsonrpc }: Running, value: unknown): void {
    if (!isTrackedEnvelope(value)) return this.respond({ id, jsonrpc, result: { type: 'data', data: value } })
    const [eventId, data] = value as TrackedEnvelope<unknown>
    this.respond({ id, jsonrpc, result: { type: 'data', id: eventId, data: { id: eventId, data } } })
  }

  /** A subscription ended (its stream, or the client stopped it): `stopped`, after its error if it failed. */
  finish(running: Running, cause?: unknown): void {
    const { id, jsonrpc, path } = running
    this.forget(running)
    if (cause !== undefined) this.respondError(id, jsonrpc, getTRPCErrorFromUnknown(cause), path, 'subscription')
    this.respond({ id, jsonrpc, result: { type: 'stopped' } })
  }

  private forget(running: Running): void {
    if (this.subscriptions.get(running.id) === running) this.subscriptions.delete(running.id)
  }

  /** A batch above the limit: each call in it gets the refusal, as tRPC's handler answers it. */
  private refuseBatch(list: unknown[]): void {
    const error = new TRPCError({ code: 'BAD_REQUEST', message: 'Batch call exceeds maximum size' })
    const ids = list.filter(
      (raw) => isObject(raw) && raw.method !== 'subscription.stop' && (typeof raw.id === 'number' || typeof raw.id === 'string'),
    )
    if (!ids.length) return this.respondError(null, undefined, error)
    for (const raw of ids as { id: Id, jsonrpc?: unknown }[]) this.respondError(raw.id, raw.jsonrpc === '2.0' ? '2.0' : undefined, error)
  }

  private respondError(
    id: Id | null,
    jsonrpc: '2.0' | undefined,
    error: TRPCError,
    path?: string,
    type: ProcedureType | 'unknown' = 'unknown',
  ): void {
    const shape = formatError({
      error,
      type,
      path,
      input: undefined,
      ctx: this.ctx,
      shape: getDefaultErrorShape({ error, path, isDev: false }),
    })
    this.respond({ id, jsonrpc, error: shape })
  }

  private respond(message: object): void {
    if (this.open) this.transport.send(JSON.stringify(message))
  }
}
