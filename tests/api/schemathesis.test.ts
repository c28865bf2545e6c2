import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStack } from '../../scripts/lib/stack.mjs'
import { fuzz, fuzzUsers } from '../../tools/openapi/fuzz.mjs'
import { freePort, startWeb, startWorker, type Proc } from '../support/processes'
import { procedureUrl, type CallPath } from '../support/api'

/*
 * A client that knows the shop only through docs/openapi.json: Schemathesis (npm run fuzz, here on
 * the test stack) through NGINX as `npm start` runs it (its rate limits included), as a shopper and as
 * an administrator, with every check. A payment worker settles what the shopper buys.
 */

let web: Proc
let worker: Proc
let nginx: { url: string, stop: () => Promise<void> }
let tokens: { shopper: string, admin: string }

beforeAll(async () => {
  ;[web, worker, tokens] = await Promise.all([startWeb(), startWorker(), fuzzUsers(process.env)])
  nginx = await openStack().startNginx({ name: 'nginx-fuzz', port: await freePort(), upstreams: [web.port] })
}, 120_000)

afterAll(async () => {
  await nginx?.stop()
  await Promise.all([web?.stop(), worker?.stop()])
})

/** node:http rather than fetch, which refuses to send TRACE. */
function send(url: string, method: string) {
  return new Promise<{ status: number, allow?: string, body: string }>((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, allow: res.headers.allow, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the API as its document describes it', () => {
  it('answers TRACE, which NGINX refuses itself, with 405, the procedure\'s Allow and the one refusal body', async () => {
    for (const [path, allow] of [['coupon.list', 'GET'], ['order.purchase', 'POST']] satisfies [CallPath, string][]) {
      const res = await send(procedureUrl(nginx.url, path), 'TRACE')
      expect({ path, status: res.status, allow: res.allow }).toEqual({ path, status: 405, allow })
      expect(JSON.parse(res.body)).toMatchObject({
        error: { data: { code: 'METHOD_NOT_SUPPORTED', httpStatus: 405, reason: 'INVALID_INPUT' } },
      })
    }
  })

  it('shows Schemathesis no failure of any check on any operation, as a shopper or as an administrator', async () => {
    const operations = Object.keys(JSON.parse(readFileSync('docs/openapi.json', 'utf8')).paths).length
    const runs = await fuzz({ url: nginx.url, tokens })
    for (const run of runs) {
      expect(run.code, `as ${run.who}:\n${run.output.slice(-20_000)}`).toBe(0)
      expect(run.tested, `as ${run.who}: operations tested`).toBe(operations)
    }
  }, 300_000)

  it('leaves nothing pending: the worker settles every purchase the fuzzer made, as either user', async () => {
    const pendingOf = async (token: string) => {
      const res = await fetch(procedureUrl(nginx.url, 'order.mine'), { headers: { authorization: `Bearer ${token}` } })
      const { result } = await res.json() as { result: { data: { items: { status: string }[] } } }
      return result.data.items.filter((o) => o.status === 'PENDING').length
    }
    const pending = async () => (await pendingOf(tokens.shopper)) + (await pendingOf(tokens.admin))
    const deadline = Date.now() + 30_000
    while (await pending() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250))
    expect(await pending()).toBe(0)
  }, 40_000)
})
