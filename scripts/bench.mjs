#!/usr/bin/env node
// `npm run bench`: installs what the benchmark needs the way `npm start` installs the stack (npm
// packages, the Debian packages of the stack and wrk, Kafka and Keycloak), builds when the sources
// changed, then runs bench/index.mjs with the same arguments (see bench/README.md).
import './lib/on-node24.mjs' // first: re-runs this script on Node 24 when started on an older Node
import path from 'node:path'
import { ROOT, runVisible } from './lib/util.mjs'
import { ensureSystemPackages, BENCH_PACKAGES } from './lib/system.mjs'
import { ensureDownloads } from './lib/downloads.mjs'
import { ensureNodeModules, build } from './lib/project.mjs'

await ensureNodeModules()
await ensureSystemPackages()
await ensureSystemPackages({ packages: BENCH_PACKAGES })
await ensureDownloads()
await build()
process.exit(await runVisible(process.execPath, [path.join(ROOT, 'bench', 'index.mjs'), ...process.argv.slice(2)], { cwd: ROOT }))
