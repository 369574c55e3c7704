/**
 * COSE_Sign1 (RFC 9052) as CCF's governance endpoints require it: ECDSA over the Sig_structure, `kid` = the
 * hex SHA-256 of the signer's certificate (DER), and CCF's protected headers naming the message type, when it
 * was created and, for ballots and withdrawals, the proposal. Pure functions: no I/O.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import cbor from 'cbor';

export const GOV_MSG = {
  proposal: 'proposal',
  ballot: 'ballot',
  ack: 'ack',
  stateDigest: 'state_digest',
  recoveryShare: 'recovery_share',
  withdrawal: 'withdrawal',
  encryptedRecoveryShare: 'encrypted_recovery_share',
} as const;
export type GovMsgType = (typeof GOV_MSG)[keyof typeof GOV_MSG];

const COSE_SIGN1_TAG = 18;
const HEADER_ALG = 1;
const HEADER_KID = 4;
const MSG_TYPE = 'ccf.gov.msg.type';
const CREATED_AT = 'ccf.gov.msg.created_at';
const PROPOSAL_ID = 'ccf.gov.msg.proposal_id';

/** ES256 and ES384, by curve; CCF member keys are usually P-384. */
const ALGORITHMS: Record<string, { alg: number; hash: string }> = {
  prime256v1: { alg: -7, hash: 'sha256' },
  secp384r1: { alg: -35, hash: 'sha384' },
};
const HASH_BY_ALG: Record<number, string> = { [-7]: 'sha256', [-35]: 'sha384' };

/** Decoded maps stay Maps, so integer and text header labels sit side by side. */
const decode = (bytes: Buffer): unknown => cbor.decodeFirstSync(bytes, { preferMap: true }) as unknown;

export class CoseError extends Error {
  override name = 'CoseError';
}

/** A CCF member or user id: hex SHA-256 of the certificate's DER encoding. */
export function memberIdOf(certificatePem: string): string {
  return createHash('sha256').update(new X509Certificate(certificatePem).raw).digest('hex');
}

export function signGovernanceRequest(args: {
  signingKeyPem: string;
  certificatePem: string;
  msgType: GovMsgType;
  /** Seconds since the epoch. */
  createdAt: number;
  proposalId?: string;
  payload: Uint8Array | string;
}): Buffer {
  const key = createPrivateKey(args.signingKeyPem);
  const algorithm = algorithmOf(key);
  const headers = new Map<number | string, unknown>([
    [HEADER_ALG, algorithm.alg],
    [HEADER_KID, Buffer.from(memberIdOf(args.certificatePem), 'ascii')],
    [MSG_TYPE, args.msgType],
    [CREATED_AT, Math.trunc(args.createdAt)],
  ]);
  if (args.proposalId !== undefined) headers.set(PROPOSAL_ID, args.proposalId);
  const protectedBytes = cbor.encode(headers);
  const payload = typeof args.payload === 'string' ? Buffer.from(args.payload, 'utf8') : Buffer.from(args.payload);
  const signature = sign(algorithm.hash, sigStructure(protectedBytes, payload), { key, dsaEncoding: 'ieee-p1363' });
  return cbor.encode(new cbor.Tagged(COSE_SIGN1_TAG, [protectedBytes, new Map(), payload, signature]));
}

export interface DecodedGovernanceRequest {
  kid: string;
  alg: number;
  msgType: string;
  createdAt: number;
  proposalId?: string;
  payload: Buffer;
  protectedBytes: Buffer;
  signature: Buffer;
}

export function decodeGovernanceRequest(body: Uint8Array): DecodedGovernanceRequest {
  let outer: unknown;
  try {
    outer = decode(Buffer.from(body));
  } catch (err) {
    throw new CoseError(`body is not CBOR: ${(err as Error).message}`);
  }
  if (!(outer instanceof cbor.Tagged) || outer.tag !== COSE_SIGN1_TAG || !Array.isArray(outer.value)) {
    throw new CoseError('body is not a tagged COSE_Sign1 structure');
  }
  const [protectedBytes, , payload, signature] = outer.value as unknown[];
  if (!isBytes(protectedBytes) || !isBytes(payload) || !isBytes(signature)) {
    throw new CoseError('COSE_Sign1 must hold protected headers, payload and signature as byte strings');
  }
  let headers: unknown;
  try {
    headers = decode(Buffer.from(protectedBytes));
  } catch {
    throw new CoseError('protected headers are not CBOR');
  }
  if (!(headers instanceof Map)) throw new CoseError('protected headers must be a map');
  const alg = headers.get(HEADER_ALG);
  const kid = headers.get(HEADER_KID);
  const msgType = headers.get(MSG_TYPE);
  const createdAt = headers.get(CREATED_AT);
  const proposalId = headers.get(PROPOSAL_ID);
  if (typeof alg !== 'number' || !(alg in HASH_BY_ALG)) throw new CoseError('alg must be ES256 (-7) or ES384 (-35)');
  if (!isBytes(kid) && typeof kid !== 'string') throw new CoseError('kid is missing');
  if (typeof msgType !== 'string') throw new CoseError(`${MSG_TYPE} is missing`);
  if (typeof createdAt !== 'number' || !Number.isInteger(createdAt)) throw new CoseError(`${CREATED_AT} is missing`);
  if (proposalId !== undefined && typeof proposalId !== 'string') throw new CoseError(`${PROPOSAL_ID} must be text`);
  return {
    kid: typeof kid === 'string' ? kid : Buffer.from(kid).toString('ascii'),
    alg,
    msgType,
    createdAt,
    proposalId,
    payload: Buffer.from(payload),
    protectedBytes: Buffer.from(protectedBytes),
    signature: Buffer.from(signature),
  };
}

export function verifyGovernanceRequest(decoded: DecodedGovernanceRequest, certificatePem: string): boolean {
  try {
    const key = createPublicKey(new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'pem' }));
    return verify(
      HASH_BY_ALG[decoded.alg]!,
      sigStructure(decoded.protectedBytes, decoded.payload),
      { key, dsaEncoding: 'ieee-p1363' },
      decoded.signature,
    );
  } catch {
    return false;
  }
}

function sigStructure(protectedBytes: Buffer, payload: Buffer): Buffer {
  return cbor.encode(['Signature1', protectedBytes, Buffer.alloc(0), payload]);
}

function algorithmOf(key: KeyObject) {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const algorithm = curve ? ALGORITHMS[curve] : undefined;
  if (key.asymmetricKeyType !== 'ec' || !algorithm) {
    throw new CoseError(`member signing keys must be EC P-256 or P-384, not ${key.asymmetricKeyType} ${curve ?? ''}`);
  }
  return algorithm;
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}
