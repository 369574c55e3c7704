/**
 * Encryption of everything ledger-dr stores in Temporal: inputs, results, update arguments, heartbeat
 * details and failure messages are sealed with AES-256-GCM before they leave the process. Each payload names
 * the key that sealed it, so keys rotate by adding a new active key and keeping the old ones for reading.
 * The Temporal UI sees plaintext only through the API's codec endpoint.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import type { DataConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { LedgerDrConfig } from './config';
import { readSecret } from './secrets';

/** Also given to the workflow bundler: failures are converted inside workflows. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class CodecError extends Error {
  override name = 'CodecError';
}

export class AesGcmCodec implements PayloadCodec {
  constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    private readonly activeKeyId: string,
  ) {
    if (!keys.has(activeKeyId))
      throw new CodecError(`encryption.activeKey: no key "${activeKeyId}" in encryption.keys`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.activeKeyId)!;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, key, iv);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: Buffer.from(this.activeKeyId),
        },
        data: sealed,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || Buffer.from(encoding).toString() !== ENCRYPTED_ENCODING) return payload;
      const keyId = Buffer.from(payload.metadata?.[KEY_ID_METADATA] ?? []).toString();
      const key = this.keys.get(keyId);
      if (!key) throw new CodecError(`payload sealed with key "${keyId}", which is not in encryption.keys`);
      const data = Buffer.from(payload.data ?? []);
      if (data.length < IV_BYTES + TAG_BYTES) throw new CodecError('encrypted payload is truncated');
      const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** Reads the configured keys (base64 of 32 bytes each) at start-up; errors name the field. */
export async function createCodec(encryption: NonNullable<LedgerDrConfig['encryption']>): Promise<AesGcmCodec> {
  const keys = new Map<string, Buffer>();
  for (const [i, entry] of encryption.keys.entries()) {
    const secret = await readSecret(entry.key, `encryption.keys[${i}].key`);
    const key = Buffer.from(secret.reveal(), 'base64');
    if (key.length !== 32) {
      throw new CodecError(`encryption.keys[${i}].key: expected 32 bytes, base64-encoded (openssl rand -base64 32)`);
    }
    keys.set(entry.id, key);
  }
  return new AesGcmCodec(keys, encryption.activeKey);
}

/** The data converter for every client and worker: encrypted payloads, and failure messages encoded too. */
export async function createDataConverter(config: Pick<LedgerDrConfig, 'encryption'>): Promise<DataConverter> {
  if (!config.encryption) return {};
  return {
    payloadCodecs: [await createCodec(config.encryption)],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}
