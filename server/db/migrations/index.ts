import type { Migration } from 'kysely/migration'
import * as initial from './20261126010000_initial'

/** Every migration, by its timestamped name; listed statically so the bundled worker carries them. */
export const migrations: Record<string, Migration> = {
  '20261126010000_initial': initial,
}
