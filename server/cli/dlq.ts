import type { DB } from '../db'
import { createProducer, sendInChunks, topics } from '../kafka/client'
import { readTopic, type TopicMessage } from '../kafka/dead-letters'
import { parsePaymentRequest } from '../domain/payments/events'
import { selectOrdersByIds } from '../domain/orders/repository'
import { table, UsageError, type Output } from './output'

/** One dead letter as the CLI shows it: where it sits, why it is there, and what MySQL knows of its order. */
export interface DeadLetter {
  id: string
  orderId: string | null
  error: string
  at: string
  /** The order's MySQL status, or null when it has no row (only those are replayed). */
  settled: string | null
  valid: boolean
}

async function deadLetters(db: DB, out: Output): Promise<{ letters: DeadLetter[], messages: TopicMessage[] }> {
  out.progress(`reading ${topics.deadLetters}`)
  const messages = await readTopic(topics.deadLetters)
  const events = messages.map((m) => parsePaymentRequest(m.value))
  const orderIds = [...new Set(events.flatMap((e) => (e ? [e.orderId] : [])))]
  const rows = new Map((await selectOrdersByIds(db, orderIds)).map((r) => [r.id, r]))
  const letters = messages.map((m, i) => {
    const event = events[i]
    const row = event ? rows.get(event.orderId) : undefined
    return {
      id: `${m.partition}:${m.offset}`,
      orderId: event?.orderId ?? m.key,
      error: m.headers.error ?? '',
      at: m.timestamp,
      settled: row ? `${row.status}${row.reason ? `/${row.reason}` : ''}` : null,
      valid: !!event,
    }
  })
  out.progress(`${letters.length} dead letter(s)`)
  return { letters, messages }
}

const rowsOf = (letters: DeadLetter[]) =>
  letters.map((l) => ({ id: l.id, order: l.orderId, settled: l.settled ?? '—', valid: l.valid ? 'yes' : 'no', at: l.at, error: l.error }))

export async function dlqList(db: DB, out: Output) {
  const { letters } = await deadLetters(db, out)
  out.result(letters, () => table(rowsOf(letters)))
}

/** `<partition>:<offset>`, or a bare offset when exactly one partition has it. */
export async function dlqShow(db: DB, out: Output, where: string | undefined) {
  if (!where || !/^(\d+:)?\d+$/.test(where)) throw new UsageError('usage: flash-sale dlq show <partition>:<offset> (or <offset>), as `dlq list` shows it')
  const { letters, messages } = await deadLetters(db, out)
  const matches = letters
    .map((l, i) => ({ l, m: messages[i]! }))
    .filter(({ l }) => (where.includes(':') ? l.id === where : l.id.endsWith(`:${where}`)))
  if (!matches.length) throw new UsageError(`no dead letter at ${where}`)
  if (matches.length > 1) throw new UsageError(`offset ${where} is in several partitions: ${matches.map(({ l }) => l.id).join(', ')} — name one`)
  const { l, m } = matches[0]!
  const raw = m.value?.toString('utf8') ?? null
  let value: unknown = raw
  try { value = raw === null ? null : JSON.parse(raw) } catch { /* not JSON: shown as text */ }
  const shown = { ...l, key: m.key, headers: m.headers, value }
  out.result(shown)
}

/**
 * Re-publishes to payment-requests the dead letters whose order has no MySQL row, so a worker settles
 * them now; letters whose order is settled (or that cannot be parsed) are shown and skipped, so
 * nothing is settled twice. Settlement is idempotent per order in any case.
 */
export async function dlqReplay(db: DB, out: Output, options: { dryRun: boolean }) {
  const { letters, messages } = await deadLetters(db, out)
  const replay = letters.map((l, i) => ({ l, m: messages[i]! })).filter(({ l }) => l.valid && l.settled === null)
  const seen = new Set<string>()
  const unique = replay.filter(({ l }) => !seen.has(l.orderId!) && seen.add(l.orderId!))
  const skipped = letters.filter((l) => !unique.some(({ l: r }) => r.id === l.id)).map((l) => ({
    ...l, why: !l.valid ? 'malformed event' : l.settled ? `order already ${l.settled}` : 'same order replayed once',
  }))
  if (unique.length && !options.dryRun) {
    const producer = createProducer()
    await producer.connect()
    try {
      out.progress(`re-publishing ${unique.length} event(s) to ${topics.paymentRequests}`)
      await sendInChunks(producer, topics.paymentRequests, unique.map(({ l, m }) => ({
        key: l.orderId!,
        value: m.value,
        headers: { replayedFrom: `${topics.deadLetters}/${l.id}` },
      })))
    } finally {
      await producer.disconnect()
    }
  }
  const result = { replayed: unique.map(({ l }) => ({ id: l.id, orderId: l.orderId })), skipped, dryRun: options.dryRun }
  out.result(result, () => [
    `${options.dryRun ? 'would replay' : 'replayed'} ${unique.length}:`,
    table(unique.map(({ l }) => ({ id: l.id, order: l.orderId }))),
    `skipped ${skipped.length}:`,
    table(skipped.map((s) => ({ id: s.id, order: s.orderId, why: s.why }))),
  ].join('\n'))
}
