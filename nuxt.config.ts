// https://nuxt.com/docs/api/configuration/nuxt-config
import { fileURLToPath } from 'node:url'

// redlock 5 beta ships types that bundler resolution cannot find on its own
const redlockTypes = fileURLToPath(new URL('./node_modules/redlock/dist/index.d.ts', import.meta.url))

/**
 * Shared renders: fresh for 10 s, then served stale for up to a minute while one request per instance
 * renders anew; an admin edit clears them at once (server/cache/pages.ts). `base` names the storage
 * mount (Redis, shared by every instance) that server/plugins/page-cache.ts sets up.
 */
const PAGE_CACHE = { swr: true, maxAge: 10, staleMaxAge: 60, base: 'pages' }

export default defineNuxtConfig({
  compatibilityDate: '2025-07-15',
  // pages/, components/ … live at the top level of the repo (docs/development.md, "Layout")
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
      link: [{ rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }],
    },
  },
  // Defaults for development; server/plugins/shop-format.ts sets them from CURRENCY and LOCALE.
  runtimeConfig: { public: { currency: 'EUR', locale: 'en-IE' } },
  // Page caching (docs/architecture.md, "Page caching"): the catalogue and coupon pages are the same for everyone,
  // rendered once per PAGE_CACHE window into a cache shared by all instances (server/cache/pages.ts)
  // and filled in per user after hydration (user.viewer). Nothing per-user is ever cached.
  routeRules: {
    '/': { cache: PAGE_CACHE },
    '/coupons/**': { cache: PAGE_CACHE },
    '/orders': { headers: { 'cache-control': 'private, no-store' } },
    '/admin/**': { headers: { 'cache-control': 'private, no-store' } },
    '/auth/**': { headers: { 'cache-control': 'private, no-store' } },
    '/api/**': { headers: { 'cache-control': 'no-store' } },
    '/ws': { headers: { 'cache-control': 'no-store' } },
    '/_nuxt/**': { headers: { 'cache-control': 'public, max-age=31536000, immutable' } },
  },
  // Client-side navigation reads pages through tRPC (L1/L2-cached), not per-URL payload files.
  experimental: { payloadExtraction: false },
  build: { transpile: ['trpc-nuxt'] },
  nitro: {
    typescript: { tsConfig: { compilerOptions: { paths: { redlock: [redlockTypes] } } } },
  },
  hooks: {
    // nuxt-auth-utils' app plugins fetch /api/_auth/session during every render and again after the
    // hydration of every cached page; the app reads the user through user.viewer instead.
    'app:resolve'(app) {
      app.plugins = app.plugins.filter((p) => !/nuxt-auth-utils[\\/].*plugins[\\/]session\.(client|server)/.test(p.src))
    },
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
      nitroConfig.handlers.push({
        route: '/api/_auth/session',
        method: 'get',
        handler: fileURLToPath(new URL('./server/auth/session-endpoint.ts', import.meta.url)),
      })
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
