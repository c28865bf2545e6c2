import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import aws4 from 'aws4' // CommonJS: Node's ESM loader finds no named exports in it
import { config, type Config } from '../config'

/**
 * Where uploaded pictures go: the local disk (UPLOAD_DIR, served back by server/routes/uploads) by
 * default, or an S3-compatible bucket when S3_ENDPOINT is set (one SigV4-signed PUT per picture).
 */
export interface ImageStore {
  /** Stores the picture under `name` (made by the caller, never reused) and answers the URL browsers load it from. */
  saveImage(name: string, data: Uint8Array, contentType: string): Promise<string>
}

export type ImageStoreConfig = Pick<Config, 'UPLOAD_DIR' | 'S3_ENDPOINT' | 'S3_BUCKET' | 'S3_REGION' | 'S3_ACCESS_KEY_ID'
  | 'S3_SECRET_ACCESS_KEY' | 'S3_PUBLIC_URL' | 'S3_FORCE_PATH_STYLE'>

export class ImageStoreError extends Error {}

// Names become a file name or an object key: no slashes, no dot-dot.
const SAFE_NAME = /^[\w-]+(\.[\w-]+)?$/
const CACHE_CONTROL = 'public, max-age=31536000, immutable'
const S3_TIMEOUT_MS = 15_000

export function createImageStore(cfg: ImageStoreConfig): ImageStore {
  const store = cfg.S3_ENDPOINT ? s3Store(cfg, cfg.S3_ENDPOINT) : diskStore(cfg.UPLOAD_DIR)
  return {
    async saveImage(name, data, contentType) {
      if (!SAFE_NAME.test(name)) throw new ImageStoreError(`Unsafe image name: ${JSON.stringify(name)}`)
      return store.saveImage(name, data, contentType)
    },
  }
}

function diskStore(dir: string): ImageStore {
  return {
    async saveImage(name, data) {
      const folder = resolve(dir)
      await mkdir(folder, { recursive: true })
      await writeFile(join(folder, name), data, { flag: 'wx' })
      return `/uploads/${name}`
    },
  }
}

function s3Store(cfg: ImageStoreConfig, endpointUrl: string): ImageStore {
  const { S3_BUCKET: bucket, S3_ACCESS_KEY_ID: accessKeyId, S3_SECRET_ACCESS_KEY: secretAccessKey } = cfg
  if (!bucket || !accessKeyId || !secretAccessKey) throw new ImageStoreError('S3_ENDPOINT needs S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY')
  const endpoint = new URL(endpointUrl)
  const host = cfg.S3_FORCE_PATH_STYLE ? endpoint.host : `${bucket}.${endpoint.host}`
  const prefix = cfg.S3_FORCE_PATH_STYLE ? `/${bucket}` : ''
  const origin = `${endpoint.protocol}//${host}`
  const publicBase = (cfg.S3_PUBLIC_URL ?? `${origin}${prefix}`).replace(/\/+$/, '')

  return {
    async saveImage(name, data, contentType) {
      const body = Buffer.from(data) // a copy backed by a plain ArrayBuffer, as fetch's types want
      const signed = aws4.sign({
        service: 's3',
        region: cfg.S3_REGION,
        method: 'PUT',
        host,
        path: `${prefix}/${name}`,
        body,
        headers: { 'Content-Type': contentType, 'Cache-Control': CACHE_CONTROL },
      }, { accessKeyId, secretAccessKey })
      // fetch sets Host and Content-Length itself, to the same values that were signed.
      const headers = Object.fromEntries(Object.entries(signed.headers ?? {})
        .filter(([key]) => !/^(host|content-length)$/i.test(key))
        .map(([key, value]) => [key, String(value)]))

      const where = `bucket ${bucket} at ${endpoint.origin}`
      let response: Response
      try {
        response = await fetch(`${origin}${signed.path}`, { method: 'PUT', headers, body, signal: AbortSignal.timeout(S3_TIMEOUT_MS) })
      } catch (error) {
        throw new ImageStoreError(`S3 upload to ${where} failed: ${(error as Error).message}`, { cause: error })
      }
      if (!response.ok) {
        const text = await response.text().catch(() => '')
        const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? response.statusText
        throw new ImageStoreError(`S3 refused the upload to ${where}: ${response.status} ${code}`)
      }
      return `${publicBase}/${name}`
    },
  }
}

let defaultStore: ImageStore | undefined

/** Stores a picture where the process's configuration says; answers its public URL. */
export function saveImage(name: string, data: Uint8Array, contentType: string): Promise<string> {
  defaultStore ??= createImageStore(config())
  return defaultStore.saveImage(name, data, contentType)
}
