/**
 * Workflow input checks. Workflows cannot use zod (it would bloat every cached workflow), so these small
 * checks guard the shape before anything runs; a bad input fails the run at once and never retries.
 */
import { ApplicationFailure } from '@temporalio/common';

export function badInput(field: string, expected: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`input.${field}: ${expected}`, 'InvalidInput');
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function requireObject(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw ApplicationFailure.nonRetryable('input: expected an object such as {"network": "prod"}', 'InvalidInput');
  }
  return input as Record<string, unknown>;
}

export function requireNetworkName(input: Record<string, unknown>): string {
  const value = input.network;
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw badInput('network', 'expected the name of a configured network (lowercase letters, digits and "-")');
  }
  return value;
}

export function optionalNumber(
  input: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
): number | undefined {
  const value = input[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw badInput(field, `expected a number from ${min} to ${max}`);
  }
  return value;
}

export function optionalBoolean(input: Record<string, unknown>, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw badInput(field, 'expected true or false');
  return value;
}

export function rejectUnknownFields(input: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(input).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw badInput(unknown[0]!, `unknown field; expected only ${known.join(', ')}`);
  }
}

/** An optional backup folder name: it becomes part of a path, so nothing that could leave the folder. */
export function optionalBackupId(input: Record<string, unknown>): string | undefined {
  const value = input.backupId;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/.test(value)) {
    throw badInput('backupId', 'expected the name of a backup folder');
  }
  return value;
}
