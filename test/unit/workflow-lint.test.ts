/** The lint rule that keeps workflows deterministic is itself tested: it must reject I/O in workflows/. */
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PROJECT_ROOT } from '../helpers/paths';

const probe = `
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import axios from 'axios';
import type { Activities } from '../activities';
import { createActivities } from '../activities';
export const used = [readFileSync, z, axios, createActivities, process.env.HOME] as unknown as Activities;
`;

/** Runs the project's ESLint on `probe` as if it were `file` (type-aware rules off: the file is not on disk). */
function lint(file: string, source = probe): string[] {
  const output = spawnSync(
    process.execPath,
    [
      path.join(PROJECT_ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'),
      '--stdin',
      '--stdin-filename',
      file,
      '--format',
      'json',
      '--parser-options',
      'projectService:false',
      '--rule',
      '@typescript-eslint/no-floating-promises: off',
      '--rule',
      '@typescript-eslint/no-misused-promises: off',
    ],
    { cwd: PROJECT_ROOT, input: source, encoding: 'utf8' },
  );
  const [result] = JSON.parse(output.stdout) as { messages: { line: number; message: string }[] }[];
  return result!.messages.map((m) => `${m.line}: ${m.message}`);
}

describe('the workflow determinism lint rule', () => {
  it('rejects Node built-ins, I/O libraries, zod, activity code and process in workflows/', () => {
    const messages = lint('workflows/probe.ts');
    expect(messages).toEqual([
      expect.stringMatching(/^2: 'node:fs' import is restricted/),
      expect.stringMatching(/^3: 'zod' import is restricted/),
      expect.stringMatching(/^4: 'axios' import is restricted/),
      expect.stringMatching(/^6: '..\/activities' import is restricted .*only import types/),
      expect.stringMatching(/^7: Unexpected use of 'process'/),
    ]);
  });

  it('requires a heartbeat timeout on every set of activity options', () => {
    const options = (o: string) =>
      `import { proxyActivities } from '@temporalio/workflow';\nexport const a = proxyActivities(${o});\n`;
    expect(lint('workflows/probe.ts', options("{ startToCloseTimeout: '1m' }"))).toEqual([
      expect.stringMatching(/^2: Give every activity a heartbeatTimeout/),
    ]);
    expect(lint('workflows/probe.ts', options("{ startToCloseTimeout: '1m', heartbeatTimeout: '10s' }"))).toEqual([]);
  });

  it('allows the same code in activities/', () => {
    expect(lint('activities/probe.ts')).toEqual([]);
  });
});
