#!/usr/bin/env node
// Generates docs/openapi.json (OpenAPI 3.1) and docs/api.md from the tRPC router itself, so clients in
// other languages can call /api/trpc:
//   - the procedures, their kind (query → GET, mutation → POST) and who may call them, from
//     appRouter's definitions (the procedure builder each was made from);
//   - inputs from their zod schemas (zod's own z.toJSONSchema);
//   - outputs from the TypeScript types the procedures return (inferRouterOutputs<AppRouter>, read
//     with the TypeScript compiler);
//   - errors from the one reason table (server/trpc/errors.ts).
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
import ts from 'typescript'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The router, its procedure builders and the reason table, bundled from TypeScript for Node. */
async function loadServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-openapi-'))
  const entry = path.join(dir, 'entry.ts')
  fs.writeFileSync(entry, [
    `export { appRouter } from ${JSON.stringify(path.join(ROOT, 'server/trpc/routers/_app'))}`,
    `export { publicProcedure, protectedProcedure, adminProcedure } from ${JSON.stringify(path.join(ROOT, 'server/trpc/init'))}`,
    `export { REASON_CODES } from ${JSON.stringify(path.join(ROOT, 'server/trpc/errors'))}`,
    `export { getHTTPStatusCodeFromError } from '@trpc/server/http'`,
    `export { TRPCError } from '@trpc/server'`,
    `export { z } from 'zod'`,
  ].join('\n'))
  const outfile = path.join(ROOT, 'node_modules', '.cache', 'flash-openapi', 'server.mjs')
  await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'error', nodePaths: [path.join(ROOT, 'node_modules')] })
  fs.rmSync(dir, { recursive: true, force: true })
  return await import(`${pathToFileURL(outfile).href}?t=${Date.now()}`)
}

/**
 * JSON Schema of each procedure's output type, from `inferRouterOutputs<AppRouter>`; for a
 * subscription (`subscriptions`), of what each of its events carries.
 */
function outputSchemas(paths, subscriptions) {
  const entry = path.join(ROOT, 'tools', 'openapi', '.outputs.ts')
  const events = subscriptions.map((p, i) => `export type Event${i} = Events<Outputs${p.split('.').map((k) => `['${k}']`).join('')}>\n`).join('')
  fs.writeFileSync(entry, `import type { inferRouterOutputs } from '@trpc/server'\nimport type { AppRouter } from '../../server/trpc/routers/_app'\nexport type Outputs = inferRouterOutputs<AppRouter>\ntype Events<T> = T extends AsyncIterable<infer E> ? E : never\n${events}`)
  try {
    const program = ts.createProgram([entry], { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, skipLibCheck: true, noEmit: true, types: ['node'] })
    const checker = program.getTypeChecker()
    const source = program.getSourceFile(entry)
    const aliases = new Map(source.statements.filter((s) => ts.isTypeAliasDeclaration(s)).map((s) => [s.name.text, checker.getTypeAtLocation(s.name)]))
    const outputs = aliases.get('Outputs')
    const at = (type, key) => checker.getTypeOfSymbol(type.getProperty(key))
    return Object.fromEntries(paths.map((p) => {
      const i = subscriptions.indexOf(p)
      return [p, toSchema(checker, i >= 0 ? aliases.get(`Event${i}`) : p.split('.').reduce(at, outputs), new Set())]
    }))
  } finally {
    fs.rmSync(entry, { force: true })
  }
}

