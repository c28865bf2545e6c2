import pino, { type Logger } from 'pino'
import { config, ConfigError } from '../config'

/**
 * Structured JSON logs (pino), one line per event: `time`, `level`, `msg`, the process's context
 * (`service`, `serverId`/`pid`) and the event's fields. Errors go in an `error` (or `err`) field as the
 * Error itself: pino's serializer keeps their type, message, stack and cause. A `requestId` follows an
 * order from purchase (web) to settlement (worker): the web takes it from X-Request-Id or makes one,
 * it travels in the Kafka event, and the worker logs it with the order's outcome.
 */
type Fields = Record<string, unknown>

function level(): string {
  try {
    return config().LOG_LEVEL
  } catch (error) {
    if (error instanceof ConfigError) return 'info' // the process reports the bad configuration itself
    throw error
  }
}

let root: Logger | undefined
let toStderr = false

/** Log lines go to stderr instead of stdout (the CLI, whose stdout carries its result). Call before the first line. */
export function logToStderr(): void {
  toStderr = true
}

function logger(): Logger {
  root ??= pino({
    level: level(),
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { error: pino.stdSerializers.err, err: pino.stdSerializers.err },
  }, pino.destination({ dest: toStderr ? 2 : 1, sync: true }))
  return root
}

/** Fields on every line of this process (e.g. `service`, `serverId`). */
export function setLogContext(fields: Fields): void {
  root = logger().child(fields)
}

export interface Log {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  /** A logger whose lines all carry `fields` (e.g. one per request, with its `requestId`). */
  child(fields: Fields): Log
}

function wrap(current: () => Logger): Log {
  return {
    debug: (msg, fields) => current().debug(fields ?? {}, msg),
    info: (msg, fields) => current().info(fields ?? {}, msg),
    warn: (msg, fields) => current().warn(fields ?? {}, msg),
    error: (msg, fields) => current().error(fields ?? {}, msg),
    child: (fields) => {
      let child: Logger | undefined
      let parent: Logger | undefined
      // re-derived if the process context is set after the child was made
      return wrap(() => {
        const now = current()
        if (now !== parent) [parent, child] = [now, now.child(fields)]
        return child!
      })
    },
  }
}

export const log: Log = wrap(logger)
