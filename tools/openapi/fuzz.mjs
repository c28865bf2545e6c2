#!/usr/bin/env node
// Schemathesis, a fuzzer that knows the shop only through docs/openapi.json, against a running stack
// through NGINX: as a shopper and as an administrator (each a fresh Keycloak user, so that their
// purchases and credit are their own), every check (`--checks all`), with schemathesis.toml's
// per-operation statuses. Zero failures is the bar (tests/api/schemathesis.test.ts runs it in npm test).
//
//   npm run fuzz                                  against the stack `npm start` runs (.stack/dev/env)
//   npm run fuzz -- --env .stack/test/env --url http://127.0.0.1:<nginx port>
//   npm run fuzz -- --max-examples 200 --seed 1234
//
// Why these settings: every operation gets MAX_EXAMPLES generated inputs per phase (coverage, then
// fuzzing) on top of the coverage phase's boundary and method probes, ~1,000 requests per user in
// under a minute; at RATE requests a second, each user stays under NGINX's per-shopper limit (50/s),
// so what is tested is the app rather than the limiter. One worker per run: the two users run side by
// side, and Python 3.11 can fail inside Hypothesis with threads (AST constructor recursion).
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { ensurePythonTool, SCHEMATHESIS } from '../../scripts/lib/python-tools.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MAX_EXAMPLES = 50
const RATE = '40/s'

/**
 * Runs Schemathesis once per user, side by side; each run's exit code (0: no failure of any check),
 * its operations tested and its output.
 * @param {{ url: string, tokens: Record<string, string>, maxExamples?: number, seed?: string }} options
 */
export async function fuzz({ url, tokens, maxExamples = MAX_EXAMPLES, seed }) {
  const [python, ...module] = await ensurePythonTool(SCHEMATHESIS)
  return Promise.all(Object.entries(tokens).map(async ([who, token]) => {
    const args = [
      ...module, '--config-file', path.join(ROOT, 'schemathesis.toml'), '--no-color',
      'run', path.join(ROOT, 'docs', 'openapi.json'), '--url', url, '--header', `Authorization: Bearer ${token}`,
      '--checks', 'all', '--max-examples', String(maxExamples), '--rate-limit', RATE, '--workers', '1',
      '--request-timeout', '10', '--generation-database', 'none',
      ...(seed === undefined ? [] : ['--seed', String(seed)]),
    ]
    const { code, output } = await run(python, args)
    const tested = Number(/^\s*Tested: (\d+)/m.exec(output)?.[1] ?? 0)
    return { who, code, tested, output }
  }))
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

/** A fresh shopper and a fresh administrator of the stack's realm, and their access tokens. */
export async function fuzzUsers(env) {
  const keycloak = env.KEYCLOAK_URL
  const issuer = env.OIDC_ISSUER
  const realm = issuer.replace(/^.*\/realms\//, '').replace(/\/$/, '')
  const admin = await json(`${keycloak}/realms/master/protocol/openid-connect/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username: env.KEYCLOAK_ADMIN_USERNAME ?? 'admin', password: env.KEYCLOAK_ADMIN_PASSWORD ?? 'admin' }) })
  const api = (p, init = {}) =>
    json(`${keycloak}/admin/realms/${realm}${p}`, {
      ...init,
      headers: { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' },
    })
  const user = async (roles) => {
    const email = `fuzz-${randomUUID().slice(0, 12)}@test.example.com`
    const password = `pw-${randomUUID()}`
    // a complete profile and no required actions: direct grants refuse an incomplete account
    await api('/users', {
      method: 'POST',
      body: JSON.stringify({
        username: email,
        email,
        firstName: 'Fuzz',
        lastName: 'User',
        enabled: true,
        emailVerified: true,
        requiredActions: [],
        credentials: [{ type: 'password', value: password, temporary: false }],
      }),
    })
    const [{ id }] = await api(`/users?exact=true&username=${encodeURIComponent(email)}`)
    if (roles.length) {
      await api(`/users/${id}/role-mappings/realm`, {
        method: 'POST',
        body: JSON.stringify(await Promise.all(roles.map((r) => api(`/roles/${r}`)))),
      })
    }
    const token = await json(`${issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: env.OIDC_CLI_CLIENT_ID ?? 'flash-sale-cli',
        username: email,
        password,
        scope: 'openid',
      }),
    })
    return token.access_token
  }
  const [shopper, administrator] = await Promise.all([user([]), user(['admin'])])
  return { shopper, admin: administrator }
}

async function json(url, init) {
  const res = await fetch(url, init)
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`)
  const text = await res.text()
  return text ? JSON.parse(text) : undefined
}

/** KEY=value lines (the stack's env file). */
function readEnv(file) {
  return Object.fromEntries(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name) => { const i = process.argv.indexOf(name); return i < 0 ? undefined : process.argv[i + 1] }
  const envFile = path.resolve(arg('--env') ?? path.join(ROOT, '.stack', 'dev', 'env'))
  if (!fs.existsSync(envFile)) {
    console.error(`✗ no ${path.relative(process.cwd(), envFile)}: start the shop with \`npm start\` first (or give --env <stack env file>)`)
    process.exit(2)
  }
  const env = readEnv(envFile)
  const url = arg('--url') ?? env.PUBLIC_URL
  const runs = await fuzz({
    url,
    tokens: await fuzzUsers(env),
    maxExamples: Number(arg('--max-examples') ?? MAX_EXAMPLES),
    seed: arg('--seed'),
  })
  for (const r of runs) console.log(`\n━━━ as ${r.who} ━━━\n${r.output}`)
  const failed = runs.filter((r) => r.code !== 0)
  console.log(failed.length ? `✗ Schemathesis found failures as ${failed.map((r) => r.who).join(' and ')} (${url})` : `✓ no failure of any check as ${runs.map((r) => r.who).join(' or ')} (${url})`)
  process.exit(failed.length ? 1 : 0)
}
