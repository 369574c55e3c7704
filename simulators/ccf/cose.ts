/**
 * The simulator's own check of a governance request, written from RFC 9052 (COSE_Sign1, §4.2 and §4.4) and
 * CCF's authentication policy for members (microsoft/CCF `src/endpoints/authentication/cose_auth.cpp`: `kid`
 * is the hex SHA-256 of the member certificate's DER, `alg` ES256/ES384, `ccf.gov.msg.type` and
 * `ccf.gov.msg.created_at` protected, `ccf.gov.msg.proposal_id` for ballots and withdrawals). It uses its own
 * CBOR library (cborg) and never our client's COSE code, so a mistake in one is not mirrored by the other;
 * `test/ccf/ccf-python-interop.test.ts` checks both against CCF's own Python package.
 */
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { decode, encode } from 'cborg';

export interface GovernanceEnvelope {
  kid: string;
  msgType: string;
  createdAt: number;
  proposalId?: string;
  payload: Buffer;
  protectedBytes: Buffer;
  signature: Buffer;
  alg: number;
}

export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

// RFC 9053 §2.1: ECDSA with SHA-256 / SHA-384.
const HASH_OF_ALG = new Map<number, string>([
  [-7, 'sha256'],
  [-35, 'sha384'],
]);
// RFC 9052 §3.1 header labels.
const ALG = 1;
const KID = 4;

/** COSE_Sign1_Tagged is tag 18 (RFC 9052 §4.2): decoded into a marker around its array. */
class Sign1 {
  constructor(readonly items: unknown) {}
}
const tags: ((inner: unknown) => unknown)[] = [];
tags[18] = (inner) => new Sign1(inner);
// Header maps have integer and text labels side by side: decoded as Maps.
const decodeCbor = (bytes: Uint8Array) => decode(bytes, { tags, useMaps: true }) as unknown;

/** The member id CCF derives from a certificate: hex SHA-256 of its DER encoding. */
export function certificateFingerprint(certificatePem: string): string {
  return createHash('sha256').update(new X509Certificate(certificatePem).raw).digest('hex');
}

export function openEnvelope(body: Uint8Array): GovernanceEnvelope {
  let outer: unknown;
  try {
    outer = decodeCbor(body);
  } catch (err) {
    throw new EnvelopeError(`body is not CBOR: ${(err as Error).message}`);
  }
  // [protected, unprotected, payload, signature]
  const items = outer instanceof Sign1 ? outer.items : undefined;
  if (!Array.isArray(items) || items.length !== 4) throw new EnvelopeError('body is not a tagged COSE_Sign1');
  const [protectedBytes, , payload, signature] = items as unknown[];
  if (!isBytes(protectedBytes) || !isBytes(payload) || !isBytes(signature))
    throw new EnvelopeError('COSE_Sign1 fields must be byte strings (payload attached)');
  let headers: unknown;
  try {
    headers = decodeCbor(protectedBytes);
  } catch {
    throw new EnvelopeError('protected header is not CBOR');
  }
  if (!(headers instanceof Map)) throw new EnvelopeError('protected header must be a map');
  const alg = headers.get(ALG);
  const kid = headers.get(KID);
  const msgType = headers.get('ccf.gov.msg.type');
  const createdAt = headers.get('ccf.gov.msg.created_at');
  const proposalId = headers.get('ccf.gov.msg.proposal_id');
  if (typeof alg !== 'number' || !HASH_OF_ALG.has(alg)) throw new EnvelopeError('alg must be ES256 or ES384');
  if (!isBytes(kid)) throw new EnvelopeError('kid must be a byte string');
  if (typeof msgType !== 'string') throw new EnvelopeError('ccf.gov.msg.type is missing');
  if (typeof createdAt !== 'number' || !Number.isInteger(createdAt) || createdAt < 0)
    throw new EnvelopeError('ccf.gov.msg.created_at must be an unsigned integer');
  if (proposalId !== undefined && typeof proposalId !== 'string')
    throw new EnvelopeError('ccf.gov.msg.proposal_id must be text');
  return {
    kid: Buffer.from(kid).toString('latin1'),
    msgType,
    createdAt,
    proposalId,
    alg,
    payload: Buffer.from(payload),
    protectedBytes: Buffer.from(protectedBytes),
    signature: Buffer.from(signature),
  };
}

/** Verifies the envelope's signature over its Sig_structure with the certificate's public key. */
export function signatureVerifies(envelope: GovernanceEnvelope, certificatePem: string): boolean {
  // Sig_structure (RFC 9052 §4.4), with no external AAD.
  const toBeSigned = encode(['Signature1', envelope.protectedBytes, new Uint8Array(0), envelope.payload]);
  try {
    return verify(
      HASH_OF_ALG.get(envelope.alg)!,
      toBeSigned,
      { key: createPublicKey(certificatePem), dsaEncoding: 'ieee-p1363' },
      envelope.signature,
    );
  } catch {
    return false;
  }
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}
