import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Prometheus metrics of this process (web or worker), served at /metrics. */
export const registry = new Registry()
collectDefaultMetrics({ register: registry })

export const metrics = {
  requests: new Histogram({ name: 'flash_trpc_request_seconds', help: 'tRPC procedure latency', labelNames: ['procedure', 'code'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] }),
  purchases: new Counter({ name: 'flash_purchase_attempts_total', help: 'Purchase attempts by outcome', labelNames: ['outcome'], registers: [registry] }),
  wsConnections: new Gauge({ name: 'flash_ws_connections', help: 'Open WebSocket connections', registers: [registry] }),
  pubsubDeliveries: new Counter({ name: 'flash_pubsub_deliveries_total', help: 'Order updates pushed to sockets', registers: [registry] }),
  settled: new Counter({ name: 'flash_payments_settled_total', help: 'Settled payments by status and reason', labelNames: ['status', 'reason'], registers: [registry] }),
  settleSeconds: new Histogram({ name: 'flash_settle_batch_seconds', help: 'Time to settle one batch', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: [registry] }),
  settleLatency: new Histogram({ name: 'flash_settle_latency_seconds', help: 'Reservation to settlement', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60], registers: [registry] }),
  deadLettered: new Counter({ name: 'flash_payments_dead_lettered_total', help: 'Events sent to the dead-letter topic', registers: [registry] }),
  workerPaused: new Gauge({ name: 'flash_worker_paused', help: '1 while consumption waits out an outage', registers: [registry] }),
}

export async function metricsText(): Promise<{ contentType: string, body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() }
}
