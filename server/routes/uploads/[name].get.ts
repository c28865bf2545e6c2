import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createError, defineEventHandler, getRouterParam, sendStream, setResponseHeaders } from 'h3'
import { config } from '../../config'

const MIME = { png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif' } as const

/** The folder server/api/upload.post.ts writes to: UPLOAD_DIR, default .data/uploads. */
const uploadDir = () => resolve(config().UPLOAD_DIR)

// Only names the upload handler makes: a UUID and a known extension, so no path can escape the folder.
const NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(png|jpg|webp|gif)$/

export default defineEventHandler(async (event) => {
  const name = getRouterParam(event, 'name') ?? ''
  const match = NAME.exec(name)
  if (!match) throw createError({ statusCode: 404, statusMessage: 'Not found' })
  const path = join(uploadDir(), name)
  const info = await stat(path).catch(() => null)
  if (!info?.isFile()) throw createError({ statusCode: 404, statusMessage: 'Not found' })
  setResponseHeaders(event, {
    'Content-Type': MIME[match[1] as keyof typeof MIME],
    'Content-Length': String(info.size),
    // Names are never reused, so the file at a name never changes.
    'Cache-Control': 'public, max-age=31536000, immutable',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'",
  })
  return sendStream(event, createReadStream(path))
})
