import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AnyProcedure } from '@trpc/server/unstable-core-do-not-import'
import { appRouter } from '../../server/trpc/routers/_app'
import { generate } from '../../tools/openapi/generate.mjs'
import { startWeb, type Proc } from '../support/processes'
import type { CallPath } from '../support/api'

/*
 * docs/openapi.json and docs/api.md are what tools/openapi/generate.mjs makes from the router now,
 * and the document describes what a running web instance really answers.
 */

type Schema = {
  type?: string
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  anyOf?: Schema[]
  enum?: unknown[]
  const?: unknown
  $ref?: string
}
type Parsed = ReturnType<typeof JSON.parse>

/** The JSON Schema subset the document uses; returns the first mismatch, or null. */
function mismatch(schema: Schema, value: unknown, doc: Parsed, at = '$'): string | null {
  if (schema.$ref) return mismatch(schema.$ref.split('/').slice(1).reduce((o: Parsed, k: string) => o[k], doc), value, doc, at)
  if (schema.anyOf) return schema.anyOf.some((s) => !mismatch(s, value, doc, at)) ? null : `${at}: matches none of anyOf`
  if ('const' in schema) return value === schema.const ? null : `${at}: expected ${JSON.stringify(schema.const)}`
  if (schema.enum) return schema.enum.includes(value) ? null : `${at}: ${JSON.stringify(value)} not in enum`
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
  if (schema.type && !(schema.type === type || (schema.type === 'integer' && Number.isInteger(value)))) return `${at}: expected ${schema.type}, got ${type}`
  if (type === 'array' && schema.items) {
    for (const [i, v] of (value as unknown[]).entries()) {
      const m = mismatch(schema.items, v, doc, `${at}[${i}]`)
      if (m) return m
    }
  }
  if (type === 'object' && schema.properties) {
    for (const key of schema.required ?? []) if (!(key in (value as object))) return `${at}.${key}: missing`
    for (const [key, v] of Object.entries(value as object)) {
      if (!schema.properties[key]) return `${at}.${key}: not in the document`
      const m = mismatch(schema.properties[key], v, doc, `${at}.${key}`)
      if (m) return m
    }
  }
  return null
}

let web: Proc | undefined
let doc: Parsed
beforeAll(() => { doc = JSON.parse(readFileSync('docs/openapi.json', 'utf8')) })
afterAll(async () => { await web?.stop() })

describe('the API document', () => {
  it('is what the router says now (docs/openapi.json and docs/api.md are up to date)', async () => {
    const { json, markdown } = await generate()
    expect(json, 'run: node tools/openapi/generate.mjs').toBe(readFileSync('docs/openapi.json', 'utf8'))
    expect(markdown, 'run: node tools/openapi/generate.mjs').toBe(readFileSync('docs/api.md', 'utf8'))
  }, 180_000)

  it('has an operation for every query and mutation, and a description for every subscription, and nothing else', () => {
    const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, AnyProcedure>)
    const expected = procedures.filter(([, p]) => p._def.type !== 'subscription').map(([path, p]) => `${p._def.type === 'query' ? 'get' : 'post'} /api/trpc/${path}`)
    const documented = Object.entries(doc.paths as Record<string, Record<string, { operationId: string, description: string }>>)
      .flatMap(([url, ops]) => Object.entries(ops).map(([method, op]) => {
        expect(op.description, `${method} ${url} has no description`).toBeTruthy()
        return `${method} ${url}`
      }))
    expect(documented.sort()).toEqual(expected.sort())
    const subscriptions = doc['x-subscriptions'].procedures as Record<string, { description: string, message: unknown }>
    expect(Object.keys(subscriptions).sort()).toEqual(
      procedures
        .filter(([, p]) => p._def.type === 'subscription')
        .map(([path]) => path)
        .sort(),
    )
    for (const [path, s] of Object.entries(subscriptions)) expect(s.description, `${path} has no description`).toBeTruthy()
    expect(doc['x-subscriptions'].url).toBe('/ws')
  })

  it('describes the answers of a running web instance: results, refusals and their reasons', async () => {
    web = await startWeb()
    const base = web.url
    const call = async (path: CallPath, init: { input?: unknown, method?: string } = {}) => {
      const op = doc.paths[`/api/trpc/${path}`]
      const method = op.get ? 'get' : 'post'
      const url = `${base}/api/trpc/${path}${method === 'get' && init.input !== undefined ? `?input=${encodeURIComponent(JSON.stringify(init.input))}` : ''}`
      const res = await fetch(
        url,
        method === 'get'
          ? { method: init.method }
          : { method: init.method ?? 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.input ?? {}) },
      )
      const body = await res.json()
      const documented = op[method].responses[String(res.status)]
      expect(documented, `${path} answered ${res.status}, which the document does not list`).toBeDefined()
      const error = mismatch(documented.content['application/json'].schema, body, doc)
      expect(error, `${path}: ${JSON.stringify(body).slice(0, 300)}`).toBeNull()
      for (const [name, header] of Object.entries(documented.headers ?? {}) as [string, { required?: boolean }][]) {
        if (header.required) expect(res.headers.get(name), `${path}: ${res.status} without ${name}`).not.toBeNull()
      }
      return { status: res.status, body, allow: res.headers.get('allow') }
    }
    expect((await call('system.ping')).status).toBe(200)
    expect((await call('coupon.list', { input: { page: 1, pageSize: 5 } })).status).toBe(200)
    const bad = await call('coupon.get', { input: { id: 'x' } })
    expect([bad.status, bad.body.error.data.reason]).toEqual([400, 'INVALID_INPUT'])
    const missing = await call('coupon.get', { input: { id: 2_000_000_000 } })
    expect([missing.status, missing.body.error.data.reason]).toEqual([404, 'NOT_FOUND'])
    const anonymous = await call('order.purchase', { input: { couponId: 1 } })
    expect([anonymous.status, anonymous.body.error.data.reason]).toEqual([401, 'UNAUTHORIZED'])
    const wrongMethod = await call('coupon.list', { method: 'DELETE' })
    expect([wrongMethod.status, wrongMethod.allow, wrongMethod.body.error.data.reason]).toEqual([405, 'GET', 'INVALID_INPUT'])
  })
})
