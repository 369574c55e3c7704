import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadCcfApi, type RecordedExchange } from '../helpers/ccf-openapi';

const api = loadCcfApi();
const examplesDir = path.resolve(__dirname, '../reference/ccf/gov/2024-07-01/examples');
const gov = JSON.parse(readFileSync(path.join(examplesDir, '..', 'gov.json'), 'utf8')) as {
  paths: Record<string, Record<string, { operationId?: string; consumes?: string[] }>>;
};

/** The gov example exchanges, rebuilt as requests and responses. */
const examples = readdirSync(examplesDir).flatMap((file) => {
  const ex = JSON.parse(readFileSync(path.join(examplesDir, file), 'utf8')) as {
    operationId: string;
    parameters: Record<string, string>;
    responses: Record<string, { body?: unknown }>;
  };
  const [template, method, op] = Object.entries(gov.paths)
    .flatMap(([p, ops]) => Object.entries(ops).map(([m, o]) => [p, m, o] as const))
    .find(([, , o]) => o.operationId === ex.operationId)!;
  const concrete = template.replace(/\{([^}]+)\}/g, (_m, name: string) => ex.parameters[name] ?? 'missing');
  return Object.entries(ex.responses).map(([status, r]): [string, RecordedExchange] => [
    `${file} ${status}`,
    {
      method: method.toUpperCase(),
      path: concrete,
      query: { 'api-version': ex.parameters['api-version']! },
      requestContentType: op.consumes?.includes('application/cose') ? 'application/cose' : null,
      status: Number(status),
      responseBody: r.body ?? null,
    },
  ]);
});

const state = {
  node_id: 'a'.repeat(64),
  state: 'PartOfPublicNetwork',
  last_signed_seqno: 243,
  startup_seqno: 0,
  stop_notice: false,
};

/** CCF's own examples that do not satisfy CCF's own schemas (none of them is an endpoint recovery uses). */
const INCONSISTENT_EXAMPLES: Record<string, string> = {
  'ServiceState_GetJwkInfo.json 200': "body: must have required property 'keys'",
  'ServiceState_GetJoinPolicies.json 200': "body: must have required property 'virtual'",
};

describe('CCF OpenAPI exchange checks', () => {
  it.each(examples.filter(([name]) => !(name in INCONSISTENT_EXAMPLES)))(
    'accepts the reference example %s',
    (_name, exchange) => {
      expect(api.validate(exchange)).toEqual([]);
    },
  );

  it.each(Object.entries(INCONSISTENT_EXAMPLES))('finds the known schema gap in %s', (name, expected) => {
    const exchange = examples.find(([n]) => n === name)![1];
    expect(api.validate(exchange).map((p) => p.problem)).toContain(expected);
  });

  it('accepts well-formed node exchanges', () => {
    expect(api.validate({ method: 'GET', path: '/node/state', query: {}, status: 200, responseBody: state })).toEqual(
      [],
    );
    expect(
      api.validate({ method: 'GET', path: '/node/ready/app', query: {}, status: 204, responseBody: null }),
    ).toEqual([]);
    expect(api.operationOf('GET', '/node/state')).toBe('GetNodeState');
  });

  it.each([
    [
      'a camelCase node state',
      {
        method: 'GET',
        path: '/node/state',
        query: {},
        status: 200,
        responseBody: { ...state, state: 'partOfPublicNetwork' },
      },
      'body.state: must be equal to one of the allowed values',
    ],
    [
      'a missing last_signed_seqno',
      {
        method: 'GET',
        path: '/node/state',
        query: {},
        status: 200,
        responseBody: { ...state, last_signed_seqno: undefined },
      },
      "body: must have required property 'last_signed_seqno'",
    ],
    [
      'a gov call without api-version',
      {
        method: 'GET',
        path: `/gov/members/proposals/${'a'.repeat(64)}`,
        query: {},
        status: 404,
        responseBody: { error: { code: 'x', message: 'y' } },
      },
      'query parameter api-version: required',
    ],
    [
      'a JSON body where COSE is required',
      {
        method: 'POST',
        path: '/gov/members/proposals:create',
        query: { 'api-version': '2024-07-01' },
        requestContentType: 'application/json',
        status: 400,
        responseBody: { error: { code: 'x', message: 'y' } },
      },
      'request content-type: expected application/cose',
    ],
    [
      'an unknown path',
      { method: 'GET', path: '/node/nope', query: {}, status: 200, responseBody: {} },
      'no such operation',
    ],
    [
      'a proposal id that is not 64 hex',
      {
        method: 'GET',
        path: '/gov/members/proposals/xyz',
        query: { 'api-version': '2024-07-01' },
        status: 404,
        responseBody: { error: { code: 'x', message: 'y' } },
      },
      'path parameter proposalId',
    ],
    [
      'an undeclared 201',
      { method: 'GET', path: '/node/state', query: {}, status: 201, responseBody: state },
      'status 201: not declared',
    ],
    [
      'a bad error body',
      {
        method: 'GET',
        path: '/gov/service/members',
        query: { 'api-version': '2024-07-01' },
        status: 500,
        responseBody: { message: 'oops' },
      },
      "body: must have required property 'error'",
    ],
  ])('reports %s', (_name, exchange, expected) => {
    const problems = api.validate(exchange as RecordedExchange).map((p) => p.problem);
    expect(problems.some((p) => p.startsWith(expected) || p.includes(expected))).toBe(true);
  });
});
