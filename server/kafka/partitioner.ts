import { Partitioners, type ICustomPartitioner } from 'kafkajs'

/**
 * Kafka's murmur2 (the Java client's Utils.murmur2) in 32-bit integer arithmetic. kafkajs computes
 * the same hash with 64-bit Long objects — a few kilobytes of garbage per message — although only the
 * low 32 bits of each product count. `key` is hashed as UTF-8, like a string key on the wire.
 */
const NOT_ASCII = /[^ -~]/

export function murmur2(key: string): number {
  // one character per byte: an ASCII key (an order id) as it is, any other through its UTF-8 bytes
  const data = NOT_ASCII.test(key) ? Buffer.from(key).toString('latin1') : key
  const length = data.length
  const m = 0x5bd1e995
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k =
      (data.charCodeAt(i) & 0xff) |
      ((data.charCodeAt(i + 1) & 0xff) << 8) |
      ((data.charCodeAt(i + 2) & 0xff) << 16) |
      ((data.charCodeAt(i + 3) & 0xff) << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  switch (length & 3) {
    case 3: h ^= (data.charCodeAt(whole + 2) & 0xff) << 16 // falls through
    case 2: h ^= (data.charCodeAt(whole + 1) & 0xff) << 8 // falls through
    case 1:
      h ^= data.charCodeAt(whole) & 0xff
      h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/**
 * kafkajs' default partitioner for keyed messages (the partition of a key is the Java client's:
 * murmur2, positive, modulo the partitions), without its garbage; keyless ones go to kafkajs' own.
 */
export const keyPartitioner: ICustomPartitioner = () => {
  const keyless = Partitioners.DefaultPartitioner()
  return (args) => {
    const { message, partitionMetadata } = args
    if (message.partition !== null && message.partition !== undefined) return message.partition
    if (message.key === null || message.key === undefined) return keyless(args)
    const key = typeof message.key === 'string' ? message.key : message.key.toString('utf8')
    return (murmur2(key) & 0x7fffffff) % partitionMetadata.length
  }
}
