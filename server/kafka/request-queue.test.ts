import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'

// kafkajs' per-connection request queue, as patched by patches/kafkajs+2.2.4.patch (applied by
// `npm install`'s postinstall): 2.2.4 re-armed a 1 ms timer forever, busy or idle.
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js')
const logger = { debug() {}, info() {}, warn() {}, error() {} }
const queue = (maxInFlightRequests?: number) =>
  new RequestQueue({ maxInFlightRequests, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 't', broker: 'b', logger })

let nextId = 1
function push(q: InstanceType<typeof RequestQueue>, sent: number[]) {
  const correlationId = nextId++
  q.push({
    entry: { correlationId, apiKey: 3, apiName: 'Metadata', apiVersion: 6, resolve() {}, reject() {} },
    expectResponse: true,
    requestTimeout: 30_000,
    sendRequest: () => sent.push(correlationId),
  })
  return correlationId
}

describe('kafkajs request queue (patched)', () => {
  it('arms no timer once nothing waits, so an idle connection never wakes its process', async () => {
    const q = queue()
    const sent: number[] = []
    const id = push(q, sent)
    q.fulfillRequest({ correlationId: id, payload: Buffer.alloc(0), size: 0 })
    expect(sent).toEqual([id])
    expect(q.pending).toHaveLength(0)
    expect(q.throttleCheckTimeoutId).toBeNull()
  })

  it('still sends a request that waited out a throttle, when the throttle ends', async () => {
    const q = queue()
    const sent: number[] = []
    q.maybeThrottle(40)
    const id = push(q, sent)
    expect(sent).toEqual([])
    expect(q.throttleCheckTimeoutId).not.toBeNull()
    await sleep(80)
    expect(sent).toEqual([id])
    expect(q.throttleCheckTimeoutId).toBeNull()
  })

  it('sends a request that waited for an in-flight slot once the slot frees', async () => {
    const q = queue(1)
    const sent: number[] = []
    const first = push(q, sent)
    const second = push(q, sent)
    expect(sent).toEqual([first])
    q.fulfillRequest({ correlationId: first, payload: Buffer.alloc(0), size: 0 })
    expect(sent).toEqual([first, second])
    q.fulfillRequest({ correlationId: second, payload: Buffer.alloc(0), size: 0 })
    await sleep(20) // the 10 ms re-check armed while the second waited has run, and armed nothing more
    expect(q.throttleCheckTimeoutId).toBeNull()
  })
})
