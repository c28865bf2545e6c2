import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, createRouter, toNodeListener } from 'h3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import serveUpload from '../../server/routes/uploads/[name].get'
import { createImageStore, ImageStoreError, type ImageStoreConfig } from '../../server/storage/images'
import { ensureGoTool, GOFAKES3 } from '../../scripts/lib/go-tools.mjs'
import { freePort } from '../support/processes'

/*
 * The image store against a real S3 API (gofakes3, a maintained S3-compatible server, built from the Go
 * module proxy by `npm test`) and the local-disk store with the route that serves its files. gofakes3
 * checks neither access keys nor SigV4 signatures, so the store talks to it through a small proxy that
 * verifies both as S3 does (written here from the AWS spec, not with aws4, so it checks the signer
 * rather than repeating it).
 */

const SECRETS: Record<string, string> = { FLASHSALETEST: 'flash-sale-test-secret' } // the one account

let dir: string
let s3: ChildProcess
let proxy: Server
let endpoint: string

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()

/** Why a header-signed SigV4 request fails verification, or null when it is valid. */
function sigV4Problem(req: IncomingMessage, body: Buffer): string | null {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/
    .exec(req.headers.authorization ?? '')
  if (!auth) return 'AuthorizationHeaderMalformed'
  const [, keyId, date, region, service, signedHeaders, signature] = auth as unknown as string[]
  const secret = SECRETS[keyId!]
  const amzDate = String(req.headers['x-amz-date'] ?? '')
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '')
  if (!secret) return 'InvalidAccessKeyId'
  if (payloadHash !== sha256(body)) return 'XAmzContentSHA256Mismatch'
  if (!amzDate.startsWith(date!)) return 'SignatureDoesNotMatch'
  const names = signedHeaders!.split(';')
  if (!names.includes('host')) return 'SignatureDoesNotMatch'
  const [path = '/', query = ''] = (req.url ?? '/').split('?')
  const canonicalRequest = [
    req.method,
    path,
    query.split('&').filter(Boolean).sort().join('&'),
    ...names.map((name) => `${name}:${String(req.headers[name] ?? '').trim().replace(/\s+/g, ' ')}`),
    '',
    signedHeaders,
    payloadHash,
  ].join('\n')
  const scope = `${date}/${region}/${service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n')
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request')
  const expected = hmac(key, stringToSign)
  return timingSafeEqual(expected, Buffer.from(signature!, 'hex')) ? null : 'SignatureDoesNotMatch'
}

/** Verifies signed requests, then forwards every request to gofakes3 unchanged. */
function verifyingProxy(target: number) {
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const problem = req.headers.authorization ? sigV4Problem(req, body) : null
    if (problem) {
      res.writeHead(403, { 'Content-Type': 'application/xml' })
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${problem}</Code><Message>verifying proxy</Message></Error>`)
      return
    }
    const upstream = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    upstream.end(body)
  })
}

async function waitListening(port: number) {
  for (let i = 0; i < 100; i++) {
    if (s3.exitCode !== null) throw new Error(`gofakes3 exited with ${s3.exitCode}`)
    if (await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`gofakes3 not listening on ${port}`)
}

const png = () => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(2048)])

const s3Config = (overrides: Partial<ImageStoreConfig> = {}): ImageStoreConfig => ({
  UPLOAD_DIR: join(dir, 'unused'),
  S3_ENDPOINT: endpoint,
  S3_BUCKET: 'images',
  S3_REGION: 'us-east-1',
  S3_ACCESS_KEY_ID: 'FLASHSALETEST',
  S3_SECRET_ACCESS_KEY: 'flash-sale-test-secret',
  S3_PUBLIC_URL: undefined,
  S3_FORCE_PATH_STYLE: true,
  ...overrides,
})

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'upload-storage-'))
  const port = await freePort()
  s3 = spawn(await ensureGoTool(GOFAKES3), ['-backend', 'memory', '-initialbucket', 'images', '-host', `127.0.0.1:${port}`, '-quiet'], {
    stdio: 'ignore',
  })
  await waitListening(port)
  proxy = verifyingProxy(port)
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done))
  endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
})

