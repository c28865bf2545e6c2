#!/usr/bin/env node
// `npm start`: the whole shop on this machine — MariaDB, Redis, Kafka, Keycloak, N web instances,
// M payment workers and NGINX in front — with data kept in .stack/dev between runs. Ctrl-C stops it.
//
// Ports: SHOP_PORT=8080 KEYCLOAK_PORT=8180 KEYCLOAK_MANAGEMENT_PORT=8190 MYSQL_PORT=3307 REDIS_PORT=6380
//        KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093 WEB_PORT_BASE=3001 WEB_INSTANCES=3
//        WORKER_INSTANCES=2 WORKER_METRICS_PORT_BASE=9101 PROMETHEUS_PORT=9190
// SHOP_HOST=127.0.0.1 is the address NGINX listens on (0.0.0.0 to reach the shop from other machines);
// TLS_CERT + TLS_KEY add an HTTPS server on TLS_PORT=8443 (set PUBLIC_URL to its https:// address).
// NGINX_PURCHASE_RATE, NGINX_ADDRESS_PURCHASE_BURST, … (per shopper and per address: see NGINX_DEFAULT_RATES in scripts/lib/services.mjs).
// External services: DATABASE_URL, REDIS_URL, KAFKA_BROKERS, OIDC_ISSUER (then not started here).
// Flags: --skip-build (use the existing .output), --rebuild (always build), --no-seed.
import './lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import path from 'node:path'
import { ROOT, ok, warn, c, assertPortFree } from './lib/util.mjs'
import { ensureSystemPackages } from './lib/system.mjs'
import { ensureDownloads } from './lib/downloads.mjs'
import { startStack, defaultPorts, onShutdown, stopAll } from './lib/stack.mjs'
import { ensureNodeModules, build, loadCoupons, migrate } from './lib/project.mjs'
import { startPrometheus } from './lib/prometheus.mjs'

const args = new Set(process.argv.slice(2))
const num = (name, def) => Number(process.env[name] || def)

async function main() {
  const t0 = Date.now()
  const ports = defaultPorts()
  const webInstances = num('WEB_INSTANCES', 3)
  const workerInstances = num('WORKER_INSTANCES', 2)
  const webPorts = Array.from({ length: webInstances }, (_, i) => num('WEB_PORT_BASE', 3001) + i)
  const workerPorts = Array.from({ length: workerInstances }, (_, i) => num('WORKER_METRICS_PORT_BASE', 9101) + i)
  const prometheusPort = num('PROMETHEUS_PORT', 9190)

  // every fixed port first, so nothing starts when one is taken
  await assertPortFree(ports.shop, 'NGINX', 'SHOP_PORT')
  for (const p of webPorts) await assertPortFree(p, 'web instance', 'WEB_PORT_BASE')
  for (const p of workerPorts) await assertPortFree(p, 'worker metrics', 'WORKER_METRICS_PORT_BASE')
  await assertPortFree(prometheusPort, 'Prometheus', 'PROMETHEUS_PORT')

  await ensureNodeModules()
  await ensureSystemPackages()
  await ensureDownloads()

  onShutdown() // Ctrl-C / SIGTERM: stops the stack (also while it is still starting)

  // build while the services start
  const stackP = startStack({ name: 'dev', dir: path.join(ROOT, '.stack', 'dev'), ports, withNginx: false })
  const buildP = args.has('--skip-build') ? Promise.resolve() : build({ force: args.has('--rebuild') })
  const [sr, br] = await Promise.allSettled([stackP, buildP])
  if (sr.status === 'fulfilled' && br.status === 'rejected') await sr.value.stop()
  if (sr.status === 'rejected') throw sr.reason
  if (br.status === 'rejected') throw br.reason
  const stack = sr.value

  await migrate(stack.env, { seed: !args.has('--no-seed') })
  await Promise.all(webPorts.map((port) => stack.startWeb({ port })))
  await Promise.all(workerPorts.map((metricsPort) => stack.startWorker({ metricsPort })))
  // the shop says it is up once a purchase can be taken, not a few seconds before
  if (workerInstances > 0) await loadCoupons(stack.env)
  await stack.startNginx({ port: ports.shop, upstreams: webPorts, host: process.env.SHOP_HOST || '127.0.0.1' })
  const prometheus = await startPrometheus(stack, { port: prometheusPort, web: webPorts, workers: workerPorts })

  const line = c.dim('─'.repeat(64))
  console.log(`\n${line}`)
  ok(`Flash Sale is up in ${((Date.now() - t0) / 1000).toFixed(1)}s`)
  console.log(`  Shop:             ${c.bold(stack.env.PUBLIC_URL)}`)
  console.log(`  Keycloak admin:   ${stack.env.KEYCLOAK_URL}/admin/  (admin / admin)`)
  console.log(`  Demo logins:      admin@example.com / admin  (shop admin)`)
  console.log(`                    alice@example.com / alice, bob@example.com / bob`)
  console.log(`                    ${c.yellow('dev only — never use these passwords anywhere real')}`)
  console.log(`  Web instances:    ${webPorts.map((p) => `127.0.0.1:${p}`).join(', ')}`)
  console.log(`  Worker metrics:   ${workerPorts.map((p) => `http://127.0.0.1:${p}/metrics`).join(', ')}`)
  console.log(`  Prometheus:       ${c.bold(prometheus.url)}  (alerts: ${prometheus.url}/alerts, dashboard: deploy/k8s/monitoring/grafana-dashboard.json)`)
  console.log(`  Logs:             ${stack.logsDir}/  (nginx: ${path.join(stack.dir, 'nginx', 'logs')}/)`)
  console.log(`  Env for scripts:  ${path.join(stack.dir, 'env')}`)
  console.log(`${line}\n  Ctrl-C stops everything; data stays in .stack/dev for the next start.\n`)

  // a process that dies is reported (NGINX routes around a dead web instance)
  for (const [key, handle] of stack.handles) {
    handle.exited.then((code) => {
      if (!stack.stopping) warn(`${key} exited (${code}) — see ${handle.logFile}`)
    })
  }
  setInterval(() => {}, 1 << 30) // children are unref'd: stay alive until Ctrl-C / SIGTERM
}

main().catch(async (e) => {
  console.error(`\n${c.red('✗')} ${e.message}`)
  await stopAll()
  process.exit(e.exitCode || 1)
})
