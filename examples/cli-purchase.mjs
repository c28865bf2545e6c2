#!/usr/bin/env node
// @ts-check
/**
 * A developer's script against the Flash Sale API: signs in with the public `flash-sale-cli` client
 * (OAuth password grant), then calls the tRPC procedures with a typed client and a bearer token.
 *
 *   node examples/cli-purchase.mjs                      # alice@example.com / alice on the local stack
 *   FLASH_SALE_USER=bob@example.com FLASH_SALE_PASSWORD=bob COUPON_ID=3 node examples/cli-purchase.mjs
 *
 * Plain JavaScript so it runs on Node 20 with nothing to install; the JSDoc types below give editors
 * and `tsc --checkJs` the full AppRouter types (only the TYPE is imported from the server code).
 */
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client'

/** @typedef {import('../server/trpc/routers/_app').AppRouter} AppRouter */

const BASE_URL = process.env.FLASH_SALE_URL ?? process.env.PUBLIC_URL ?? 'http://localhost:8080'
const ISSUER = process.env.OIDC_ISSUER ?? 'http://localhost:8180/realms/flash-sale'
const CLIENT_ID = process.env.OIDC_CLI_CLIENT_ID ?? 'flash-sale-cli'
const USERNAME = process.env.FLASH_SALE_USER ?? 'alice@example.com'
const PASSWORD = process.env.FLASH_SALE_PASSWORD ?? 'alice'
const COUPON_ID = process.env.COUPON_ID ? Number(process.env.COUPON_ID) : undefined
const WAIT_SECONDS = Number(process.env.WAIT_SECONDS ?? 30)

/** An access token from Keycloak's token endpoint (direct access grant of flash-sale-cli). */
async function getToken() {
  const res = await fetch(`${ISSUER}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: CLIENT_ID, username: USERNAME, password: PASSWORD }),
  })
  if (!res.ok) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`)
  const body = /** @type {{ access_token: string, expires_in: number }} */ (await res.json())
  return body.access_token
}

/** The error's machine-readable reason (`data.reason`), e.g. SOLD_OUT or RATE_LIMITED. */
function reasonOf(/** @type {unknown} */ error) {
  return error instanceof TRPCClientError ? error.data?.reason ?? error.data?.code : undefined
}

/**
 * The order a purchase of `couponId` made, from `order.mine` (settled and pending orders): one that was
 * not there before, or the live one (PENDING or PAID; a shopper holds at most one of each coupon).
 * @param {import('@trpc/client').TRPCClient<AppRouter>} api
 * @param {number} couponId
 * @param {Set<string>} before order ids of this coupon known before the purchase
 */
async function findOrder(api, couponId, before) {
  for (let i = 0; i < WAIT_SECONDS; i++) {
    const mine = (await api.order.mine.query()).items.filter((o) => o.couponId === couponId)
    const order = mine.find((o) => !before.has(o.orderId)) ?? mine.find((o) => o.status !== 'FAILED')
    if (order) return order.orderId
    await new Promise((r) => setTimeout(r, 1000))
  }
  return undefined
}

async function main() {
  const token = await getToken()
  /** @type {import('@trpc/client').TRPCClient<AppRouter>} */
  const api = createTRPCClient({
    links: [httpBatchLink({ url: `${BASE_URL}/api/trpc`, headers: () => ({ authorization: `Bearer ${token}` }) })],
  })

  const me = await api.user.me.query()
  console.log(`signed in as ${me.email} (user ${me.id}), credit ${(me.credit / 100).toFixed(2)}${me.isAdmin ? ', admin' : ''}`)

  const list = await api.coupon.list.query({ page: 1, pageSize: 50 })
  console.log(`${list.total} coupon(s):`)
  for (const c of list.items) console.log(`  #${c.id} ${c.name} — ${(c.price / 100).toFixed(2)}, stock ${c.stock}, sale ${c.saleStartsAt ?? 'open'} → ${c.saleEndsAt ?? '∞'}`)

  const now = Date.now()
  const target = COUPON_ID ?? list.items.find((c) => c.stock > 0 && (!c.saleStartsAt || Date.parse(c.saleStartsAt) <= now) && (!c.saleEndsAt || Date.parse(c.saleEndsAt) > now))?.id
  if (!target) {
    console.log('nothing on sale right now: set COUPON_ID to try one anyway')
    return
  }

  const coupon = await api.coupon.get.query({ id: target })
  console.log(`buying #${coupon.id} ${coupon.name}: ${(coupon.price / 100).toFixed(2)}, ${coupon.stock} left`)

  let orderId
  const before = new Set((await api.order.mine.query()).items.filter((o) => o.couponId === target).map((o) => o.orderId))
  try {
    const placed = await api.order.purchase.mutate({ couponId: target })
    orderId = placed.orderId
    console.log(`purchase of #${target}: ${placed.status} (order ${orderId})`)
  } catch (error) {
    if (reasonOf(error) !== 'OUTCOME_UNKNOWN') {
      console.log(`purchase of #${target} refused: ${reasonOf(error) ?? error}`)
      process.exitCode = 2
      return
    }
    // No answer in time: the purchase may have been taken (and may be charged). Sending it again is
    // not the way to know: look for the order of this coupon among ours, pending ones included.
    console.log(`purchase of #${target}: outcome unknown, looking for the order…`)
    orderId = await findOrder(api, target, before)
    if (!orderId) {
      console.log(`no order for #${target} showed within ${WAIT_SECONDS} s: it was not taken`)
      process.exitCode = 2
      return
    }
    console.log(`found order ${orderId}`)
  }

  // The payment settles asynchronously: poll order.get (the WebSocket /ws?access_token= pushes it too).
  for (let i = 0; i < WAIT_SECONDS; i++) {
    const order = await api.order.get.query({ orderId })
    if (order.status !== 'PENDING') {
      console.log(`order ${orderId}: ${order.status}${order.reason ? ` (${order.reason})` : ''}`)
      return
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
  console.log(`order ${orderId}: still PENDING after ${WAIT_SECONDS} s`)
}

main().catch((error) => {
  console.error(`failed: ${reasonOf(error) ?? ''} ${error instanceof Error ? error.message : error}`)
  process.exit(1)
})
