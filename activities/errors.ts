import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { formatZodError } from '../shared/config';

/** Failure types workflows and clients can rely on. */
export const FailureType = {
  InvalidInput: 'InvalidInput',
  Configuration: 'ConfigurationError',
  UnexpectedResponse: 'UnexpectedResponse',
  Refused: 'Refused',
} as const;

/** Bad input never gets better by retrying: fail at once, naming the field. */
export function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, FailureType.InvalidInput);
}

/** Validates activity input at the boundary; `what` prefixes field paths (e.g. `input`). */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'input'): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(formatZodError(result.error, [what]).join('; '));
  return result.data;
}

/**
 * Validates a response from an external system. A malformed body is retryable (a node mid-restart can return
 * garbage), but the message names the endpoint and the field so a persistent problem is diagnosable.
 */
export function parseResponse<S extends z.ZodType>(schema: S, value: unknown, endpoint: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw ApplicationFailure.retryable(
      `${endpoint}: unexpected response: ${formatZodError(result.error, ['body']).join('; ')}`,
      FailureType.UnexpectedResponse,
    );
  }
  return result.data;
}
