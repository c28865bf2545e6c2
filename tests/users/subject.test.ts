/**
 * A Keycloak subject's user id is resolved through Redis, shared by every web instance: the users row
 * is created once, by whoever sees the subject first, and an instance that has never seen the subject
 * resolves it without MySQL. Only a subject Redis does not know (e.g. after a data loss) reads MySQL.
 */
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { closeDb, db } from '../../server/db'
import { closeRedis, redis } from '../../server/redis/client'
import { keys } from '../../server/redis/keys'

type Service = typeof import('../../server/domain/users/service')
const instances: { closeRedis: () => Promise<void>, closeDb: () => Promise<void> }[] = []

/** A web instance of its own: fresh modules, so an empty in-process cache and its own connections. */
async function newInstance(): Promise<Service> {
  vi.resetModules()
  const [service, r, d] = await Promise.all([
    import('../../server/domain/users/service'),
    import('../../server/redis/client'),
    import('../../server/db'),
  ])
  instances.push({ closeRedis: r.closeRedis, closeDb: d.closeDb })
  return service
}

const identity = () => {
  const sub = `subject-test-${randomUUID()}`
  return { sub, email: `${sub}@example.test`, isAdmin: false }
}

/** Statements MySQL received that name this subject (general log; these counts themselves left out). */
async function statementsNaming(sub: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM mysql.general_log
    WHERE command_type IN ('Query', 'Execute') AND CONVERT(argument USING utf8mb4) LIKE ${`%${sub}%`}
      AND CONVERT(argument USING utf8mb4) NOT LIKE '%general_log%'`.execute(db())
  return Number(rows[0]!.n)
}

beforeAll(async () => {
  await sql`SET GLOBAL log_output = 'TABLE'`.execute(db())
  await sql`SET GLOBAL general_log = 'ON'`.execute(db())
})
afterAll(async () => {
  await sql`SET GLOBAL general_log = 'OFF'`.execute(db())
  for (const i of instances) await Promise.all([i.closeRedis(), i.closeDb()])
  await closeRedis()
  await closeDb()
})

it('creates the row once on first sight, and another instance resolves the subject through Redis without MySQL', async () => {
  const who = identity()
  const first = await newInstance()
  const [a, b] = await Promise.all([first.ensureUser(who), first.ensureUser(who)])
  expect(a.id).toBe(b.id)
  const rows = await db().selectFrom('users').select(['id', 'credit']).where('sub', '=', who.sub).execute()
  expect(rows).toEqual([{ id: a.id, credit: 10_000 }])
  const ledger = await db().selectFrom('credit_ledger').select('kind').where('user_id', '=', a.id).execute()
  expect(ledger).toEqual([{ kind: 'STARTING' }])
  await vi.waitFor(async () => expect(await redis().get(keys.userOfSubject(who.sub))).toBe(String(a.id)))

  const before = await statementsNaming(who.sub)
  expect(before).toBeGreaterThan(0) // the log does see this subject's statements
  const other = await newInstance()
  expect(await other.ensureUser(who)).toMatchObject({ id: a.id, sub: who.sub })
  expect(await statementsNaming(who.sub)).toBe(before)
})

it('falls back to MySQL when Redis does not know the subject (data lost), and records it again', async () => {
  const who = identity()
  const first = await newInstance()
  const { id } = await first.ensureUser(who)
  await vi.waitFor(async () => expect(await redis().get(keys.userOfSubject(who.sub))).toBe(String(id)))
  await redis().del(keys.userOfSubject(who.sub))

  const other = await newInstance()
  expect((await other.ensureUser(who)).id).toBe(id)
  expect(await db().selectFrom('users').select('id').where('sub', '=', who.sub).execute()).toHaveLength(1)
  await vi.waitFor(async () => expect(await redis().get(keys.userOfSubject(who.sub))).toBe(String(id)))
})
