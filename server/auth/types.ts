/** Who a request comes from, as proven by a bearer token or the session cookie. */
export interface Identity {
  sub: string
  email: string
  isAdmin: boolean
}

/** Where a request's credentials come from; the WebSocket upgrade and tRPC both resolve through it. */
export interface Credentials {
  /** The Authorization header (`Bearer <access token>`); decides when present. */
  authorization?: string | null
  /** The Cookie header; its `nuxt-session` cookie is used when there is no token. */
  cookie?: string | null
  /**
   * The request's HTTP method and its Origin / Sec-Fetch-Site headers. When given, a cookie-authenticated
   * state-changing request (non-GET/HEAD/OPTIONS) or WebSocket upgrade from another site is refused.
   */
  method?: string | null
  origin?: string | null
  secFetchSite?: string | null
}
