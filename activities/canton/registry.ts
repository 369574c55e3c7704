/**
 * What ledger-dr must remember about a validator between runs, kept beside its backups: every participant id
 * ever used on the network (Canton refuses one twice), the one later restarts must pass with `-P`, and the
 * migration id the validator moved to after a data-snapshot recovery (its participant database is
 * `participant-<migration id>` from then on).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CantonNetworkConfig } from '../../shared/config';

export interface ValidatorRegistry {
  current?: string;
  used: { participantId: string; recordedAt: string; by: string }[];
  migration?: { migrationId: number; recordedAt: string; by: string };
}

const FILE = 'participant-ids.json';

export async function readRegistry(root: string): Promise<ValidatorRegistry> {
  try {
    return JSON.parse(await readFile(path.join(root, FILE), 'utf8')) as ValidatorRegistry;
  } catch {
    return { used: [] };
  }
}

/** Written beside and renamed into place, so a crash never leaves half a registry. */
export async function writeRegistry(root: string, registry: ValidatorRegistry): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const file = path.join(root, FILE);
  await writeFile(`${file}.partial`, `${JSON.stringify(registry, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.partial`, file);
}

/** The configured migration id, or the later one a recovery moved the validator to. */
export async function currentMigrationId(network: CantonNetworkConfig): Promise<number> {
  const recorded = (await readRegistry(network.canton.backupDirectory)).migration?.migrationId;
  return Math.max(network.canton.migrationId, recorded ?? 0);
}
