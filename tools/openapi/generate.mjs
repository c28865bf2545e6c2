#!/usr/bin/env node
// Generates docs/openapi.json (OpenAPI 3.1) and docs/api.md from the tRPC router itself, so clients in
// other languages can call /api/trpc:
//   - every procedure the router has: queries (GET) and mutations (POST) as operations, subscriptions
//     (served over the WebSocket /ws, which OpenAPI cannot describe) under `x-subscriptions`;
//   - who may call each, from the procedure builder it was made from;
//   - inputs from their zod schemas (zod's own z.toJSONSchema: formats, patterns, bounds, and what a
//     schema states about its refinements in its .meta());
//   - outputs and descriptions from TypeScript (inferRouterOutputs<AppRouter>, and the /** … */
//     comment above each procedure);
//   - every status a call can answer, with its reasons from the one reason table (server/trpc/errors.ts):
//     the refusals any call can meet, and those a procedure's own logic gives (its `meta.refusals`).
//
//   node tools/openapi/generate.mjs           write docs/openapi.json and docs/api.md
//   node tools/openapi/generate.mjs --check   exit 1 when they are not what the router says
//
// Why not trpc-to-openapi: it documents (and serves, through its own handler) a REST mapping of each
// procedure (`GET /coupon/list?page=1`), not the tRPC wire format this product serves
// (`GET /api/trpc/coupon.list?input={"page":1}` answering `{ result: { data } }`), and it needs
// OpenAPI metadata and output schemas on every procedure.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { markdown } from './markdown.mjs'
import { readProcedureTypes } from './typescript.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The router, its procedure builders and the reason table, bundled from TypeScript for Node. */
async function loadServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-openapi-'))
  const entry = path.join(dir, 'entry.ts')
  fs.writeFileSync(entry, [
    `export { appRouter } from ${JSON.stringify(path.join(ROOT, 'server/trpc/routers/_app'))}`,
    `export { publicProcedure, protectedProcedure, adminProcedure } from ${JSON.stringify(path.join(ROOT, 'server/trpc/init'))}`,
    `export { REASON_CODES } from ${JSON.stringify(path.join(ROOT, 'server/trpc/errors'))}`,
    `export { MAX_INPUT_BYTES } from ${JSON.stringify(path.join(ROOT, 'server/trpc/http'))}`,
    `export { getStatusCodeFromKey } from '@trpc/server/unstable-core-do-not-import'`,
    `export { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc'`,
    `export { z } from 'zod'`,
  ].join('\n'))
  const outfile = path.join(ROOT, 'node_modules', '.cache', 'flash-openapi', 'server.mjs')
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'error',
    nodePaths: [path.join(ROOT, 'node_modules')],
  })
  fs.rmSync(dir, { recursive: true, force: true })
  return await import(`${pathToFileURL(outfile).href}?t=${Date.now()}`)
}

/**
 * What each reason means to a caller, written once for the document; every reason of the table needs
 * one (the generator stops otherwise). The transport's refusals say more in `ANY_CALL` below.
 */
const MEANING = {
  INVALID_INPUT: 'the request is not one this procedure takes',
  UNAUTHORIZED: 'credentials are missing where needed, or present but invalid',
  FORBIDDEN: 'the caller may not do this',
  NOT_FOUND: 'no such coupon, order, user or code (or not the caller\'s)',
  SOLD_OUT: 'no unit is left',
  ALREADY_PURCHASED: 'the caller already holds this coupon',
  ALREADY_REDEEMED: 'the code was redeemed before',
  SALE_NOT_STARTED: 'the sale has not opened yet',
  SALE_ENDED: 'the sale has closed',
  PAYLOAD_TOO_LARGE: 'the body is over 64 KiB',
  RATE_LIMITED: 'too many requests from this shopper or address: try again after `Retry-After` seconds',
  TRY_AGAIN_LATER: 'nothing was done, the shop or a service it needs is busy or unavailable: try again after `Retry-After` seconds',
  NOT_ADMITTED: 'the coupon\'s waiting room has not admitted the caller (see queue.*)',
  OUTCOME_UNKNOWN: 'no answer in time after the request was handed on: it may or may not have been carried out, so look (order.mine) before trying again',
}

/**
 * The refusals any call can meet before or around its procedure, by the kind of procedure:
 * [status, reason, why, applies(kind, who)].
 */
