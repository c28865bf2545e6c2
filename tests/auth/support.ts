/**
 * Shared pieces of the auth tests: a web instance behind a tiny reverse proxy (so PUBLIC_URL is an
 * address Keycloak redirects the browser to, like NGINX in production), raw tRPC calls, a
 * browserless sign-in that yields a real session cookie, and MySQL probes.
 */
import { createServer, request as httpRequest, type Server } from 'node:http'
import { once } from 'node:events'
import { sql } from 'kysely'
import { createDb, migrateToLatest, type DB } from '../../server/db'
import { freePort, startWeb, type Proc } from '../support/processes'
import { allowWebAddress, type TestUser } from '../support/keycloak'

export interface AuthWeb {
  web: Proc
  /** The proxy's address = the instance's PUBLIC_URL. */
  publicUrl: string
  stop: () => Promise<void>
}

/** A reverse proxy on loopback to `targetPort` (HTTP only), like NGINX in front of the web instances. */
async function startProxy(port: number, targetPort: number): Promise<Server> {
  const server = createServer((req, res) => {
    const upstream = httpRequest({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.rawHeaders)
      up.pipe(res)
    })
    upstream.on('error', () => { res.writeHead(502).end() })
    req.pipe(upstream)
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  return server
}

/** Starts a built web instance whose PUBLIC_URL (a proxy in front of it) Keycloak accepts as a redirect URI. */
export async function startAuthWeb(env: Record<string, string> = {}): Promise<AuthWeb> {
  const proxyPort = await freePort()
  const publicUrl = `http://localhost:${proxyPort}`
  await allowWebAddress(publicUrl)
  const web = await startWeb({ PUBLIC_URL: publicUrl, ...env })
  const proxy = await startProxy(proxyPort, web.port)
  return {
    web,
    publicUrl,
    stop: async () => {
      proxy.closeAllConnections()
      proxy.close()
      await web.stop()
    },
  }
}

let database: DB | undefined
/** Kysely on the test database (migrated once). */
export async function testDb(): Promise<DB> {
  if (!database) {
    database = createDb(process.env.DATABASE_URL!, 4)
    await migrateToLatest(database)
  }
  return database
}

export async function closeTestDb(): Promise<void> {
  await database?.destroy()
  database = undefined
}

/** Rows in users, credit_ledger and orders: refused requests must not move any of them. */
export async function rowCounts(): Promise<{ users: number, ledger: number, orders: number, coupons: number }> {
  const db = await testDb()
  const { rows } = await sql<{ users: number, ledger: number, orders: number, coupons: number }>`
    select (select count(*) from users) as users, (select count(*) from credit_ledger) as ledger,
           (select count(*) from orders) as orders, (select count(*) from coupons) as coupons`.execute(db)
  const r = rows[0]!
  return { users: Number(r.users), ledger: Number(r.ledger), orders: Number(r.orders), coupons: Number(r.coupons) }
}

// ------------------------------------------------------------------ sign-in without a browser

/** A cookie jar good enough for two hosts on loopback (names do not collide between app and Keycloak). */
class Jar {
  private cookies = new Map<string, string>()
  take(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      if (!value || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  get(name: string) {
    return this.cookies.get(name)
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }
}

const unescapeHtml = (s: string) => s.replace(/&amp;/g, '&').replace(/&#x3D;/g, '=').replace(/&quot;/g, '"')

/**
 * Signs in through /auth/login and Keycloak's real login form with plain fetch (no browser), and
 * returns the `nuxt-session` cookie as a Cookie header value (`nuxt-session=…`).
 */
export async function signInWithoutBrowser(publicUrl: string, user: Pick<TestUser, 'email' | 'password'>): Promise<string> {
  const jar = new Jar()
  const go = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: jar.header() },
    })
    jar.take(res)
    return res
  }
  let res = await go(`${publicUrl}/auth/login`)
  if (res.status !== 302) throw new Error(`/auth/login answered ${res.status}`)
  res = await go(res.headers.get('location')!)
  const page = await res.text()
  const action = /<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"/.exec(page)?.[1]
  if (!action) throw new Error(`no Keycloak login form (${res.status}):\n${page.slice(0, 500)}`)
  res = await go(unescapeHtml(action), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: user.email, password: user.password, credentialId: '' }).toString(),
  })
  const callback = res.headers.get('location')
  if (res.status !== 302 || !callback?.startsWith(`${publicUrl}/auth/keycloak/callback`)) throw new Error(`Keycloak login answered ${res.status} → ${callback}`)
  res = await go(callback)
  if (res.status !== 302) throw new Error(`callback answered ${res.status}: ${await res.text()}`)
  const session = jar.get('nuxt-session')
  if (!session) throw new Error('no session cookie after the callback')
  return `nuxt-session=${session}`
}
