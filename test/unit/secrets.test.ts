import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/logger';
import { readSecret, Secret } from '../../shared/secrets';

const PLANTED = 'planted-secret-7f3a9c';

describe('secrets', () => {
  it('reads a secret from an environment variable and from a file', async () => {
    expect((await readSecret({ env: 'X_TOKEN' }, 'alerts.webhooks[0].token', { X_TOKEN: PLANTED })).reveal()).toBe(
      PLANTED,
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ledger-dr-secret-'));
    writeFileSync(path.join(dir, 'token'), `${PLANTED}\n`);
    expect((await readSecret({ file: path.join(dir, 'token') }, 'x')).reveal()).toBe(PLANTED);
  });

  it('names the configuration field and the fix when a secret is unavailable', async () => {
    await expect(readSecret({ env: 'MISSING_TOKEN' }, 'alerts.webhooks[0].token', {})).rejects.toThrow(
      'alerts.webhooks[0].token: environment variable MISSING_TOKEN is not set; export it before starting',
    );
    await expect(readSecret({ file: '/nonexistent/key' }, 'networks.p.nodes[0].executor.privateKey')).rejects.toThrow(
      'networks.p.nodes[0].executor.privateKey: cannot read secret file /nonexistent/key (ENOENT)',
    );
  });

  it('never prints a Secret', () => {
    const secret = new Secret(PLANTED);
    const renderings = [String(secret), `${secret}`, JSON.stringify({ secret }), inspect({ secret }), inspect(secret)];
    for (const text of renderings) expect(text).not.toContain(PLANTED);
  });

  it('redacts secret fields and Secret values in logs', () => {
    let output = '';
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        output += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ name: 'test', destination });
    logger.info(
      {
        token: PLANTED,
        headers: { authorization: `Bearer ${PLANTED}` },
        member: { share: PLANTED, keys: { privateKey: PLANTED } },
        wrapped: new Secret(PLANTED),
        node: 'n0',
      },
      'submitted share',
    );
    expect(output).toContain('"node":"n0"');
    expect(output).toContain('[redacted]');
    expect(output).not.toContain(PLANTED);
  });
});