const ANY_CALL = [
  [400, 'INVALID_INPUT', 'the input does not match its schema (`data.zodError` says where) or is not JSON', () => true],
  [401, 'UNAUTHORIZED', 'a bearer token or session that is present but invalid, on every procedure', () => true],
  [401, 'UNAUTHORIZED', 'no credentials', (kind, who) => who !== 'public'],
  [403, 'FORBIDDEN', 'not an administrator', (kind, who) => who === 'admin'],
  [403, 'FORBIDDEN', 'the caller\'s email belongs to another account', (kind, who) => who !== 'public'],
  [403, 'FORBIDDEN', 'a state change with the session cookie from another site\'s page', (kind) => kind === 'mutation'],
  [405, 'INVALID_INPUT', 'another method than the procedure\'s (`Allow` names it)', () => true],
  [413, 'PAYLOAD_TOO_LARGE', 'a body over 64 KiB', (kind) => kind === 'mutation'],
  [413, 'PAYLOAD_TOO_LARGE', 'a request line (the URL with its input) over 8 KiB, through NGINX', (kind) => kind === 'query'],
  [415, 'INVALID_INPUT', 'a body that is not `application/json`', (kind) => kind === 'mutation'],
  [429, 'RATE_LIMITED', 'too many requests from this shopper or address', () => true],
  [503, 'TRY_AGAIN_LATER', 'no instance could take the request, or a service it needs is unavailable', () => true],
  [504, 'OUTCOME_UNKNOWN', 'the request was handed to an instance that gave no answer in time', (kind) => kind === 'mutation'],
]

const HEADERS = {
  429: { 'Retry-After': { required: true, description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } } },
  503: { 'Retry-After': { required: true, description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } } },
}

