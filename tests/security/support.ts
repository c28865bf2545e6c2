/**
 * Shared pieces of the security tests: raw HTTP from a chosen loopback source address (so each
 * scenario is "one address" to NGINX without sharing its zones with the others), NGINX as `npm start`
 * renders it, and CPU time of a process.
 */
import { Agent, request } from 'node:http'
import { Agent as TlsAgent, request as tlsRequest } from 'node:https'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { openStack } from '../../scripts/lib/stack.mjs'
import { freePort, type Proc } from '../support/processes'
import { procedureUrl } from '../support/api'

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever JSON came back
  json: any
  /** True when NGINX itself refused (its refusals carry `X-Refused-By: nginx`). */
  byNginx: boolean
}

const agents = new Map<string, Agent>()
/**
 * A keep-alive agent whose connections leave from `from` (any 127.x.y.z works on Linux loopback);
 * over https it accepts the tests' self-signed certificate.
 */
function agentFrom(from: string, tls: boolean): Agent {
  const key = `${tls ? 'https' : 'http'}:${from}`
  let agent = agents.get(key)
  if (!agent) {
    const options = { keepAlive: true, maxSockets: 400, localAddress: from }
    agent = tls ? new TlsAgent({ ...options, rejectUnauthorized: false }) : new Agent(options)
    agents.set(key, agent)
  }
  return agent
}

export function closeAgents(): void {
  for (const agent of agents.values()) agent.destroy()
  agents.clear()
}

/** One HTTP request from source address `from` (default 127.0.0.1). */
export function send(
  url: string,
  options: { method?: string, headers?: Record<string, string>, body?: string | Buffer, from?: string } = {},
): Promise<Answer> {
  const target = new URL(url)
  const tls = target.protocol === 'https:'
  return new Promise((resolve, reject) => {
    const req = (tls ? tlsRequest : request)(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
        headers: options.headers,
        agent: agentFrom(options.from ?? '127.0.0.1', tls),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, byNginx: res.headers['x-refused-by'] === 'nginx' })
        })
        res.on('error', reject)
      },
    )
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url}`)))
    req.on('error', reject)
    req.end(options.body)
  })
}

/** A purchase as a plain client sends it (POST, JSON, bearer token or cookie). */
export function purchase(
  baseUrl: string,
  couponId: number,
  options: { token?: string, cookie?: string, from?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.cookie) headers.cookie = options.cookie
  return send(procedureUrl(baseUrl, 'order.purchase'), { method: 'POST', headers, body: JSON.stringify({ couponId }), from: options.from })
}

export interface Nginx { url: string, port: number, prefix: string, stop: () => Promise<void> }

/** NGINX rendered from nginx/*.conf.template by the stack library (as `npm start` runs it). */
export async function startNginx(webs: Proc[], options: Record<string, unknown> = {}): Promise<Nginx> {
  const name = `nginx-security-${Math.random().toString(36).slice(2, 8)}`
  return await openStack().startNginx({ name, port: await freePort(), upstreams: webs.map((w) => w.port), ...options }) as Nginx
}

/** A self-signed certificate for 127.0.0.1 in `dir` (openssl, as an operator would make a test one). */
export function selfSignedCertificate(dir: string): { tlsCert: string, tlsKey: string } {
  const tlsCert = `${dir}/cert.pem`
  const tlsKey = `${dir}/key.pem`
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', tlsKey, '-out', tlsCert, '-days', '2', '-subj', '/CN=127.0.0.1'],
    { stdio: 'ignore' },
  )
  return { tlsCert, tlsKey }
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Counts answers by `status` (with `nginx-` in front of NGINX's own refusals). */
export function tally(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const a of answers) {
    const key = `${a.byNginx ? 'nginx-' : ''}${a.status}${a.json?.error?.data?.reason ? ` ${a.json.error.data.reason}` : ''}`
    out[key] = (out[key] ?? 0) + 1
  }
  return out
}
