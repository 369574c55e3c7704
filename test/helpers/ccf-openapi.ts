/**
 * Checks recorded HTTP exchanges against CCF's own API descriptions: the node API (OpenAPI 3) and the
 * governance API 2024-07-01 (Swagger 2). Path, method, required query parameters, request content type,
 * declared status codes, and every JSON body against its schema.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';

export interface RecordedExchange {
  method: string;
  path: string;
  query: Record<string, string>;
  requestContentType?: string | null;
  status: number;
  responseContentType?: string | null;
  responseBody: unknown;
}

export interface ExchangeProblem {
  exchange: string;
  problem: string;
}

export interface CcfApi {
  validate(exchange: RecordedExchange): ExchangeProblem[];
  validateAll(exchanges: RecordedExchange[]): ExchangeProblem[];
  operationOf(method: string, path: string): string | undefined;
}

interface Parameter {
  name?: string;
  in?: string;
  required?: boolean;
  pattern?: string;
  type?: string;
  schema?: { $ref?: string; pattern?: string; type?: string };
  $ref?: string;
}
interface Operation {
  operationId?: string;
  consumes?: string[];
  produces?: string[];
  parameters?: Parameter[];
  responses: Record<string, { schema?: unknown; content?: Record<string, { schema?: unknown }>; $ref?: string }>;
}
interface Route {
  method: string;
  template: string;
  matcher: RegExp;
  params: string[];
  operation: Operation;
  doc: 'node' | 'gov';
}

/**
 * Fields the OpenAPI declares required strings that CCF's implementation serialises as `null` when empty
 * (SOURCE.md (c): `primary_id` of /node/network and /node/consensus during an election).
 */
const IMPLEMENTED_NULLABLE = ['/primary_id'];

// CCF's own API descriptions, vendored unmodified (provenance in test/reference/ccf/SOURCE.md).
const DEFAULT_REFERENCE_DIR = path.resolve(__dirname, '../reference/ccf');
const NODE_ID = 'ccf-node-api';
const GOV_ID = 'ccf-gov-api';

