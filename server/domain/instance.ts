import { randomUUID } from 'node:crypto'
import { serverIdSetting } from '../config'

/** This process's identity among the web instances: results for its sockets arrive on payment_update:<serverId>. */
export const serverId = serverIdSetting() ?? randomUUID()
