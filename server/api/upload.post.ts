import { randomUUID } from 'node:crypto'
import { defineEventHandler, getRequestHeader, readMultipartFormData } from 'h3'
import { isCrossSite } from '../auth/csrf'
import { identifyEvent } from '../auth/identify'
import { DomainError } from '../domain/errors'
import { saveImage } from '../storage/images'
import { refuse } from '../trpc/errors'

const MAX_UPLOAD_BYTES = 2 * 1024 * 1024
/** The largest request body: the picture and its multipart framing (NGINX: client_max_body_size 2112k). */
export const MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024

const startsWith = (data: Uint8Array, bytes: number[], offset = 0) => bytes.every((b, i) => data[offset + i] === b)
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0))

const MIME = { png: 'image/png', jpg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' } as const

/** The file extension proven by the first bytes, or null when the file is none of the accepted types. */
function detectImageType(data: Uint8Array): keyof typeof MIME | null {
  if (startsWith(data, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png'
  if (startsWith(data, [0xff, 0xd8, 0xff])) return 'jpg'
  if (startsWith(data, ascii('GIF87a')) || startsWith(data, ascii('GIF89a'))) return 'gif'
  if (startsWith(data, ascii('RIFF')) && startsWith(data, ascii('WEBP'), 8)) return 'webp'
  return null
}

/**
 * Admin image upload: one multipart file field, PNG/JPEG/WebP/GIF recognised by its magic bytes (the
 * declared type and name are not trusted), at most 2 MB. Stored under a random name on local disk or in
 * an S3-compatible bucket (server/storage/images.ts); answers { url }, or a refusal in tRPC's error shape.
 */
export default defineEventHandler(async (event) => {
  // A cross-site form must not post with the admin's cookie (SameSite covers most browsers; this covers the rest).
  if (isCrossSite(getRequestHeader(event, 'origin'), getRequestHeader(event, 'sec-fetch-site'))) {
    return refuse(event, 'FORBIDDEN', 'Cross-site upload refused')
  }

  let identity
  try {
    identity = await identifyEvent(event)
  } catch (error) {
    if (error instanceof DomainError) return refuse(event, error.reason, error.reason === 'UNAUTHORIZED' ? 'Sign in first' : error.message)
    throw error
  }
  if (!identity) return refuse(event, 'UNAUTHORIZED', 'Sign in first')
  if (!identity.isAdmin) return refuse(event, 'FORBIDDEN', 'Administrators only')

  // Refuse an oversized body before reading it (multipart framing adds a few hundred bytes).
  const declared = Number(getRequestHeader(event, 'content-length') ?? 0)
  if (declared > MAX_UPLOAD_BODY_BYTES) return refuse(event, 'PAYLOAD_TOO_LARGE', 'The picture must be 2 MB or smaller')

  const parts = await readMultipartFormData(event).catch(() => undefined)
  const files = (parts ?? []).filter((p) => p.filename !== undefined)
  if (files.length !== 1) return refuse(event, 'INVALID_INPUT', 'Send exactly one file')
  const file = files[0]!
  if (file.data.length > MAX_UPLOAD_BYTES) return refuse(event, 'PAYLOAD_TOO_LARGE', 'The picture must be 2 MB or smaller')
  const type = detectImageType(file.data)
  if (!type) return refuse(event, 'INVALID_INPUT', 'Only PNG, JPEG, WebP or GIF pictures are accepted', 'UNSUPPORTED_MEDIA_TYPE')

  return { url: await saveImage(`${randomUUID()}.${type}`, file.data, MIME[type]) }
})
