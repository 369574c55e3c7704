/**
 * Interop with CCF's own Python package (`ccf` on PyPI, pinned in ccf-python/requirements.txt):
 *   - every governance message our client signs verifies with `ccf.cose` and carries CCF's headers;
 *   - messages made by upstream's `ccf_cose_sign1` are accepted by the simulator (whose COSE check is its own);
 *   - upstream's `submit_recovery_share.sh` (curl, openssl, ccf_cose_sign1) decrypts and submits a share to the
 *     simulator, and our decryption of the same encrypted share gives the same bytes as its openssl command.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { decryptRecoveryShare } from '../../activities/ccf/recovery-share';
import { GOV_MSG, memberIdOf, signGovernanceRequest, type GovMsgType } from '../../shared/cose';
import { CcfSimulator } from '../../simulators/ccf/simulator';
import { createCcfTestNetwork, startRecoveringNode, TestMember, type CcfTestNetwork } from '../helpers/ccf';
import { loadCcfApi } from '../helpers/ccf-openapi';
import { ensureCcfPython, type CcfPython } from '../helpers/ccf-python';
import { scratchDir } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const run = promisify(execFile);
const VERIFY = path.join(__dirname, 'ccf-python', 'verify_cose.py');

describe("CCF interop with CCF's Python package", () => {
  let tools: CcfPython;
  let sim: CcfSimulator;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    tools = await ensureCcfPython();
    env = { ...process.env, PATH: `${tools.bin}:${process.env.PATH ?? ''}` };
    sim = new CcfSimulator({ replayEntriesPerSecond: 5000 });
    await sim.start();
  }, 300_000);
  afterAll(async () => {
    const problems = loadCcfApi().validateAll(sim.exchanges());
    await sim?.stop();
    expect(problems).toEqual([]);
  });

  async function upstreamSign(
    net: CcfTestNetwork,
    member: number,
    msgType: GovMsgType,
    content: unknown,
    proposalId?: string,
  ): Promise<Buffer> {
    const dir = scratchDir('ccf-sign1');
    const contentFile = path.join(dir, 'content.json');
    writeFileSync(contentFile, JSON.stringify(content));
    const { stdout } = await run(
      'ccf_cose_sign1',
      [
        '--ccf-gov-msg-type',
        msgType,
        '--ccf-gov-msg-created_at',
        new Date().toISOString().replace(/\.\d+Z$/, '+00:00'),
        '--signing-key',
        net.members[member]!.signingKeyFile,
        '--signing-cert',
        net.members[member]!.certificateFile,
        '--content',
        contentFile,
        ...(proposalId ? ['--ccf-gov-msg-proposal_id', proposalId] : []),
      ],
      { env, encoding: 'buffer' },
    );
    return stdout;
  }

  it("every message our client signs verifies with ccf.cose, with CCF's protected headers", async () => {
    const net = await createCcfTestNetwork(sim, { name: 'py-verify', nodes: [{ id: 'n0', lastSignedSeqno: 20 }] });
    const member = net.members[0]!;
    const certificatePem = readFileSync(member.certificateFile, 'utf8');
    const dir = scratchDir('ccf-verify');
    const proposalId = 'ab'.repeat(32);
    for (const msgType of Object.values(GOV_MSG)) {
      const withProposal = msgType === GOV_MSG.ballot || msgType === GOV_MSG.withdrawal;
      const envelope = signGovernanceRequest({
        signingKeyPem: readFileSync(member.signingKeyFile, 'utf8'),
        certificatePem,
        msgType,
        createdAt: 1_767_225_600,
        proposalId: withProposal ? proposalId : undefined,
        payload: JSON.stringify({ msgType }),
      });
      const file = path.join(dir, `${msgType}.cose`);
      writeFileSync(file, envelope);
      const { stdout } = await run(tools.python, [VERIFY, member.certificateFile, file], { env });
      const verified = JSON.parse(stdout) as {
        verified: boolean;
        header: Record<string, unknown>;
        fingerprint: string;
        payload: string;
      };
      expect(verified).toMatchObject({ verified: true, payload: JSON.stringify({ msgType }) });
      expect(verified.header).toEqual({
        alg: 'ES384',
        kid: verified.fingerprint,
        'ccf.gov.msg.type': msgType,
        'ccf.gov.msg.created_at': 1_767_225_600,
        ...(withProposal ? { 'ccf.gov.msg.proposal_id': proposalId } : {}),
      });
      expect(verified.fingerprint).toBe(memberIdOf(certificatePem));

      // And a tampered copy does not verify.
      const tampered = Buffer.from(envelope);
      tampered[tampered.length - 1]! ^= 0xff;
      writeFileSync(file, tampered);
      await expect(run(tools.python, [VERIFY, member.certificateFile, file], { env })).rejects.toMatchObject({
        code: 1,
      });
    }
  });

  it('the simulator accepts proposals and ballots made by ccf_cose_sign1', async () => {
    const { net, url, certificateFile } = await startRecoveringNode(sim, { name: 'py-sign', lastSignedSeqno: 40 });
    const certificate = readFileSync(certificateFile, 'utf8');
    const post = (pathname: string, body: Buffer) =>
      axios.post(`${url}${pathname}?api-version=2024-07-01`, body, {
        headers: { 'content-type': 'application/cose' },
        httpsAgent: new https.Agent({ ca: certificate }),
        validateStatus: () => true,
      });
    const previous = readFileSync(net.fixture.previousServiceCertificateFile, 'utf8');
    const proposal = await post(
      '/gov/members/proposals:create',
      await upstreamSign(net, 0, 'proposal', {
        actions: [
          {
            name: 'transition_service_to_open',
            args: { previous_service_identity: previous, next_service_identity: certificate },
          },
        ],
      }),
    );
    expect(proposal.status).toBe(200);
    const { proposalId } = proposal.data as { proposalId: string };
    const ballot = { ballot: 'export function vote (proposal, proposerId) { return true }' };
    for (const member of [0, 1]) {
      const memberId = memberIdOf(readFileSync(net.members[member]!.certificateFile, 'utf8'));
      const res = await post(
        `/gov/members/proposals/${proposalId}/ballots/${memberId}:submit`,
        await upstreamSign(net, member, 'ballot', ballot, proposalId),
      );
      expect(res.status).toBe(200);
    }
    const stranger = await upstreamSign(net, 2, 'ballot', ballot, proposalId);
    // Signed by member 2 but sent for member 0: the signer is not the member in the path.
    const wrongPath = await post(
      `/gov/members/proposals/${proposalId}/ballots/${memberIdOf(readFileSync(net.members[0]!.certificateFile, 'utf8'))}:submit`,
      stranger,
    );
    expect(wrongPath.status).toBe(401);
    const state = await axios.get<{ proposalState: string }>(
      `${url}/gov/members/proposals/${proposalId}?api-version=2024-07-01`,
      { httpsAgent: new https.Agent({ ca: certificate }) },
    );
    expect(state.data.proposalState).toBe('Accepted');
  });

  it('submit_recovery_share.sh and our client together recover the service; both decrypt a share alike', async () => {
    const { net, activities, ref, url, certificateFile } = await startRecoveringNode(sim, {
      name: 'py-share',
      lastSignedSeqno: 40,
    });
    const certificate = readFileSync(certificateFile, 'utf8');
    const createdAt = Math.floor(Date.now() / 1000);
    const proposal = await activities.proposeCcfServiceOpen({ ...ref, member: 'm0', createdAt });
    for (const member of ['m0', 'm1'])
      await activities.submitCcfBallot({ ...ref, member, createdAt, proposalId: proposal.proposalId });

    // Our decryption and openssl's, as upstream's script runs it, of member 1's encrypted share.
    const m1 = net.members[1]!;
    const m1Id = memberIdOf(readFileSync(m1.certificateFile, 'utf8'));
    const encrypted = await axios.get<{ encryptedShare: string }>(
      `${url}/gov/recovery/encrypted-shares/${m1Id}?api-version=2024-07-01`,
      { httpsAgent: new https.Agent({ ca: certificate }) },
    );
    const ours = decryptRecoveryShare(encrypted.data.encryptedShare, readFileSync(m1.encryptionKeyFile, 'utf8'));
    const dir = scratchDir('ccf-share');
    writeFileSync(path.join(dir, 'share.enc'), Buffer.from(encrypted.data.encryptedShare, 'base64'));
    const { stdout: theirs } = await run(
      'openssl',
      [
        'pkeyutl',
        '-decrypt',
        '-inkey',
        m1.encryptionKeyFile,
        '-in',
        path.join(dir, 'share.enc'),
        '-pkeyopt',
        'rsa_padding_mode:oaep',
        '-pkeyopt',
        'rsa_oaep_md:sha256',
      ],
      { encoding: 'buffer' },
    );
    expect(ours.equals(theirs)).toBe(true);

    // Member 0 with upstream's script, member 1 through our activity: the shares combine.
    const script = await run(
      path.join(tools.bin, 'submit_recovery_share.sh'),
      [
        url,
        '--member-enc-privk',
        net.members[0]!.encryptionKeyFile,
        '--member-id-privk',
        net.members[0]!.signingKeyFile,
        '--member-id-cert',
        net.members[0]!.certificateFile,
        '--api-version',
        '2024-07-01',
        '--cacert',
        certificateFile,
      ],
      { env },
    );
    expect(script.stdout).toContain('HTTP/1.1 200');
    expect(script.stdout).toContain('1/2 recovery shares successfully submitted');
    const ourShare = await activities.submitCcfRecoveryShare({ ...ref, member: 'm1', createdAt });
    expect(ourShare).toMatchObject({
      outcome: 'accepted',
      message: '2/2 recovery shares successfully submitted\nEnd of recovery procedure initiated',
    });
    await waitFor('service open', async () =>
      (await activities.readCcfService(ref)).serviceStatus === 'Open' ? true : undefined,
    );
    // A member still holding a share after the service opened is told so by the node, in CCF's words.
    const late = await new TestMember(net.members[2]!, url, certificate).submitShare();
    expect(late).toEqual({ status: 403, message: 'Service is not waiting for recovery shares.' });
  });
});