afterAll(async () => {
  proxy?.closeAllConnections()
  await new Promise((done) => proxy?.close(done))
  s3?.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
})

describe('S3-compatible image store', () => {
  it('PUTs a signed object and answers a URL that serves the same bytes and type', async () => {
    const data = png()
    const name = `${randomUUID()}.png`
    const url = await createImageStore(s3Config()).saveImage(name, data, 'image/png')
    expect(url).toBe(`${endpoint}/images/${name}`)

    const response = await fetch(url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('image/png')
    expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true)
  })

  it('answers URLs under S3_PUBLIC_URL when set', async () => {
    const name = `${randomUUID()}.png`
    const url = await createImageStore(s3Config({ S3_PUBLIC_URL: 'https://cdn.example.test/pics/' })).saveImage(name, png(), 'image/png')
    expect(url).toBe(`https://cdn.example.test/pics/${name}`)
    expect((await fetch(`${endpoint}/images/${name}`)).status).toBe(200)
  })

  it('rejects with a clear error when the server refuses the signature, and stores nothing', async () => {
    const name = `${randomUUID()}.png`
    const store = createImageStore(s3Config({ S3_SECRET_ACCESS_KEY: 'wrong-secret' }))
    const error = await store.saveImage(name, png(), 'image/png').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ImageStoreError)
    expect((error as Error).message).toBe(`S3 refused the upload to bucket images at ${endpoint}: 403 SignatureDoesNotMatch`)
    expect((await fetch(`${endpoint}/images/${name}`)).status).toBe(404)
  })

  it('rejects with the server\'s reason for an unknown access key', async () => {
    const store = createImageStore(s3Config({ S3_ACCESS_KEY_ID: 'NOBODY' }))
    await expect(store.saveImage(`${randomUUID()}.png`, png(), 'image/png')).rejects.toThrow(`S3 refused the upload to bucket images at ${endpoint}: 403 InvalidAccessKeyId`)
  })

  it('rejects with a clear error when the endpoint is unreachable', async () => {
    const store = createImageStore(s3Config({ S3_ENDPOINT: 'http://127.0.0.1:1' }))
    await expect(store.saveImage(`${randomUUID()}.png`, png(), 'image/png')).rejects.toThrow(/^S3 upload to bucket images at http:\/\/127\.0\.0\.1:1 failed: /)
  })
})

describe('local-disk image store', () => {
  let web: Server
  let base: string
  const previousUploadDir = process.env.UPLOAD_DIR

  beforeAll(async () => {
    // server/routes/uploads/[name].get.ts reads UPLOAD_DIR per request.
    process.env.UPLOAD_DIR = join(dir, 'disk')
    const router = createRouter().get('/uploads/:name', serveUpload)
    web = createServer(toNodeListener(createApp().use(router)))
    await new Promise<void>((done) => web.listen(0, '127.0.0.1', done))
    base = `http://127.0.0.1:${(web.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    if (previousUploadDir === undefined) delete process.env.UPLOAD_DIR
    else process.env.UPLOAD_DIR = previousUploadDir
    web?.closeAllConnections()
    await new Promise((done) => web?.close(done))
  })

  it('writes the file under UPLOAD_DIR and the uploads route serves it', async () => {
    const data = png()
    const name = `${randomUUID()}.png`
    const store = createImageStore({ ...s3Config({ S3_ENDPOINT: undefined }), UPLOAD_DIR: join(dir, 'disk') })
    const url = await store.saveImage(name, data, 'image/png')
    expect(url).toBe(`/uploads/${name}`)
    expect((await readFile(join(dir, 'disk', name))).equals(data)).toBe(true)

    const response = await fetch(`${base}${url}`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('image/png')
    expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true)
  })

  it('refuses names that could leave the folder', async () => {
    const store = createImageStore({ ...s3Config({ S3_ENDPOINT: undefined }), UPLOAD_DIR: join(dir, 'disk') })
    await expect(store.saveImage('../escape.png', png(), 'image/png')).rejects.toBeInstanceOf(ImageStoreError)
  })
})