export function loadCcfApi(referenceDir = DEFAULT_REFERENCE_DIR): CcfApi {
  const nodeDoc = JSON.parse(readFileSync(path.join(referenceDir, 'node_openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, Operation>>;
    components: { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };
  };
  const govDoc = JSON.parse(readFileSync(path.join(referenceDir, 'gov', '2024-07-01', 'gov.json'), 'utf8')) as {
    paths: Record<string, Record<string, Operation>>;
    parameters: Record<string, Parameter>;
  };
  // Formats CCF uses that JSON Schema does not define; `hex` is checked, the others are descriptive.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, verbose: true });
  ajv.addFormat('hex', /^[a-fA-F0-9]*$/);
  for (const f of ['binary', 'byte', 'int64', 'uri', 'date-time', 'uuid', 'int32']) ajv.addFormat(f, true);
  ajv.addSchema({ ...nodeDoc, $id: NODE_ID } as object);
  ajv.addSchema({ ...govDoc, $id: GOV_ID } as object);
  const compiled = new Map<string, ValidateFunction>();
  const validatorFor = (doc: string, schema: unknown): ValidateFunction => {
    const key = `${doc}:${JSON.stringify(schema)}`;
    let v = compiled.get(key);
    if (!v) {
      v = ajv.compile(absolutise(schema, doc));
      compiled.set(key, v);
    }
    return v;
  };

  const routes: Route[] = [];
  const add = (doc: 'node' | 'gov', paths: Record<string, Record<string, Operation>>) => {
    for (const [template, ops] of Object.entries(paths)) {
      const params: string[] = [];
      const pattern = template
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const m = /^\{([^}]+)\}$/.exec(part);
          if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          params.push(m[1]!);
          return '([^/:]+)';
        })
        .join('');
      for (const [method, operation] of Object.entries(ops)) {
        if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
        routes.push({
          method: method.toUpperCase(),
          template,
          matcher: new RegExp(`^${pattern}$`),
          params,
          operation,
          doc,
        });
      }
    }
  };
  add('node', nodeDoc.paths);
  add('gov', govDoc.paths);
  // A literal segment wins over a parameter (`/transactions/commit` is not `/transactions/{transactionId}`).
  routes.sort((a, b) => a.params.length - b.params.length);

  const resolveParameter = (p: Parameter): Parameter => {
    if (p.$ref) return govDoc.parameters[p.$ref.split('/').pop()!] ?? p;
    return p;
  };

  const find = (method: string, concretePath: string) => {
    for (const route of routes) {
      if (route.method !== method.toUpperCase()) continue;
      const m = route.matcher.exec(concretePath);
      if (m)
        return {
          route,
          values: Object.fromEntries(route.params.map((name, i) => [name, decodeURIComponent(m[i + 1]!)])),
        };
    }
    return undefined;
  };

  function validate(exchange: RecordedExchange): ExchangeProblem[] {
    const label = `${exchange.method} ${exchange.path} -> ${exchange.status}`;
    const problems: string[] = [];
    const found = find(exchange.method, exchange.path);
    if (!found) return [{ exchange: label, problem: 'no such operation in the CCF API descriptions' }];
    const { route, values } = found;
    const parameters = (route.operation.parameters ?? []).map(resolveParameter);

    for (const p of parameters.filter((x) => x.in === 'path')) {
      const pattern = p.pattern ?? p.schema?.pattern;
      if (pattern && !new RegExp(pattern).test(values[p.name!] ?? '')) {
        problems.push(`path parameter ${p.name}: "${values[p.name!]}" does not match ${pattern}`);
      }
    }
    const queryParams = parameters.filter((x) => x.in === 'query');
    for (const p of queryParams) {
      if (p.required && !(p.name! in exchange.query)) problems.push(`query parameter ${p.name}: required`);
    }
    if (route.doc === 'gov') {
      for (const name of Object.keys(exchange.query)) {
        if (!queryParams.some((p) => p.name === name)) problems.push(`query parameter ${name}: not declared`);
      }
    }
    if (route.operation.consumes?.includes('application/cose') && exchange.requestContentType !== 'application/cose') {
      problems.push(`request content-type: expected application/cose, got ${exchange.requestContentType ?? 'none'}`);
    }

    const declared = route.operation.responses[String(exchange.status)];
    const isSuccess = exchange.status >= 200 && exchange.status < 300;
    let response = declared;
    if (!response) {
      if (isSuccess)
        problems.push(
          `status ${exchange.status}: not declared (declared: ${Object.keys(route.operation.responses).join(', ')})`,
        );
      response = route.operation.responses.default;
    }
    if (response?.$ref) response = nodeDoc.components.responses[response.$ref.split('/').pop()!];
    const schema = route.doc === 'node' ? response?.content?.['application/json']?.schema : response?.schema;
    const textBody =
      exchange.responseContentType === 'text/javascript' && route.operation.produces?.includes('text/javascript');
    if (textBody) {
      // SOURCE.md (b): CCF answers a ballot GET with the ballot's source as text/javascript, not the JSON schema.
      if (typeof exchange.responseBody !== 'string' || !exchange.responseBody)
        problems.push('body: expected JavaScript source');
    } else if (schema === undefined) {
      if (exchange.responseBody !== null && exchange.responseBody !== undefined && exchange.responseBody !== '') {
        problems.push('body: expected no content');
      }
    } else {
      const check = validatorFor(route.doc === 'node' ? NODE_ID : GOV_ID, schema);
      if (!check(exchange.responseBody)) {
        for (const e of check.errors ?? []) {
          if (IMPLEMENTED_NULLABLE.some((f) => e.instancePath.endsWith(f)) && e.data === null) continue;
          problems.push(`body${e.instancePath.replace(/\//g, '.')}: ${e.message}`);
        }
      }
    }
    return problems.map((problem) => ({ exchange: label, problem }));
  }

  return {
    validate,
    validateAll: (exchanges) => exchanges.flatMap(validate),
    operationOf: (method, p) => {
      const found = find(method, p);
      return found ? (found.route.operation.operationId ?? `${found.route.method} ${found.route.template}`) : undefined;
    },
  };
}

/** Local `#/...` references become references into the document registered under `docId`. */
function absolutise(schema: unknown, docId: string): object {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [
          k,
          k === '$ref' && typeof v === 'string' && v.startsWith('#') ? `${docId}${v}` : walk(v),
        ]),
      );
    }
    return value;
  };
  return walk(schema) as object;
}
