/**
 * The demo is the README's main command: it must complete a run and leave nothing running behind it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort } from './helpers/ports';
import { PROJECT_ROOT } from './helpers/paths';
import { processesMentioning } from './helpers/processes';
import { scratchDir } from './helpers/temporal';

interface Finished {
  code: number | null;
  output: string;
}

function startDemo(args: string[], viaNpm: boolean) {
  const command = viaNpm ? 'npm' : process.execPath;
  const argv = viaNpm
    ? ['run', '--silent', 'demo', '--', ...args]
    : ['--import', 'tsx', path.join(PROJECT_ROOT, 'demo', 'demo.ts'), ...args];
  const child = spawn(command, argv, {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: 'true' },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const finished = new Promise<Finished>((resolve) => child.on('exit', (code) => resolve({ code, output })));
  return { child, finished, output: () => output };
}

async function demoArgs(dataDir: string): Promise<string[]> {
  return ['--port', String(await freePort()), '--ui-port', String(await freePort()), '--data-dir', dataDir];
}

describe('npm run demo', () => {
  it('--once completes the demo run, exits 0 and leaves no process behind', async () => {
    const dataDir = scratchDir('demo-once');
    const demo = startDemo(['--once', ...(await demoArgs(dataDir))], true);
    const { code, output } = await demo.finished;
    expect(output).toMatch(/Temporal UI: http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(
      /Run completed\. Inspect it in the UI: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\//,
    );
    expect(code).toBe(0);
    // The dev server's command line names the demo's database, so any survivor would show up here.
    expect(processesMentioning(dataDir)).toEqual([]);
  }, 120_000);

  it('stops everything it started on Ctrl-C', async () => {
    const dataDir = scratchDir('demo-sigint');
    const demo = startDemo(await demoArgs(dataDir), false);
    const deadline = Date.now() + 90_000;
    while (!demo.output().includes('press Ctrl-C to stop them')) {
      if (Date.now() > deadline) throw new Error(`demo did not finish its run:\n${demo.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(processesMentioning(dataDir).length).toBeGreaterThan(0);
    demo.child.kill('SIGINT');
    const { code } = await demo.finished;
    expect(code).toBe(130);
    expect(processesMentioning(dataDir)).toEqual([]);
  }, 120_000);
});
