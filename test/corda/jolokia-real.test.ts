/**
 * The project's Jolokia client against the real Jolokia JVM agent: read, exec, search and bulk reads, an
 * error that Jolokia reports in the body under HTTP 200, and a node that does not answer at all.
 */
import axios from 'axios';
import { JolokiaClient, JolokiaError, JolokiaUnreachableError } from '../../activities/corda/jolokia';
import { freePort } from '../helpers/ports';
import { startRealJolokia } from '../helpers/jolokia-agent';
import { scratchDir } from '../helpers/temporal';

const STATUS = 'net.corda:type=Node,name=Status';
const FAILED = 'com.r3.corda.lib.ledgersync:type=LedgerSync,name=NumberOfFailedReconciliations';

describe('JolokiaClient against the real Jolokia agent', () => {
  let agent: Awaited<ReturnType<typeof startRealJolokia>>;
  let client: JolokiaClient;

  beforeAll(async () => {
    agent = await startRealJolokia(scratchDir('jolokia'));
    client = new JolokiaClient({ url: agent.url });
  }, 120_000);
  afterAll(async () => agent?.stop());

  it('reads, executes and searches', async () => {
    expect(await client.read(STATUS, 'Value')).toBe('STARTED');
    expect(await client.read(FAILED, 'Value')).toBe(2);
    expect(await client.exec(FAILED, 'add', [3])).toBe(5);
    expect(await client.search('net.corda:*')).toEqual([STATUS]);
    // Collaborative Recovery does not publish its object names: they are found by pattern.
    expect(await client.search('com.r3.corda.lib.ledgersync:*')).toEqual([FAILED]);
    expect(
      await client.readMany([
        { mbean: FAILED, attribute: 'Value' },
        { mbean: STATUS, attribute: 'Value' },
      ]),
    ).toEqual([5, 'STARTED']);
  });

  it("finds LedgerSync's metrics by their documented attribute names with list, and reads them at once", async () => {
    const [mbean, ...others] = await client.findByAttributes([
      'NumberOfFailedReconciliations',
      'NumberOfReconciliationsWithDifferences',
    ]);
    expect(mbean).toBe('com.example.undocumented:service=ls,kind=metrics');
    expect(others).toEqual([]);
    expect(
      await client.readAttributes(mbean!, ['NumberOfFailedReconciliations', 'PartiesWithDifference', 'FailedParties']),
    ).toEqual({
      NumberOfFailedReconciliations: 1,
      PartiesWithDifference: ['O=PartyB, L=London, C=GB', 'O=PartyD, L=Zurich, C=CH'],
      FailedParties: ['O=PartyC, L=Paris, C=FR'],
    });
  });

  it('turns an error reported under HTTP 200 into a JolokiaError', async () => {
    const missing = 'net.corda:type=Node,name=Missing';
    const raw = await axios.post(agent.url, { type: 'read', mbean: missing, attribute: 'Value' });
    expect(raw.status).toBe(200);
    expect(raw.data).toMatchObject({ status: 404, error_type: 'javax.management.InstanceNotFoundException' });
    const err = await client.read(missing, 'Value').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JolokiaError);
    expect(err).toMatchObject({ status: 404, errorType: 'javax.management.InstanceNotFoundException' });
    expect((err as Error).message).toContain(`read ${missing} Value: 404`);
  });

  it('tells a node that does not answer from one that answers with an error', async () => {
    const closed = new JolokiaClient({ url: `http://127.0.0.1:${await freePort()}/jolokia/`, timeoutMs: 2000 });
    await expect(closed.read(STATUS, 'Value')).rejects.toBeInstanceOf(JolokiaUnreachableError);
  });
});
