/** Checks shared by the chaos scenarios: files against their manifests, and leftovers of dead attempts. */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { HttpRecorder } from '../helpers/http-recorder';

/** Every file is present and has the SHA-256 its manifest recorded. */
export function checkManifestFiles(files: { file: string; sha256: string }[]): string[] {
  const problems: string[] = [];
  for (const { file, sha256 } of files) {
    if (!existsSync(file)) {
      problems.push(`${file} is listed in its manifest but missing`);
      continue;
    }
    const actual = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (actual !== sha256) problems.push(`${file} does not match the SHA-256 in its manifest`);
  }
  return problems;
}

/** Files under `root` that an interrupted attempt left behind (`.partial`, `.partial-<n>`, staging copies). */
export function leftoverPartials(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.partial(-\d+)?(\/|$)/.test(name))
    .map((name) => path.join(root, name));
}

/** Alerts about `network` the webhook applied: one per idempotency key, however often it was delivered. */
export function alertsApplied(webhook: HttpRecorder, network: string): number {
  const keys = new Set<string>();
  for (const request of webhook.requests) {
    const body = JSON.parse(request.body) as { network?: string };
    if (body.network === network) keys.add(String(request.headers['idempotency-key']));
  }
  return keys.size;
}
