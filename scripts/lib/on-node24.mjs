// Imported first by the entry scripts (start, test, dev, stack, bench): when they are started with a
// Node older than 24 (`node scripts/stack.mjs …` on a machine whose node is 20), run the same command
// again on Node 24 and exit with its code — before any other module of the script is evaluated.
// The npm scripts already start them on 24 through scripts/node24.mjs; then this does nothing.
import { spawnSync } from 'node:child_process'
import { resolveNodeOrExit, envWithNode, MIN_NODE_MAJOR } from './node-runtime.mjs'

if (Number(process.versions.node.split('.')[0]) < MIN_NODE_MAJOR) {
  const node = resolveNodeOrExit()
  process.stdout.write(`✓ Node ${node.version} (${node.source})\n`)
  // Ctrl-C reaches the child too; this process only waits for it.
  process.on('SIGINT', () => {})
  const r = spawnSync(node.bin, process.argv.slice(1), {
    stdio: 'inherit',
    env: { ...envWithNode(node), FLASH_SALE_NODE_SOURCE: node.source },
  })
  process.exit(r.status ?? 1)
}
