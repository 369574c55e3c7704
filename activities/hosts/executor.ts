/**
 * Runs an operator's rendered command on a node's host: locally, over SSH, or inside a pod or container.
 * The command string has already been rendered from a template with every value quoted.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Client as SshClient } from 'ssh2';
import type { ExecutorConfig } from '../../shared/config';
import { readSecret } from '../../shared/secrets';

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  /** The tail of the output: enough to explain a failure, bounded so a chatty command cannot flood history. */
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface CommandExecutor {
  /** Where commands run, for messages ("ssh ops@10.0.0.4:22"). Never includes credentials. */
  readonly description: string;
  run(command: string, options: RunOptions): Promise<CommandResult>;
}

export class CommandTimeoutError extends Error {
  override name = 'CommandTimeoutError';
}

const OUTPUT_TAIL_BYTES = 4096;

/** Keeps only the last `limit` bytes of a stream's output. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = OUTPUT_TAIL_BYTES) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** Runs argv (never through a local shell of ours) and collects the tails of its output. */
function runProcess(argv: string[], options: RunOptions & { cwd?: string }): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv as [string, ...string[]];
    // detached: the command gets its own process group, so a timeout kills it and everything it started.
    const child = spawn(file, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const stdout = new Tail();
    const stderr = new Tail();
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    const onAbort = () => killGroup();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (timedOut) {
        reject(new CommandTimeoutError(`command did not finish within ${options.timeoutMs} ms and was killed`));
        return;
      }
      resolve({
        exitCode,
        signal,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        durationMs: Date.now() - started,
      });
    });
  });
}

function localExecutor(cwd?: string): CommandExecutor {
  return {
    description: 'local shell',
    run: (command, options) => runProcess(['/bin/sh', '-c', command], { ...options, cwd }),
  };
}

function kubectlExecutor(config: Extract<ExecutorConfig, { type: 'kubectl' }>): CommandExecutor {
  const base = [config.binary ?? 'kubectl'];
  if (config.kubeconfig) base.push('--kubeconfig', config.kubeconfig);
  if (config.context) base.push('--context', config.context);
  base.push('--namespace', config.namespace, 'exec', config.pod);
  if (config.container) base.push('--container', config.container);
  return {
    description: `kubectl exec ${config.namespace}/${config.pod}`,
    run: (command, options) => runProcess([...base, '--', 'sh', '-c', command], options),
  };
}

function dockerExecutor(config: Extract<ExecutorConfig, { type: 'docker' }>): CommandExecutor {
  return {
    description: `docker exec ${config.container}`,
    run: (command, options) =>
      runProcess([config.binary ?? 'docker', 'exec', config.container, 'sh', '-c', command], options),
  };
}

/** OpenSSH's fingerprint format: SHA256: and unpadded base64 of the key blob's digest. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

function sshExecutor(config: Extract<ExecutorConfig, { type: 'ssh' }>, usedFor: string): CommandExecutor {
  const where = `ssh ${config.user}@${config.host}:${config.port}`;
  return {
    description: where,
    async run(command, options) {
      const privateKey = await readSecret(config.privateKey, `${usedFor}.privateKey`);
      const passphrase = config.passphrase ? await readSecret(config.passphrase, `${usedFor}.passphrase`) : undefined;
      const expected = config.hostKeySha256.replace(/=$/, '');
      const started = Date.now();
      return new Promise<CommandResult>((resolve, reject) => {
        const client = new SshClient();
        const stdout = new Tail();
        const stderr = new Tail();
        let settled = false;
        const finish = (fn: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          client.end();
          fn();
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(new CommandTimeoutError(`${where}: command did not finish within ${options.timeoutMs} ms`)),
            ),
          options.timeoutMs,
        );
        const onAbort = () => finish(() => reject(new Error(`${where}: cancelled`)));
        options.signal?.addEventListener('abort', onAbort, { once: true });
        client.on('error', (err) => finish(() => reject(new Error(`${where}: ${err.message}`))));
        client.on('ready', () => {
          client.exec(command, (err, stream) => {
            if (err) return finish(() => reject(new Error(`${where}: ${err.message}`)));
            stream.on('data', (c: Buffer) => stdout.push(c));
            stream.stderr.on('data', (c: Buffer) => stderr.push(c));
            stream.on('close', (code: number | null, signal?: string) =>
              finish(() =>
                resolve({
                  exitCode: code ?? null,
                  signal: signal ?? null,
                  stdout: stdout.toString(),
                  stderr: stderr.toString(),
                  durationMs: Date.now() - started,
                }),
              ),
            );
          });
        });
        client.connect({
          host: config.host,
          port: config.port,
          username: config.user,
          privateKey: privateKey.reveal(),
          passphrase: passphrase?.reveal(),
          readyTimeout: Math.min(options.timeoutMs, 20_000),
          hostVerifier: (key: Buffer) => sshFingerprint(key) === expected,
        });
      });
    },
  };
}

/** `usedFor` is the configuration path of the executor, for error messages about its credentials. */
export function createExecutor(config: ExecutorConfig, usedFor: string): CommandExecutor {
  switch (config.type) {
    case 'local':
      return localExecutor(config.cwd);
    case 'ssh':
      return sshExecutor(config, usedFor);
    case 'kubectl':
      return kubectlExecutor(config);
    case 'docker':
      return dockerExecutor(config);
  }
}
