// The run's summary: Markdown table, SVG chart, console table.
import { costMarkdown, kafkaMarkdown, redisMarkdown } from './pipeline.mjs'

const fmt = (n, d = 0) =>
  n === undefined || n === null || Number.isNaN(n)
    ? '–'
    : Number(n).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })

/** A run through NGINX, as Markdown lines: the per-part table, the broker's side, Redis' commands. */
const pipelineTables = (p) => [costMarkdown(p), '', kafkaMarkdown(p), '', redisMarkdown(p), '']

export function markdown(result) {
  const m = result.meta
  const lines = [
    `# Flash Sale benchmark — ${m.startedAt}`,
    '',
    `Machine: ${m.cpus} × ${m.cpuModel}, Node ${m.node}; \`uptime\` at start: ${m.uptimeStart}; at end: ${m.uptimeEnd}.`,
    `Command: \`${m.command}\`. HTTP load: wrk -t1 -c${m.connections}, ${m.duration} s per duration-based run, loopback, one web instance, no NGINX.`,
    '',
    ...(result.headline ? [
      '## Cost per purchase (through NGINX, 1 web instance, 2 workers settling)',
      '',
      `${fmt(result.headline.rps)} purchases/s at **${fmt(result.headline.totalUs)} µs of system CPU per accepted purchase** — each process group's CPU from the run's start until its ${fmt(result.headline.accepted)} purchases were settled (${fmt(result.headline.settleTailSeconds, 1)} s after the run), per purchase; the machine was ${fmt(result.headline.machineBusyPct)} % busy during the run.`,
      '',
      ...pipelineTables(result.headline),
    ] : []),
    ...(result.headlineAgain ? [
      '## Cost per purchase again at the end of the run',
      '',
      `The same run once more after every other scenario (${result.headlineAgain.name}): the broker's JVM has done most of its just-in-time compiling by then, and the stores hold every earlier scenario's data. ${fmt(result.headlineAgain.rps)} purchases/s at **${fmt(result.headlineAgain.totalUs)} µs of system CPU per accepted purchase** (${fmt(result.headlineAgain.accepted)} purchases, settled ${fmt(result.headlineAgain.settleTailSeconds, 1)} s after the run); the machine was ${fmt(result.headlineAgain.machineBusyPct)} % busy. The targets are judged on the first run.`,
      '',
      ...pipelineTables(result.headlineAgain),
    ] : []),
    '## Scenarios',
    '',
    '| scenario | rate | per server CPU-second | p50 ms | p95 ms | p99 ms | answers / notes | server CPU | wrk CPU |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|',
    ...result.scenarios.map((s) => `| ${s.name} | ${fmt(s.rps)} ${s.unit ?? 'req/s'} | ${fmt(s.perCpuSecond)} | ${fmt(s.p50, 2)} | ${fmt(s.p95, 2)} | ${fmt(s.p99, 2)} | ${[s.codes ? Object.entries(s.codes).map(([k, v]) => `${k}: ${v}`).join(', ') : '', s.note ?? ''].filter(Boolean).join('; ')} | ${s.serverCpuPct ? `${fmt(s.serverCpuPct)} %` : '–'} | ${s.wrkCpuPct ? `${fmt(s.wrkCpuPct)} %` : '–'} |`),
    '',
    '## Targets (issue 13)',
    '',
    'Ratios of req/s measured in this run; "per CPU-s" is the same ratio of requests per CPU-second of each server process, which is what the ratio would be if each server had a core to itself (differs on a loaded machine).',
    '',
    '| target | measured | per CPU-s | goal | met | by |',
    '|---|---:|---:|---:|:---:|---:|',
    ...result.targets.map((t) => `| ${t.name} | ${t.measured} | ${t.perCpu ?? ''} | ${t.goal} | ${t.met === null ? 'n/a' : t.met ? '✅ met' : '❌ not met'} | ${t.by ?? ''} |`),
    '',
    '## Memory (RSS, MB)',
    '',
    '| process | start | peak | end |',
    '|---|---:|---:|---:|',
    ...result.memory.map((x) => `| ${x.name} | ${fmt(x.start)} | ${fmt(x.peak)} | ${fmt(x.end)} |`),
    '',
    '## Audit',
    '',
    ...result.audits.map((a) => `- ${a.when}: ${a.ok ? 'passed' : 'FAILED'}${a.detail ? ` — ${a.detail}` : ''}`),
    '',
  ]
  return lines.join('\n')
}

export function consoleTable(result) {
  console.table(result.scenarios.map((s) => ({ scenario: s.name, rate: `${fmt(s.rps)} ${s.unit ?? 'req/s'}`, 'per CPU-s': s.perCpuSecond ? fmt(s.perCpuSecond) : '', 'p50 ms': fmt(s.p50, 2), 'p99 ms': fmt(s.p99, 2), 'srv CPU %': s.serverCpuPct ? fmt(s.serverCpuPct) : '', 'wrk CPU %': s.wrkCpuPct ? fmt(s.wrkCpuPct) : '' })))
  console.table(
    result.targets.map((t) => ({
      target: t.name,
      measured: t.measured,
      'per CPU-s': t.perCpu ?? '',
      goal: t.goal,
      met: t.met === null ? 'n/a' : t.met ? 'met' : 'NOT MET',
      by: t.by ?? '',
    })),
  )
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** Two panels of horizontal bars: HTTP requests/s per scenario, and reservation/settlement rates (log scale). */
export function svg(result) {
  const panels = [
    { title: 'HTTP through one Node process (requests/s, linear)', log: false, rows: result.scenarios.filter((s) => s.group === 'http') },
    { title: 'Reservation and settlement (operations/s, log scale)', log: true, rows: result.scenarios.filter((s) => s.group === 'store') },
  ]
  const W = 900
  const labelW = 330
  const barH = 18
  let y = 40
  const parts = [`<text x="10" y="24" font-size="16" font-weight="bold">Flash Sale benchmark ${esc(result.meta.startedAt)} (load ${result.meta.loadStart.join(' ')})</text>`]
  for (const p of panels) {
    parts.push(`<text x="10" y="${y + 14}" font-size="13" font-weight="bold">${esc(p.title)}</text>`)
    y += 24
    const max = Math.max(1, ...p.rows.map((r) => r.rps || 0))
    const scale = (v) => (p.log ? (Math.log10(Math.max(1, v)) / Math.log10(max * 1.2)) : v / max) * (W - labelW - 120)
    for (const r of p.rows) {
      const w = Math.max(1, scale(r.rps || 0))
      const color = p.log ? (r.baseline ? '#c0392b' : '#2e86c1') : r.baseline ? '#7f8c8d' : '#2e86c1'
      parts.push(`<text x="${labelW - 6}" y="${y + 13}" font-size="12" text-anchor="end">${esc(r.name)}</text>`)
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH - 4}" fill="${color}"/>`)
      parts.push(`<text x="${labelW + w + 6}" y="${y + 13}" font-size="12">${fmt(r.rps)}</text>`)
      y += barH
    }
    y += 16
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 10}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`
}
