import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Server, utils } from 'ssh2';
import { CommandTimeoutError, createExecutor, sshFingerprint } from '../../activities/hosts/executor';
import { renderCommand } from '../../shared/command-template';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'ledger-dr-exec-'));

describe('local executor', () => {
  const local = createExecutor({ type: 'local' }, 'test');

  it('runs a command and returns its exit code and output', async () => {
    const result = await local.run('echo out; echo err >&2; exit 7', { timeoutMs: 10_000 });
    expect(result).toMatchObject({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
  });

  it('keeps only the tail of a chatty command', async () => {
    const result = await local.run('yes line | head -c 100000', { timeoutMs: 10_000 });
    expect(result.stdout.length).toBeLessThanOrEqual(4096);
    expect(result.stdout.endsWith('line\n')).toBe(true);
  });

  it('kills a command and everything it started when it overruns', async () => {
    const marker = path.join(scratch, 'survivor');
    const started = Date.now();
    await expect(local.run(`(sleep 2; touch ${marker}) & sleep 30`, { timeoutMs: 300 })).rejects.toBeInstanceOf(
      CommandTimeoutError,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(() => readFileSync(marker)).toThrow();
  });

  it('stops when the activity is cancelled', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 200);
    const result = await local.run('sleep 30', { timeoutMs: 60_000, signal: abort.signal });
    expect(result.signal).toBe('SIGKILL');
  });
});

describe('kubectl and docker executors', () => {
  // Fake kubectl and docker binaries record the argv they are given.
  const bin = path.join(scratch, 'bin');
  const argvLog = path.join(scratch, 'argv');
  beforeAll(() => {
    mkdirSync(bin);
    for (const tool of ['kubectl', 'docker']) {
      writeFileSync(path.join(bin, tool), `#!/bin/sh\nfor a; do printf '%s\\n' "$a"; done > ${argvLog}\n`);
      chmodSync(path.join(bin, tool), 0o755);
    }
  });

  it('runs the command in the pod through kubectl exec, as one sh -c argument', async () => {
    const command = renderCommand('cat {{node}}', { node: 'a b' });
    const kubectl = { type: 'kubectl' as const, namespace: 'ccf', pod: 'ccf-0', container: 'cchost', context: 'prod' };
    await createExecutor({ ...kubectl, binary: path.join(bin, 'kubectl') }, 't').run(command, { timeoutMs: 10_000 });
    expect(readFileSync(argvLog, 'utf8').split('\n').slice(0, -1)).toEqual([
      '--context',
      'prod',
      '--namespace',
      'ccf',
      'exec',
      'ccf-0',
      '--container',
      'cchost',
      '--',
      'sh',
      '-c',
      "cat 'a b'",
    ]);
    await createExecutor({ type: 'docker', container: 'ccf-1', binary: path.join(bin, 'docker') }, 't').run(command, {
      timeoutMs: 10_000,
    });
    expect(readFileSync(argvLog, 'utf8').split('\n').slice(0, -1)).toEqual(['exec', 'ccf-1', 'sh', '-c', "cat 'a b'"]);
  });
});

describe('ssh executor against a real SSH server on loopback', () => {
  const hostKey = utils.generateKeyPairSync('ed25519');
  const clientKey = utils.generateKeyPairSync('ed25519');
  const clientKeyFile = path.join(scratch, 'id_ed25519');
  writeFileSync(clientKeyFile, clientKey.private, { mode: 0o600 });
  const allowedPublicKey = utils.parseKey(clientKey.public);
  const hostFingerprint = sshFingerprint(
    (utils.parseKey(hostKey.public) as ReturnType<typeof utils.parseKey> & { getPublicSSH(): Buffer }).getPublicSSH(),
  );
  const received: string[] = [];
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = new Server({ hostKeys: [hostKey.private] }, (client) => {
      client.on('authentication', (ctx) => {
        if (
          ctx.method === 'publickey' &&
          !(allowedPublicKey instanceof Error) &&
          ctx.key.data.equals(allowedPublicKey.getPublicSSH())
        ) {
          return ctx.accept();
        }
        return ctx.reject(['publickey']);
      });
      client.on('ready', () => {
        client.on('session', (accept) => {
          accept().on('exec', (acceptExec, _reject, info) => {
            received.push(info.command);
            const stream = acceptExec();
            stream.write(`ran: ${info.command}\n`);
            stream.stderr.write('warning\n');
            stream.exit(3);
            stream.end();
          });
        });
      });
      client.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const config = (fingerprint: string) => ({
    type: 'ssh' as const,
    host: '127.0.0.1',
    port,
    user: 'ops',
    privateKey: { file: clientKeyFile },
    hostKeySha256: fingerprint,
  });

  it('runs the rendered command on the pinned host and returns its exit code and output', async () => {
    const command = renderCommand('systemctl stop cchost@{{node}}', { node: "n0'; reboot" });
    const result = await createExecutor(config(hostFingerprint), 'networks.p.nodes[0].executor').run(command, {
      timeoutMs: 10_000,
    });
    expect(received).toEqual([`systemctl stop cchost@'n0'\\''; reboot'`]);
    expect(result).toMatchObject({ exitCode: 3, stdout: `ran: ${received[0]}\n`, stderr: 'warning\n' });
  });

  it('refuses a host whose key does not match the pinned fingerprint', async () => {
    const other = sshFingerprint(Buffer.from('some other key'));
    await expect(createExecutor(config(other), 't').run('true', { timeoutMs: 10_000 })).rejects.toThrow(
      /ssh ops@127.0.0.1/,
    );
    expect(received).toHaveLength(1);
  });
});
