const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' })

/** Integer cents as a price; the same text on server and client (fixed locale). */
export function formatPrice(cents: number): string {
  return money.format(cents / 100)
}

/** "1d 02h 03m 04s" style remaining time, never negative. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000))
  const d = Math.floor(total / 86_400)
  const h = Math.floor((total % 86_400) / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  const pad = (n: number) => String(n).padStart(2, '0')
  if (d > 0) return `${d}d ${pad(h)}h ${pad(m)}m`
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s)}s`
  return `${m}m ${pad(s)}s`
}

/** A date in the given zone (UTC for the server-rendered text, the browser's zone after mount). */
export function formatDateTime(iso: string, timeZone?: string): string {
  const text = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(new Date(iso))
  return timeZone === 'UTC' ? `${text} UTC` : text
}
