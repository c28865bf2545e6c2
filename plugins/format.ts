import { configureFormat } from '~/composables/format'

/** The shop's currency and locale for every price and date on the page (composables/format.ts). */
export default defineNuxtPlugin({
  name: 'format',
  setup() {
    const { currency, locale } = useRuntimeConfig().public
    configureFormat({ currency, locale })
  },
})
