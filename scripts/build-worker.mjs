// Bundles the worker-side entrypoints (the payment worker, and the operator CLI with its one-shot commands:
// migrate, seed, audit …) into .output/worker/, so they run with plain `node` and no TypeScript toolchain.
import { build } from 'esbuild'

const entryPoints = {
  index: 'server/workers/index.ts',
  cli: 'server/cli/index.ts',
}

await build({
  entryPoints,
  outdir: '.output/worker',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
  // Some bundled CommonJS packages call require() for Node built-ins.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
})
console.log(`worker built: ${Object.keys(entryPoints).map((n) => `.output/worker/${n}.mjs`).join(', ')}`)
