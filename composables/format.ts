/**
 * Money and time, shown one way: the shop's currency (ISO 4217) and locale come from the runtime
 * config (CURRENCY and LOCALE, validated in server/config.ts) and are set once by plugins/format.ts,
 * on the server and in the browser alike, so a server render and its hydration print the same text.
 */
let locale = 'en-IE'
let currency = 'EUR'
let money = new Intl.NumberFormat(locale, { style: 'currency', currency })
let minorDigits = 2

export function configureFormat(options: { locale: string, currency: string }) {
  locale = options.locale
  currency = options.currency
  money = new Intl.NumberFormat(locale, { style: 'currency', currency })
  // Money travels in minor units; how many depends on the currency (2 for EUR, 0 for JPY).
  minorDigits = money.resolvedOptions().maximumFractionDigits ?? 2
}

export function currencyCode(): string {
  return currency
}

/** Integer minor units as a price in the shop's currency and locale. */
export function formatPrice(minor: number): string {
  return money.format(minor / 10 ** minorDigits)
}

/** A price as typed in a form ("9.99", or "9,99" where that is the decimal mark) in minor units, or null. */
export function parsePrice(text: string): number | null {
  const cleaned = text.trim().replace(',', '.')
  const pattern = minorDigits ? new RegExp(`^\\d+(\\.\\d{1,${minorDigits}})?$`) : /^\d+$/
  if (!pattern.test(cleaned)) return null
  return Math.round(Number(cleaned) * 10 ** minorDigits)
}

/** Minor units as a form's value ("9.99"). */
export function priceInput(minor: number): string {
  return (minor / 10 ** minorDigits).toFixed(minorDigits)
}

/** An example for a price field's placeholder and error text. */
export function priceExample(): string {
  return priceInput(999 * 10 ** Math.max(0, minorDigits - 2))
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
  const text = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(new Date(iso))
  return timeZone === 'UTC' ? `${text} UTC` : text
}
