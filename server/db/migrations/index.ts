import type { Migration } from 'kysely/migration'
import * as initial from './20261126010000_initial'
import * as redemption from './20261202000000_redemption'
import * as orderUpdates from './20261206000000_order_updates'
import * as waitingRoom from './20261207000000_waiting_room'

/** Every migration, by its timestamped name; listed statically so the bundled worker carries them. */
export const migrations: Record<string, Migration> = {
  '20261126010000_initial': initial,
  '20261202000000_redemption': redemption,
  '20261206000000_order_updates': orderUpdates,
  '20261207000000_waiting_room': waitingRoom,
}
