/**
 * The I/O of a network recovery from a data snapshot (Splice's procedure when the global synchronizer is
 * lost): evidence the participant was healthy around the agreed timestamp, the snapshot request, the body
 * streamed to disk, `data_snapshot` extracted from it without holding either in memory (snapshots are
 * gigabytes), the dump copied into the app's volume, and the new migration id recorded.
 *
 * The snapshot holds the participant's identities (private keys included): every file is owner-only, in an
 * owner-only folder, and nothing of it enters Temporal. Files are written per attempt and renamed when
 * complete, so a body cut off by a dead worker is never taken for a whole one.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/common';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/Pick';
import { stringer } from 'stream-json/Stringer';
import { z } from 'zod';
import { networkName, type CantonNetworkConfig, type LedgerDrConfig } from '../../shared/config';
import { renderCommand } from '../../shared/command-template';
import { invalidInput, parseInput } from '../errors';
import { networkOfKind } from '../config/networks';
import { activityAttempt, withHeartbeats } from '../heartbeat';
import { createDumpFile } from '../streams';
import { createExecutor } from '../hosts/executor';
import { digestFile, exists, type BackupFile, type CantonManifest } from './activities';
import { validatorGet } from './admin-api';
import { currentMigrationId, readRegistry, writeRegistry } from './registry';

export interface HealthEvidence {
  /** Complete backups taken within the window around the timestamp: the admin API and participant answered. */
  backupsNear: { backupId: string; createdAt: string }[];
}

export type SnapshotRequest =
  | { outcome: 'downloaded'; file: string; bytes: number }
  /** 429: the participant has not caught up to the timestamp yet. */
  | { outcome: 'not-caught-up'; detail: string }
  /** 400: the participant was pruned past the timestamp (or refused it). */
  | { outcome: 'pruned'; detail: string };

const workId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/, { error: 'expected a work id of letters, digits, ".", "_", "-"' });
const RESPONSE = 'dump_response.json';
const DUMP = 'domain_migration_dump.json';
const SNAPSHOT_PATH = '/api/validator/v0/admin/domain/data-snapshot';

