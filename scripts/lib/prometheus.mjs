// A real Prometheus (Debian's `prometheus` package) scraping every web instance and worker of a
// stack, with the alert rules of deploy/k8s/monitoring/prometheus-rule.yaml loaded.
//
//   const prom = await startPrometheus(stack, { port, web: [3001, 3002], workers: [9101] })
//   prom.url   // http://127.0.0.1:<port>
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, mkdirp, httpStatus } from './util.mjs'
import { aptInstall, findBin } from './system.mjs'
import { launch } from './services.mjs'

export const PROMETHEUS_RULE = path.join(ROOT, 'deploy', 'k8s', 'monitoring', 'prometheus-rule.yaml')

/**
 * The rule groups of a PrometheusRule manifest as a Prometheus rules file: the manifest's `spec`
 * block is exactly that file's content (`groups: …`), indented by two spaces. Reading the text keeps
 * scripts/ free of a YAML library; tests/ops/prometheus.test.ts checks the result with promtool.
 */
export function rulesFromPrometheusRule(text) {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => l === 'spec:')
  if (start < 0) throw new Error('PrometheusRule without a top-level spec:')
  const body = []
  for (const line of lines.slice(start + 1)) {
    if (line && !line.startsWith('  ')) break // the next top-level key or document
    body.push(line.slice(2))
  }
  return `# Generated from deploy/k8s/monitoring/prometheus-rule.yaml — edit that file.\n${body.join('\n')}\n`
}

/** prometheus.yml for loopback targets: jobs flash-sale-web and flash-sale-worker, as in Kubernetes. */
export function prometheusConfig({ web = [], workers = [], rulesFile, host = '127.0.0.1', interval = '5s' }) {
  const job = (name, ports) => [
    `  - job_name: ${name}`,
    `    metrics_path: /metrics`,
    `    static_configs:`,
    `      - targets: [${ports.map((p) => `'${host}:${p}'`).join(', ')}]`,
  ].join('\n')
  return [
    '# Written by scripts/lib/prometheus.mjs',
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'rule_files:',
    `  - ${rulesFile}`,
    'scrape_configs:',
    job('flash-sale-web', web),
    job('flash-sale-worker', workers),
    '',
  ].join('\n')
}

/** Installs Debian's prometheus (prometheus and promtool) when it is missing. */
export async function ensurePrometheus() {
  if (!findBin('prometheus') || !findBin('promtool')) await aptInstall(['prometheus'])
  return { prometheus: findBin('prometheus'), promtool: findBin('promtool') }
}

/** Starts Prometheus for the stack on `port`; data and config under <stack dir>/prometheus. */
export async function startPrometheus(stack, { port, web, workers, interval }) {
  const { prometheus } = await ensurePrometheus()
  const dir = mkdirp(path.join(stack.dir, 'prometheus'))
  const rulesFile = path.join(dir, 'rules.yml')
  fs.writeFileSync(rulesFile, rulesFromPrometheusRule(fs.readFileSync(PROMETHEUS_RULE, 'utf8')))
  const configFile = path.join(dir, 'prometheus.yml')
  fs.writeFileSync(configFile, prometheusConfig({ web, workers, rulesFile, interval }))
  const url = `http://127.0.0.1:${port}`
  await launch(stack, {
    key: 'prometheus',
    label: 'Prometheus',
    port,
    cmd: prometheus,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      '--storage.tsdb.retention.time=2d',
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
    ],
    timeoutMs: 60_000,
    ready: async () => (await httpStatus(`${url}/-/ready`, 2000)) === 200,
  })
  return { url, port, configFile, rulesFile, stop: () => stack.stopKey('prometheus', 10_000) }
}
