import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { metricsText } from '../observability/metrics'

export interface Verdict {
  ok: boolean
  [detail: string]: unknown
}

/**
 * The worker's HTTP side: `/healthz` (liveness), `/readyz` (readiness) and `/metrics`. What makes the
 * worker live or ready is decided by the caller.
 */
export class HealthServer {
  private server: Server | undefined

  constructor(private readonly checks: { live: () => Verdict, ready: () => Promise<Verdict> }) {}

  async start(port: number, host: string): Promise<void> {
    const server = createServer(async (req, res) => {
      const answer = (verdict: Verdict) =>
        void res
          .writeHead(verdict.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(JSON.stringify(verdict))
      if (req.url === '/healthz') return answer(this.checks.live())
      if (req.url === '/readyz') return answer(await this.checks.ready())
      if (req.url === '/metrics') {
        const { contentType, body } = await metricsText()
        return void res.writeHead(200, { 'content-type': contentType }).end(body)
      }
      res.writeHead(404).end()
    })
    this.server = server
    server.listen(port, host)
    await once(server, 'listening')
  }

  async stop(): Promise<void> {
    if (!this.server) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }
}
