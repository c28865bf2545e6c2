import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as yaml from 'js-yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStack } from '../../scripts/lib/stack.mjs'
import { ensurePrometheus, PROMETHEUS_RULE, rulesFromPrometheusRule, startPrometheus } from '../../scripts/lib/prometheus.mjs'
import { eventually } from '../support/data'
import { freePort, startWeb, startWorker, type Proc } from '../support/processes'

/*
 * The alert rules of deploy/k8s/monitoring are valid for Prometheus (`promtool check rules`) and
 * fire when they should (`promtool test rules`); the live /metrics of a web instance and a worker
 * pass `promtool check metrics`; and the Prometheus that `npm start` runs scrapes both and loads
 * the rules.
 */

const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'flash-prometheus-'))
const rulesFile = join(dir, 'rules.yml')
const manifest = readFileSync(PROMETHEUS_RULE, 'utf8')
let promtool: string
let web: Proc
let worker: Proc
let prometheus: { url: string, stop: () => Promise<void> }

beforeAll(async () => {
  promtool = (await ensurePrometheus()).promtool!
  writeFileSync(rulesFile, rulesFromPrometheusRule(manifest))
  ;[web, worker] = await Promise.all([startWeb(), startWorker()])
  prometheus = await startPrometheus(openStack(), { port: await freePort(), web: [web.port], workers: [worker.port], interval: '1s' })
}, 120_000)

afterAll(async () => {
  await prometheus?.stop()
  await Promise.all([web?.stop(), worker?.stop()])
  rmSync(dir, { recursive: true, force: true })
})

/** promtool's exit code and output, with `input` on its stdin. */
function promtoolWith(args: string[], input?: string): Promise<{ code: number | null, output: string }> {
  return new Promise((resolve) => {
    const child = spawn(promtool, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    child.on('close', (code) => resolve({ code, output }))
    child.stdin.end(input ?? '')
  })
}

type Rule = { alert?: string, record?: string, expr: string }
const groups = (yaml.load(manifest) as { spec: { groups: { name: string, rules: Rule[] }[] } }).spec.groups

describe('alert rules', () => {
  it('are the PrometheusRule spec, unchanged, and promtool accepts every rule', async () => {
    expect(yaml.load(readFileSync(rulesFile, 'utf8'))).toEqual({ groups })
    const { stdout } = await run(promtool, ['check', 'rules', rulesFile])
    const count = groups.reduce((n, g) => n + g.rules.length, 0)
    expect(count).toBeGreaterThanOrEqual(15)
    expect(stdout).toContain(`SUCCESS: ${count} rules found`)
  })

  it('fire on a paused worker, dead letters, TRY_AGAIN_LATER answers and a stalled waiting room, and stay quiet otherwise', async () => {
    const tests = {
      rule_files: [rulesFile],
      evaluation_interval: '15s',
      tests: [{
        interval: '15s',
        input_series: [
          { series: 'flash_worker_paused{job="flash-sale-worker",instance="w1"}', values: '1x10' },
          { series: 'flash_worker_paused{job="flash-sale-worker",instance="w2"}', values: '0x10' },
          { series: 'flash_payments_dead_lettered_total{job="flash-sale-worker",instance="w1"}', values: '0 0 1 1 1' },
          { series: 'flash_purchase_attempts_total{outcome="PENDING"}', values: '0+90x20' },
          { series: 'flash_purchase_attempts_total{outcome="TRY_AGAIN_LATER"}', values: '0+10x20' },
          // room 7 admits until 60s, then stalls with shoppers waiting and units free; room 8 is sold out
          { series: 'flash_queue_length{job="flash-sale-worker",instance="w1",coupon="7"}', values: '500x20' },
          { series: 'flash_queue_free_units{job="flash-sale-worker",instance="w1",coupon="7"}', values: '40x20' },
          { series: 'flash_queue_admitting{job="flash-sale-worker",instance="w1",coupon="7"}', values: '1x20' },
          { series: 'flash_queue_admitted_total{job="flash-sale-worker",instance="w1",coupon="7"}', values: '0 50 100 150 200 200x16' },
          { series: 'flash_queue_length{job="flash-sale-worker",instance="w1",coupon="8"}', values: '500x20' },
          { series: 'flash_queue_free_units{job="flash-sale-worker",instance="w1",coupon="8"}', values: '0x20' },
          { series: 'flash_queue_admitting{job="flash-sale-worker",instance="w1",coupon="8"}', values: '1x20' },
          { series: 'flash_queue_admitted_total{job="flash-sale-worker",instance="w1",coupon="8"}', values: '0x20' },
        ],
        alert_rule_test: [
          { eval_time: '30s', alertname: 'FlashWorkerPaused', exp_alerts: [] },
          { eval_time: '90s', alertname: 'FlashWorkerPaused', exp_alerts: [{ exp_labels: { severity: 'critical', instance: 'w1' }, exp_annotations: annotations('FlashWorkerPaused', { instance: 'w1' }) }] },
          { eval_time: '0s', alertname: 'FlashDeadLetters', exp_alerts: [] },
          { eval_time: '60s', alertname: 'FlashDeadLetters', exp_alerts: [{ exp_labels: { severity: 'warning' } , exp_annotations: annotations('FlashDeadLetters', {}, '1') }] },
          { eval_time: '1m', alertname: 'FlashPurchasesTryAgainLater', exp_alerts: [] },
          { eval_time: '4m', alertname: 'FlashPurchasesTryAgainLater', exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: annotations('FlashPurchasesTryAgainLater', {}, '10%') }] },
          { eval_time: '90s', alertname: 'FlashQueueAdmissionStalled', exp_alerts: [] },
          { eval_time: '4m', alertname: 'FlashQueueAdmissionStalled', exp_alerts: [{ exp_labels: { severity: 'critical', coupon: '7' }, exp_annotations: annotations('FlashQueueAdmissionStalled', { coupon: '7' }) }] },
        ],
      }],
    }
    const file = join(dir, 'rules.test.yml')
    writeFileSync(file, JSON.stringify(tests))
    const { code, output } = await promtoolWith(['test', 'rules', file])
    expect(output).toContain('SUCCESS')
    expect(code).toBe(0)
  })
})

