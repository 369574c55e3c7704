/**
 * A plain HTTP server on loopback that records what it is sent: a webhook receiver for tests. It applies
 * each Idempotency-Key once, as a well-behaved receiver does, and counts every delivery attempt.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface HttpRecorder {
  url: string;
  requests: RecordedRequest[];
  /** Effects applied, by idempotency key (a key seen twice is applied once). */
  applied: Map<string, number>;
  /** Resolves when the n-th request has arrived. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpRecorder(
  options: { delayMs?: (requestNumber: number) => number; status?: number } = {},
): Promise<HttpRecorder> {
  const requests: RecordedRequest[] = [];
  const applied = new Map<string, number>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      };
      requests.push(record);
      const key = req.headers['idempotency-key'];
      if (typeof key === 'string' && !applied.has(key)) applied.set(key, requests.length);
      for (const w of waiters.filter((w) => requests.length >= w.n)) w.resolve();
      const delay = options.delayMs?.(requests.length) ?? 0;
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.writeHead(options.status ?? 200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }, delay);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    applied,
    waitForRequests(n, timeoutMs = 60_000) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${requests.length} of ${n} requests arrived`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: () =>
      new Promise((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
