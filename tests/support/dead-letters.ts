import { kafka, topics } from '../../server/kafka/client'
import { eventually } from './data'

/** Whether a message with this key shows up on the dead-letter topic within the time (a fresh group reads it all). */
export async function onDeadLetters(key: string, timeoutMs = 20_000): Promise<boolean> {
  const consumer = kafka().consumer({ groupId: `dlq-reader-${Date.now()}-${Math.random().toString(36).slice(2)}` })
  const seen: string[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic: topics.deadLetters, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.key?.toString() ?? '') } })
    return await eventually(async () => seen.includes(key), timeoutMs)
  } finally {
    await consumer.disconnect()
  }
}
