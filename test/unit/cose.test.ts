import { createMemberIdentity } from '../../shared/pki';
import {
  CoseError,
  decodeGovernanceRequest,
  memberIdOf,
  signGovernanceRequest,
  verifyGovernanceRequest,
} from '../../shared/cose';

describe('COSE_Sign1 governance requests', () => {
  it('carries CCF headers and verifies against the signer only', async () => {
    const alice = await createMemberIdentity('alice');
    const bob = await createMemberIdentity('bob');
    const body = signGovernanceRequest({
      signingKeyPem: alice.privateKeyPem,
      certificatePem: alice.certificatePem,
      msgType: 'ballot',
      createdAt: 1_700_000_000,
      proposalId: 'c'.repeat(64),
      payload: '{"ballot":"export function vote() { return true }"}',
    });
    expect(body[0]).toBe(0xd2); // CBOR tag 18: COSE_Sign1
    const decoded = decodeGovernanceRequest(body);
    expect(decoded).toMatchObject({
      kid: memberIdOf(alice.certificatePem),
      alg: -35,
      msgType: 'ballot',
      createdAt: 1_700_000_000,
      proposalId: 'c'.repeat(64),
    });
    expect(decoded.kid).toMatch(/^[a-f0-9]{64}$/);
    expect(verifyGovernanceRequest(decoded, alice.certificatePem)).toBe(true);
    expect(verifyGovernanceRequest(decoded, bob.certificatePem)).toBe(false);

    // Any change to the payload breaks the signature.
    const tampered = { ...decoded, payload: Buffer.from('{"ballot":"export function vote() { return false }"}') };
    expect(verifyGovernanceRequest(tampered, alice.certificatePem)).toBe(false);
  });

  it('refuses bodies that are not COSE_Sign1', () => {
    expect(() => decodeGovernanceRequest(Buffer.from('{"not":"cose"}'))).toThrow(CoseError);
    expect(() => decodeGovernanceRequest(Buffer.from([0x82, 0x01, 0x02]))).toThrow('not a tagged COSE_Sign1');
  });
});
