// Small Go programs the tests use, built once from the Go module proxy into the download cache.
import fs from 'node:fs'
import path from 'node:path'
import { atomicDir, cacheDir } from './downloads.mjs'
import { log, ok, secs, run, which } from './util.mjs'

/** gofakes3: an S3-compatible server (in-memory backend) for the image-store test. */
export const GOFAKES3 = { name: 'gofakes3', module: 'github.com/johannesboyne/gofakes3/cmd/gofakes3', version: 'v1.2.0' }

/**
 * Toxiproxy: a TCP proxy with an HTTP API whose "toxics" black-hole, delay, throttle or reset a link
 * (the network faults of tests/faults/network). Its command is named `server`.
 */
export const TOXIPROXY = { name: 'toxiproxy', module: 'github.com/Shopify/toxiproxy/v2/cmd/server', version: 'v2.12.0', binary: 'server' }

/** The path of `tool`'s binary, built with `go install module@version` the first time. */
export async function ensureGoTool(tool) {
  const dir = path.join(cacheDir(), 'go-tools', `${tool.name}-${tool.version}`)
  const bin = path.join(dir, tool.binary ?? tool.name)
  if (fs.existsSync(path.join(dir, '.complete'))) return bin
  const go = which('go') ?? ['/usr/local/go/bin/go', '/usr/lib/go/bin/go'].find((p) => fs.existsSync(p))
  if (!go) throw new Error(`${tool.name} is built from ${tool.module}@${tool.version} with Go, and no \`go\` is installed: install Go (e.g. apt-get install golang-go)`)
  const t0 = Date.now()
  log(`building ${tool.name} ${tool.version} (go install ${tool.module})`)
  await atomicDir(dir, (tmp) =>
    run(go, ['install', `${tool.module}@${tool.version}`], {
      env: { ...process.env, GOBIN: tmp, GOFLAGS: '-mod=mod' },
      timeoutMs: 300_000,
    }),
  )
  ok(`${tool.name} built in ${secs(t0)}`)
  return bin
}
