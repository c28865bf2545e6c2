import { describe, expect, it } from 'vitest'
import { parseFailpoints } from './failpoints'

describe('parseFailpoints', () => {
  it('reads name=action pairs with a pause length and a hit limit', () => {
    const armed = parseFailpoints(' worker.after-commit=kill , repair.before-apply=pause:2000,web.after-reserve=throw*1,x_y=pause:5*3 ')
    expect(Object.fromEntries(armed)).toEqual({
      'worker.after-commit': { action: 'kill', ms: 0, limit: Infinity, hits: 0 },
      'repair.before-apply': { action: 'pause', ms: 2000, limit: Infinity, hits: 0 },
      'web.after-reserve': { action: 'throw', ms: 0, limit: 1, hits: 0 },
      'x_y': { action: 'pause', ms: 5, limit: 3, hits: 0 },
    })
  })

  it('arms nothing for an empty setting (production)', () => {
    expect(parseFailpoints('').size).toBe(0)
    expect(parseFailpoints(' , ').size).toBe(0)
  })

  it('refuses an item it cannot read, naming it and the expected form', () => {
    for (const item of ['worker.after-commit', 'a=explode', 'a=pause:soon', 'a b=kill', 'a=kill*']) {
      expect(() => parseFailpoints(item), item).toThrow(`FLASH_SALE_FAILPOINTS: cannot read "${item}" (expected name=pause:<ms>|throw|kill[*n])`)
    }
  })
})
