let ticker: ReturnType<typeof setInterval> | undefined
let users = 0

/**
 * The current time as a ref. It starts at the server's render time (sent in the payload), so
 * countdowns hydrate to exactly the server's text, and ticks every second once a user is mounted.
 */
export function useNow() {
  const now = useState('now', () => Date.now())
  onMounted(() => {
    now.value = Date.now()
    users++
    ticker ??= setInterval(() => { now.value = Date.now() }, 1000)
  })
  onBeforeUnmount(() => {
    if (--users === 0 && ticker) {
      clearInterval(ticker)
      ticker = undefined
    }
  })
  return now
}

export type SalePhase = 'upcoming' | 'open' | 'ended'

/** Where a sale window stands at `now`. */
export function salePhase(c: { saleStartsAt: string | null, saleEndsAt: string | null }, now: number): SalePhase {
  if (c.saleStartsAt && Date.parse(c.saleStartsAt) > now) return 'upcoming'
  if (c.saleEndsAt && Date.parse(c.saleEndsAt) <= now) return 'ended'
  return 'open'
}
