/**
 * Failure messages and stack traces can name secrets (a path, a member, a share count); with this converter
 * they are moved into an encoded payload, so the payload codec encrypts them like any other data. It runs
 * inside workflows too, so it is loaded by path and must stay free of I/O.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
