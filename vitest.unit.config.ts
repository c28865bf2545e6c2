import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/**
 * The unit tier (`npm run test:unit`): pure code tested beside it, with no services, no build and no
 * environment, in seconds. `npm test` runs it first; vitest.config.ts (the integration tier) leaves
 * these files out, so nothing runs twice.
 */
export default defineConfig({
  // the app's alias for the repository root (composables import server types through it)
  resolve: { alias: { '~~': fileURLToPath(new URL('.', import.meta.url)) } },
  test: {
    include: ['server/**/*.test.ts', 'composables/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 5_000,
    reporters: ['default'],
  },
})
