import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { keyPartitioner, murmur2 } from './partitioner'

// kafkajs' own hash (64-bit Long arithmetic), the one every message was partitioned by so far
const kafkajsMurmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: string | Buffer) => number

describe('the key partitioner', () => {
  it('hashes every key exactly as kafkajs does: order ids, other lengths, non-ASCII', () => {
    const keys = ['', 'a', 'ab', 'abc', 'abcd', '12-01JF3Z8Q9W5X7Y2V4T6S8R0PNM', 'Gutschein-ü-€-𝄞']
    for (let i = 0; i < 2_000; i++) keys.push(`${1 + (i % 997)}-${randomBytes(13).toString('hex').toUpperCase().slice(0, 26)}`, randomBytes(i % 40).toString('base64'))
    for (const key of keys) expect(murmur2(key), key).toBe(kafkajsMurmur2(key))
  })

  it('sends a key to the partition kafkajs\' default partitioner does', () => {
    const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 1,
      replicas: [1],
      isr: [1],
      offlineReplicas: [],
    }))
    const ours = keyPartitioner()
    for (let i = 0; i < 500; i++) {
      const key = `7-${randomBytes(13).toString('hex').toUpperCase().slice(0, 26)}`
      expect(ours({ topic: 't', partitionMetadata, message: { key, value: 'x' } })).toBe((kafkajsMurmur2(key) & 0x7fffffff) % 6)
    }
    expect(ours({ topic: 't', partitionMetadata, message: { key: 'k', value: 'x', partition: 4 } })).toBe(4)
  })
})
