#!/usr/bin/env node
// @ts-check
/**
 * A developer's script against the Flash Sale API: signs in with the public `flash-sale-cli` client
 * (OAuth password grant), subscribes to its order updates over the WebSocket, buys a coupon and
 * awaits the payment's result on the subscription — no polling — all through one typed client.
 *
 *   node examples/cli-purchase.mjs                      # alice@example.com / alice on the local stack
 *   FLASH_SALE_USER=bob@example.com FLASH_SALE_PASSWORD=bob COUPON_ID=3 node examples/cli-purchase.mjs
 *
 * Plain JavaScript (Node 22 or newer: it uses Node's own WebSocket), with nothing to install but
 * `@trpc/client`; the JSDoc types below give editors and `tsc --checkJs` the full AppRouter types
 * (only the TYPE is imported from the server code).
 */
import { createTRPCClient, createWSClient, httpBatchLink, splitLink, TRPCClientError, wsLink } from '@trpc/client'

/** @typedef {import('../server/trpc/routers/_app').AppRouter} AppRouter */
/** @typedef {import('../server/domain/orders/updates').OrderUpdate} OrderUpdate what order.onUpdate yields */

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
  // The socket carries the token in its first message (connectionParams), never in the URL.
  const socket = createWSClient({ url: `${BASE_URL.replace(/^http/, 'ws')}/ws`, connectionParams: () => ({ token }) })
  /** @type {import('@trpc/client').TRPCClient<AppRouter>} */
  const api = createTRPCClient({
    links: [splitLink({
      condition: (op) => op.type === 'subscription',
      true: wsLink({ client: socket }),
      false: httpBatchLink({ url: `${BASE_URL}/api/trpc`, headers: () => ({ authorization: `Bearer ${token}` }) }),
    })],
  })
  try {
    await run(api)
  } finally {
    await socket.close()
  }
}

/** @param {import('@trpc/client').TRPCClient<AppRouter>} api */
async function run(api) {
  const me = await api.user.me.query()
  console.log(`signed in as ${me.email} (user ${me.id}), credit ${(me.credit / 100).toFixed(2)}${me.isAdmin ? ', admin' : ''}`)

  const list = await api.coupon.list.query({ page: 1, pageSize: 50 })
  console.log(`${list.total} coupon(s):`)
  for (const c of list.items) console.log(`  #${c.id} ${c.name} — ${(c.price / 100).toFixed(2)}, stock ${c.stock}, sale ${c.saleStartsAt ?? 'open'} → ${c.saleEndsAt ?? '∞'}`)

  const now = Date.now()
  const target =
    COUPON_ID ??
    list.items.find(
      (c) => c.stock > 0 && (!c.saleStartsAt || Date.parse(c.saleStartsAt) <= now) && (!c.saleEndsAt || Date.parse(c.saleEndsAt) > now),
    )?.id
  if (!target) {
    console.log('nothing on sale right now: set COUPON_ID to try one anyway')
    return
  }

  const coupon = await api.coupon.get.query({ id: target })
  console.log(`buying #${coupon.id} ${coupon.name}: ${(coupon.price / 100).toFixed(2)}, ${coupon.stock} left`)

  // Subscribe first, so the result cannot slip past; after a reconnect the server sends what the
  // socket missed (tRPC resubscribes with the last event id it received).
  /** @type {Map<string, OrderUpdate>} */
  const results = new Map()
  /** @type {(update: OrderUpdate) => void} */
  let onResult = () => {}
  /** @type {import('@trpc/server/observable').Unsubscribable} */
  const subscription = await new Promise((resolve, reject) => {
    const s = api.order.onUpdate.subscribe(undefined, {
      onStarted: () => resolve(s),
      onData: ({ data }) => {
        results.set(data.orderId, data)
        onResult(data)
      },
      onError: reject,
    })
  })
  try {
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
    const id = orderId
    /** @type {OrderUpdate | undefined} */
    const result = results.get(id) ?? await new Promise((resolve) => {
      onResult = (update) => { if (update.orderId === id) resolve(update) }
      setTimeout(resolve, WAIT_SECONDS * 1000)
    })
    if (!result) {
      console.log(`order ${id}: no result within ${WAIT_SECONDS} s (order.get tells its state)`)
      process.exitCode = 3
      return
    }
    console.log(`order ${id}: ${result.status}${result.reason ? ` (${result.reason})` : ''}${result.code ? `, redemption code ${result.code}` : ''}`)
  } finally {
    subscription.unsubscribe()
  }
}

main().catch((error) => {
  console.error(`failed: ${reasonOf(error) ?? ''} ${error instanceof Error ? error.message : error}`)
  process.exit(1)
})
