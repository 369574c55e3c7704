/**
 * The I/O of Canton/Splice validator backups: streaming `pg_dump` of the validator and participant databases,
 * the node-identities dump from the validator admin API (sealed at rest: it holds the participant's private
 * keys), the manifest that marks a backup complete, and retention. Everything is written beside its final
 * name and renamed into place when complete, so a partial file is never taken for a complete one.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/common';
import axios from 'axios';
import { Client } from 'pg';
import { z } from 'zod';
import { networkName, type CantonNetworkConfig, type LedgerDrConfig } from '../../shared/config';
import { renderCommand } from '../../shared/command-template';
import { readSecret } from '../../shared/secrets';
import { seal, unseal } from '../../shared/sealed-file';
import { FailureType, invalidInput, parseInput, parseResponse } from '../errors';
import { networkOfKind } from '../config/networks';
import { activityAttempt, withHeartbeats } from '../heartbeat';
import { createDumpFile } from '../streams';
import { sealingKey } from '../sealing';
import { validatorGet } from './admin-api';
import { currentMigrationId, readRegistry, writeRegistry } from './registry';
import { createExecutor } from '../hosts/executor';

export interface CantonPlan {
  network: string;
  migrationId: number;
  databases: string[];
  backupDirectory: string;
}

export interface BackupFile {
  what: string;
  file: string;
  bytes: number;
  sha256: string;
}

export interface CantonManifest {
  format: 'ledger-dr/canton-backup/1';
  network: string;
  backupId: string;
  createdAt: string;
  migrationId: number;
  participantId: string;
  files: BackupFile[];
  /** The validator's users when the backup was taken (absent in backups made before ledger-dr recorded them). */
  users?: string[];
}

export interface ValidatorProbe {
  ready: boolean;
  detail: string;
}

/** A validator user, as upstream's ListUsersResponse names it (usernames only, no onboarding times). */
export interface OnboardedUser {
  name: string;
}

export interface PartyCheck {
  balance: string;
  nameEntries: string[];
}

export interface RetentionResult {
  kept: string[];
  deleted: string[];
}

const backupId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/, { error: 'expected a backup id of letters, digits, ".", "_", "-"' });
const DATABASE = /^(validator|participant-\d+)$/;
/** The names canton-backup gives its folders (a run stamp: start time and the run id's tail). */
const BACKUP_FOLDER = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

const identitiesResponse = z.object({ id: z.string().min(1) }).passthrough();
// validator-internal.yaml ListUsersResponse.
const usersResponse = z.object({ usernames: z.array(z.string()) });
const restoreId = backupId;
const participantIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, { error: 'expected a participant id of letters, digits, "_" and "-"' });
// common-external.yaml Version.
const versionResponse = z.object({ version: z.string(), commit_ts: z.string() });
// wallet-internal.yaml GetBalanceResponse; ans-external.yaml ListAnsEntriesResponse (the caller's unexpired entries).
const balanceResponse = z.object({ effective_unlocked_qty: z.string() });
const ansEntriesResponse = z.object({ entries: z.array(z.object({ name: z.string(), expiresAt: z.string() })) });

