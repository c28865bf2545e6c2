import type { Admin } from 'kafkajs'

export interface PartitionPosition {
  partition: number
  /** Log end offset (the next offset to be written). */
  end: number
  /** The group's committed offset, or the low watermark where the group never committed. */
  position: number
}

/**
 * Where the consumer group stands on each partition of a topic. The one place Kafka lag is computed:
 * the lag metric, KEDA's Kafka scaler and the reconciler's load barrier all read it this way.
 */
export async function groupPositions(admin: Admin, topic: string, groupId: string): Promise<PartitionPosition[]> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })])
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
  return ends.map((p) => {
    const at = done.get(p.partition) ?? -1
    return { partition: p.partition, end: Number(p.high), position: at >= 0 ? at : Number(p.low) }
  })
}

/** The consumer group's lag per partition: log end offset minus its position. */
export async function consumerLag(
  admin: Admin,
  topic: string,
  groupId: string,
): Promise<{ topic: string, partition: number, lag: number }[]> {
  return (await groupPositions(admin, topic, groupId)).map((p) => ({ topic, partition: p.partition, lag: Math.max(0, p.end - p.position) }))
}
