// https://nuxt.com/docs/api/configuration/nuxt-config
import { fileURLToPath } from 'node:url'

// redlock 5 beta ships types that bundler resolution cannot find on its own
const redlockTypes = fileURLToPath(new URL('./node_modules/redlock/dist/index.d.ts', import.meta.url))

export default defineNuxtConfig({
  compatibilityDate: '2025-07-15',
  // pages/, components/ … live at the top level of the repo (see the README's Layout)
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
    typescript: { tsConfig: { compilerOptions: { paths: { redlock: [redlockTypes] } } } },
  },
  hooks: {
    // Auth (docs/decisions.md, "No session for anonymous visitors"): nuxt-auth-utils must never seal a session for anonymous visitors.
    'nitro:config'(nitroConfig) {
      // /ws (Nitro's WebSocket support; set here because nuxt.config's fallback Nitro types lack the key)
      Object.assign((nitroConfig.experimental ??= {}), { websocket: true })
      // Its ws plugin calls getUserSession on every request once Nitro WebSockets are on: drop it
      // (/ws authenticates itself through server/auth/identify.ts).
      nitroConfig.plugins = (nitroConfig.plugins ?? []).filter((p) => !!p && !/nuxt-auth-utils[\\/].*plugins[\\/]ws(\.[cm]?js)?$/.test(p))
      // Its GET /api/_auth/session (called by useUserSession during every server render) creates a
      // session too: replace it with a read-only handler.
      nitroConfig.handlers = (nitroConfig.handlers ?? []).filter((h) => !!h && !(h.route === '/api/_auth/session' && h.method === 'get'))
      nitroConfig.handlers.push({ route: '/api/_auth/session', method: 'get', handler: fileURLToPath(new URL('./server/auth/session-endpoint.ts', import.meta.url)) })
    },
  },
  typescript: {
    strict: true,
    tsConfig: {
      compilerOptions: {
        paths: { redlock: [redlockTypes] },
      },
    },
  },
})