function toSchema(checker, type, seen) {
  const F = ts.TypeFlags
  if (type.flags & F.String) return { type: 'string' }
  if (type.flags & F.Number) return { type: 'number' }
  if (type.flags & F.Boolean) return { type: 'boolean' }
  if (type.flags & F.Null) return { type: 'null' }
  if (type.isStringLiteral()) return { const: type.value }
  if (type.isNumberLiteral()) return { const: type.value }
  if (type.flags & F.BooleanLiteral) return { const: checker.typeToString(type) === 'true' }
  if (type.isUnion()) {
    const parts = type.types.filter((t) => !(t.flags & F.Undefined))
    const bools = parts.filter((t) => t.flags & F.BooleanLiteral)
    const rest = parts.filter((t) => !(t.flags & F.BooleanLiteral))
    const schemas = [...rest.map((t) => toSchema(checker, t, seen)), ...(bools.length === 2 ? [{ type: 'boolean' }] : bools.map((t) => toSchema(checker, t, seen)))]
    if (schemas.every((s) => 'const' in s)) return { enum: schemas.map((s) => s.const) }
    return schemas.length === 1 ? schemas[0] : { anyOf: schemas }
  }
  if (checker.isArrayType(type)) return { type: 'array', items: toSchema(checker, checker.getTypeArguments(type)[0], seen) }
  if (type.flags & F.Object) {
    if (seen.has(type)) return {}
    seen.add(type)
    const properties = {}
    const required = []
    for (const prop of checker.getPropertiesOfType(type)) {
      properties[prop.name] = toSchema(checker, checker.getTypeOfSymbol(prop), seen)
      if (!(prop.flags & ts.SymbolFlags.Optional)) required.push(prop.name)
    }
    seen.delete(type)
    return { type: 'object', properties, required, additionalProperties: false }
  }
  return {}
}

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'code', 'data'],
      properties: {
        message: { type: 'string' },
        code: { type: 'integer', description: 'JSON-RPC style code of tRPC' },
        data: {
          type: 'object',
          required: ['code', 'httpStatus', 'reason'],
          properties: {
            code: { type: 'string', description: 'tRPC error code' },
            httpStatus: { type: 'integer' },
            reason: { $ref: '#/components/schemas/Reason' },
            path: { type: 'string' },
            zodError: { type: 'object', description: "zod's flattened error (INVALID_INPUT only)" },
          },
        },
      },
    },
  },
}

export async function generate() {
  const server = await loadServer()
  const { appRouter, publicProcedure, protectedProcedure, adminProcedure, REASON_CODES, getHTTPStatusCodeFromError, TRPCError, z } = server
  const procedures = appRouter._def.procedures
  const paths = Object.keys(procedures).sort()
  const outputs = outputSchemas(paths, paths.filter((p) => procedures[p]._def.type === 'subscription'))
  // A procedure made from a builder starts with that builder's middlewares (the same functions).
  const madeFrom = (proc, builder) => builder._def.middlewares.every((m, i) => proc._def.middlewares[i] === m)
  const level = (proc) => [[adminProcedure, 'admin'], [protectedProcedure, 'user'], [publicProcedure, 'public']].find(([b]) => madeFrom(proc, b))?.[1]
  const reasonsByStatus = {}
  for (const [reason, code] of Object.entries(REASON_CODES)) (reasonsByStatus[getHTTPStatusCodeFromError(new TRPCError({ code }))] ??= []).push(reason)
  const errorResponse = (status, reasons) => ({ description: reasons.join(', '), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })

  const doc = {
    openapi: '3.1.0',
    info: {
      title: 'Flash Sale tRPC API',
      version: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
      description: 'tRPC procedures at /api/trpc, plain JSON on the wire (no transformer): dates are ISO-8601 strings, money is integer cents. Queries are GET with the input as JSON in the `input` query parameter; mutations are POST with the input as the JSON body. A success answers `{ "result": { "data": <output> } }`. Subscriptions are served over the WebSocket /ws (`x-subscriptions`). Generated by tools/openapi/generate.mjs from the router; do not edit.',
    },
    servers: [{ url: 'http://localhost:8080' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A Keycloak access token of the realm (flash-sale-cli client: direct access grants)' },
        session: { type: 'apiKey', in: 'cookie', name: 'nuxt-session', description: 'The browser session after the Keycloak sign-in' },
      },
      schemas: { Reason: { type: 'string', enum: Object.keys(REASON_CODES) }, Error: errorSchema },
    },
    paths: {},
    'x-subscriptions': {
      url: '/ws',
      description: 'tRPC subscriptions, served over the WebSocket /ws on every web instance (tRPC v11\'s WebSocket protocol: `@trpc/client`\'s createWSClient + wsLink). Authentication: the browser session cookie on the upgrade, or `connectionParams: { token: <Keycloak access token> }` (the first message; never a token in the URL, which is refused). Refusals use the error shape above. `event` is what each data message carries; a tracked event (`order.onUpdate`) comes as `{ id, data }`, and a client that reconnects with the last id it received (tRPC\'s client does) gets every event after it.',
      procedures: {},
    },
  }
  for (const p of paths) {
    const proc = procedures[p]
    const who = level(proc)
    if (!who) throw new Error(`${p}: not made from publicProcedure, protectedProcedure or adminProcedure`)
    const kind = proc._def.type
    const input = proc._def.inputs[0]
    const inputSchema = input ? z.toJSONSchema(input, { io: 'input', unrepresentable: 'any' }) : undefined
    if (inputSchema) delete inputSchema.$schema
    if (kind === 'subscription') {
      // Not an HTTP operation: served over the WebSocket /ws (tRPC's protocol), listed beside the paths.
      doc['x-subscriptions'].procedures[p] = { summary: `${p} (subscription, ${who === 'public' ? 'anyone' : 'signed-in shopper'})`, input: inputSchema ?? {}, event: outputs[p] }
      continue
    }
    const refusals = { 400: ['INVALID_INPUT'], ...(who !== 'public' ? { 401: ['UNAUTHORIZED'] } : { 401: ['UNAUTHORIZED (an invalid bearer token)'] }), ...(who === 'admin' ? { 403: ['FORBIDDEN'] } : {}), ...Object.fromEntries(Object.entries(reasonsByStatus).filter(([s]) => !['400', '401', '403'].includes(s))) }
    const operation = {
      operationId: p,
      summary: `${p} (${kind}, ${who === 'public' ? 'anyone' : who === 'user' ? 'signed-in shopper' : 'administrator'})`,
      tags: [p.split('.')[0]],
      ...(who === 'public' ? {} : { security: [{ bearer: [] }, { session: [] }] }),
      ...(kind === 'query'
        ? { parameters: inputSchema ? [{ name: 'input', in: 'query', required: !input.safeParse(undefined).success, content: { 'application/json': { schema: inputSchema } } }] : [] }
        : { requestBody: { required: !!inputSchema, content: { 'application/json': { schema: inputSchema ?? { type: 'object', maxProperties: 0 } } } } }),
      responses: {
        200: { description: 'the result', content: { 'application/json': { schema: { type: 'object', required: ['result'], properties: { result: { type: 'object', required: ['data'], properties: { data: outputs[p] } } } } } } },
        ...Object.fromEntries(Object.entries(refusals).map(([status, reasons]) => [status, errorResponse(status, reasons)])),
      },
    }
    doc.paths[`/api/trpc/${p}`] = { [kind === 'query' ? 'get' : 'post']: operation }
  }
  return { json: `${JSON.stringify(doc, null, 2)}\n`, markdown: markdown(doc) }
}

