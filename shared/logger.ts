import pino, { type Logger } from 'pino';

/**
 * Field names that carry secrets anywhere in ledger-dr. Redaction is a second line of defence: secrets are
 * held in `Secret` objects that print as `[redacted]`, but a raw value that slips into a log object under one
 * of these names is censored too.
 */
export const SECRET_FIELD_NAMES = [
  'authorization',
  'token',
  'accessToken',
  'password',
  'passphrase',
  'privateKey',
  'signingKey',
  'encryptionKey',
  'share',
  'recoveryShare',
  'identities',
  'identitiesDump',
  'secret',
  'apiKey',
  'cookie',
] as const;

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const name of SECRET_FIELD_NAMES) {
    // pino's redaction takes explicit paths; four levels covers every log object ledger-dr builds.
    paths.push(name, `*.${name}`, `*.*.${name}`, `*.*.*.${name}`);
  }
  return paths;
}

export function createLogger(options: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: redactPaths(), censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
