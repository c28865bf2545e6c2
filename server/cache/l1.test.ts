import { setTimeout as sleep } from 'node:timers/promises'
import RedisMock from 'ioredis-mock'
import { describe, expect, it } from 'vitest'
import { createL1 } from './l1'
import { readList, writeList } from './page-list'
import { createSingleFlight } from './single-flight'

describe('L1', () => {
  it('hands out an entry until its TTL, then only as a stale copy within staleForMs', async () => {
    const l1 = createL1<{ n: number }>({ max: 10, maxBytes: 1_000, ttlMs: 30, staleForMs: 1_000 })
    l1.set('a', { n: 1 }, 10)
    expect(l1.get('a')).toEqual({ n: 1 })
    await sleep(50)
    expect(l1.get('a')).toBeUndefined()
    expect(l1.stale('a')).toEqual({ n: 1 })
    const short = createL1<{ n: number }>({ max: 10, maxBytes: 1_000, ttlMs: 10, staleForMs: 10 })
    short.set('a', { n: 1 }, 10)
    await sleep(40)
    expect(short.stale('a')).toBeUndefined()
  })

  it('is bounded by bytes, evicting the least recently used, and skips an entry larger than the budget', () => {
    const l1 = createL1<string>({ max: 100, maxBytes: 100, ttlMs: 60_000, staleForMs: 0 })
    l1.set('a', 'A', 40)
    l1.set('b', 'B', 40)
    l1.get('a')
    l1.set('c', 'C', 40)
    expect([l1.get('a'), l1.get('b'), l1.get('c')]).toEqual(['A', undefined, 'C'])
    l1.set('huge', 'H', 101)
    expect(l1.get('huge')).toBeUndefined()
    expect(l1.size).toBe(2)
  })

  it('takes a shorter TTL per entry (missing ids)', async () => {
    const l1 = createL1<string>({ max: 10, maxBytes: 100, ttlMs: 60_000, staleForMs: 0 })
    l1.set('missing', 'missing', 7, 10)
    l1.set('kept', 'kept', 4)
    await sleep(30)
    expect([l1.get('missing'), l1.get('kept')]).toEqual([undefined, 'kept'])
  })
})

describe('single-flight', () => {
  it('runs one load for concurrent callers of a key, and a new one once it settled (it caches nothing)', async () => {
    const flight = createSingleFlight<number>()
    let runs = 0
    const work = async () => {
      runs++
      await sleep(5)
      return runs
    }
    expect(await Promise.all([flight('k', work), flight('k', work), flight('other', work)])).toEqual([2, 2, 2])
    expect(runs).toBe(2)
    expect(await flight('k', work)).toBe(3)
  })

  it('hands a failure to every waiting caller and forgets it', async () => {
    const flight = createSingleFlight<number>()
    const failing = () => Promise.reject(new Error('MySQL down'))
    const answers = await Promise.allSettled([flight('k', failing), flight('k', failing)])
    expect(answers.map((a) => a.status)).toEqual(['rejected', 'rejected'])
    expect(await flight('k', async () => 7)).toBe(7)
  })
})

describe('the L2 page list', () => {
  const client = new RedisMock()

  it('writes meta then items with a TTL, and reads them back; an empty page is not a miss', async () => {
    const bytes = await writeList(client, 'page:a', [{ id: 1 }, { id: 2 }], 9, 60_000)
    expect(await client.lrange('page:a', 0, -1)).toEqual(['{"v":1,"total":9}', '{"id":1}', '{"id":2}'])
    expect(bytes).toBe('{"v":1,"total":9}{"id":1}{"id":2}'.length)
    expect(await client.pttl('page:a')).toBeGreaterThan(59_000)
    expect(await readList(client, 'page:a')).toEqual({ items: [{ id: 1 }, { id: 2 }], total: 9, bytes: 16 })
    await writeList(client, 'page:empty', [], 0, 60_000)
    expect(await readList(client, 'page:empty')).toEqual({ items: [], total: 0, bytes: 0 })
  })

  it('replaces a page whole, and takes a missing key or another version\'s encoding as a miss', async () => {
    await writeList(client, 'page:b', [{ id: 1 }, { id: 2 }, { id: 3 }], 3, 60_000)
    await writeList(client, 'page:b', [{ id: 4 }], 1, 60_000)
    expect((await readList(client, 'page:b'))?.items).toEqual([{ id: 4 }])
    expect(await readList(client, 'page:none')).toBeNull()
    await client.rpush('page:old', '{"v":0,"total":1}', '{"id":1}')
    expect(await readList(client, 'page:old')).toBeNull()
  })
})
