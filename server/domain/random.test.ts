import { describe, expect, it } from 'vitest'
import { randomByte } from './random'

describe('randomByte', () => {
  it('draws fresh bytes across refills of its pool, every value about equally often', () => {
    const blocks = Array.from({ length: 16 }, () => Buffer.from(Array.from({ length: 4096 }, randomByte)))
    // each 4 KB block is a new fill, never the previous bytes again
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]!.equals(blocks[i - 1]!)).toBe(false)
    const counts = new Array<number>(256).fill(0)
    for (const block of blocks) for (const b of block) counts[b]!++
    // 65,536 draws: 256 expected per value; a chi-square above 400 (255 degrees of freedom) has odds below 1e-8
    const chiSquare = counts.reduce((sum, n) => sum + (n - 256) ** 2 / 256, 0)
    expect(Math.min(...counts)).toBeGreaterThan(0)
    expect(chiSquare).toBeLessThan(400)
  })
})
