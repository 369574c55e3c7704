/**
 * Certificates and keys as CCF uses them: an EC P-384 service identity that endorses node TLS certificates,
 * EC P-384 member identities, and RSA member share-encryption keys. Used by the simulator and test fixtures.
 */
import 'reflect-metadata';
import { generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC384 = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' } as const;

export interface Identity {
  certificatePem: string;
  privateKeyPem: string;
}

async function ecKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC384, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trim()}\n-----END PRIVATE KEY-----\n`;
}

async function importPrivate(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, EC384, true, ['sign']);
}

function validity(days: number) {
  const notBefore = new Date(Date.now() - 60_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * 86_400_000) };
}

const serial = () =>
  randomBytes(8)
    .toString('hex')
    .replace(/^[89a-f]/, '1');

async function selfSigned(name: string, ca: boolean, days: number): Promise<Identity> {
  const keys = await ecKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    keys,
    signingAlgorithm: EC384,
    ...validity(days),
    extensions: ca ? [new x509.BasicConstraintsExtension(true, undefined, true)] : [],
  });
  return { certificatePem: cert.toString('pem'), privateKeyPem: await privatePem(keys.privateKey) };
}

/** A service identity ("CN=CCF Service"), which signs the TLS certificates of the service's nodes. */
export function createServiceIdentity(days = 365): Promise<Identity> {
  return selfSigned('CN=CCF Service', true, days);
}

/** A member identity: its certificate's DER digest is the member id. */
export function createMemberIdentity(name: string, days = 365): Promise<Identity> {
  return selfSigned(`CN=${name}`, false, days);
}

/** A node's TLS certificate for 127.0.0.1/localhost, endorsed by the service identity. */
export async function createNodeCertificate(
  service: Identity,
  days = 365,
): Promise<Identity & { publicKeyDer: Buffer }> {
  const keys = await ecKeys();
  const issuer = new x509.X509Certificate(service.certificatePem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=CCF Node',
    issuer: issuer.subject,
    publicKey: keys.publicKey,
    signingKey: await importPrivate(service.privateKeyPem),
    signingAlgorithm: EC384,
    ...validity(days),
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  return {
    certificatePem: cert.toString('pem'),
    privateKeyPem: await privatePem(keys.privateKey),
    publicKeyDer: Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)),
  };
}

/** A member's RSA share-encryption key pair (CCF encrypts recovery shares with RSA-OAEP-SHA256). */
export function createEncryptionKeyPair(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
