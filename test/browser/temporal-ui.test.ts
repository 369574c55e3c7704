/**
 * The Temporal UI as an operator uses it, in a real headless Chromium: a recovery started through the API is
 * listed for its network, its page opens, and its input is readable there only because the UI decodes it
 * through the API's codec endpoint. The API's HTML report renders too. Screenshots go to test-artifacts/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import axios from 'axios';
import { chromium, type Browser } from 'playwright-core';
import { buildApi, resolveApiTokens } from '../../api/server';
import { createCodec, createDataConverter } from '../../shared/codec';
import { startDevServer, type DevServer } from '../../shared/dev-server';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import { createLedgerWorker } from '../../workers/worker';
import { createCcfTestNetwork } from '../helpers/ccf';
import { PROJECT_ROOT } from '../helpers/paths';
import { freePort } from '../helpers/ports';
import { TEST_ENCRYPTION, workflowBundlePath, writeConfig } from '../helpers/temporal';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts', 'browser');
const TOKENS = { operator: 'browser-operator-token', ui: 'browser-ui-viewer-token', viewer: 'browser-viewer-token' };

describe('Temporal UI with the codec endpoint', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('lists an API-started recovery for its network and shows its decoded input; the HTML report renders', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
      );
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    const sim = new CcfSimulator();
    await sim.start();
    cleanups.push(() => sim.stop());
    const net = await createCcfTestNetwork(sim, { name: 'browsernet', nodes: [{ id: 'n0', lastSignedSeqno: 20 }] });

    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const server: DevServer = await startDevServer({
      uiPort: await freePort(),
      extraArgs: ['--ui-codec-endpoint', `${apiUrl}/codec/t/${TOKENS.ui}`],
    });
    cleanups.push(() => server.env.teardown());
    const uiUrl = server.uiUrl!;

    process.env.LEDGER_DR_TEST_BROWSER_OPERATOR = TOKENS.operator;
    process.env.LEDGER_DR_TEST_BROWSER_UI = TOKENS.ui;
    process.env.LEDGER_DR_TEST_BROWSER_VIEWER = TOKENS.viewer;
    const { config } = writeConfig(net.dir, {
      ...net.rawConfig,
      api: {
        tokens: [
          { name: 'olga', role: 'operator', token: { env: 'LEDGER_DR_TEST_BROWSER_OPERATOR' } },
          { name: 'temporal-ui', role: 'viewer', token: { env: 'LEDGER_DR_TEST_BROWSER_UI' } },
          { name: 'vic', role: 'viewer', token: { env: 'LEDGER_DR_TEST_BROWSER_VIEWER' } },
        ],
        corsOrigins: [uiUrl, uiUrl.replace('127.0.0.1', 'localhost')],
      },
    });
    const dataConverter = await createDataConverter({ encryption: TEST_ENCRYPTION });
    const native = await NativeConnection.connect({ address: server.address });
    cleanups.push(() => native.close());
    const worker = await createLedgerWorker({
      connection: native,
      namespace: 'default',
      taskQueue: 'browser',
      deps: { config },
      workflowBundlePath: workflowBundlePath(),
      dataConverter,
    });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    const connection = await Connection.connect({ address: server.address });
    cleanups.push(() => connection.close());
    const api = await buildApi({
      connection,
      namespace: 'default',
      dataConverter,
      codec: await createCodec(TEST_ENCRYPTION),
      config,
      taskQueue: 'browser',
      tokens: await resolveApiTokens(config),
      uiUrl,
    });
    await api.listen({ host: '127.0.0.1', port: apiPort });
    cleanups.push(() => api.close());

    const started = await axios.post<{ id: string; runId: string; uiUrl: string }>(
      `${apiUrl}/v1/recoveries`,
      { network: 'browsernet', procedure: 'ccf-recovery', options: { waitForApproval: true, pollIntervalMs: 250 } },
      { headers: { authorization: `Bearer ${TOKENS.operator}` } },
    );
    expect(started.status).toBe(201);

    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox'],
    });
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });

    // The workflow list, filtered by the run's network search attribute.
    const query = encodeURIComponent(`LedgerNetwork="browsernet"`);
    await page.goto(`${uiUrl}/namespaces/default/workflows?query=${query}`);
    const row = page.getByText(started.data.id, { exact: true }).first();
    await row.waitFor({ timeout: 60_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'workflow-list.png'), fullPage: true });

    // The run's page: its input is shown decoded, which only the codec endpoint can do.
    await page.goto(started.data.uiUrl);
    await page.getByText('"waitForApproval"').first().waitFor({ timeout: 60_000 });
    const text = await page.locator('body').innerText();
    expect(text).toContain('"network": "browsernet"');
    await page.screenshot({ path: path.join(ARTIFACTS, 'workflow-input-decoded.png'), fullPage: true });

    // The API's HTML report of the same run.
    const reportPage = await browser.newPage({
      extraHTTPHeaders: { authorization: `Bearer ${TOKENS.viewer}`, accept: 'text/html' },
    });
    await reportPage.goto(`${apiUrl}/v1/recoveries/${encodeURIComponent(started.data.id)}/report`);
    expect(await reportPage.locator('h1').innerText()).toBe('ccf-recovery of browsernet: in-progress');
    expect(await reportPage.locator('table').first().innerText()).toContain(
      'Back up every ledger and snapshot directory',
    );
    await reportPage.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(readFileSync(path.join(ARTIFACTS, 'report.png')).length).toBeGreaterThan(1000);

    await connection.workflowService.terminateWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: started.data.id },
      reason: 'test over',
    });
  });
});
