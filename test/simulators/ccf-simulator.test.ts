/**
 * The CCF simulator through its real HTTPS endpoints and its cchost stand-in, as a process.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { createMemberIdentity } from '../../shared/pki';
import { signGovernanceRequest } from '../../shared/cose';
import { createCrashedNetwork } from '../../simulators/ccf/ledger';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import { loadCcfApi } from '../helpers/ccf-openapi';
import { PROJECT_ROOT } from '../helpers/paths';
import { freePort } from '../helpers/ports';
import { scratchDir } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const run = promisify(execFile);

describe('CCF simulator', () => {
  let sim: CcfSimulator;
  beforeAll(async () => {
    sim = new CcfSimulator({ replayEntriesPerSecond: 5000 });
    await sim.start();
  });
  afterAll(async () => {
    const problems = loadCcfApi().validateAll(
      sim.exchanges().filter((e) => e.status !== 200 || typeof e.responseBody !== 'string'),
    );
    await sim.stop();
    expect(problems).toEqual([]);
  });

  /** A Recover node's configuration; `withTail` copies the uncommitted files into ledger.directory, as CCF needs. */
  async function recoverConfig(name: string, lastSignedSeqno: number, withTail = true) {
    const dir = scratchDir(`sim-${name}`);
    const port = await freePort();
    const fixture = await createCrashedNetwork({ dir, nodes: [{ id: 'n0', port, lastSignedSeqno }] });
    const fresh = path.join(dir, 'fresh');
    mkdirSync(fresh);
    const ledgerDirectory = fixture.nodes[0]!.ledgerDirectory;
    if (withTail)
      for (const name of readdirSync(ledgerDirectory).filter((n) => !n.endsWith('.committed')))
        copyFileSync(path.join(ledgerDirectory, name), path.join(fresh, name));
    const file = path.join(dir, 'cchost.json');
    const certificateFile = path.join(dir, 'new_service_cert.pem');
    writeFileSync(
      file,
      JSON.stringify({
        network: {
          node_to_node_interface: { bind_address: '127.0.0.1:0' },
          rpc_interfaces: { primary_rpc_interface: { bind_address: `127.0.0.1:${port}` } },
        },
        command: {
          type: 'Recover',
          service_certificate_file: certificateFile,
          recover: { previous_service_identity_file: fixture.previousServiceCertificateFile },
        },
        ledger: { directory: fresh, read_only_directories: [ledgerDirectory] },
      }),
    );
    return { dir, port, file, certificateFile, fixture, address: `127.0.0.1:${port}` };
  }

  const cchost = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'simulators/ccf/cchost.ts', '--simulator', sim.controlUrl, ...args], {
      cwd: PROJECT_ROOT,
    });

  it('starts a Recover node through the cchost stand-in, refuses a second start, and stops idempotently', async () => {
    const node = await recoverConfig('cli', 420, false);
    const started = await cchost('--config', node.file);
    expect(started.stdout).toMatch(/^started node [a-f0-9]{64} on 127\.0\.0\.1:\d+/);
    await expect(cchost('--config', node.file)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('already in use by a running node') as unknown,
    });

    const agent = new https.Agent({ ca: readFileSync(node.certificateFile, 'utf8') });
    const state = await waitFor('public recovery', async () => {
      const res = await axios.get<{ state: string; last_signed_seqno: number }>(`https://${node.address}/node/state`, {
        httpsAgent: agent,
      });
      return res.data.state === 'PartOfPublicNetwork' ? res.data : undefined;
    });
    // The whole ledger sits in a read-only directory, so (as CCF) only its committed files count: up to 400.
    // Its uncommitted tail, with signatures up to 420, would have to be in ledger.directory.
    expect(state.last_signed_seqno).toBe(400);
    expect(sim.stats().starts[node.address]).toEqual({ Recover: 1, Join: 0 });
    expect(sim.stats().launchFailures[node.address]).toBe(1);

    await cchost('stop', '--config', node.file);
    await cchost('stop', '--config', node.file);
    await expect(axios.get(`https://${node.address}/node/state`, { httpsAgent: agent })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('refuses a Recover configuration without the previous service identity, naming the field', async () => {
    const node = await recoverConfig('noprev', 10);
    const config = JSON.parse(readFileSync(node.file, 'utf8')) as { command: { recover: object } };
    config.command.recover = {};
    await expect(sim.launch(config)).rejects.toThrow('command.recover.previous_service_identity_file');
  });

  it('injects 5xx, malformed bodies and slowness on demand', async () => {
    const node = await recoverConfig('faults', 30);
    await sim.launch(JSON.parse(readFileSync(node.file, 'utf8')));
    const get = (p: string) =>
      axios.get(`https://${node.address}${p}`, {
        httpsAgent: new https.Agent({ ca: readFileSync(node.certificateFile, 'utf8') }),
        validateStatus: () => true,
        transformResponse: (d: unknown) => d,
      });
    sim.setFaults(node.address, { http5xx: 1 });
    expect((await get('/node/state')).status).toBe(503);
    expect((await get('/node/state')).status).toBe(200);
    sim.setFaults(node.address, { malformed: true });
    const malformed = (await get('/node/state')).data as string;
    expect(() => JSON.parse(malformed) as unknown).toThrow();
    sim.clearFaults();
    sim.setFaults(node.address, { slowMs: 400 });
    const started = Date.now();
    await get('/node/version');
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    sim.clearFaults();
  });

  it('answers 401 to governance requests not signed by a member', async () => {
    const node = await recoverConfig('unsigned', 20);
    await sim.launch(JSON.parse(readFileSync(node.file, 'utf8')));
    const agent = new https.Agent({ ca: readFileSync(node.certificateFile, 'utf8') });
    await waitFor('public recovery', async () => {
      const res = await axios.get<{ state: string }>(`https://${node.address}/node/state`, { httpsAgent: agent });
      return res.data.state === 'PartOfPublicNetwork' ? true : undefined;
    });
    const stranger = await createMemberIdentity('stranger');
    const body = signGovernanceRequest({
      signingKeyPem: stranger.privateKeyPem,
      certificatePem: stranger.certificatePem,
      msgType: 'proposal',
      createdAt: Math.floor(Date.now() / 1000),
      payload: JSON.stringify({ actions: [] }),
    });
    const res = await axios.post(`https://${node.address}/gov/members/proposals:create?api-version=2024-07-01`, body, {
      httpsAgent: agent,
      headers: { 'content-type': 'application/cose' },
      validateStatus: () => true,
    });
    expect(res.status).toBe(401);
    expect((res.data as { error: { code: string } }).error.code).toBe('InvalidAuthenticationInfo');
  });
});
