// The ceiling of one Node process here: a bare node:http server answering a fixed JSON body.
//   node bench/bare-server.mjs <port>
import http from 'node:http'

const body = JSON.stringify({ ok: true })
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}).listen(Number(process.argv[2] || 0), '127.0.0.1', function () {
  console.log(`listening ${this.address().port}`)
})
