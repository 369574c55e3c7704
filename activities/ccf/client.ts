/**
 * HTTPS client for one CCF node, trusting exactly one service certificate: the crashed service's when probing
 * the old nodes, the new one once recovery has started. Governance calls carry the API version CCF requires.
 */
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import type { z } from 'zod';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, parseResponse } from '../errors';
import { errorResponse } from './schemas';

export const GOV_API_VERSION = '2024-07-01';

/** The node answered, but not with success. `status` is the HTTP status; `code` CCF's error code, if any. */
export class CcfHttpError extends Error {
  override name = 'CcfHttpError';
  constructor(
    readonly endpoint: string,
    readonly status: number,
    readonly code: string | undefined,
    detail: string,
  ) {
    super(`${endpoint}: HTTP ${status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}`);
  }
}

/** The node did not answer at all (refused, reset, timed out, TLS failure). */
export class CcfUnreachableError extends Error {
  override name = 'CcfUnreachableError';
  constructor(
    readonly endpoint: string,
    readonly reason: string,
  ) {
    super(`${endpoint}: unreachable (${reason})`);
  }
}

export interface CcfNodeClientOptions {
  /** PEM of the service certificate the node's TLS certificate must chain to. */
  serviceCertificate: string;
  timeoutMs?: number;
}

export class CcfNodeClient {
  private readonly http: AxiosInstance;

  constructor(
    readonly baseUrl: string,
    options: CcfNodeClientOptions,
  ) {
    this.http = axios.create({
      baseURL: baseUrl,
      timeout: options.timeoutMs ?? 5000,
      validateStatus: () => true,
      maxRedirects: 0,
      // Bodies are parsed here so a malformed body is reported as such rather than surfacing as a string.
      responseType: 'text',
      transformResponse: (data: unknown) => data,
      httpsAgent: new https.Agent({ ca: options.serviceCertificate, keepAlive: false }),
    });
  }

  /** GET a JSON endpoint and validate its body. */
  async get<S extends z.ZodType>(path: string, schema: S, query?: Record<string, string>): Promise<z.infer<S>> {
    const response = await this.send('GET', path, query);
    return parseResponse(schema, this.json(response, `GET ${path}`), `GET ${path}`);
  }

  /** GET an endpoint whose answer is its status alone (`/node/ready/app`, `/node/primary`). */
  async status(path: string): Promise<number> {
    return (await this.request('GET', path)).status;
  }

  /** GET a governance endpoint; `undefined` for 404, so callers can tell "not there" from failure. */
  async govGet<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S> | undefined> {
    const response = await this.request('GET', path, { 'api-version': GOV_API_VERSION });
    if (response.status === 404) return undefined;
    this.check(response, `GET ${path}`);
    return parseResponse(schema, this.json(response, `GET ${path}`), `GET ${path}`);
  }

  /** GET a governance endpoint that answers with text (a ballot is its JavaScript source); `undefined` for 404. */
  async govGetText(path: string): Promise<string | undefined> {
    const response = await this.request('GET', path, { 'api-version': GOV_API_VERSION });
    if (response.status === 404) return undefined;
    this.check(response, `GET ${path}`);
    return response.data;
  }

  /** POST a signed COSE_Sign1 governance request. A schema of `null` expects an empty 204. */
  async govPost<S extends z.ZodType>(path: string, body: Buffer, schema: S | null): Promise<z.infer<S> | undefined> {
    const response = await this.send('POST', path, { 'api-version': GOV_API_VERSION }, body);
    if (schema === null) return undefined;
    return parseResponse(schema, this.json(response, `POST ${path}`), `POST ${path}`);
  }

  private async send(method: 'GET' | 'POST', path: string, query?: Record<string, string>, body?: Buffer) {
    const response = await this.request(method, path, query, body);
    this.check(response, `${method} ${path}`);
    return response;
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    query?: Record<string, string>,
    body?: Buffer,
  ): Promise<AxiosResponse<string>> {
    try {
      return await this.http.request<string>({
        method,
        url: path,
        params: query,
        data: body,
        headers: body ? { 'content-type': 'application/cose' } : undefined,
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      throw new CcfUnreachableError(`${method} ${this.baseUrl}${path}`, e.code ?? e.message ?? 'unknown error');
    }
  }

  private check(response: AxiosResponse<string>, endpoint: string): void {
    if (response.status >= 200 && response.status < 300) return;
    let code: string | undefined;
    let message = '';
    try {
      const parsed = errorResponse.safeParse(JSON.parse(response.data));
      if (parsed.success) ({ code, message = '' } = parsed.data.error);
    } catch {
      message = String(response.data).slice(0, 200);
    }
    throw new CcfHttpError(endpoint, response.status, code, message);
  }

  private json(response: AxiosResponse<string>, endpoint: string): unknown {
    try {
      return JSON.parse(response.data);
    } catch {
      // Retryable, as a schema mismatch is: a node mid-restart can answer garbage.
      throw ApplicationFailure.retryable(
        `${endpoint}: the answer is not JSON: ${String(response.data).slice(0, 80)}`,
        FailureType.UnexpectedResponse,
      );
    }
  }
}
