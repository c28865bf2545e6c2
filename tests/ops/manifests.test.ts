import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cacheDir } from '../../scripts/lib/downloads.mjs'
import { which } from '../../scripts/lib/util.mjs'

/*
 * Every manifest under deploy/k8s (the app and deploy/k8s/monitoring) decoded strictly by the
 * Kubernetes API's own Go types: tools/manifest-check, a Go test on k8s.io/api, client-go's scheme,
 * KEDA's and prometheus-operator's API modules and kustomize's types. Modules come from the Go module
 * proxy once and are kept in the project's download cache (go.sum pins them); the first run compiles
 * for a few minutes, later runs take seconds.
 */

const go = which('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : null)

function goTest(): Promise<{ code: number | null, output: string }> {
  return new Promise((resolve) => {
    const child = spawn(go!, ['test', '-v', '-count=1', './...'], {
      cwd: join(process.cwd(), 'tools', 'manifest-check'),
      env: { ...process.env, GOMODCACHE: join(cacheDir(), 'go', 'mod'), GOFLAGS: '-mod=readonly', GOTOOLCHAIN: 'local' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    child.on('close', (code) => resolve({ code, output }))
  })
}

describe('Kubernetes manifests', () => {
  it('decode strictly against the real API types (unknown fields, kinds and wrong types refused)', async () => {
    expect(go, 'Go is needed for the manifest check (/usr/local/go/bin/go or go on PATH)').toBeTruthy()
    const { code, output } = await goTest()
    expect(output).toMatch(/--- PASS: TestEveryManifestDecodesStrictly/)
    expect(output).toMatch(/--- PASS: TestStrictDecodingRefusesWhatKubernetesWouldRefuse/)
    expect(output).toMatch(/keda\.sh\/v1alpha1\/ScaledObject:1/)
    expect(code, output).toBe(0)
  }, 20 * 60_000)
})
