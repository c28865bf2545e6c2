import { db } from '../../db'
import type { LedgerKind } from '../../db/types'
import { findUserById } from '../users/repository'
import { DomainError } from '../errors'
import { findAccountByEmail, selectLedger } from './repository'

export interface LedgerEntry {
  id: number
  /** Minor units; negative for purchases. */
  amount: number
  kind: LedgerKind
  createdAt: string
  orderId?: string
  couponName?: string
}

const LEDGER_LIMIT = 200

/** The shopper's balance and its history: the starting credit, grants and purchases, newest first. */
export async function creditLedger(userId: number): Promise<{ balance: number, items: LedgerEntry[] }> {
  const [user, rows] = await Promise.all([findUserById(db(), userId), selectLedger(db(), userId, LEDGER_LIMIT)])
  if (!user) throw new DomainError('NOT_FOUND', 'No such user')
  return {
    balance: Number(user.credit),
    items: rows.map((r) => ({
      id: Number(r.id),
      amount: Number(r.amount),
      kind: r.kind,
      createdAt: new Date(r.created_at).toISOString(),
      ...(r.order_id ? { orderId: r.order_id } : {}),
      ...(r.coupon_name ? { couponName: r.coupon_name } : {}),
    })),
  }
}

/** An account found by its email, for an admin about to grant credit. */
export async function accountByEmail(email: string): Promise<{ userId: number, email: string, credit: number }> {
  const row = await findAccountByEmail(db(), email)
  if (!row) throw new DomainError('NOT_FOUND', 'No shopper has this email (they appear after their first sign-in)')
  return { userId: Number(row.id), email: row.email, credit: Number(row.credit) }
}
