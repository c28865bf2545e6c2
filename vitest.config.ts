import { defineConfig } from 'vitest/config'

// Integration tests share one throwaway stack (started by `npm test`), so files run one at a time.
// The unit tier (vitest.unit.config.ts: tests beside the code) runs on its own, before the stack.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
})
