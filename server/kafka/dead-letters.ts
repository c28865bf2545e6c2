import { randomUUID } from 'node:crypto'
import { kafka, topics } from './client'

export interface TopicMessage {
  partition: number
  offset: string
  key: string | null
  value: Buffer | null
  headers: Record<string, string>
  timestamp: string
}

/**
 * Every message of a topic as it stands now (up to each partition's end offset when called), read by
 * a throwaway consumer group that is deleted afterwards, so no real group's offsets move. Meant for
 * small topics such as the dead letters.
 */
export async function readTopic(
  topic: string = topics.deadLetters,
  onProgress?: (read: number, total: number) => void,
): Promise<TopicMessage[]> {
  const admin = kafka().admin()
  await admin.connect()
  const groupId = `flash-sale-cli-${randomUUID()}`
  let joined = false
  try {
    const ends = await admin.fetchTopicOffsets(topic)
    const remaining = new Map(ends.filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, Number(p.high)]))
    const total = ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0)
    const messages: TopicMessage[] = []
    if (!remaining.size) return messages
    const consumer = kafka().consumer({ groupId, maxWaitTimeInMs: 100 })
    joined = true
    await consumer.connect()
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${topic}: still ${remaining.size} partition(s) short of their end after 30 s`)), 30_000)
        const done = () => { clearTimeout(timer); resolve() }
        consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = remaining.get(partition)
            if (end === undefined || Number(message.offset) >= end) return
            messages.push({
              partition,
              offset: message.offset,
              key: message.key?.toString('utf8') ?? null,
              value: message.value,
              headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v ?? '')])),
              timestamp: new Date(Number(message.timestamp)).toISOString(),
            })
            onProgress?.(messages.length, total)
            if (Number(message.offset) >= end - 1) remaining.delete(partition)
            if (!remaining.size) done()
          },
        }).catch(reject)
      })
    } finally {
      await consumer.disconnect()
    }
    return messages.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))
  } finally {
    if (joined) await admin.deleteGroups([groupId]).catch(() => {})
    await admin.disconnect()
  }
}
