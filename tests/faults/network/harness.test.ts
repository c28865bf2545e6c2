/**
 * The network-fault harness (harness.ts) proves its own tools: each fault really happens (bytes held
 * or dropped, replies late, a capped rate, a reset, a refused connection, a stopped process), Kafka
 * works through a proxied listener, the web reaches Keycloak through its proxy, and Kafka's own view of
 * the consumer group lists the workers. The product's behaviour under these faults is the suite's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Kafka, logLevel } from 'kafkajs'
import { accessToken, createUser } from '../../support/keycloak'
import type { StackProc } from '../support'
import { consuming, membersUntil, networkFaults, pause, pauseService, procState, roundTrip, type NetworkFaults, type Part } from './harness'
import { procedureUrl } from '../../support/api'

let net: NetworkFaults
let webs: Part, w1: Part, w2: Part, client: Part
let web: StackProc & { url: string }
let workers: StackProc[] = []
let user: { email: string, password: string }

beforeAll(async () => {
  net = await networkFaults()
  webs = await net.part('harness-webs')
  w1 = await net.part('harness-w1')
  w2 = await net.part('harness-w2')
  client = await net.part('harness-client')
  // the web starts with its way to Keycloak cut: its first fetch of the realm's keys fails
  await webs.keycloak.cut()
  ;[web, workers, user] = await Promise.all([
    net.startWeb(webs),
    Promise.all([net.startWorker(w1), net.startWorker(w2)]),
    createUser(),
  ])
}, 120_000)

afterAll(async () => {
  await Promise.all([web, ...workers].filter(Boolean).map((p) => p.stop(10_000)))
  await net?.close()
})

const REDIS_PING = { send: Buffer.from('PING\r\n'), answered: (b: Buffer) => b.includes('+PONG') }

describe('the network-fault harness', () => {
  it('black hole: a PING through the web\'s Redis proxy gets no answer in 1 s while Redis answers directly; healed, the held PING is answered', async () => {
    await webs.redis.blackHole()
    let held
    try {
      // a connection that lives through the fault
      held = webs.redis.probe(15_000)
      expect(await webs.redis.proveBlackHole(1_000)).toMatch(/no answer through it in 1000 ms/)
    } finally {
      await webs.redis.heal()
    }
    // nothing was lost: what the link held arrives once it is back
    const late = await held
    expect(late.answered).toBe(true)
    expect(late.ms).toBeGreaterThanOrEqual(1_000)
    expect((await webs.redis.probe()).answered).toBe(true)
  })

  it('black hole that drops: bytes vanish, and healing closes the connection that lived through it', async () => {
    await client.redis.blackHole({ drop: true })
    let held
    try {
      held = client.redis.probe(15_000)
      await client.redis.proveBlackHole(1_000)
    } finally {
      await client.redis.heal()
    }
    expect(await held).toMatchObject({ answered: false, error: 'CLOSED' })
    expect((await client.redis.probe()).answered).toBe(true)
  })

  it('latency: a round trip through the link takes at least the toxic\'s latency, and the jitter stays within its bounds', async () => {
    const direct = await client.redis.probeDirect()
    expect(direct.answered).toBe(true)
    await client.redis.latency(300)
    try {
      expect(await client.redis.proveLatency(300)).toBeLessThan(1_500)
    } finally {
      await client.redis.heal()
    }
    await client.redis.latency(200, 100)
    try {
      const trips = await Promise.all(Array.from({ length: 8 }, () => client.redis.probe(2_000)))
      for (const t of trips) expect(t.answered && t.ms >= 100 && t.ms < 1_000, `round trip ${t.ms} ms`).toBe(true)
    } finally {
      await client.redis.heal()
    }
  })

  it('bandwidth: a 100 KB reply at 50 KB/s takes about 2 s, straight from Redis a blink', async () => {
    const value = 'x'.repeat(100_000)
    const set = `*3\r\n$3\r\nSET\r\n$11\r\nharness:big\r\n$${value.length}\r\n${value}\r\n`
    expect((await roundTrip(client.redis.upstreamPort, Buffer.from(set), (b) => b.includes('+OK'), 2_000)).answered).toBe(true)
    const get = Buffer.from('*2\r\n$3\r\nGET\r\n$11\r\nharness:big\r\n')
    const whole = (b: Buffer) => b.length >= `$100000\r\n`.length + 100_000 + 2
    const direct = await roundTrip(client.redis.upstreamPort, get, whole, 2_000)
    await client.redis.bandwidth(50)
    try {
      const capped = await roundTrip(client.redis.port, get, whole, 10_000)
      expect(capped.answered).toBe(true)
      expect(capped.ms).toBeGreaterThanOrEqual(1_600)
      expect(direct.ms).toBeLessThan(500)
    } finally {
      await client.redis.heal()
    }
  })

  it('reset_peer resets the connection at its next byte; cut refuses connections; both heal', async () => {
    await client.redis.resetPeer()
    try {
      expect(await client.redis.probe()).toMatchObject({ answered: false, error: 'ECONNRESET' })
    } finally {
      await client.redis.heal()
    }
    await client.mysql.cut()
    try {
      expect(await client.mysql.probe()).toMatchObject({ answered: false, error: 'ECONNREFUSED' })
      expect((await client.mysql.probeDirect()).answered).toBe(true)
    } finally {
      await client.mysql.heal()
    }
    expect((await client.redis.probe()).answered).toBe(true)
    expect((await client.mysql.probe()).answered).toBe(true)
  })

  it('pause stops a process (state T) until resumed; a paused Redis answers nothing', async () => {
    const p = await pause(workers[1]!.pid)
    expect(procState(workers[1]!.pid)).toBe('T')
    expect(await p.resume()).toBeGreaterThanOrEqual(0)
    expect(procState(workers[1]!.pid)).not.toBe('T')

    const redis = await pauseService('redis')
    let silent
    try {
      silent = await roundTrip(client.redis.upstreamPort, REDIS_PING.send, REDIS_PING.answered, 500)
    } finally {
      await redis.resume()
    }
    expect(silent.answered).toBe(false)
    expect((await client.redis.probeDirect()).answered).toBe(true)
  })

  it('Kafka through a proxied listener: the broker is advertised at the proxy\'s port, messages go round, and the link\'s latency shows', async () => {
    const kafka = new Kafka({
      clientId: 'harness-client',
      brokers: [client.env.KAFKA_BROKERS!],
      logLevel: logLevel.NOTHING,
      retry: { retries: 3 },
    })
    const admin = kafka.admin()
    const producer = kafka.producer()
    const consumer = kafka.consumer({ groupId: `harness-${Date.now()}` })
    try {
      await Promise.all([admin.connect(), producer.connect(), consumer.connect()])
      const { brokers } = await admin.describeCluster()
      expect(brokers.map((b) => `${b.host}:${b.port}`)).toEqual([`127.0.0.1:${client.kafka.port}`])
      await admin.createTopics({ topics: [{ topic: 'harness-probe', numPartitions: 1 }] })
      const value = `through the proxy ${Date.now()}`
      await producer.send({ topic: 'harness-probe', messages: [{ value }] })
      await consumer.subscribe({ topic: 'harness-probe', fromBeginning: true })
      const seen = new Promise<string>((resolve) => {
        void consumer.run({ eachMessage: async ({ message }) => { if (message.value?.toString() === value) resolve(value) } })
      })
      expect(await Promise.race([seen, new Promise((r) => setTimeout(() => r('nothing in 20 s'), 20_000))])).toBe(value)

      await client.kafka.latency(400)
      try {
        const t0 = performance.now()
        await producer.send({ topic: 'harness-probe', messages: [{ value: 'late' }] })
        expect(performance.now() - t0).toBeGreaterThanOrEqual(400)
      } finally {
        await client.kafka.heal()
      }
    } finally {
      await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()])
    }
  }, 60_000)

  it('the web reaches Keycloak through its proxy: cut, a valid token is TRY_AGAIN_LATER and sign-in unavailable; healed, both work, the issuer still public', async () => {
    const token = await accessToken(user)
    const me = () => fetch(procedureUrl(web.url, 'user.me'), { headers: { authorization: `Bearer ${token}` } })
    const signIn = () => fetch(`${web.url}/auth/login`, { redirect: 'manual' })
    const refused = await me()
    expect(refused.status).toBe(503)
    expect((await refused.json()).error.data.reason).toBe('TRY_AGAIN_LATER')
    expect((await signIn()).status).toBe(503)
    await webs.keycloak.heal()
    const redirect = await signIn()
    expect(redirect.status).toBe(302)
    expect(redirect.headers.get('location')!.startsWith(`${process.env.OIDC_ISSUER}/protocol/openid-connect/auth?`)).toBe(true)
    // a failed key fetch is tried again after a second
    const deadline = Date.now() + 10_000
    let res = await me()
    while (res.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250))
      res = await me()
    }
    expect(res.status).toBe(200)
    expect((await res.json()).result.data.email).toBe(user.email)
  })

  it('Kafka\'s own view of the group lists both workers, each with partitions', async () => {
    const members = await membersUntil((m) => consuming(m, ['harness-w1', 'harness-w2']), 30_000)
    expect(members.filter((m) => m.clientId.startsWith('harness-w')).map((m) => m.clientId).sort()).toEqual(['harness-w1', 'harness-w2'])
    expect(members.reduce((n, m) => n + m.partitions, 0)).toBe(6)
    expect(members.flatMap((m) => m.assignment).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `payment-requests-${i}`).sort())
  })
})
