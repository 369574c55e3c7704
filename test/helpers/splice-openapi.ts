/**
 * Checks recorded HTTP exchanges with a Splice validator against upstream's OpenAPI files, vendored byte for
 * byte in test/reference/splice (provenance in its SOURCE.md): `openapi/` is Splice `main`, `apps/` is v0.4.15,
 * the last line with the data-snapshot endpoint. Every path is served under the validator's `/api/validator`
 * prefix (the files' `servers` entry; common-external's health endpoints are served there too, SOURCE.md
 * "The /api/validator prefix is verified"). Checked: the operation exists, required and undeclared query
 * parameters, the status is declared, and every JSON body against its schema (cross-file `$ref`s resolved).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';

export interface SpliceExchange {
  method: string;
  /** The full path the validator was asked for, e.g. /api/validator/v0/admin/users. */
  path: string;
  query: Record<string, string>;
  status: number;
  responseContentType?: string | null;
  responseBody: unknown;
}

export interface SpliceProblem {
  exchange: string;
  problem: string;
}

export const SPLICE_PREFIX = '/api/validator';
const REFERENCE = path.resolve(__dirname, '../reference/splice');
const FILES = [
  'apps/validator/src/main/openapi/validator-internal.yaml',
  'apps/validator/src/main/openapi/ans-external.yaml',
  'apps/wallet/src/main/openapi/wallet-internal.yaml',
  'apps/common/src/main/openapi/common-internal.yaml',
  'apps/common/src/main/openapi/common-external.yaml',
];
/** Trees: the current API, then v0.4.15 for what main removed (the data snapshot). */
const TREES = [
  { tree: 'openapi', id: 'main', release: 'main (0.7.5)' },
  { tree: '.', id: 'v0.4.15', release: 'v0.4.15' },
];
/**
 * Statuses upstream's guide documents for an operation whose OpenAPI does not list them
 * (guides/splice-validator-disaster-recovery.txt: the data-snapshot curl "fails with a 400 … 429").
 */
const DOCUMENTED_STATUSES: Record<string, number[]> = { getValidatorDomainDataSnapshot: [400, 429] };

interface Operation {
  operationId?: string;
  security?: unknown[];
  parameters?: { name: string; in: string; required?: boolean }[];
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: unknown }> }>;
}
interface Route {
  method: string;
  template: string;
  matcher: RegExp;
  operation: Operation;
  docId: string;
  pointer: string;
  release: string;
}

export interface SpliceApi {
  validate(exchange: SpliceExchange): SpliceProblem[];
  validateAll(exchanges: SpliceExchange[]): SpliceProblem[];
  /** `operationId (release)` of the operation a request would reach, if upstream has one. */
  operationOf(method: string, fullPath: string): string | undefined;
}

export function loadSpliceApi(): SpliceApi {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const routes: Route[] = [];
  const docs = new Map<string, { doc: { paths?: Record<string, Record<string, Operation>> } }>();
  for (const { tree, id, release } of TREES) {
    for (const file of FILES) {
      const full = path.join(REFERENCE, tree, file);
      let doc: { paths?: Record<string, Record<string, Operation>> };
      try {
        doc = parse(readFileSync(full, 'utf8')) as typeof doc;
      } catch {
        continue; // v0.4.15's tree has only the validator and common files
      }
      // A file URL as the id, so the files' relative $refs resolve between them as they do upstream.
      const docId = `file:///splice/${id}/${file}`;
      ajv.addSchema(doc as object, docId);
      docs.set(docId, { doc });
      for (const [template, ops] of Object.entries(doc.paths ?? {})) {
        for (const [method, operation] of Object.entries(ops)) {
          if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
          // Main wins: an operation of v0.4.15 counts only where main no longer has the path.
          if (routes.some((r) => r.method === method.toUpperCase() && r.template === template)) continue;
          const pattern = template
            .split(/\{[^}]+\}/)
            .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
            .join('[^/]+');
          routes.push({
            method: method.toUpperCase(),
            template,
            matcher: new RegExp(`^${pattern}$`),
            operation,
            docId,
            pointer: `#/paths/${template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}`,
            release,
          });
        }
      }
    }
  }
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  const validatorAt = (docId: string, pointer: string) => {
    const ref = `${docId}${pointer}`;
    let v = compiled.get(ref);
    if (!v) {
      v = ajv.compile({ $ref: ref });
      compiled.set(ref, v);
    }
    return v;
  };

  const find = (method: string, fullPath: string) => {
    if (!fullPath.startsWith(`${SPLICE_PREFIX}/`)) return undefined;
    const local = fullPath.slice(SPLICE_PREFIX.length);
    return routes.find((r) => r.method === method.toUpperCase() && r.matcher.test(local));
  };

  function validate(exchange: SpliceExchange): SpliceProblem[] {
    const label = `${exchange.method} ${exchange.path} -> ${exchange.status}`;
    const route = find(exchange.method, exchange.path);
    if (!route) return [{ exchange: label, problem: `no such operation in Splice's OpenAPI under ${SPLICE_PREFIX}` }];
    const problems: string[] = [];
    const query = (route.operation.parameters ?? []).filter((p) => p.in === 'query');
    for (const p of query) if (p.required && !(p.name in exchange.query)) problems.push(`query ${p.name}: required`);
    for (const name of Object.keys(exchange.query))
      if (!query.some((p) => p.name === name)) problems.push(`query ${name}: not declared`);

    const status = String(exchange.status);
    let response = route.operation.responses[status];
    let pointer = `${route.pointer}/responses/${status}`;
    if (!response) {
      // An operation behind adminAuth/userAuth refuses a bad token with 401/403, which the files leave out.
      const refused = !!route.operation.security?.length && [401, 403].includes(exchange.status);
      const documented = refused || DOCUMENTED_STATUSES[route.operation.operationId ?? '']?.includes(exchange.status);
      if (!documented) {
        problems.push(`status ${status}: not declared (${Object.keys(route.operation.responses).join(', ')})`);
        return problems.map((problem) => ({ exchange: label, problem }));
      }
      // The guide's errors carry upstream's common error body.
      const v = validatorAt(`file:///splice/main/${FILES[4]}`, '#/components/schemas/ErrorResponse');
      if (!v(exchange.responseBody)) problems.push(`body: ${ajv.errorsText(v.errors)}`);
      return problems.map((problem) => ({ exchange: label, problem }));
    }
    let docId = route.docId;
    if (response.$ref) {
      const [file, fragment] = response.$ref.split('#');
      docId = new URL(file!, route.docId).href;
      pointer = `#${fragment}`;
      response = resolvePointer(docs.get(docId)!.doc, fragment!) as typeof response;
    }
    const json = response.content?.['application/json'];
    if (!json?.schema) {
      if (exchange.responseBody !== undefined && exchange.responseBody !== null && exchange.responseBody !== '')
        problems.push('body: expected no content');
    } else {
      const v = validatorAt(docId, `${pointer}/content/application~1json/schema`);
      if (!v(exchange.responseBody)) {
        for (const e of v.errors ?? []) problems.push(`body${e.instancePath.replace(/\//g, '.')}: ${e.message}`);
      }
    }
    return problems.map((problem) => ({ exchange: label, problem }));
  }

  return {
    validate,
    validateAll: (all) => all.flatMap(validate),
    operationOf: (method, fullPath) => {
      const route = find(method, fullPath);
      return route ? `${route.operation.operationId} (${route.release})` : undefined;
    },
  };
}

function resolvePointer(doc: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .reduce<unknown>(
      (node, part) => (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')],
      doc,
    );
}
