import type { DB } from '../db'
import { countCoupons, insertCoupons } from '../domain/coupons/repository'
import type { Output } from './output'

/**
 * Demo coupons for a fresh stack; does nothing when coupons exist. Demo users live in the Keycloak
 * realm. Prices are minor units of the default currency (EUR); the pictures are the project's own
 * SVGs in public/images/demo.
 */
export async function seed(db: DB, out: Output) {
  const existing = await countCoupons(db)
  if (existing > 0) {
    out.result({ created: 0, existing }, () => `seed: ${existing} coupons exist, nothing to do`)
    return
  }
  const minute = 60_000
  const now = Date.now()
  const demo = [
    ['espresso', 'Half-price espresso', 'Any espresso drink at half price, all day.', 150, 100, 0],
    ['cinema', 'Cinema double ticket', 'Two tickets for any screening this month.', 1500, 50, 0],
    ['bookshop', 'Bookshop €10 voucher', 'Ten euros off any book over twenty.', 700, 200, 0],
    ['yoga', 'Yoga week pass', 'Seven days of unlimited classes.', 2000, 30, 0],
    ['pizza', 'Pizza for two', 'Two large pizzas and a drink.', 1800, 40, 0],
    ['museum', 'Museum family entry', 'Two adults and up to three children.', 1200, 60, 0],
    ['bike', 'Bike repair check', 'A full check and tune-up.', 900, 25, 0],
    ['headphones', 'Midnight flash: headphones', 'Noise-cancelling headphones at 70% off.', 4500, 10, 2 * minute],
    ['spa', 'Weekend spa day', 'A day at the spa, robe included.', 6000, 15, 5 * minute],
    ['concert', 'Concert front row', 'Two front-row seats, one night only.', 8000, 5, 10 * minute],
    ['bakery', 'Bakery box', 'A dozen pastries, fresh in the morning.', 700, 80, 0],
    ['language', 'Language app year', 'Twelve months of lessons.', 3000, 100, 0],
    ['plants', 'Plant starter kit', 'Three easy houseplants and pots.', 1100, 35, 0],
  ] as const
  await insertCoupons(db, demo.map(([image, name, description, price, stock, opensIn]) => ({
    name, description, price, stock, total_stock: stock, image_url: `/images/demo/${image}.svg`,
    sale_starts_at: new Date(now + opensIn - (opensIn ? 0 : minute)),
    sale_ends_at: new Date(now + 7 * 24 * 60 * minute),
  })))
  out.result({ created: demo.length, existing: 0 }, () => `seed: ${demo.length} demo coupons created`)
}
