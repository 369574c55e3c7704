/**
 * Schemathesis (from PyPI, pinned) in .tools/schemathesis, installed with pip on first use, so `npm test` needs
 * nothing beyond Python 3 with pip.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './paths';

const VERSION = '4.32.5';
const TARGET = path.join(PROJECT_ROOT, '.tools', 'schemathesis');

function installed(): boolean {
  if (!existsSync(TARGET)) return false;
  try {
    const out = execFileSync('python3', ['-m', 'schemathesis.cli', '--version'], {
      env: { ...process.env, PYTHONPATH: TARGET },
      encoding: 'utf8',
    });
    return out.includes(VERSION);
  } catch {
    return false;
  }
}

/** Runs `schemathesis run <args>`; resolves with its exit code and output. */
export async function runSchemathesis(args: string[]): Promise<{ code: number; output: string }> {
  if (!installed()) {
    execFileSync(
      'python3',
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--upgrade',
        '--target',
        TARGET,
        `schemathesis==${VERSION}`,
      ],
      { stdio: 'pipe' },
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-m', 'schemathesis.cli', 'run', ...args], {
      env: { ...process.env, PYTHONPATH: TARGET, SCHEMATHESIS_TELEMETRY: 'false', NO_COLOR: '1' },
      // Its cache (.schemathesis/) goes under .tools/, not into the project.
      cwd: TARGET,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, output }));
  });
}