export async function generate() {
  const server = await loadServer()
  const {
    appRouter,
    publicProcedure,
    protectedProcedure,
    adminProcedure,
    REASON_CODES,
    MAX_INPUT_BYTES,
    getStatusCodeFromKey,
    TRPC_ERROR_CODES_BY_KEY,
    z,
  } = server
  if (MAX_INPUT_BYTES !== 64 * 1024) throw new Error('MEANING and ANY_CALL say 64 KiB: update them with MAX_INPUT_BYTES')
  for (const reason of Object.keys(REASON_CODES)) if (!MEANING[reason]) throw new Error(`tools/openapi/generate.mjs: say what ${reason} means to a caller (MEANING)`)
  const procedures = appRouter._def.procedures
  const paths = Object.keys(procedures).sort()
  const types = readProcedureTypes(ROOT, paths)
  // A procedure made from a builder starts with that builder's middlewares (the same functions).
  const madeFrom = (proc, builder) => builder._def.middlewares.every((m, i) => proc._def.middlewares[i] === m)
  const level = (proc) =>
    [
      [adminProcedure, 'admin'],
      [protectedProcedure, 'user'],
      [publicProcedure, 'public'],
    ].find(([b]) => madeFrom(proc, b))?.[1]
  const codesOf = (status) => Object.keys(TRPC_ERROR_CODES_BY_KEY).filter((code) => getStatusCodeFromKey(code) === status)
  const statusOf = (reason) => getStatusCodeFromKey(REASON_CODES[reason])

  /** The error responses of one procedure, by status: the schema of the body names exactly their reasons. */
  function errorResponses(kind, who, refusals) {
    const byStatus = new Map()
    const add = (status, reason, why) => {
      const entry = byStatus.get(status) ?? { reasons: new Map() }
      entry.reasons.set(reason, [...(entry.reasons.get(reason) ?? []), why])
      byStatus.set(status, entry)
    }
    for (const [status, reason, why, applies] of ANY_CALL) if (applies(kind, who)) add(status, reason, why)
    for (const reason of refusals) {
      if (!REASON_CODES[reason]) throw new Error(`a refusal ${reason} is not in the reason table`)
      add(statusOf(reason), reason, MEANING[reason])
    }
    return Object.fromEntries([...byStatus].sort(([a], [b]) => a - b).map(([status, { reasons }]) => {
      const codes = status === 405 ? ['METHOD_NOT_SUPPORTED'] : status === 415 ? ['UNSUPPORTED_MEDIA_TYPE'] : codesOf(status)
      const description = [...reasons].map(([reason, whys]) => `${reason}: ${[...new Set(whys)].join('; ')}`).join('. ')
      const data = {
        type: 'object',
        required: ['code', 'httpStatus', 'reason'],
        properties: {
          code: { enum: codes, description: 'tRPC error code' },
          httpStatus: { const: status },
          reason: { enum: [...reasons.keys()] },
          path: { type: 'string', description: 'the procedure, when the call reached the router' },
          ...(status === 400 ? { zodError: { $ref: '#/components/schemas/ZodError' } } : {}),
        },
      }
      const schema = {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['message', 'code', 'data'],
            properties: {
              message: { type: 'string' },
              code: { enum: codes.map((c) => TRPC_ERROR_CODES_BY_KEY[c]), description: 'JSON-RPC style code of tRPC' },
              data,
            },
          },
        },
      }
      const headers =
        status === 405
          ? {
              Allow: {
                required: true,
                description: 'The one method this procedure takes',
                schema: { const: kind === 'query' ? 'GET' : 'POST' },
              },
            }
          : HEADERS[status]
      return [status, { description, ...(headers ? { headers } : {}), content: { 'application/json': { schema } } }]
    }))
  }

  const inputSchemaOf = (proc) => {
    const input = proc._def.inputs[0]
    if (!input) return undefined
    const schema = z.toJSONSchema(input, { io: 'input', unrepresentable: 'any' })
    delete schema.$schema
    return { schema, required: !input.safeParse(undefined).success }
  }

  const doc = {
    openapi: '3.1.0',
    info: {
      title: 'Flash Sale tRPC API',
      version: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
      description: [
        'tRPC procedures at /api/trpc, plain JSON on the wire (no transformer): dates are ISO-8601 strings, money is integer cents.',
        'Queries are GET with the input as JSON in the `input` query parameter; mutations are POST with the input as the JSON body (`Content-Type: application/json`); any other method is 405 with `Allow`.',
        'A success answers `{ "result": { "data": <output> } }`; a refusal answers `{ "error": { "message", "code", "data": { "code", "httpStatus", "reason" } } }` with a `reason` from the one reason table, whether the app or NGINX refused.',
        'Subscriptions are served over the WebSocket /ws, not over HTTP: see `x-subscriptions`.',
        'Generated by tools/openapi/generate.mjs from the router; do not edit.',
      ].join(' '),
    },
    servers: [{ url: 'http://localhost:8080' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A Keycloak access token of the realm (flash-sale-cli client: direct access grants); it decides when a session cookie is sent too' },
        session: { type: 'apiKey', in: 'cookie', name: 'nuxt-session', description: 'The browser session after the Keycloak sign-in' },
      },
      schemas: {
        Reason: { type: 'string', enum: Object.keys(REASON_CODES), description: 'The one reason table: each reason and its status are listed with the operations that answer them' },
        ZodError: { type: 'object', description: "zod's flattened error: messages for the whole input, and per field", properties: { formErrors: { type: 'array', items: { type: 'string' } }, fieldErrors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } } } },
      },
    },
    paths: {},
    'x-subscriptions': {
      description: 'tRPC subscriptions, served over the WebSocket /ws on every web instance (tRPC v11\'s WebSocket protocol: `@trpc/client`\'s createWSClient + wsLink; OpenAPI cannot describe them as operations). Authentication: the browser session cookie on the upgrade, or `connectionParams: { token: <Keycloak access token> }` (the first message; never a token in the URL). Refusals use the error shape of the operations, with the reasons listed. `message` is what each data message carries: `result.data`, or for a tracked stream (`order.onUpdate`) `{ id, data }` from `result.id` and `result.data`; a client that reconnects with the last id it received (`lastEventId`; tRPC\'s client does) gets every event after it.',
      url: '/ws',
      procedures: {},
    },
  }
  for (const p of paths) {
    const proc = procedures[p]
    const who = level(proc)
    if (!who) throw new Error(`${p}: not made from publicProcedure, protectedProcedure or adminProcedure`)
    const { output, description } = types[p]
    if (!description) throw new Error(`${p}: no /** … */ comment above the procedure; it is the procedure's description in docs/openapi.json`)
    const kind = proc._def.type
    const input = inputSchemaOf(proc)
    const summary = `${p} (${kind}, ${who === 'public' ? 'anyone' : who === 'user' ? 'signed-in shopper' : 'administrator'})`
    const security = who === 'public' ? {} : { security: [{ bearer: [] }, { session: [] }] }
    if (kind === 'subscription') {
      const refusals = ['INVALID_INPUT', 'UNAUTHORIZED', ...(proc._def.meta?.refusals ?? [])]
      doc['x-subscriptions'].procedures[p] = {
        summary,
        description,
        ...security,
        ...(input ? { input: input.schema } : {}),
        message: output,
        refusals,
      }
      continue
    }
    const operation = {
      operationId: p,
      summary,
      description,
      tags: [p.split('.')[0]],
      ...security,
      ...(kind === 'query'
        ? {
            parameters: input
              ? [{ name: 'input', in: 'query', required: input.required, content: { 'application/json': { schema: input.schema } } }]
              : [],
          }
        : {
            requestBody: {
              required: !!input?.required,
              content: { 'application/json': { schema: input?.schema ?? { type: 'object', maxProperties: 0 } } },
            },
          }),
      responses: {
        200: {
          description: 'the result',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['result'],
                properties: { result: { type: 'object', required: ['data'], properties: { data: output } } },
              },
            },
          },
        },
        ...errorResponses(kind, who, proc._def.meta?.refusals ?? []),
      },
    }
    doc.paths[`/api/trpc/${p}`] = { [kind === 'query' ? 'get' : 'post']: operation }
  }
  return { json: `${JSON.stringify(doc, null, 2)}\n`, markdown: markdown(doc) }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { json, markdown: md } = await generate()
  const files = [[path.join(ROOT, 'docs', 'openapi.json'), json], [path.join(ROOT, 'docs', 'api.md'), md]]
  if (process.argv.includes('--check')) {
    const stale = files.filter(([f, text]) => !fs.existsSync(f) || fs.readFileSync(f, 'utf8') !== text)
    for (const [f] of stale) console.error(`✗ ${path.relative(ROOT, f)} is out of date: run node tools/openapi/generate.mjs`)
    process.exit(stale.length ? 1 : 0)
  }
  for (const [f, text] of files) fs.writeFileSync(f, text)
  const doc = JSON.parse(json)
  console.log(`wrote ${files.map(([f]) => path.relative(ROOT, f)).join(', ')} (${Object.keys(doc.paths).length} operations, ${Object.keys(doc['x-subscriptions'].procedures).length} subscriptions)`)
}