/** An alert's annotations with its template filled in the simple way promtool does for these. */
function annotations(alert: string, labels: Record<string, string>, value = '1') {
  const rule = groups.flatMap((g) => g.rules).find((r) => r.alert === alert) as Rule & { annotations: Record<string, string> }
  const fill = (s: string) => s
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => labels[k] ?? '')
    .replace(/\{\{ \$value \| humanizePercentage \}\}/g, value)
    .replace(/\{\{ \$value \}\}/g, value)
  return Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, fill(v)]))
}

const PROM_CLIENT_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

describe('live /metrics', () => {
  it('of a web instance and a worker pass promtool check metrics', async () => {
    await fetch(`${web.url}/api/trpc/system.ping`) // a request, so the histograms have samples
    for (const target of [web, worker]) {
      const text = await (await fetch(`${target.url}/metrics`)).text()
      expect(text).toContain('flash_')
      const { output } = await promtoolWith(['check', 'metrics'], text)
      // Every flash_ metric passes the linter. It flags three of prom-client's default Node.js gauges
      // (named *_total, not ours to rename); anything else it reports fails here.
      const problems = output.trim().split('\n').filter(Boolean)
      expect(problems, `${target.url}/metrics`).toEqual(PROM_CLIENT_DEFAULTS.map((m) => `${m} non-counter metrics should not have "_total" suffix`))
    }
  })

  it('are scraped by the Prometheus npm start runs, with the rules loaded', async () => {
    const query = async (q: string) => (await (await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(q)}`)).json()).data.result as { metric: Record<string, string>, value: [number, string] }[]
    const up = await eventually(async () => {
      const r = await query('up')
      return r.length === 2 && r.every((s) => s.value[1] === '1') ? r : undefined
    }, 30_000, 500)
    expect(up!.map((s) => s.metric.job).sort()).toEqual(['flash-sale-web', 'flash-sale-worker'])
    const lag = await eventually(async () => (await query('flash:kafka_consumer_lag:sum')).length === 1, 30_000, 500)
    expect(lag).toBe(true)
    const loaded = async () => (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()).data.groups as { name: string, rules: { health: string }[] }[]
    const evaluated = await eventually(async () => {
      const rules = await loaded()
      return rules.flatMap((g) => g.rules).every((r) => r.health === 'ok') ? rules : undefined
    }, 30_000, 500)
    expect(evaluated!.map((g) => g.name).sort()).toEqual(groups.map((g) => g.name).sort())
    expect(evaluated!.flatMap((g) => g.rules)).toHaveLength(groups.reduce((n, g) => n + g.rules.length, 0))
  })

  it('answer every query of the Grafana dashboard, and every metric it names exists', async () => {
    const dashboard = JSON.parse(readFileSync('deploy/k8s/monitoring/grafana-dashboard.json', 'utf8')) as { panels: { title: string, targets: { expr: string }[] }[] }
    const titles = dashboard.panels.map((p) => p.title)
    for (const want of ['Purchases/s by outcome', 'p99 latency per procedure', 'Kafka consumer lag (payment-workers)', 'Settlement rate', 'Catalogue cache hit ratio', 'Open WebSockets', 'Memory (resident)']) expect(titles).toContain(want)
    const exposed = `${await (await fetch(`${web.url}/metrics`)).text()}\n${await (await fetch(`${worker.url}/metrics`)).text()}`
    for (const { title, targets } of dashboard.panels) {
      for (const { expr } of targets) {
        const res = await (await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()
        expect(res.status, `${title}: ${expr} → ${res.error}`).toBe('success')
        for (const name of expr.match(/\b(?:flash|process|nodejs)_[a-z_]+/g) ?? []) {
          expect(exposed, `${title}: ${name} is not exposed`).toMatch(new RegExp(`^# TYPE ${name.replace(/_(bucket|count|sum)$/, '')} `, 'm'))
        }
      }
    }
  })
})
