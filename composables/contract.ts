import type { inferRouterOutputs } from '@trpc/server'
import type { AppRouter } from '~~/server/trpc/routers/_app'

/**
 * The wire shapes of docs/api.md as the pages use them, inferred from the router so the
 * UI and the server cannot drift apart; the names keep component props readable.
 */
type Outputs = inferRouterOutputs<AppRouter>

export type Coupon = Outputs['coupon']['get']
export type Order = Outputs['order']['get']
export type OrderStatus = Order['status']
export type Me = Outputs['user']['me']
export type Viewer = Outputs['user']['viewer']
export type LedgerEntry = Outputs['user']['ledger']['items'][number]
export type Redemption = Outputs['admin']['redemption']
