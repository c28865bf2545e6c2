/** Liveness: the process answers. */
export default defineEventHandler(() => ({ ok: true }))
