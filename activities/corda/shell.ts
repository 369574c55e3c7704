/**
 * The Corda node shell over SSH: one command per exec, as `ssh -p <port> user@node '<command>'`. Flow results
 * come back as the shell prints them (`Flow completed with result: <toString()>`, read by shell-output.ts); a
 * failed flow prints its cause chain, which becomes a `CordaFlowError` naming the exception so callers can
 * act on it (back off on "busy", switch to manual recovery on a limit).
 */
import { Client } from 'ssh2';
import { parseFlowOutput, type KotlinValue } from './shell-output';
import type { CordaNodeConfig } from '../../shared/config';
import { readSecret } from '../../shared/secrets';
import { sshFingerprint } from '../hosts/executor';

export class CordaFlowError extends Error {
  override name = 'CordaFlowError';
  constructor(
    /** The exception's simple class name, e.g. `ReconciliationAlreadyScheduledException`. */
    readonly exception: string,
    message: string,
  ) {
    super(message);
  }
}

export class CordaShellUnreachableError extends Error {
  override name = 'CordaShellUnreachableError';
}

const EXCEPTION_LINE = /^\s*(?:[\w$]+\.)*([\w$]*(?:Exception|Error))(?::\s*(.*))?$/m;

/** `key: value` arguments the shell parses: JSON values are valid in its YAML-like syntax. */
export function flowArguments(args: Record<string, unknown>): string {
  return Object.entries(args)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join(', ');
}

export class CordaShell {
  private client?: Client;
  private ready?: Promise<Client>;
  private idleTimer?: NodeJS.Timeout;
  private running = 0;

  constructor(
    private readonly node: Pick<CordaNodeConfig, 'id' | 'shell'>,
    private readonly usedFor: string,
    private readonly timeoutMs = 120_000,
    /** An SSH connection is kept this long after a command for the next one, then closed. */
    private readonly idleMs = 2000,
  ) {}

  /** Starts a flow and waits for it; returns its result as the shell printed it, parsed (null for Unit). */
  async startFlow(flow: string, args: Record<string, unknown> = {}): Promise<KotlinValue> {
    const command = `flow start ${flow}${Object.keys(args).length ? ` ${flowArguments(args)}` : ''}`;
    const printed = parseFlowOutput(await this.run(command));
    if (printed.outcome === 'completed') return printed.result;
    throw new CordaFlowError(printed.exception, `${flow}: ${printed.messages.join(' / ').slice(0, 500)}`);
  }

  /** `run <rpc> key: value…`, e.g. killFlow; returns the printed answer. */
  async rpc(operation: string, args: Record<string, unknown> = {}): Promise<string> {
    const output = await this.run(`run ${operation}${Object.keys(args).length ? ` ${flowArguments(args)}` : ''}`);
    if (EXCEPTION_LINE.test(output) && !/^(true|false)\s*$/.test(output.trim())) throw failureOf(operation, output);
    return output.trim();
  }

  /**
   * One command in its own exec channel, as `ssh … '<command>'` would run it. Consecutive commands (a
   * reconciliation polls its statuses) share one SSH connection instead of a key exchange each.
   */
  async run(command: string): Promise<string> {
    const where = `node ${this.node.id} shell (${this.node.shell.host}:${this.node.shell.port})`;
    clearTimeout(this.idleTimer);
    this.running++;
    try {
      const client = await this.connect(where);
      return await new Promise<string>((resolve, reject) => {
        let output = '';
        let settled = false;
        const finish = (fn: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          client.off('close', onClose);
          fn();
        };
        // A connection that dies mid-command is not reused.
        const onClose = () => finish(() => reject(new CordaShellUnreachableError(`${where}: connection closed`)));
        client.once('close', onClose);
        const timer = setTimeout(() => {
          this.disconnect();
          finish(() => reject(new Error(`${where}: no answer within ${this.timeoutMs} ms`)));
        }, this.timeoutMs);
        client.exec(command, (err, stream) => {
          if (err) return finish(() => reject(new Error(`${where}: ${err.message}`)));
          stream.on('data', (c: Buffer) => (output += c.toString()));
          stream.stderr.on('data', (c: Buffer) => (output += c.toString()));
          stream.on('close', () => finish(() => resolve(output)));
        });
      });
    } catch (err) {
      this.disconnect();
      throw err;
    } finally {
      if (--this.running === 0 && this.client) {
        this.idleTimer = setTimeout(() => this.disconnect(), this.idleMs);
        this.idleTimer.unref();
      }
    }
  }

  private connect(where: string): Promise<Client> {
    if (this.ready) return this.ready;
    const client = new Client();
    this.client = client;
    this.ready = (async () => {
      const password = await readSecret(this.node.shell.password, `${this.usedFor}.shell.password`);
      const expected = this.node.shell.hostKeySha256.replace(/=$/, '');
      return new Promise<Client>((resolve, reject) => {
        client.once('ready', () => resolve(client));
        client.on('error', (err) => {
          this.forget(client);
          reject(new CordaShellUnreachableError(`${where}: ${err.message}`));
        });
        client.once('close', () => this.forget(client));
        client.connect({
          host: this.node.shell.host,
          port: this.node.shell.port,
          username: this.node.shell.user,
          password: password.reveal(),
          readyTimeout: Math.min(this.timeoutMs, 20_000),
          hostVerifier: (key: Buffer) => sshFingerprint(key) === expected,
        });
      });
    })();
    return this.ready;
  }

  private forget(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.ready = undefined;
  }

  private disconnect(): void {
    clearTimeout(this.idleTimer);
    const client = this.client;
    if (!client) return;
    this.forget(client);
    client.end();
  }
}

function failureOf(what: string, output: string): CordaFlowError {
  const match = EXCEPTION_LINE.exec(output);
  if (match) return new CordaFlowError(match[1]!, `${what}: ${match[1]}: ${match[2] ?? ''}`.trim());
  return new CordaFlowError('UnexpectedOutput', `${what}: unexpected shell output: ${output.trim().slice(0, 300)}`);
}