export function createCantonActivities(deps: { config: LedgerDrConfig }) {
  const cantonNetwork = (name: string): CantonNetworkConfig =>
    networkOfKind(deps.config, name, 'canton', 'is for Canton/Splice validators');

  const folderOf = (network: CantonNetworkConfig, id: string) => path.join(network.canton.backupDirectory, id);

  /** Runs `work` with a client on the maintenance database, as the configured database user. */
  async function withPostgres<T>(
    networkNameValue: string,
    network: CantonNetworkConfig,
    work: (client: Client) => Promise<T>,
  ): Promise<T> {
    const pg = network.canton.postgres;
    const password = await readSecret(pg.password, `networks.${networkNameValue}.canton.postgres.password`);
    const client = new Client({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: password.reveal(),
      database: 'postgres',
    });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  async function runLauncher(
    networkNameValue: string,
    network: CantonNetworkConfig,
    action: 'start' | 'stop',
    migrationId?: number,
  ) {
    const executor = createExecutor(network.executor, `networks.${networkNameValue}.executor`);
    const command = renderCommand(network.canton.launcher[action], {
      network: networkNameValue,
      migrationId: migrationId ?? (await currentMigrationId(network)),
    });
    const result = await withHeartbeats((signal) => executor.run(command, { timeoutMs: 600_000, signal }));
    if (result.exitCode !== 0) {
      throw ApplicationFailure.retryable(
        `${action} command exited ${result.exitCode ?? result.signal}: ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`,
        'LauncherFailed',
      );
    }
  }

  return {
    async describeCantonNetwork(input: { network: string }): Promise<CantonPlan> {
      const { network: name } = parseInput(z.strictObject({ network: networkName }), input);
      const network = cantonNetwork(name);
      const migrationId = await currentMigrationId(network);
      return {
        network: name,
        migrationId,
        databases: ['validator', `participant-${migrationId}`],
        backupDirectory: network.canton.backupDirectory,
      };
    },

    /** Streams `pg_dump --format=custom` of one database to `<backup>/<database>.dump`, hashing as it goes. */
    async dumpCantonDatabase(input: { network: string; backupId: string; database: string }): Promise<BackupFile> {
      const args = parseInput(
        z.strictObject({
          network: networkName,
          backupId,
          database: z.string().regex(DATABASE, { error: 'expected validator or participant-<migration id>' }),
        }),
        input,
      );
      const network = cantonNetwork(args.network);
      const pg = network.canton.postgres;
      const folder = folderOf(network, args.backupId);
      const file = path.join(folder, `${args.database}.dump`);
      if (await exists(file)) return { what: `database ${args.database}`, file, ...(await digestFile(file)) };

      await mkdir(folder, { recursive: true, mode: 0o700 });
      // One partial file per attempt: a pg_dump orphaned by a dead worker can never write into this one.
      const partial = `${file}.partial-${activityAttempt()}`;
      const password = await readSecret(pg.password, `networks.${args.network}.canton.postgres.password`);
      let bytes = 0;
      const hash = createHash('sha256');
      const child = spawn(
        pg.binDir ? path.join(pg.binDir, 'pg_dump') : 'pg_dump',
        ['--format=custom', '--no-password', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', args.database],
        { env: { ...process.env, PGPASSWORD: password.reveal() }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
      const exited = new Promise<number | null>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', resolve);
      });
      await withHeartbeats(
        async (signal) => {
          signal?.addEventListener('abort', () => child.kill('SIGTERM'));
          await pipeline(
            child.stdout,
            new Transform({
              transform(chunk: Buffer, _enc, done) {
                bytes += chunk.length;
                hash.update(chunk);
                done(null, chunk);
              },
            }),
            createDumpFile(partial),
          );
        },
        () => ({ database: args.database, bytes }),
      );
      const code = await exited;
      if (code !== 0) {
        await rm(partial, { force: true });
        throw ApplicationFailure.retryable(
          `pg_dump of ${args.database} exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`,
          'DumpFailed',
        );
      }
      await rename(partial, file);
      // Leftovers of attempts whose worker died are incomplete by construction.
      for (const name of await readdir(folder)) {
        if (name.startsWith(`${args.database}.dump.partial-`)) await rm(path.join(folder, name), { force: true });
      }
      return { what: `database ${args.database}`, file, bytes, sha256: hash.digest('hex') };
    },

    /**
     * Fetches the node-identities dump and seals it (AES-256-GCM, key by reference) into an owner-only file.
     * The dump itself never leaves this function; the participant id (public) is returned.
     */
    async fetchCantonIdentities(input: {
      network: string;
      backupId: string;
    }): Promise<BackupFile & { participantId: string }> {
      const args = parseInput(z.strictObject({ network: networkName, backupId }), input);
      const network = cantonNetwork(args.network);
      const field = `networks.${args.network}.canton`;
      const folder = folderOf(network, args.backupId);
      const file = path.join(folder, 'participant-identities.json.sealed');
      const response = await validatorGet<string>(
        args.network,
        network,
        '/api/validator/v0/admin/participant/identities',
        { responseType: 'text', timeoutMs: 60_000 },
      );
      if (response.status !== 200)
        throw ApplicationFailure.retryable(`identities dump: HTTP ${response.status}`, 'ValidatorUnavailable');
      let parsed: unknown;
      try {
        parsed = JSON.parse(response.data);
      } catch {
        throw ApplicationFailure.retryable('identities dump: not JSON', FailureType.UnexpectedResponse);
      }
      const dump = parseResponse(identitiesResponse, parsed, 'GET /api/validator/v0/admin/participant/identities');
      const sealed = seal(
        response.data,
        await sealingKey(network.canton.backupEncryptionKey, `${field}.backupEncryptionKey`),
      );
      await mkdir(folder, { recursive: true, mode: 0o700 });
      await writeFile(`${file}.partial`, sealed, { mode: 0o600 });
      await rename(`${file}.partial`, file);
      return {
        what: 'node identities (sealed)',
        file,
        bytes: sealed.length,
        sha256: createHash('sha256').update(sealed).digest('hex'),
        participantId: dump.id,
      };
    },

    /** Writes the manifest last: a backup folder without one is incomplete and is never restored from. */
    async sealCantonBackup(input: {
      network: string;
      backupId: string;
      createdAt: string;
      migrationId: number;
      participantId: string;
      files: BackupFile[];
      users?: string[];
    }): Promise<CantonManifest> {
      const args = parseInput(
        z.strictObject({
          network: networkName,
          backupId,
          createdAt: z.iso.datetime(),
          migrationId: z.number().int().min(0),
          participantId: z.string().min(1),
          files: z
            .array(z.strictObject({ what: z.string(), file: z.string(), bytes: z.number(), sha256: z.string() }))
            .min(1),
          users: z.array(z.string()).optional(),
        }),
        input,
      );
      const network = cantonNetwork(args.network);
      const manifest: CantonManifest = { format: 'ledger-dr/canton-backup/1', ...args };
      const file = path.join(folderOf(network, args.backupId), 'MANIFEST.json');
      await writeFile(`${file}.partial`, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
      await rename(`${file}.partial`, file);
      return manifest;
    },

    /** The backup to restore from (the given one, or the newest complete one), with every checksum verified. */
    async verifyCantonBackup(input: { network: string; backupId?: string }): Promise<CantonManifest> {
      const args = parseInput(z.strictObject({ network: networkName, backupId: backupId.optional() }), input);
      const network = cantonNetwork(args.network);
      const root = network.canton.backupDirectory;
      let id = args.backupId;
      if (!id) {
        // The newest by the manifest's own timestamp (ids of backups taken in the same second do not sort).
        let newest: { id: string; at: number } | undefined;
        for (const entry of await readdir(root).catch(() => [])) {
          const file = path.join(root, entry, 'MANIFEST.json');
          if (!(await exists(file))) continue;
          const at = Date.parse((JSON.parse(await readFile(file, 'utf8')) as CantonManifest).createdAt);
          if (!newest || at > newest.at) newest = { id: entry, at };
        }
        id = newest?.id;
        if (!id) throw ApplicationFailure.nonRetryable(`no complete backup in ${root}`, 'NoBackup');
      }
      const manifestFile = path.join(root, id, 'MANIFEST.json');
      if (!(await exists(manifestFile))) {
        throw ApplicationFailure.nonRetryable(`backup ${id} is incomplete or missing (no ${manifestFile})`, 'NoBackup');
      }
      const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as CantonManifest;
      for (const f of manifest.files) {
        if (!(await verifyFiles([f]))) {
          throw ApplicationFailure.nonRetryable(
            `backup ${id}: ${f.what} (${f.file}) does not match its SHA-256 in the manifest`,
            'BackupCorrupt',
          );
        }
      }
      return manifest;
    },

    /**
     * Runs the configured start or stop command (start.sh, stop.sh, kubectl scale …), with the current
     * migration id unless another is given (a restart onto the next migration).
     */
    async runCantonLauncher(input: { network: string; action: 'start' | 'stop'; migrationId?: number }): Promise<void> {
      const args = parseInput(
        z.strictObject({
          network: networkName,
          action: z.enum(['start', 'stop']),
          migrationId: z.number().int().min(0).optional(),
        }),
        input,
      );
      await runLauncher(args.network, cantonNetwork(args.network), args.action, args.migrationId);
    },

    /**
     * The Splice release the validator runs: the configured one, or what its `/api/validator/version`
     * (common-external.yaml getVersion) says.
     */
    async readCantonRelease(input: { network: string }): Promise<{ release: string; source: string }> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const network = cantonNetwork(args.network);
      if (network.canton.release) return { release: network.canton.release, source: 'configuration' };
      const url = `${network.canton.validatorUrl.replace(/\/$/, '')}/api/validator/version`;
      const fix = `set networks.${args.network}.canton.release to the Splice release the validator runs`;
      let res;
      try {
        res = await axios.get(url, { timeout: 10_000, validateStatus: () => true });
      } catch (err) {
        throw ApplicationFailure.retryable(`${url}: ${(err as Error).message}; ${fix}`, 'ValidatorUnavailable');
      }
      if (res.status !== 200)
        throw ApplicationFailure.retryable(`${url}: HTTP ${res.status}; ${fix}`, 'ValidatorUnavailable');
      const { version } = parseResponse(versionResponse, res.data, 'GET /api/validator/version');
      const release = /^\d+\.\d+\.\d+/.exec(version)?.[0];
      if (!release)
        throw ApplicationFailure.nonRetryable(`${url} reports version "${version}"; ${fix}`, FailureType.Configuration);
      return { release, source: `${url} (${version})` };
    },

    /** Whether the validator app answers its readiness endpoint. Down is an answer, not a failure. */
    async probeCantonValidator(input: { network: string }): Promise<ValidatorProbe> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const network = cantonNetwork(args.network);
      try {
        const res = await axios.get(`${network.canton.validatorUrl.replace(/\/$/, '')}/api/validator/readyz`, {
          timeout: 5000,
          validateStatus: () => true,
        });
        return { ready: res.status === 200, detail: `HTTP ${res.status}` };
      } catch (err) {
        return { ready: false, detail: (err as { code?: string }).code ?? (err as Error).message };
      }
    },

    /**
     * Renames the current databases to `<name>__before_<restoreId>` (never drops them), after closing their
     * connections. Done already for this restore: nothing to do.
     */
    async moveCantonDatabasesAside(input: {
      network: string;
      restoreId: string;
      databases: string[];
    }): Promise<string[]> {
      const args = parseInput(
        z.strictObject({ network: networkName, restoreId, databases: z.array(z.string().regex(DATABASE)).min(1) }),
        input,
      );
      const network = cantonNetwork(args.network);
      return withPostgres(args.network, network, async (client) => {
        const moved: string[] = [];
        for (const db of args.databases) {
          const aside = `${db}__before_${args.restoreId}`;
          const present = async (name: string) =>
            (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
          if (await present(aside)) {
            moved.push(aside);
            continue;
          }
          if (!(await present(db))) continue;
          await client.query(
            'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
            [db],
          );
          await client.query(`alter database ${quoteIdent(db)} rename to ${quoteIdent(aside)}`);
          moved.push(aside);
        }
        return moved;
      });
    },

    /**
     * Restores one database from its dump into `<name>__restoring_<restoreId>` and renames it into place when
     * pg_restore has finished, so a crash mid-restore never leaves a half-restored database under the real name.
     */
    async restoreCantonDatabase(input: {
      network: string;
      restoreId: string;
      database: string;
      file: string;
    }): Promise<void> {
      const args = parseInput(
        z.strictObject({
          network: networkName,
          restoreId,
          database: z.string().regex(DATABASE),
          file: z.string().min(1),
        }),
        input,
      );
      const network = cantonNetwork(args.network);
      const pg = network.canton.postgres;
      const staging = `${args.database}__restoring_${args.restoreId}`;
      const done = await withPostgres(args.network, network, async (client) => {
        const exists_ = async (name: string) =>
          (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
        if (await exists_(args.database)) return true;
        // A staging database left by a dead attempt is ours and incomplete: start it again.
        // FORCE ends the sessions of a pg_restore orphaned by a dead worker.
        await client.query(`drop database if exists ${quoteIdent(staging)} with (force)`);
        await client.query(`create database ${quoteIdent(staging)}`);
        return false;
      });
      if (done) return;
      const password = await readSecret(pg.password, `networks.${args.network}.canton.postgres.password`);
      const child = spawn(
        pg.binDir ? path.join(pg.binDir, 'pg_restore') : 'pg_restore',
        [
          '--no-password',
          '--exit-on-error',
          '-h',
          pg.host,
          '-p',
          String(pg.port),
          '-U',
          pg.user,
          '-d',
          staging,
          args.file,
        ],
        { env: { ...process.env, PGPASSWORD: password.reveal() }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
      const code = await withHeartbeats(
        (signal) =>
          new Promise<number | null>((resolve, reject) => {
            signal?.addEventListener('abort', () => child.kill('SIGTERM'));
            child.once('error', reject);
            child.once('close', resolve);
          }),
      );
      if (code !== 0) {
        throw ApplicationFailure.retryable(
          `pg_restore of ${args.database} exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`,
          'RestoreFailed',
        );
      }
      await withPostgres(args.network, network, (client) =>
        client.query(`alter database ${quoteIdent(staging)} rename to ${quoteIdent(args.database)}`),
      );
    },

    /** The validator's users, as its admin API lists them. */
    async listCantonUsers(input: { network: string }): Promise<OnboardedUser[]> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const network = cantonNetwork(args.network);
      const res = await validatorGet(args.network, network, '/api/validator/v0/admin/users');
      if (res.status !== 200) throw ApplicationFailure.retryable(`users: HTTP ${res.status}`, 'ValidatorUnavailable');
      const { usernames } = parseResponse(usersResponse, res.data, 'GET /api/validator/v0/admin/users');
      return usernames.map((name) => ({ name }));
    },

    /**
     * Refuses a participant id this network has used before (recorded re-onboardings, and the participant of
     * every backup): Canton never accepts a participant id twice, and a refusal here changes nothing.
     */
    async checkCantonParticipantId(input: { network: string; participantId: string }): Promise<void> {
      const args = parseInput(z.strictObject({ network: networkName, participantId: participantIdSchema }), input);
      const network = cantonNetwork(args.network);
      const root = network.canton.backupDirectory;
      const registry = await readRegistry(root);
      const seen = new Map(registry.used.map((u) => [u.participantId, `recorded ${u.recordedAt}`]));
      for (const entry of await readdir(root).catch(() => [])) {
        const manifestFile = path.join(root, entry, 'MANIFEST.json');
        if (!(await exists(manifestFile))) continue;
        const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as CantonManifest;
        // Splice ids look like PAR::<name>::<fingerprint>; the operator chooses the <name> part.
        const name = manifest.participantId.split('::')[1] ?? manifest.participantId;
        for (const id of [manifest.participantId, name])
          if (!seen.has(id)) seen.set(id, `the participant of backup ${entry}`);
      }
      const earlier = seen.get(args.participantId);
      if (earlier) {
        throw ApplicationFailure.nonRetryable(
          `input.participantId: "${args.participantId}" was used before on ${args.network} (${earlier}); re-onboarding needs a participant id never used on this network`,
          FailureType.InvalidInput,
        );
      }
    },

    /** Opens the sealed identities dump of a backup into an owner-only file for the re-onboarding command. */
    async unsealCantonIdentities(input: { network: string; backupId: string; workId: string }): Promise<string> {
      const args = parseInput(z.strictObject({ network: networkName, backupId, workId: restoreId }), input);
      const network = cantonNetwork(args.network);
      const field = `networks.${args.network}.canton`;
      const sealed = await readFile(path.join(folderOf(network, args.backupId), 'participant-identities.json.sealed'));
      const key = await sealingKey(network.canton.backupEncryptionKey, `${field}.backupEncryptionKey`);
      let plain: Buffer;
      try {
        plain = unseal(sealed, key);
      } catch (err) {
        throw ApplicationFailure.nonRetryable(
          `backup ${args.backupId}: the identities dump: ${(err as Error).message} (${field}.backupEncryptionKey)`,
          'BackupCorrupt',
        );
      }
      const dir = path.join(network.canton.backupDirectory, `reonboard-${args.workId}`);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, 'participant-identities.json');
      await writeFile(file, plain, { mode: 0o600 });
      plain.fill(0);
      return file;
    },

    /** Removes the opened identities dump once the new participant has taken it over. */
    async discardCantonIdentities(input: { network: string; workId: string }): Promise<void> {
      const args = parseInput(z.strictObject({ network: networkName, workId: restoreId }), input);
      await rm(path.join(cantonNetwork(args.network).canton.backupDirectory, `reonboard-${args.workId}`), {
        recursive: true,
        force: true,
      });
    },

    /** Runs the configured re-onboarding command (start.sh -i <dump> -P <new participant id> …). */
    async reonboardCantonValidator(input: {
      network: string;
      identitiesFile: string;
      participantId: string;
    }): Promise<void> {
      const args = parseInput(
        z.strictObject({ network: networkName, identitiesFile: z.string().min(1), participantId: participantIdSchema }),
        input,
      );
      const network = cantonNetwork(args.network);
      const field = `networks.${args.network}.canton`;
      const template = network.canton.launcher.reonboard;
      if (!template)
        throw invalidInput(
          `${field}.launcher.reonboard: not configured; add the command that starts a validator from an identities dump`,
        );
      const executor = createExecutor(network.executor, `networks.${args.network}.executor`);
      const command = renderCommand(template, {
        network: args.network,
        migrationId: await currentMigrationId(network),
        identitiesFile: args.identitiesFile,
        participantId: args.participantId,
        sponsorSv: network.canton.sponsorSvUrl ?? '',
        partyHint: network.canton.partyHint ?? '',
      });
      const result = await withHeartbeats((signal) => executor.run(command, { timeoutMs: 900_000, signal }));
      if (result.exitCode !== 0) {
        throw ApplicationFailure.retryable(
          `re-onboarding command exited ${result.exitCode ?? result.signal}: ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`,
          'LauncherFailed',
        );
      }
    },

    /** The validator party's balance and name entries, as the validator now sees them. */
    async checkCantonParty(input: { network: string }): Promise<PartyCheck> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const network = cantonNetwork(args.network);
      const get = async (p: string) => {
        const res = await validatorGet(args.network, network, p);
        if (res.status !== 200) throw ApplicationFailure.retryable(`GET ${p}: HTTP ${res.status}`, 'PartyNotBack');
        return res.data as unknown;
      };
      const balance = parseResponse(
        balanceResponse,
        await get('/api/validator/v0/wallet/balance'),
        'GET /api/validator/v0/wallet/balance',
      );
      // A party without a name entry is answered with no entries: that is not a failure.
      const entries = parseResponse(
        ansEntriesResponse,
        await get('/api/validator/v0/entry/all'),
        'GET /api/validator/v0/entry/all',
      );
      return { balance: balance.effective_unlocked_qty, nameEntries: entries.entries.map((e) => e.name) };
    },

    /** Records the participant id every later restart must use (`-P`), and that it is now used. */
    async recordCantonParticipantId(input: { network: string; participantId: string; by: string }): Promise<void> {
      const args = parseInput(
        z.strictObject({ network: networkName, participantId: participantIdSchema, by: z.string().min(1) }),
        input,
      );
      const root = cantonNetwork(args.network).canton.backupDirectory;
      const registry = await readRegistry(root);
      if (!registry.used.some((u) => u.participantId === args.participantId)) {
        registry.used.push({ participantId: args.participantId, recordedAt: new Date().toISOString(), by: args.by });
      }
      registry.current = args.participantId;
      await writeRegistry(root, registry);
    },

    /**
     * Deletes complete backups beyond `retention.keep` or older than `retention.maxAgeDays`, and abandoned
     * incomplete folders older than a day, but never the newest backup whose checksums verify.
     */
    async applyCantonRetention(input: { network: string }): Promise<RetentionResult> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const network = cantonNetwork(args.network);
      const root = network.canton.backupDirectory;
      const { keep, maxAgeDays } = network.canton.retention;
      const complete: { id: string; createdAt: number; manifest: CantonManifest }[] = [];
      const deleted: string[] = [];
      for (const id of await readdir(root).catch(() => [])) {
        // Only folders named as canton-backup names them: the registry, data snapshots and anything the
        // operator keeps here are not backups.
        if (!BACKUP_FOLDER.test(id)) continue;
        const manifestFile = path.join(root, id, 'MANIFEST.json');
        if (await exists(manifestFile)) {
          const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as CantonManifest;
          complete.push({ id, createdAt: Date.parse(manifest.createdAt), manifest });
        } else if (Date.now() - (await stat(path.join(root, id))).mtimeMs > 86_400_000) {
          await rm(path.join(root, id), { recursive: true, force: true });
          deleted.push(id);
        }
      }
      complete.sort((a, b) => b.createdAt - a.createdAt);
      let newestVerified: string | undefined;
      for (const b of complete) {
        if (await verifyFiles(b.manifest.files)) {
          newestVerified = b.id;
          break;
        }
      }
      const kept: string[] = [];
      for (const [i, b] of complete.entries()) {
        const tooMany = i >= keep;
        const tooOld = Date.now() - b.createdAt > maxAgeDays * 86_400_000;
        if ((tooMany || tooOld) && b.id !== newestVerified) {
          await rm(path.join(root, b.id), { recursive: true, force: true });
          deleted.push(b.id);
        } else kept.push(b.id);
      }
      return { kept, deleted };
    },
  };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

export async function digestFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    bytes += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { bytes, sha256: hash.digest('hex') };
}

export async function verifyFiles(files: BackupFile[]): Promise<boolean> {
  for (const f of files) {
    const actual = await digestFile(f.file).catch(() => undefined);
    if (!actual || actual.sha256 !== f.sha256 || actual.bytes !== f.bytes) return false;
  }
  return true;
}
