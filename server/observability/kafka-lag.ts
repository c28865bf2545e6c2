import type { Admin } from 'kafkajs'

/**
 * The consumer group's lag per partition of a topic: log end offset minus committed offset (a
 * partition the group never committed counts from its low watermark). The same number KEDA's Kafka
 * scaler reads, so the metric and the autoscaler agree.
 */
export async function consumerLag(admin: Admin, topic: string, groupId: string): Promise<{ topic: string, partition: number, lag: number }[]> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })])
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  return ends.map((p) => {
    const at = done.get(p.partition) ?? -1
    const from = at >= 0 ? at : Number(p.low)
    return { topic, partition: p.partition, lag: Math.max(0, Number(p.high) - from) }
  })
}
