/**
 * A Splice validator for tests: the simulator with its token issuer, and a `kind: canton` configuration that
 * points at it and at a test PostgreSQL, with secrets in owner-only files.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { shellQuote } from '../../shared/command-template';
import type { LedgerDrConfig } from '../../shared/config';
import { CantonValidatorSimulator, issueToken } from '../../simulators/canton/validator';
import { PROJECT_ROOT } from './paths';
import type { TestPostgres } from './postgres';
import { writeConfig } from './temporal';

export const CANTON_AUDIENCE = 'https://validator.example.com/api';

/** A running simulated validator; its admin token is exported in `tokenEnv`. */
export async function startTestValidator(
  pg: TestPostgres,
  participantId: string,
  tokenEnv: string,
  options: { dumpVolume?: string; release?: string; catchingUpUntil?: number; nameEntries?: string[] } = {},
) {
  const tokenSecret = randomBytes(16).toString('hex');
  const sim = new CantonValidatorSimulator({
    tokenSecret,
    audience: CANTON_AUDIENCE,
    participantId,
    postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password },
    migrationId: 3,
    ...options,
  });
  await sim.start();
  sim.bringUp();
  process.env[tokenEnv] = issueToken(tokenSecret, CANTON_AUDIENCE);
  return sim;
}

export interface CantonConfigOptions {
  network: string;
  pg: TestPostgres;
  sim: CantonValidatorSimulator;
  tokenEnv: string;
  /** Where pg_dump and pg_restore come from (the real ones by default). */
  binDir?: string;
  retention?: { keep: number; maxAgeDays: number };
  /** The simulator's domain-upgrade-dump volume, for data-snapshot recoveries. */
  dumpVolume?: string;
  /** The Splice release to configure (otherwise read from the validator's /version). */
  release?: string;
}

/** The `networks.<name>` entry of a `kind: canton` network on the simulator, with its secrets written to `dir`. */
export function cantonNetworkConfig(dir: string, options: CantonConfigOptions): { network: object; backupKey: Buffer } {
  mkdirSync(dir, { recursive: true });
  const secret = (name: string, value: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, value, { mode: 0o600 });
    return { file };
  };
  const backupKey = randomBytes(32);
  const ctl = `${JSON.stringify(process.execPath)} --import tsx simulators/canton/validator-ctl.ts --simulator ${options.sim.url}`;
  const { pg } = options;
  const network = {
    kind: 'canton',
    executor: { type: 'local', cwd: PROJECT_ROOT },
    nodes: [{ id: 'validator' }],
    canton: {
      ...(options.release ? { release: options.release } : {}),
      migrationId: 3,
      validatorUrl: options.sim.url,
      auth: { token: { env: options.tokenEnv }, audience: CANTON_AUDIENCE },
      postgres: {
        host: pg.host,
        port: pg.port,
        user: pg.user,
        password: secret('pg-password', pg.password),
        binDir: options.binDir ?? pg.binDir,
      },
      backupDirectory: path.join(dir, 'backups'),
      backupEncryptionKey: secret('backup.key', backupKey.toString('base64')),
      ...(options.retention ? { retention: options.retention } : {}),
      launcher: {
        start: `${ctl} start -m {{migrationId}}`,
        stop: `${ctl} stop`,
        reonboard: `${ctl} start -m {{migrationId}} -i {{identitiesFile}} -P {{participantId}}`,
        ...(options.dumpVolume
          ? {
              installMigrationDump: `cp {{dumpFile}} ${shellQuote(path.join(options.dumpVolume, 'domain_migration_dump.json'))}`,
            }
          : {}),
      },
      // The roll-forward LSU through the simulator's stand-ins for the participant log and the Canton console.
      lsu: {
        lastEventCommand: `${ctl} last-event`,
        consoleCommand: `${JSON.stringify(process.execPath)} --import tsx simulators/canton/console.ts --simulator ${options.sim.url} --script {{script}}`,
      },
    },
  };
  return { network, backupKey };
}

export function writeCantonConfig(
  dir: string,
  options: CantonConfigOptions,
): { file: string; config: LedgerDrConfig; backupKey: Buffer } {
  const { network, backupKey } = cantonNetworkConfig(dir, options);
  const { file, config } = writeConfig(dir, { networks: { [options.network]: network } });
  return { file, config, backupKey };
}
