import { sql } from 'kysely'
import type { DB } from '../../db'

export async function findUserBySub(db: DB, sub: string) {
  return await db.selectFrom('users').select(['id', 'email']).where('sub', '=', sub).executeTakeFirst()
}

export async function findUserByEmail(db: DB, email: string) {
  return await db.selectFrom('users').select(['id', 'email']).where('email', '=', email).executeTakeFirst()
}

export async function findUserById(db: DB, id: number) {
  return await db.selectFrom('users').select(['id', 'email', 'credit']).where('id', '=', id).executeTakeFirst()
}

/**
 * Inserts the user with their starting credit and its ledger row, unless the subject exists already.
 * INSERT IGNORE makes concurrent first requests safe: exactly one of them inserts.
 */
export async function insertUserIfMissing(db: DB, sub: string, email: string, startingCredit: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const result = await trx.insertInto('users').ignore().values({ sub, email, credit: startingCredit }).executeTakeFirst()
    if (Number(result.numInsertedOrUpdatedRows ?? 0) === 1 && result.insertId !== undefined) {
      await trx
        .insertInto('credit_ledger')
        .values({ user_id: Number(result.insertId), amount: startingCredit, kind: 'STARTING', order_id: null })
        .execute()
    }
  })
}

/** Adds credit with its ledger row; returns the new balance, or undefined for an unknown user. */
export async function addCredit(db: DB, userId: number, amount: number): Promise<number | undefined> {
  return await db.transaction().execute(async (trx) => {
    const updated = await trx.updateTable('users').set({ credit: sql`credit + ${amount}` }).where('id', '=', userId).executeTakeFirst()
    if (Number(updated.numUpdatedRows) !== 1) return undefined
    await trx.insertInto('credit_ledger').values({ user_id: userId, amount, kind: 'GRANT', order_id: null }).execute()
    const row = await trx.selectFrom('users').select('credit').where('id', '=', userId).executeTakeFirstOrThrow()
    return Number(row.credit)
  })
}
