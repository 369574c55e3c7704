/**
 * A Temporal dev server on a SQLite file, as its own process, so the chaos runner can SIGKILL it and start it
 * again on the same database and port: runs, timers and task queues must all be there afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { LEDGER_DR_SEARCH_ATTRIBUTES } from '../../contracts/search-attributes';
import { resolveTemporalCli } from '../../shared/temporal-cli';
import { freePort } from '../helpers/ports';

export class PersistentDevServer {
  private child?: ChildProcess;
  private output = '';
  address = '';

  private constructor(
    private readonly cli: string,
    private readonly dbFilename: string,
    private readonly port: number,
  ) {
    this.address = `127.0.0.1:${port}`;
  }

  static async start(dbFilename: string): Promise<PersistentDevServer> {
    const cli = await resolveTemporalCli();
    if (cli.executable.type !== 'existing-path') {
      throw new Error(`the chaos runner needs a Temporal CLI on disk (npm run tools:temporal); found ${cli.source}`);
    }
    const server = new PersistentDevServer(cli.executable.path, dbFilename, await freePort());
    await server.launch();
    return server;
  }

  /** SIGKILL: no shutdown, no flush beyond what SQLite already committed. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  private async launch(): Promise<void> {
    const args = [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--db-filename',
      this.dbFilename,
      '--log-format',
      'json',
      '--log-level',
      'error',
      ...LEDGER_DR_SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=Keyword`]),
    ];
    this.output = '';
    const child = spawn(this.cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-4000)));
    child.stderr!.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-4000)));
    this.child = child;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the Temporal dev server exited:\n${this.output}`);
      try {
        const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
        try {
          await connection.workflowService.getSystemInfo({});
          return;
        } finally {
          await connection.close();
        }
      } catch {
        if (Date.now() > deadline) throw new Error(`the Temporal dev server did not answer in 60s:\n${this.output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}