export function createCantonSnapshotActivities(deps: { config: LedgerDrConfig }) {
  const cantonNetwork = (name: string): CantonNetworkConfig =>
    networkOfKind(deps.config, name, 'canton', 'is for Canton/Splice validators');
  const folderOf = (network: CantonNetworkConfig, id: string) =>
    path.join(network.canton.backupDirectory, 'data-snapshots', id);

  return {
    /** Backups ledger-dr took around the timestamp: each one proves the validator and participant answered then. */
    async findCantonHealthEvidence(input: {
      network: string;
      timestamp: string;
      windowMs: number;
    }): Promise<HealthEvidence> {
      const args = parseInput(
        z.strictObject({ network: networkName, timestamp: z.iso.datetime(), windowMs: z.number().int().min(0) }),
        input,
      );
      const root = cantonNetwork(args.network).canton.backupDirectory;
      const at = Date.parse(args.timestamp);
      const backupsNear: HealthEvidence['backupsNear'] = [];
      for (const entry of await readdir(root).catch(() => [])) {
        const file = path.join(root, entry, 'MANIFEST.json');
        if (!(await exists(file))) continue;
        const manifest = JSON.parse(await readFile(file, 'utf8')) as CantonManifest;
        if (Math.abs(Date.parse(manifest.createdAt) - at) <= args.windowMs)
          backupsNear.push({ backupId: entry, createdAt: manifest.createdAt });
      }
      return { backupsNear: backupsNear.sort((a, b) => a.createdAt.localeCompare(b.createdAt)) };
    },

    /**
     * GET …/admin/domain/data-snapshot?timestamp=…&force=true, the body streamed to `dump_response.json`.
     * 429 and 400 are answers the workflow acts on, not failures. Done already for this run: the file is kept.
     */
    async requestCantonDataSnapshot(input: {
      network: string;
      timestamp: string;
      workId: string;
      /** The migration the validator runs on, by our registry; sent as `migration_id` and checked on extraction. */
      migrationId?: number;
    }): Promise<SnapshotRequest> {
      const args = parseInput(
        z.strictObject({
          network: networkName,
          timestamp: z.iso.datetime(),
          workId,
          migrationId: z.number().int().min(0).optional(),
        }),
        input,
      );
      const network = cantonNetwork(args.network);
      const folder = folderOf(network, args.workId);
      const file = path.join(folder, RESPONSE);
      if (await exists(file)) return { outcome: 'downloaded', file, bytes: (await stat(file)).size };

      const progress = { bytes: 0 };
      return withHeartbeats(
        async (signal) => {
          const response = await validatorGet<Readable>(args.network, network, SNAPSHOT_PATH, {
            params: {
              timestamp: args.timestamp,
              force: 'true',
              ...(args.migrationId !== undefined ? { migration_id: String(args.migrationId) } : {}),
            },
            responseType: 'stream',
            // An idle socket, not the whole body: a gigabyte takes a while.
            timeoutMs: 120_000,
            signal,
          });
          if (response.status !== 200) {
            const detail = `HTTP ${response.status}: ${(await readSome(response.data)).trim().slice(0, 300)}`;
            if (response.status === 429) return { outcome: 'not-caught-up', detail } as const;
            if (response.status === 400) return { outcome: 'pruned', detail } as const;
            throw ApplicationFailure.retryable(`data snapshot: ${detail}`, 'ValidatorUnavailable');
          }
          await mkdir(folder, { recursive: true, mode: 0o700 });
          // Not hashed: the response is only read once, by the extraction, which hashes what it keeps.
          const written = await writeAtomically(file, [response.data], (bytes) => (progress.bytes = bytes), {
            digest: false,
          });
          return { outcome: 'downloaded', file, bytes: written.bytes } as const;
        },
        () => ({ bytes: progress.bytes }),
      );
    },

    /**
     * `jq '.data_snapshot' dump_response.json > domain_migration_dump.json`, streamed: the parser emits tokens
     * (strings in chunks, so a gigabyte ACS string never becomes one value) and only those under
     * `data_snapshot` are written back out. Small reads keep the tokens buffered between stages small.
     */
    async extractCantonMigrationDump(input: {
      network: string;
      workId: string;
      /** Our registry's migration id: the response's `migration_id` and the dump's must match it. */
      migrationId?: number;
    }): Promise<BackupFile> {
      const args = parseInput(
        z.strictObject({ network: networkName, workId, migrationId: z.number().int().min(0).optional() }),
        input,
      );
      const folder = folderOf(cantonNetwork(args.network), args.workId);
      const source = path.join(folder, RESPONSE);
      const file = path.join(folder, DUMP);
      if (await exists(file)) {
        // Extracted by an earlier attempt, whose check may not have run: check again, from the dump alone.
        if (args.migrationId !== undefined) {
          const found = await readMigrationIds(createReadStream(file), 'dump');
          checkMigrationIds(found, args.migrationId, args.network, file);
        }
        return { what: 'migration dump', file, ...(await digestFile(file)) };
      }
      if (!(await exists(source))) {
        throw ApplicationFailure.nonRetryable(`no downloaded snapshot at ${source}`, 'NoSnapshot');
      }
      let found = false;
      const progress = { bytes: 0 };
      const tokens = parser({ packKeys: true, packStrings: false, packNumbers: false });
      const migrationIds = watchMigrationIds(tokens, 'response');
      const written = await withHeartbeats(
        () =>
          writeAtomically(
            file,
            // One pipeline, so a parse error anywhere fails the write instead of stalling it.
            [
              createReadStream(source, { highWaterMark: 64 * 1024 }),
              tokens,
              pick({ filter: 'data_snapshot', once: true }).on('data', () => (found = true)),
              stringer(),
            ],
            (bytes) => (progress.bytes = bytes),
            { digest: true },
          ),
        () => ({ bytes: progress.bytes }),
      ).catch(async (err: Error) => {
        // stream-json's parse errors; anything else (a full disk, a cancellation) is worth retrying as it is.
        if (!/^Parser/.test(err.message)) throw err;
        throw await setAsideCorrupt(source, `is not valid JSON (${err.message})`);
      });
      if (!found || written.bytes === 0) {
        await rm(file, { force: true });
        throw await setAsideCorrupt(source, 'has no data_snapshot field');
      }
      // Both files are kept either way: the operator decides what to do with a snapshot of another migration.
      if (args.migrationId !== undefined) checkMigrationIds(migrationIds, args.migrationId, args.network, source);
      return { what: 'migration dump', file, ...written };
    },

    /** Copies the dump into the app's domain-upgrade-dump volume or PVC with the configured command. */
    async installCantonMigrationDump(input: { network: string; dumpFile: string }): Promise<void> {
      const args = parseInput(z.strictObject({ network: networkName, dumpFile: z.string().min(1) }), input);
      const network = cantonNetwork(args.network);
      const field = `networks.${args.network}.canton.launcher.installMigrationDump`;
      const template = network.canton.launcher.installMigrationDump;
      if (!template) {
        throw invalidInput(
          `${field}: not configured; add the command that copies {{dumpFile}} to the validator's domain-upgrade-dump volume as domain_migration_dump.json`,
        );
      }
      const executor = createExecutor(network.executor, `networks.${args.network}.executor`);
      const command = renderCommand(template, {
        network: args.network,
        migrationId: await currentMigrationId(network),
        dumpFile: args.dumpFile,
      });
      const result = await withHeartbeats((signal) => executor.run(command, { timeoutMs: 3_600_000, signal }));
      if (result.exitCode !== 0) {
        throw ApplicationFailure.retryable(
          `installMigrationDump command exited ${result.exitCode ?? result.signal}: ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`,
          'LauncherFailed',
        );
      }
    },

    /** Records the migration id the validator now runs on: later backups dump `participant-<id>`. */
    async recordCantonMigrationId(input: { network: string; migrationId: number; by: string }): Promise<void> {
      const args = parseInput(
        z.strictObject({ network: networkName, migrationId: z.number().int().min(0), by: z.string().min(1) }),
        input,
      );
      const root = cantonNetwork(args.network).canton.backupDirectory;
      const registry = await readRegistry(root);
      if (registry.migration?.migrationId === args.migrationId) return;
      registry.migration = { migrationId: args.migrationId, recordedAt: new Date().toISOString(), by: args.by };
      await writeRegistry(root, registry);
    },

    /** The raw response duplicates the extracted dump; once the app runs on the dump it is not needed. */
    async discardCantonSnapshotResponse(input: { network: string; workId: string }): Promise<void> {
      const args = parseInput(z.strictObject({ network: networkName, workId }), input);
      const folder = folderOf(cantonNetwork(args.network), args.workId);
      if (!(await exists(path.join(folder, DUMP)))) return;
      await rm(path.join(folder, RESPONSE), { force: true });
    },
  };
}

