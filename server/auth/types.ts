/** Who a request comes from, as proven by a bearer token or the session cookie. */
export interface Identity {
  sub: string
  email: string
  isAdmin: boolean
}

/** Where a request's credentials come from; the WebSocket upgrade and tRPC both resolve through it. */
export interface Credentials {
  authorization?: string | null
  cookie?: string | null
  accessToken?: string | null
}
