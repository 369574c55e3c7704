/**
 * CCF's own Python package (`ccf` on PyPI: `ccf.cose`, `ccf_cose_sign1`, `submit_recovery_share.sh`) in a
 * virtual environment under .tools/ccf-python, pinned by test/conformance/ccf-python/requirements.txt. The
 * interop tests run upstream's tools against our client and the simulator. `npm run tools:ccf-python`
 * installs it ahead of time (.ci/run does); otherwise the first test that needs it does.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from './paths';

const run = promisify(execFile);

export const CCF_PYTHON_DIR = path.join(PROJECT_ROOT, '.tools', 'ccf-python');
export const CCF_PYTHON_REQUIREMENTS = path.join(PROJECT_ROOT, 'test', 'conformance', 'ccf-python', 'requirements.txt');
const MARKER = path.join(CCF_PYTHON_DIR, 'installed-requirements.sha256');

export interface CcfPython {
  python: string;
  /** The venv's bin/, holding `ccf_cose_sign1` and `submit_recovery_share.sh`; put it first on PATH. */
  bin: string;
}

/** The installed environment, installing or refreshing it when the pinned requirements changed. */
export async function ensureCcfPython(): Promise<CcfPython> {
  const bin = path.join(CCF_PYTHON_DIR, 'bin');
  const python = path.join(bin, 'python');
  const wanted = createHash('sha256').update(readFileSync(CCF_PYTHON_REQUIREMENTS)).digest('hex');
  if (existsSync(MARKER) && readFileSync(MARKER, 'utf8').trim() === wanted && existsSync(python))
    return { python, bin };
  rmSync(CCF_PYTHON_DIR, { recursive: true, force: true });
  const interpreter = process.env.PYTHON ?? 'python3';
  try {
    await run(interpreter, ['-m', 'venv', CCF_PYTHON_DIR]);
    await run(python, ['-m', 'pip', 'install', '--quiet', '--no-input', '-r', CCF_PYTHON_REQUIREMENTS], {
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    rmSync(CCF_PYTHON_DIR, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(
      `cannot install CCF's Python package into ${CCF_PYTHON_DIR}: ${(e.stderr || e.message).trim().split('\n').pop()}\n` +
        `Fix: make \`${interpreter} -m venv\` work (Debian: apt-get install python3-venv) and reach PyPI, then run npm run tools:ccf-python`,
    );
  }
  writeFileSync(MARKER, `${wanted}\n`);
  return { python, bin };
}

if (require.main === module) {
  ensureCcfPython().then(
    ({ bin }) => process.stdout.write(`CCF Python package: ${bin}\n`),
    (err: Error) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    },
  );
}
