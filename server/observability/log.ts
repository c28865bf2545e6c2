/**
 * Structured JSON logs, one line per event. A `requestId` field follows an order from purchase
 * (web) to settlement (worker): the web takes it from X-Request-Id or makes one, it travels in the
 * Kafka event, and the worker logs it with the order's outcome.
 */
type Level = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }
const threshold = ORDER[(process.env.LOG_LEVEL as Level) ?? 'info'] ?? 20

/** Fields on every line of this process (e.g. `service`, `serverId`). */
const base: Record<string, unknown> = {}
export function setLogContext(fields: Record<string, unknown>): void {
  Object.assign(base, fields)
}

function write(level: Level, msg: string, fields?: Record<string, unknown>) {
  if (ORDER[level] < threshold) return
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields })
  if (level === 'error' || level === 'warn') process.stderr.write(line + '\n')
  else process.stdout.write(line + '\n')
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
}
