/**
 * Every Redis key and channel name, built in one place. A coupon's keys share the hash tag `{<id>}`,
 * so the Lua scripts that touch them run in one Redis Cluster slot.
 */
export const keys = {
  stock: (couponId: number) => `coupon:{${couponId}}:stock`,
  buyers: (couponId: number) => `coupon:{${couponId}}:buyers`,
  pending: (couponId: number) => `coupon:{${couponId}}:pending`,
  /** The three keys of one coupon, in the order the reservation scripts take them. */
  couponKeys: (couponId: number) => [keys.stock(couponId), keys.buyers(couponId), keys.pending(couponId)] as const,
  recentOrders: (userId: number) => `user:${userId}:recent`,
  rateLimit: (userId: number, second: number) => `ratelimit:purchase:${userId}:${second}`,
  pageCache: (page: number, pageSize: number) => `cache:coupons:page:${page}:${pageSize}`,
  couponCache: (couponId: number) => `cache:coupon:${couponId}`,
  pageCacheIndex: 'cache:coupons:pages',
  stockLoaded: 'meta:stock-loaded',
  lock: (name: string) => `lock:${name}`,
  presence: (userId: number) => `presence:user:${userId}`,
  /** Present while a signed-out browser session (by its id) would still be valid: it is refused. */
  sessionRevoked: (sessionId: string) => `session:revoked:${sessionId}`,
  saleStats: (couponId: number) => `stats:{${couponId}}:orders-per-second`,
  /** Bumped by every catalogue invalidation; a rebuild that raced one drops what it wrote. */
  catalogueGeneration: 'cache:coupons:generation',
  /** Mutex name (for `lock()`) of one page's L2 rebuild. */
  pageRebuildLock: (page: number, pageSize: number) => `coupons:page:${page}:${pageSize}`,
  /** SCAN pattern matching every `couponCache` key. */
  couponCachePattern: 'cache:coupon:*',
} as const

export const channels = {
  paymentUpdate: (serverId: string) => `payment_update:${serverId}`,
  cacheInvalidate: 'cache:invalidate',
} as const
