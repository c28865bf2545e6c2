/**
 * Every Redis key and channel name, built in one place. A coupon's keys share the hash tag `{<id>}`,
 * so the Lua scripts that touch them run in one Redis Cluster slot.
 */
export const keys = {
  stock: (couponId: number) => `coupon:{${couponId}}:stock`,
  buyers: (couponId: number) => `coupon:{${couponId}}:buyers`,
  pending: (couponId: number) => `coupon:{${couponId}}:pending`,
  /** Marker written with the coupon's state; its absence means Redis lost (or never had) that state. */
  loaded: (couponId: number) => `coupon:{${couponId}}:loaded`,
  /** Repair lease (owner token, PX); reservations answer TRY_AGAIN_LATER while it is held. */
  repair: (couponId: number) => `coupon:{${couponId}}:repair`,
  /** Bumped by every script that changes the coupon's stock, buyers or pending ledger. */
  version: (couponId: number) => `coupon:{${couponId}}:ver`,
  /** userId → order id of the user's latest reservation; meaningful only while that order is pending. */
  holders: (couponId: number) => `coupon:{${couponId}}:holders`,
  /** MySQL's owners, written in chunks by a repair before its one script swaps them in. */
  buyersStaging: (couponId: number) => `coupon:{${couponId}}:buyers:staging`,
  /** Pending entries a repair found unparsable, moved out of the ledger: orderId → raw value. */
  quarantine: (couponId: number) => `coupon:{${couponId}}:quarantine`,
  /** Every key of one coupon's reservation state (one slot). */
  couponKeys: (couponId: number) => [keys.stock(couponId), keys.buyers(couponId), keys.pending(couponId), keys.loaded(couponId), keys.repair(couponId), keys.version(couponId), keys.buyersStaging(couponId), keys.quarantine(couponId), keys.holders(couponId)] as const,
  /*
   * The waiting room of a coupon: its keys share the coupon's hash tag, so one script can weigh the
   * queue against the stock (docs/architecture.md, "The waiting room").
   */
  /** Sorted set of the room's places: member `<userId>` (or `<userId>:<turn>` for a later turn) → score. */
  queueLine: (couponId: number) => `queue:{${couponId}}:line`,
  /** Hash userId → the shopper's current turn, for shoppers on their second turn or later. */
  queueTurns: (couponId: number) => `queue:{${couponId}}:turns`,
  /** How many places, from the front of the line, have been admitted. */
  queueAdmitted: (couponId: number) => `queue:{${couponId}}:admitted`,
  /** Hash userId → when that shopper's admission ends (ms, Redis' clock): what order.purchase checks. */
  queueAdmits: (couponId: number) => `queue:{${couponId}}:admits`,
  /** Sorted set userId → admission end, of admissions not yet used for a reservation: they hold a unit each. */
  queueLive: (couponId: number) => `queue:{${couponId}}:live`,
  /** Hash of the room's bookkeeping: `last` FCFS score, `second`/`count` admitted this second, `verified` record id, `epoch`. */
  queueMeta: (couponId: number) => `queue:{${couponId}}:meta`,
  /** Every key of one coupon's waiting room (one slot). */
  queueKeys: (couponId: number) => [keys.queueLine(couponId), keys.queueTurns(couponId), keys.queueAdmitted(couponId), keys.queueAdmits(couponId), keys.queueLive(couponId), keys.queueMeta(couponId)] as const,
  recentOrders: (userId: number) => `user:${userId}:recent`,
  /** The app's user id of a Keycloak subject, shared by every instance (never changes, never expires). */
  userOfSubject: (sub: string) => `user:sub:${sub}`,
  /** A user's purchase attempts in the current one-second window (which starts with its first attempt). */
  rateLimit: (userId: number) => `ratelimit:purchase:${userId}`,
  /** Sockets a shopper opened in the current window of the /ws connection rate (which starts with the first). */
  socketRateLimit: (userId: number) => `ratelimit:ws:${userId}`,
  pageCache: (page: number, pageSize: number) => `cache:coupons:page:${page}:${pageSize}`,
  couponCache: (couponId: number) => `cache:coupon:${couponId}`,
  pageCacheIndex: 'cache:coupons:pages',
  lock: (name: string) => `lock:${name}`,
  presence: (userId: number) => `presence:user:${userId}`,
  /** Present while a signed-out browser session (by its id) would still be valid: it is refused. */
  sessionRevoked: (sessionId: string) => `session:revoked:${sessionId}`,
  saleStats: (couponId: number) => `stats:{${couponId}}:orders-per-second`,
  /** Bumped by every catalogue invalidation; a rebuild that raced one drops what it wrote. */
  catalogueGeneration: 'cache:coupons:generation',
  /** Mutex name (for `lock()`) of one page's L2 rebuild. */
  pageRebuildLock: (page: number, pageSize: number) => `coupons:page:${page}:${pageSize}`,
  /** Set by `flash-sale worker drain` (a token): workers stop consuming after the batch in hand. */
  workersDrain: 'workers:drain',
  /** Hash worker → the drain token it has obeyed (the batch in hand committed, consumption paused). */
  workersDrained: 'workers:drained',
  /** One cached page render (server/cache/pages.ts), and the set that lists them for invalidation. */
  pageRender: (key: string) => `cache:pages:${key}`,
  pageRenderIndex: 'cache:pages:index',
  /** SCAN pattern matching every `couponCache` key. */
  couponCachePattern: 'cache:coupon:*',
} as const

export const channels = {
  paymentUpdate: (serverId: string) => `payment_update:${serverId}`,
  cacheInvalidate: 'cache:invalidate',
} as const
