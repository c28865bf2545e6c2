// Preloaded into a web instance by bench/pipeline.mjs for its `nginx:unix` variant (node --import):
// the instance's HTTP server also takes connections on the Unix socket BENCH_UNIX_SOCKET, handed to
// the same server, so NGINX can reach it there while the stack's health checks and /metrics keep its
// TCP port. What a product web instance behind NGINX on a socket would be (Nitro's NITRO_UNIX_SOCKET),
// without changing how the stack starts and watches it.
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'

const socketPath = process.env.BENCH_UNIX_SOCKET
if (socketPath) {
  const listen = http.Server.prototype.listen
  let taken = false
  http.Server.prototype.listen = function (...args) {
    if (!taken) {
      // the first server an instance starts is Nitro's
      taken = true
      this.once('listening', () => {
        fs.rmSync(socketPath, { force: true })
        net.createServer((socket) => this.emit('connection', socket)).listen(socketPath)
        process.once('exit', () => fs.rmSync(socketPath, { force: true }))
      })
    }
    return listen.apply(this, args)
  }
}
