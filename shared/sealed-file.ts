/**
 * Sealed files: secrets at rest (node-identities dumps, recovery archives) as AES-256-GCM with a magic
 * header, a random IV and the authentication tag, under a 32-byte key held by reference. A wrong key or a
 * changed byte fails to open; nothing is ever half-decrypted.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readSecret, type SecretRef } from './secrets';

const MAGIC = Buffer.from('LDRSEAL1');

export class SealError extends Error {
  override name = 'SealError';
}

/** Reads a sealing key, checking it is 32 bytes of base64; `field` names the setting in errors. */
export async function readSealingKey(ref: SecretRef, field: string): Promise<Buffer> {
  const key = Buffer.from((await readSecret(ref, field)).reveal(), 'base64');
  if (key.length !== 32) throw new SealError(`${field}: expected 32 bytes, base64-encoded (openssl rand -base64 32)`);
  return key;
}

export function seal(plain: Buffer | string, key: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([MAGIC, iv, body, cipher.getAuthTag()]);
}

/** Throws SealError when the data is not sealed, or not with this key, or was changed. */
export function unseal(sealed: Buffer, key: Buffer): Buffer {
  if (sealed.length < MAGIC.length + 28 || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new SealError('not a sealed file');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(MAGIC.length, MAGIC.length + 12));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(MAGIC.length + 12, sealed.length - 16)), decipher.final()]);
  } catch {
    throw new SealError('cannot open it with this key (or it was changed)');
  }
}
