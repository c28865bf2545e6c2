#!/usr/bin/env node
// The benchmark figures docs/decisions.md shows, generated from the latest run in bench/RESULTS.md
// (the one place every figure is recorded), so the page cannot drift from the results.
//
//   node bench/figures.mjs            print docs/decisions.md as it should be
//   node bench/figures.mjs --write    rewrite its generated blocks
//
// A block names the scenarios it shows, by the start of their names in the results table:
//   <!-- figures:begin Redis+Lua reserve; MySQL SELECT -->  …generated…  <!-- figures:end -->
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const RESULTS = path.join(ROOT, 'bench', 'RESULTS.md')
export const DECISIONS = path.join(ROOT, 'docs', 'decisions.md')
const BLOCK = /(<!-- figures:begin ([^>]*?) -->\n)[\s\S]*?(<!-- figures:end -->)/g

/** The newest run of a results file: its heading and its scenarios' rows (cells as written). */
export function latestRun(results) {
  const start = results.indexOf('\n## ') + 1
  const end = results.indexOf('\n## ', start)
  const run = results.slice(start, end < 0 ? undefined : end)
  const heading = run.slice(3, run.indexOf('\n'))
  const rows = run
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| scenario'))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  return { heading, rows: rows.filter((cells) => cells.length === 9) }
}

/** One block's table: the named scenarios' rate, p50, p99 and notes, and the run they come from. */
export function renderBlock(run, prefixes) {
  const lines = ['| scenario | rate | p50 ms | p99 ms | notes |', '|---|---:|---:|---:|---|']
  for (const prefix of prefixes) {
    const cells = run.rows.find((c) => c[0].startsWith(prefix))
    if (!cells) throw new Error(`bench/RESULTS.md's latest run has no scenario "${prefix}…"`)
    lines.push(`| ${cells[0]} | ${cells[1]} | ${cells[3]} | ${cells[5]} | ${cells[6]} |`)
  }
  lines.push('', `From [bench/RESULTS.md](../bench/RESULTS.md), the ${run.heading.replace(/^Run of/, 'run of')}.`)
  return `${lines.join('\n')}\n`
}

/** The document with every block regenerated from `results`. */
export function regenerate(doc, results) {
  const run = latestRun(results)
  return doc.replace(BLOCK, (_, begin, names, end) => begin + renderBlock(run, names.split(';').map((s) => s.trim()).filter(Boolean)) + end)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const next = regenerate(fs.readFileSync(DECISIONS, 'utf8'), fs.readFileSync(RESULTS, 'utf8'))
  if (process.argv.includes('--write')) fs.writeFileSync(DECISIONS, next)
  else process.stdout.write(next)
}
