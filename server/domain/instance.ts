import { randomUUID } from 'node:crypto'

/** This process's identity among the web instances: results for its sockets arrive on payment_update:<serverId>. */
export const serverId = process.env.SERVER_ID || randomUUID()
