import { z } from 'zod'
import type { DB } from '../db'
import { addCredit, findUserByEmail } from '../domain/users/repository'
import { UsageError, type Output } from './output'

// The same bounds as admin.grantCredit.
const amountSchema = z.coerce.number().int().min(1).max(100_000_000)

/** Adds credit (cents) to the account of an email, with its GRANT ledger row. */
export async function creditGrant(db: DB, out: Output, email: string | undefined, amount: string | undefined) {
  const parsed = amountSchema.safeParse(amount)
  if (!email || amount === undefined || !parsed.success) throw new UsageError('usage: flash-sale credit grant <email> <amount in cents, 1..100000000>')
  const user = await findUserByEmail(db, email)
  if (!user) throw new UsageError(`no account with email ${email} (accounts are created at their first sign-in)`)
  const credit = await addCredit(db, Number(user.id), parsed.data)
  out.result({ userId: Number(user.id), email: user.email, granted: parsed.data, credit }, () => `${user.email} (#${user.id}): +${parsed.data}, credit now ${credit}`)
}
