import { randomUUID } from 'node:crypto'
import { config } from '../config'

/** This process's identity among the web instances: results for its sockets arrive on payment_update:<serverId>. */
export const serverId = config().SERVER_ID ?? randomUUID()
