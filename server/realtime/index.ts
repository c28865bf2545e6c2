import { serverId } from '../domain/instance'
import { redis } from '../redis/client'
import { SocketRegistry } from './sockets'

/** This web instance's sockets. */
export const sockets = new SocketRegistry(redis, serverId)
