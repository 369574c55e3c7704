import { ApplicationFailure } from '@temporalio/common';
import { readSealingKey, SealError } from '../shared/sealed-file';
import type { SecretRef } from '../shared/secrets';
import { FailureType } from './errors';

/** The sealing key, or a non-retryable configuration failure naming the setting. */
export async function sealingKey(ref: SecretRef, field: string): Promise<Buffer> {
  try {
    return await readSealingKey(ref, field);
  } catch (err) {
    if (err instanceof SealError) throw ApplicationFailure.nonRetryable(err.message, FailureType.Configuration);
    throw err;
  }
}
