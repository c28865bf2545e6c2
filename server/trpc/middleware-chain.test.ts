// tRPC's middleware chain as patched (patches/@trpc+server+11.25.2.patch): callRecursive builds each
// level's options with native object spread instead of a Babel helper. What a middleware and the
// resolver see must be what tRPC documents: the options carried down, the context merged, an input or
// raw input a middleware passes on replacing the previous one, the procedure's meta at every level.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { initTRPC } from '@trpc/server'
import { describe, expect, it } from 'vitest'

interface Ctx { who: string, trail: string[], extra?: number }
const t = initTRPC.context<Ctx>().meta<{ tag: string }>().create()

describe("tRPC's middleware chain (patched)", () => {
  it('carries the context, merges what a middleware adds, and passes an input on', async () => {
    const seen: unknown[] = []
    const procedure = t.procedure
      .meta({ tag: 'checked' })
      .use(async ({ ctx, meta, next, type, path: p }) => {
        seen.push({ level: 1, who: ctx.who, meta, type, path: p })
        return next({ ctx: { trail: [...ctx.trail, 'one'], extra: 1 } })
      })
      .use(async ({ ctx, meta, next, getRawInput }) => {
        seen.push({ level: 2, ctx, meta, raw: await getRawInput() })
        return next({ getRawInput: async () => ({ n: 41 }) })
      })
      .input((raw) => raw as { n: number })
      .use(async ({ input, next }) => {
        seen.push({ level: 3, input })
        return next({ ctx: { extra: 2 }, input: { n: input.n + 1 } })
      })
      .query(({ ctx, input }) => ({ ctx, input }))
    const caller = t.createCallerFactory(t.router({ p: procedure }))({ who: 'ann', trail: ['root'] })

    await expect(caller.p({ n: 1 })).resolves.toEqual({ ctx: { who: 'ann', trail: ['root', 'one'], extra: 2 }, input: { n: 42 } })
    expect(seen).toEqual([
      { level: 1, who: 'ann', meta: { tag: 'checked' }, type: 'query', path: 'p' },
      { level: 2, ctx: { who: 'ann', trail: ['root', 'one'], extra: 1 }, meta: { tag: 'checked' }, raw: { n: 1 } },
      { level: 3, input: { n: 41 } },
    ])
  })

  it('keeps an own "__proto__" key of a context as data, as object spread does', async () => {
    const added = JSON.parse('{"__proto__": {"polluted": true}, "extra": 3}') as Partial<Ctx>
    const procedure = t.procedure.use(async ({ next }) => next({ ctx: added })).query(({ ctx }) => ({
      ownProto: Object.hasOwn(ctx, '__proto__'),
      polluted: (ctx as { polluted?: boolean }).polluted,
      extra: ctx.extra,
    }))
    const caller = t.createCallerFactory(t.router({ p: procedure }))({ who: 'bob', trail: [] })
    await expect(caller.p()).resolves.toEqual({ ownProto: true, polluted: undefined, extra: 3 })
  })

  it('runs the patched build: the chain no longer goes through the helper', () => {
    const dist = path.dirname(createRequire(import.meta.url).resolve('@trpc/server'))
    const files = fs.readdirSync(dist).filter((f) => /^initTRPC-.*\.(mjs|cjs)$/.test(f))
    expect(files.length).toBe(2)
    for (const f of files) {
      const code = fs.readFileSync(path.join(dist, f), 'utf8')
      const chain = code.slice(code.indexOf('async function callRecursive'), code.indexOf('function createProcedureCaller'))
      expect(chain).toContain('...opts,')
      expect(chain).not.toContain('_objectSpread2')
    }
  })
})
