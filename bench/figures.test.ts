import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DECISIONS, latestRun, regenerate, RESULTS, renderBlock } from './figures.mjs'

describe('bench/figures.mjs', () => {
  const results = readFileSync(RESULTS, 'utf8')

  it('reads the newest run of bench/RESULTS.md, the one on top', () => {
    const run = latestRun(results)
    expect(results.indexOf(`## ${run.heading}`)).toBe(results.indexOf('\n## ') + 1)
    expect(run.rows.find((c: string[]) => c[0]!.startsWith('Redis+Lua reserve'))?.[1]).toMatch(/reservations\/s$/)
  })

  it('refuses a block naming a scenario the run does not have', () => {
    expect(() => renderBlock(latestRun(results), ['no such scenario'])).toThrow(/no scenario "no such scenario…"/)
  })

  it('is what docs/decisions.md shows', () => {
    const doc = readFileSync(DECISIONS, 'utf8')
    expect(doc).toContain('<!-- figures:begin')
    expect(regenerate(doc, results), 'docs/decisions.md is stale: run node bench/figures.mjs --write').toBe(doc)
  })
})
