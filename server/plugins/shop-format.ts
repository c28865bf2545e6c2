import { config } from '../config'

/**
 * The shop's currency and locale reach the pages through the public runtime config, which Nitro fills
 * from NUXT_PUBLIC_* variables on every request: copy the validated CURRENCY and LOCALE there once.
 */
export default defineNitroPlugin(() => {
  process.env.NUXT_PUBLIC_CURRENCY = config().CURRENCY
  process.env.NUXT_PUBLIC_LOCALE = config().LOCALE
})
