#!/usr/bin/env node
// The web's Kafka publisher (a fixed 2 ms linger) against an adaptive one, on a running stack's broker:
//   node bench/publisher.mjs --stack .stack/test [--seconds 4] [--callers 1,10,50]
// Each round has `callers` concurrent loops, each publishing one payment event and awaiting its
// acknowledgement before the next (as each shopper's purchase does), for `--seconds`; the two
// publishers alternate twice per caller count. Printed: events/s, p50/p99 of publish → ack, events per
// produce request, and this process' CPU per event. The product's BatchingPublisher and producer
// (server/kafka/client.ts) are loaded through jiti; the adaptive alternative (tried, not kept:
// docs/decisions.md) lives only here.
import '../scripts/lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { createJiti } from 'jiti'
import { openStack } from '../scripts/lib/stack.mjs'
import { percentile, say } from './lib/util.mjs'

const { values: args } = parseArgs({
  options: {
    stack: { type: 'string' },
    seconds: { type: 'string', default: '4' },
    callers: { type: 'string', default: '1,10,50' },
  },
})
if (!args.stack) throw new Error('--stack DIR is required (a running stack, e.g. .stack/test)')
Object.assign(process.env, openStack(path.resolve(args.stack)).env, { LOG_LEVEL: 'error' })
const { BatchingPublisher, createProducer, kafka } = await createJiti(import.meta.url).import('../server/kafka/client.ts')

/** The alternative: at once when no send is in flight; while one is, the next events gather for it. */
class Adaptive {
  queue = []
  scheduled = false
  inFlight = 0
  constructor(producer, topic) {
    this.producer = producer
    this.topic = topic
  }

  publish(key, value) {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, value: JSON.stringify(value), resolve, reject })
      if (this.queue.length >= 500) this.flush()
      else if (!this.inFlight && !this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  flush() {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    if (!batch.length) return
    this.inFlight++
    this.producer.send({ topic: this.topic, acks: -1, messages: batch.map(({ key, value }) => ({ key, value })) })
      .then(() => batch.forEach((m) => m.resolve()), (error) => batch.forEach((m) => m.reject(error)))
      .finally(() => {
        this.inFlight--
        if (!this.inFlight) this.flush()
      })
  }
}

const topic = `bench-publisher-${randomUUID()}`
const admin = kafka().admin()
await admin.connect()
await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true })

async function round(name, make, callers) {
  const producer = createProducer()
  await producer.connect()
  let requests = 0
  const send = producer.send.bind(producer)
  producer.send = (request) => { requests++; return send(request) }
  const publisher = make(producer)
  const latencies = []
  const end = Date.now() + Number(args.seconds) * 1000
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(Array.from({ length: callers }, async (_, c) => {
    for (let i = 0; Date.now() < end; i++) {
      const orderId = `${c}-${i}`
      const started = performance.now()
      await publisher.publish(orderId, {
        v: 1,
        orderId,
        userId: c,
        couponId: 1,
        price: 100,
        serverId: 'bench',
        requestId: orderId,
        createdAt: new Date().toISOString(),
      })
      latencies.push(performance.now() - started)
    }
  }))
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  await producer.disconnect()
  latencies.sort((a, b) => a - b)
  say(`${name.padEnd(34)} ${String(callers).padStart(3)} callers: ${Math.round(latencies.length / seconds).toLocaleString('en-US').padStart(7)} events/s, p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, ${(latencies.length / requests).toFixed(1)} events/request, ${((cpu.user + cpu.system) / latencies.length).toFixed(1)} µs CPU/event`)
}

try {
  for (const callers of args.callers.split(',').map(Number)) {
    for (let r = 0; r < 2; r++) {
      await round('BatchingPublisher (2 ms linger)', (p) => new BatchingPublisher(p, topic), callers)
      await round('adaptive (the alternative)', (p) => new Adaptive(p, topic), callers)
    }
  }
} finally {
  await admin.deleteTopics({ topics: [topic] }).catch(() => {})
  await admin.disconnect()
}
