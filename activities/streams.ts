import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * An owner-only file for a streamed dump, snapshot or archive. The large buffer lets the file stream gather many
 * socket or pipe chunks into one write: with the default 16 KB, a Node.js download of a data snapshot ran at a
 * quarter of curl's speed; with this, close to it (docs/BENCHMARKS.md).
 */
export function createDumpFile(file: string): WriteStream {
  return createWriteStream(file, { mode: 0o600, highWaterMark: 4 * 1024 * 1024 });
}