function compact(schema) {
  return JSON.stringify(schema ?? {}, (k, v) => (k === 'additionalProperties' || k === '$schema' ? undefined : v))
}

function markdown(doc) {
  const rows = Object.entries(doc.paths).map(([url, ops]) => {
    const [method, op] = Object.entries(ops)[0]
    const input = method === 'get' ? op.parameters[0]?.content['application/json'].schema : op.requestBody.content['application/json'].schema
    const output = op.responses[200].content['application/json'].schema.properties.result.properties.data
    const errors = Object.entries(op.responses).filter(([s]) => s !== '200').map(([s, r]) => `${s} ${r.description}`).join('; ')
    return `### \`${op.operationId}\`\n\n${method.toUpperCase()} \`${url}\` — ${op.summary.replace(/^[^(]*\(/, '').replace(/\)$/, '')}\n\n- **input:** \`${compact(input)}\`\n- **output** (\`result.data\`): \`${compact(output)}\`\n- **errors:** ${errors}\n`
  })
  return [
    '# The API',
    '',
    'Generated by `node tools/openapi/generate.mjs` from the router (inputs from their zod schemas, outputs from the procedures\' TypeScript types, errors from the reason table); the same content as an OpenAPI 3.1 document is [openapi.json](openapi.json). `tests/ops/openapi.test.ts` fails when either is out of date. Do not edit by hand.',
    '',
    doc.info.description.replace(' Generated by tools/openapi/generate.mjs from the router; do not edit.', ''),
    '',
    'Authentication: `Authorization: Bearer <Keycloak access token>` or the browser session cookie; a token that is present but invalid is `UNAUTHORIZED` on every procedure, public ones included.',
    '',
    'Errors answer `{ "error": { "message", "code", "data": { "code", "httpStatus", "reason", "path", "zodError"? } } }`; `reason` is one of ' + doc.components.schemas.Reason.enum.map((r) => `\`${r}\``).join(', ') + '. 429 and 503 carry `Retry-After`. Batches (`?batch=1`, several paths joined by commas) answer an array of these.',
    '',
    ...rows,
    '## Subscriptions on `/ws`',
    '',
    doc['x-subscriptions'].description,
    '',
    ...Object.entries(doc['x-subscriptions'].procedures).map(([p, sub]) => `### \`${p}\`\n\n${sub.summary.replace(/^[^(]*\(/, '').replace(/\)$/, '')}\n\n- **input:** \`${compact(sub.input)}\`\n- **event:** \`${compact(sub.event)}\`\n`),
  ].join('\n')
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
  console.log(`wrote ${files.map(([f]) => path.relative(ROOT, f)).join(', ')} (${Object.keys(JSON.parse(json).paths).length} procedures)`)
}
