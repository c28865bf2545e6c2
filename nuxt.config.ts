// https://nuxt.com/docs/api/configuration/nuxt-config
export default defineNuxtConfig({
  compatibilityDate: '2025-07-15',
  // pages/, components/ … live at the top level of the repo (see STYLE.md)
  srcDir: '.',
  devtools: { enabled: false },
  telemetry: false,
  modules: ['@bootstrap-vue-next/nuxt', 'nuxt-auth-utils'],
  css: ['bootstrap/dist/css/bootstrap.min.css', '~/assets/app.css'],
  app: {
    head: {
      htmlAttrs: { lang: 'en' },
      title: 'Flash Sale',
      meta: [
        { name: 'viewport', content: 'width=device-width, initial-scale=1' },
        { name: 'description', content: 'Limited coupons in time-boxed flash sales.' },
      ],
    },
  },
  build: { transpile: ['trpc-nuxt'] },
  nitro: {
    experimental: { websocket: true },
  },
  typescript: {
    strict: true,
    tsConfig: {
      compilerOptions: {
        // redlock 5 beta ships types that bundler resolution cannot find on its own
        paths: { redlock: ['./node_modules/redlock/dist/index.d.ts'] },
      },
    },
  },
})
