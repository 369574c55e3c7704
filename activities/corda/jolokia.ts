/**
 * Jolokia over HTTP (a node's `jmxMonitoringHttpPort`). Jolokia reports errors in the JSON `status` while HTTP
 * says 200, so every reply is checked; "the node does not answer" (JolokiaUnreachableError) is kept apart
 * from "the node answered with an error" (JolokiaError), because a stopped node is one that does not answer.
 */
import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';

export class JolokiaError extends Error {
  override name = 'JolokiaError';
  constructor(
    message: string,
    readonly status: number,
    readonly errorType?: string,
  ) {
    super(message);
  }
}

export class JolokiaUnreachableError extends Error {
  override name = 'JolokiaUnreachableError';
}

/** Jolokia `list`: domain → key property list → { desc, attr, op }. */
const listTree = z.record(
  z.string(),
  z.record(z.string(), z.looseObject({ attr: z.record(z.string(), z.unknown()).optional() })),
);

const reply = z.looseObject({
  status: z.number(),
  value: z.unknown().optional(),
  error: z.string().optional(),
  error_type: z.string().optional(),
});

interface JolokiaRequest {
  type: 'read' | 'exec' | 'search' | 'list';
  mbean?: string;
  path?: string;
  /** One attribute, or several (Jolokia then answers with an object by attribute name). */
  attribute?: string | string[];
  operation?: string;
  arguments?: unknown[];
}

export class JolokiaClient {
  private readonly http: AxiosInstance;
  private readonly url: string;

  constructor(options: { url: string; user?: string; password?: string; timeoutMs?: number; http?: AxiosInstance }) {
    this.url = options.url.endsWith('/') ? options.url : `${options.url}/`;
    this.http = options.http ?? axios.create();
    this.auth = options.user ? { username: options.user, password: options.password ?? '' } : undefined;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  private readonly auth?: { username: string; password: string };
  private readonly timeoutMs: number;

  read(mbean: string, attribute?: string): Promise<unknown> {
    return this.one({ type: 'read', mbean, ...(attribute ? { attribute } : {}) });
  }

  exec(mbean: string, operation: string, args: unknown[] = []): Promise<unknown> {
    return this.one({ type: 'exec', mbean, operation, arguments: args });
  }

  async search(pattern: string): Promise<string[]> {
    return z.array(z.string()).parse(await this.one({ type: 'search', mbean: pattern }));
  }

  /**
   * The MBeans that have every one of `attributes`, found with Jolokia's `list` (domain → key properties →
   * `attr`): for metrics whose attributes are documented but whose object names are not (LedgerSync's).
   */
  async findByAttributes(attributes: string[], domainPattern?: RegExp): Promise<string[]> {
    const tree = listTree.parse(await this.one({ type: 'list' }));
    const found: string[] = [];
    for (const [domain, beans] of Object.entries(tree)) {
      if (domainPattern && !domainPattern.test(domain)) continue;
      for (const [keys, info] of Object.entries(beans)) {
        const attr = info.attr ?? {};
        if (attributes.every((a) => a in attr)) found.push(`${domain}:${keys}`);
      }
    }
    return found.sort();
  }

  /** Several attributes of one MBean in one read; by attribute name. */
  async readAttributes(mbean: string, attributes: string[]): Promise<Record<string, unknown>> {
    return z.record(z.string(), z.unknown()).parse(await this.one({ type: 'read', mbean, attribute: attributes }));
  }

  /** Several reads in one bulk POST; values in request order. */
  async readMany(requests: { mbean: string; attribute?: string }[]): Promise<unknown[]> {
    const body = requests.map((r) => ({ type: 'read' as const, ...r }));
    const replies = z.array(reply).parse(await this.post(body));
    return replies.map((r, i) => valueOf(body[i]!, r));
  }

  private async one(request: JolokiaRequest): Promise<unknown> {
    return valueOf(request, reply.parse(await this.post(request)));
  }

  private async post(body: unknown): Promise<unknown> {
    try {
      const response = await this.http.post(this.url, body, {
        auth: this.auth,
        timeout: this.timeoutMs,
        validateStatus: () => true,
      });
      if (response.status !== 200 || typeof response.data !== 'object' || response.data === null) {
        throw new JolokiaError(`${this.url}: HTTP ${response.status}`, response.status);
      }
      return response.data;
    } catch (err) {
      if (err instanceof JolokiaError) throw err;
      const code = (err as { code?: string }).code;
      throw new JolokiaUnreachableError(`${this.url}: ${code ?? (err as Error).message}`);
    }
  }
}

function valueOf(request: JolokiaRequest, r: z.infer<typeof reply>): unknown {
  if (r.status === 200) return r.value;
  const what = [request.type, request.mbean, [request.attribute ?? request.operation].flat().join(',')]
    .filter(Boolean)
    .join(' ');
  throw new JolokiaError(`${what}: ${r.status} ${r.error ?? r.error_type ?? 'error'}`, r.status, r.error_type);
}
