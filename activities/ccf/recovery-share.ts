import { constants, privateDecrypt } from 'node:crypto';

/**
 * A member's recovery share from CCF's encrypted share: RSA-OAEP with SHA-256 under the member's
 * encryption key, as CCF's own `submit_recovery_share.sh` decrypts it (`openssl pkeyutl -decrypt
 * -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256`). The caller zeroes the result after use.
 */
export function decryptRecoveryShare(encryptedShareBase64: string, encryptionKeyPem: string): Buffer {
  return privateDecrypt(
    { key: encryptionKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from(encryptedShareBase64, 'base64'),
  );
}