/**
 * Streams `source` into `<file>.partial-<attempt>` (owner-only), with its SHA-256 when `digest` is asked for,
 * then renames it into place and removes partial files left by attempts whose worker died.
 */
type Stages = [NodeJS.ReadableStream, ...NodeJS.ReadWriteStream[]];
async function writeAtomically(
  file: string,
  stages: Stages,
  onProgress: (bytes: number) => void,
  options: { digest: true },
): Promise<{ bytes: number; sha256: string }>;
async function writeAtomically(
  file: string,
  stages: Stages,
  onProgress: (bytes: number) => void,
  options: { digest: false },
): Promise<{ bytes: number }>;
async function writeAtomically(
  file: string,
  stages: Stages,
  onProgress: (bytes: number) => void,
  options: { digest: boolean },
): Promise<{ bytes: number; sha256?: string }> {
  const partial = `${file}.partial-${activityAttempt()}`;
  const hash = options.digest ? createHash('sha256') : undefined;
  let bytes = 0;
  try {
    const written = pipeline([...stages, createDumpFile(partial)]);
    // Counted (and hashed) as the chunks pass to the file, without another stream stage: a gigabyte is
    // 16,000 chunks, and every stage costs CPU the download competes for.
    stages.at(-1)!.on('data', (chunk: Buffer | string) => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytes += buffer.length;
      hash?.update(buffer);
      onProgress(bytes);
    });
    await written;
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  await rename(partial, file);
  const dir = path.dirname(file);
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${path.basename(file)}.partial-`)) await rm(path.join(dir, name), { force: true });
  }
  return { bytes, ...(hash ? { sha256: hash.digest('hex') } : {}) };
}

/**
 * A response that is not the snapshot (cut short, or not JSON) is kept aside for inspection, never deleted;
 * the workflow asks the validator again.
 */
async function setAsideCorrupt(source: string, problem: string): Promise<ApplicationFailure> {
  const aside = `${source}.corrupt-${activityAttempt()}-${Date.now()}`;
  await rename(source, aside);
  return ApplicationFailure.nonRetryable(`the snapshot response ${problem}; kept as ${aside}`, 'SnapshotCorrupt');
}

/** The `migration_id`s a snapshot states: the response's own, and the one inside its `data_snapshot`. */
interface MigrationIds {
  response?: number;
  dump?: number;
}

/**
 * Watches a stream-json token stream for the top-level `migration_id` and `data_snapshot.migration_id`
 * (GetValidatorDomainDataSnapshotResponse and DomainMigrationDump both carry one) without another stage.
 * `root: 'dump'` reads a DomainMigrationDump on its own.
 */
function watchMigrationIds(tokens: NodeJS.ReadableStream, root: 'response' | 'dump'): MigrationIds {
  const found: MigrationIds = {};
  const keys: (string | undefined)[] = [];
  let depth = 0;
  let digits = '';
  tokens.on('data', (token: { name: string; value?: string }) => {
    switch (token.name) {
      case 'startObject':
      case 'startArray':
        depth++;
        keys[depth] = undefined;
        return;
      case 'endObject':
      case 'endArray':
        depth--;
        return;
      case 'keyValue':
        keys[depth] = token.value;
        return;
      case 'numberChunk':
        digits += token.value ?? '';
        return;
      case 'endNumber': {
        const atResponse = root === 'response' && depth === 1 && keys[1] === 'migration_id';
        const atDump =
          keys[depth] === 'migration_id' &&
          (root === 'dump' ? depth === 1 : depth === 2 && keys[1] === 'data_snapshot');
        if (atResponse) found.response = Number(digits);
        else if (atDump) found.dump = Number(digits);
        digits = '';
        return;
      }
    }
  });
  return found;
}

async function readMigrationIds(source: Readable, root: 'response' | 'dump'): Promise<MigrationIds> {
  const tokens = parser({ packKeys: true, packStrings: false, packNumbers: false });
  const found = watchMigrationIds(tokens, root);
  await pipeline(source, tokens, new Writable({ objectMode: true, write: (_t, _e, done) => done() }));
  return found;
}

function checkMigrationIds(found: MigrationIds, expected: number, network: string, file: string): void {
  const stated = [found.response, found.dump].filter((id): id is number => id !== undefined);
  if (stated.length > 0 && stated.every((id) => id === expected)) return;
  const what = stated.length ? `is of migration ${[...new Set(stated)].join(' and ')}` : 'states no migration_id';
  throw ApplicationFailure.nonRetryable(
    `the data snapshot ${what}, but ledger-dr has the validator at migration ${expected} (networks.${network}.canton.migrationId, or the migration recorded beside its backups); nothing was installed, and ${file} is kept. Check which migration the validator runs on and correct the configuration before recovering`,
    'MigrationIdMismatch',
  );
}

/** The first few kilobytes of an error body, then the rest is dropped. */
async function readSome(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += (chunk as Buffer).toString();
    if (text.length > 4096) break;
  }
  stream.destroy();
  return text;
}
