import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';

/** Where a credential lives. Configuration only ever holds these references, never the secret itself. */
export type SecretRef = { env: string } | { file: string };

/**
 * A secret value that refuses to be printed: logging, JSON serialisation and string interpolation all
 * yield `[redacted]`, so a secret that reaches a log line or an error message by mistake does not leak.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The only way to read the value; grep for `reveal(` to audit every use. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

export class SecretUnavailableError extends Error {
  override name = 'SecretUnavailableError';
}

export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

/**
 * Resolves a reference at the moment of use, so rotated credentials are picked up without a restart.
 * `usedFor` names the configuration field, so the error tells the operator what to fix.
 */
export async function readSecret(
  ref: SecretRef,
  usedFor: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Secret> {
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined || value === '') {
      throw new SecretUnavailableError(
        `${usedFor}: environment variable ${ref.env} is not set; export it before starting`,
      );
    }
    return new Secret(value);
  }
  try {
    // Trailing newlines are an artefact of `echo > file`, never part of a token.
    return new Secret((await readFile(ref.file, 'utf8')).replace(/\r?\n$/, ''));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new SecretUnavailableError(
      `${usedFor}: cannot read secret file ${ref.file} (${code}); check the path and its permissions`,
    );
  }
}
