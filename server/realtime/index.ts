import { serverId } from '../domain/instance'
import { redis } from '../redis/client'
import { SocketRegistry } from './sockets'
import { StockFeed } from './stock-feed'

/** This web instance's sockets. */
export const sockets = new SocketRegistry(redis, serverId)

/** Live stock of the coupons this instance's sockets watch. */
export const stockFeed = new StockFeed(redis)
