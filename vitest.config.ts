import { defineConfig } from 'vitest/config'

// Integration tests share one throwaway stack (started by `npm test`), so files run one at a time.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'server/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
})
