/**
 * The HTTP API: starts, lists, shows and steers procedures, renders their reports, manages schedules, and
 * serves the payload codec the Temporal UI uses to show decrypted data. It only talks to Temporal (start,
 * signal, update, query, list); the work happens in workers.
 */
import { createHash } from 'node:crypto';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import {
  Client,
  ScheduleOverlapPolicy,
  WorkflowUpdateFailedError,
  type Connection,
  type ScheduleDescription,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { createCodec, createDataConverter } from '../shared/codec';
import { findNetwork, networkName, type LedgerDrConfig } from '../shared/config';
import { HOST_NAME, PHYSICAL_SYNCHRONIZER_ID, SEQUENCER_ID } from '../contracts/canton-ids';
import { STEERING, type SteeringPath } from '../contracts/updates';
import { PROCEDURES, procedureWorkflowId } from '../contracts/procedures';
import type { ProcedureReport } from '../contracts/report';
import { reportToHtml, reportToMarkdown } from '../shared/report-render';
import { NETWORK_ATTRIBUTE, PHASE_ATTRIBUTE, PROCEDURE_ATTRIBUTE } from '../contracts/search-attributes';
import { readSecret } from '../shared/secrets';
import { ProcedureAlreadyRunningError, startProcedure } from '../shared/start-procedure';
import { taskQueue } from '../shared/temporal';
import type { ProcedureStatus } from '../contracts/status';

export type Role = 'viewer' | 'operator' | 'approver';

export interface Caller {
  name: string;
  /** `local`: the CLI talking to Temporal directly, with the caller's own Temporal credentials. */
  role: Role | 'local';
}

export interface ApiOptions {
  connection: Connection;
  namespace: string;
  dataConverter: DataConverter;
  config: LedgerDrConfig;
  taskQueue: string;
  /** Bearer token → caller; resolved from configuration at start-up (`resolveApiTokens`). */
  tokens: ReadonlyMap<string, Caller>;
  codec?: PayloadCodec;
  /** Where the Temporal UI is, for links in responses. */
  uiUrl?: string;
  logger?: boolean;
}

/** What each role may do. Approvers and operators can also read. */
/** Each steering update's request body (the contract has the payload types; the API checks them at the door). */
const STEERING_BODIES: Record<SteeringPath, z.ZodObject> = {
  approve: z.strictObject({
    comment: z.string().max(2000).optional(),
    /** canton-network-recovery: the new participant id when the validator must be re-onboarded. */
    participantId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/)
      .optional(),
  }),
  'archive-arrived': z.strictObject({
    party: z.string().min(1).max(500),
    requestId: z.string().min(1).max(200),
    path: z
      .string()
      .regex(/^\/[^\0]*$/, { error: 'expected an absolute path on the worker' })
      .max(4096),
  }),
  'agree-timestamp': z.strictObject({ timestamp: z.iso.datetime() }),
  'lsu-parameters': z.strictObject({
    newPhysicalSynchronizerId: z.string().regex(PHYSICAL_SYNCHRONIZER_ID),
    sequencerSuccessors: z
      .array(
        z.strictObject({
          sequencerId: z.string().regex(SEQUENCER_ID),
          host: z.string().regex(HOST_NAME),
          port: z.number().int().min(1).max(65535),
          tls: z.boolean().optional(),
        }),
      )
      .min(1)
      .max(100),
  }),
  vote: z.strictObject({ member: z.string().min(1) }),
  'proposal-submitted': z.strictObject({ member: z.string().min(1), proposalId: z.string().regex(/^[a-f0-9]{64}$/) }),
  'shares-submitted': z.strictObject({
    member: z.string().min(1),
    message: z.string().max(500).optional(),
    combinationFailed: z.boolean().optional(),
  }),
};

const CAN: Record<'read' | 'operate' | 'approve', Role[]> = {
  read: ['viewer', 'operator', 'approver'],
  operate: ['operator'],
  approve: ['approver'],
};

const PROCEDURE_NAMES = Object.values(PROCEDURES).map((p) => p.name) as [string, ...string[]];
const procedureByName = (name: string) => Object.entries(PROCEDURES).find(([, p]) => p.name === name)!;

const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).passthrough();
const runSummary = z.object({
  id: z.string(),
  runId: z.string(),
  procedure: z.string().optional(),
  network: z.string().optional(),
  status: z.string(),
  phase: z.string().optional(),
  startedAt: z.string().optional(),
  closedAt: z.string().optional(),
  uiUrl: z.string().optional(),
});

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  // Requests that change a run go out under the caller's identity, which Temporal records in history.
  const clientAs = (identity: string) =>
    new Client({
      connection: options.connection,
      namespace: options.namespace,
      dataConverter: options.dataConverter,
      identity,
    });
  const client = clientAs('ledger-dr-api');
  const app = Fastify({
    logger: options.logger
      ? {
          serializers: {
            // The UI's codec URL carries a token (see /codec/t/…): never log it.
            req: (req: { method: string; url: string }) => ({ method: req.method, url: redactCodecToken(req.url) }),
          },
        }
      : false,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ledger_dr_api_' });
  const started = new Counter({
    name: 'ledger_dr_api_runs_started_total',
    help: 'Runs started through the API, by procedure and network',
    labelNames: ['procedure', 'network'],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'ledger_dr_api_requests_total',
    help: 'API requests by route and status code',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    requests.inc({ route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) });
  });

  await app.register(cors, {
    // Only the Temporal UI's origins, and only for the codec (the UI calls it from the browser).
    origin: options.config.api.corsOrigins,
    credentials: true,
    methods: ['POST', 'OPTIONS'],
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'ledger-dr API', version: '1', description: 'Start and steer disaster-recovery procedures.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((err, _req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const problems = err.validation.map(
        (v) => `${err.validationContext ?? 'request'}${v.instancePath.replace(/\//g, '.')}: ${v.message}`,
      );
      return reply.status(400).send({ error: { code: 'InvalidRequest', message: problems.join('; ') } });
    }
    if (err instanceof ApiError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message }, ...err.extra });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.status(status).send({ error: { code: 'InvalidRequest', message: (err as Error).message } });
    }
    app.log.error(err);
    return reply.status(500).send({ error: { code: 'InternalError', message: 'internal error; see the API log' } });
  });

  const authorise = (allowed: Role[]) => async (req: FastifyRequest) => {
    const header = req.headers.authorization;
    const inPath = (req.params as { token?: string } | undefined)?.token;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : inPath;
    const caller = token ? options.tokens.get(token) : undefined;
    if (!caller)
      throw new ApiError(401, 'Unauthenticated', 'a valid bearer token is required (Authorization: Bearer …)');
    if (caller.role !== 'local' && !allowed.includes(caller.role)) {
      throw new ApiError(403, 'Forbidden', `role ${caller.role} may not do this; it needs ${allowed.join(' or ')}`);
    }
    (req as FastifyRequest & { caller: Caller }).caller = caller;
  };
  const requireNetwork = (network: string) => {
    try {
      findNetwork(options.config, network);
    } catch {
      throw new ApiError(
        400,
        'InvalidRequest',
        `body.network: no network "${network}"; configured: ${Object.keys(options.config.networks).join(', ')}`,
      );
    }
  };
  const callerOf = (req: FastifyRequest) => (req as FastifyRequest & { caller: Caller }).caller;
  const uiLink = (id: string, runId: string) =>
    options.uiUrl
      ? `${options.uiUrl}/namespaces/${options.namespace}/workflows/${encodeURIComponent(id)}/${runId}/history`
      : undefined;

  const summarise = (
    info: Pick<
      WorkflowExecutionInfo,
      'workflowId' | 'runId' | 'typedSearchAttributes' | 'status' | 'startTime' | 'closeTime'
    >,
  ) => ({
    id: info.workflowId,
    runId: info.runId,
    procedure: info.typedSearchAttributes.get(PROCEDURE_ATTRIBUTE),
    network: info.typedSearchAttributes.get(NETWORK_ATTRIBUTE),
    status: info.status.name,
    phase: info.typedSearchAttributes.get(PHASE_ATTRIBUTE),
    startedAt: info.startTime.toISOString(),
    closedAt: info.closeTime?.toISOString(),
    uiUrl: uiLink(info.workflowId, info.runId),
  });

  // ---- Service endpoints.
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage(app.swagger() as OpenApiDoc)),
  );

  // ---- Recoveries.
  app.post(
    '/v1/recoveries',
    {
      preValidation: authorise(CAN.operate),
      schema: {
        summary: 'Start a procedure on a configured network',
        headers: z.object({ 'idempotency-key': z.string().min(8).max(200).optional() }),
        body: z.strictObject({
          network: networkName,
          procedure: z.enum(PROCEDURE_NAMES),
          options: z.record(z.string(), z.unknown()).default({}),
        }),
        response: { 200: runSummary, 201: runSummary, 400: errorBody, 409: errorBody },
      },
    },
    async (req, reply) => {
      const { network, procedure, options: input } = req.body;
      requireNetwork(network);
      const key = req.headers['idempotency-key'];
      const keyHash = key ? createHash('sha256').update(key).digest('hex') : undefined;
      const workflowId = procedureWorkflowId(procedure as never, network);
      if (keyHash) {
        // The key is kept (hashed) in the run's memo, so a retry finds its run even after an API restart.
        const existing = await client.workflow
          .getHandle(workflowId)
          .describe()
          .catch(() => undefined);
        if (existing?.memo?.idempotencyKey === keyHash) return reply.status(200).send(summarise(existing));
      }
      const [key_] = procedureByName(procedure);
      try {
        const handle = await startProcedure(clientAs(`api:${callerOf(req).name}`), {
          procedure: key_ as keyof typeof PROCEDURES,
          network,
          taskQueue: options.taskQueue,
          input,
          memo: { ...(keyHash ? { idempotencyKey: keyHash } : {}), startedBy: callerOf(req).name },
        });
        started.inc({ procedure, network });
        return reply.status(201).send({
          id: handle.workflowId,
          runId: handle.firstExecutionRunId,
          procedure,
          network,
          status: 'RUNNING',
          uiUrl: uiLink(handle.workflowId, handle.firstExecutionRunId),
        });
      } catch (err) {
        if (err instanceof ProcedureAlreadyRunningError) {
          throw new ApiError(409, 'AlreadyRunning', err.message, {
            runningId: err.workflowId,
            runningRunId: err.runId,
          });
        }
        throw err;
      }
    },
  );

  app.get(
    '/v1/recoveries',
    {
      preValidation: authorise(CAN.read),
      schema: {
        summary: 'List runs through Temporal visibility',
        querystring: z.strictObject({
          network: networkName.optional(),
          procedure: z.enum(PROCEDURE_NAMES).optional(),
          status: z
            .enum(['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'TimedOut', 'ContinuedAsNew'])
            .optional(),
          phase: z
            .string()
            .regex(/^[a-z0-9-]+$/)
            .optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: { 200: z.object({ runs: z.array(runSummary) }) },
      },
    },
    async (req) => {
      const q = req.query;
      const clauses = [`${PROCEDURE_ATTRIBUTE.name} IS NOT NULL`];
      if (q.network) clauses.push(`${NETWORK_ATTRIBUTE.name} = '${q.network}'`);
      if (q.procedure) clauses.push(`${PROCEDURE_ATTRIBUTE.name} = '${q.procedure}'`);
      if (q.status) clauses.push(`ExecutionStatus = '${q.status}'`);
      if (q.phase) clauses.push(`${PHASE_ATTRIBUTE.name} = '${q.phase}'`);
      const runs = [];
      for await (const info of client.workflow.list({ query: clauses.join(' AND ') })) {
        runs.push(summarise(info));
        if (runs.length >= q.limit) break;
      }
      return { runs };
    },
  );

  const idParam = z.object({ id: z.string().min(1).max(300) });
  const handleOf = async (id: string) => {
    const handle = client.workflow.getHandle(id);
    const info = await handle.describe().catch(() => {
      throw new ApiError(404, 'NotFound', `no run with id "${id}"`);
    });
    return { handle, info };
  };

  app.get(
    '/v1/recoveries/:id',
    {
      preValidation: authorise(CAN.read),
      schema: { summary: 'A run: phase, per-node progress, what it waits for', params: idParam },
    },
    async (req) => {
      const { handle, info } = await handleOf(req.params.id);
      // A run whose worker is down still has its summary; the live status is a bonus.
      const status = await answerWithin(handle.query<ProcedureStatus>('status'), 3000, 'status').catch(() => undefined);
      return {
        ...summarise(info),
        phase: status?.phase ?? info.typedSearchAttributes.get(PHASE_ATTRIBUTE),
        awaiting: status?.awaiting ?? [],
        progress: status?.progress,
        steps: status?.report.steps ?? [],
      };
    },
  );

  app.get(
    '/v1/recoveries/:id/report',
    {
      preValidation: authorise(CAN.read),
      schema: { summary: 'The report as JSON, Markdown or HTML (Accept header)', params: idParam },
    },
    async (req, reply) => {
      const { handle, info } = await handleOf(req.params.id);
      let report: ProcedureReport | undefined;
      if (info.status.name === 'COMPLETED') {
        report = ((await handle.result()) as { report?: ProcedureReport } | undefined)?.report;
      } else {
        report = await answerWithin(handle.query<ProcedureReport>('report'), 5000, 'the report').catch((err) => {
          if (err instanceof ApiError) throw err;
          return undefined;
        });
      }
      if (!report)
        throw new ApiError(404, 'NoReport', `run "${req.params.id}" is not a ledger-dr procedure with a report`);
      const type = preferredType(req.headers.accept);
      if (type === 'text/markdown') return reply.type('text/markdown; charset=utf-8').send(reportToMarkdown(report));
      if (type === 'text/html') return reply.type('text/html; charset=utf-8').send(reportToHtml(report));
      return reply.send(report);
    },
  );

  /** Sends an update carrying the caller's name, so who did it is in the run's history. */
  for (const { path, update, role, summary } of STEERING)
    app.post(
      `/v1/recoveries/:id/${path}`,
      { preValidation: authorise(CAN[role]), schema: { summary, params: idParam, body: STEERING_BODIES[path] } },
      async (req) => {
        const { handle, info } = await handleOf(req.params.id);
        if (info.status.name !== 'RUNNING') {
          throw new ApiError(409, 'NotRunning', `run "${req.params.id}" is ${info.status.name.toLowerCase()}`);
        }
        try {
          const result = await answerWithin(
            handle.executeUpdate<string, [object]>(update.name, {
              args: [{ ...(req.body as object), actor: callerOf(req).name }],
            }),
            10_000,
            `${path} (it may still be applied when a worker polls; check the run before sending it again)`,
          );
          return { result };
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError) {
            throw new ApiError(409, 'NotAccepted', (err.cause as Error | undefined)?.message ?? err.message);
          }
          // The run ended between the check and the update.
          if (grpcCodeOf(err) === 5) throw new ApiError(409, 'NotRunning', `run "${req.params.id}" is not running`);
          throw err;
        }
      },
    );

  app.post(
    '/v1/recoveries/:id/cancel',
    {
      preValidation: authorise(CAN.operate),
      schema: {
        summary: 'Cancel a run',
        params: idParam,
        body: z.strictObject({ reason: z.string().max(500).optional() }).default({}),
      },
    },
    async (req) => {
      const { info } = await handleOf(req.params.id);
      // The request carries the caller as its identity, which Temporal records in the cancel event.
      await clientAs(`api:${callerOf(req).name}`)
        .workflow.getHandle(info.workflowId, info.runId)
        .cancel();
      return { cancelled: info.workflowId, by: callerOf(req).name };
    },
  );

  // ---- Schedules.
  const scheduleBody = z.strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    network: networkName,
    procedure: z.enum(PROCEDURE_NAMES),
    options: z.record(z.string(), z.unknown()).default({}),
    every: z
      .string()
      .regex(/^0*[1-9]\d{0,5}(s|m|h|d)$/, { error: 'expected a positive interval such as 30m, 6h or 1d' })
      .optional(),
    cron: z.string().min(9).optional(),
    overlap: z.enum(['SKIP', 'BUFFER_ONE', 'ALLOW_ALL', 'CANCEL_OTHER']).default('SKIP'),
  });
  app.post(
    '/v1/schedules',
    { preValidation: authorise(CAN.operate), schema: { summary: 'Create a schedule', body: scheduleBody } },
    async (req, reply) => {
      const b = req.body;
      if (!b.every === !b.cron) throw new ApiError(400, 'InvalidRequest', 'body: give exactly one of every or cron');
      requireNetwork(b.network);
      const [, p] = procedureByName(b.procedure);
      const handle = await rejectedAs400(
        clientAs(`api:${callerOf(req).name}`).schedule.create({
          scheduleId: b.id,
          spec: b.every ? { intervals: [{ every: b.every as `${number}s` }] } : { cronExpressions: [b.cron!] },
          action: {
            type: 'startWorkflow',
            workflowType: p.workflowType,
            taskQueue: options.taskQueue,
            // Scheduled runs get their own ids (schedule id + time), so they never collide with a manual run.
            workflowId: `${b.id}:${b.network}`,
            args: [{ ...b.options, network: b.network }],
          },
          policies: { overlap: ScheduleOverlapPolicy[b.overlap] },
          memo: { createdBy: callerOf(req).name },
        }),
      );
      return reply.status(201).send({ id: handle.scheduleId });
    },
  );
  app.get('/v1/schedules', { preValidation: authorise(CAN.read), schema: { summary: 'List schedules' } }, async () => {
    const schedules = [];
    for await (const s of client.schedule.list()) {
      schedules.push({
        id: s.scheduleId,
        paused: s.state.paused,
        workflowType: s.action?.workflowType,
        next: s.info.nextActionTimes[0]?.toISOString(),
      });
    }
    return { schedules };
  });
  const scheduleAction = (path: string, summary: string, act: (id: string, caller: Caller) => Promise<unknown>) =>
    app.post(
      `/v1/schedules/:id/${path}`,
      { preValidation: authorise(CAN.operate), schema: { summary, params: idParam } },
      async (req) => ({
        id: req.params.id,
        result: await notFoundAs404(act(req.params.id, callerOf(req)), req.params.id),
      }),
    );
  scheduleAction('pause', 'Pause a schedule', (id, c) =>
    client.schedule
      .getHandle(id)
      .pause(`paused by ${c.name}`)
      .then(() => 'paused'),
  );
  scheduleAction('resume', 'Resume a schedule', (id, c) =>
    client.schedule
      .getHandle(id)
      .unpause(`resumed by ${c.name}`)
      .then(() => 'resumed'),
  );
  scheduleAction('trigger', 'Run a schedule now', (id) =>
    client.schedule
      .getHandle(id)
      .trigger()
      .then(() => 'triggered'),
  );
  app.get(
    '/v1/schedules/:id',
    { preValidation: authorise(CAN.read), schema: { summary: 'A schedule', params: idParam } },
    async (req) =>
      describeSchedule(await notFoundAs404(client.schedule.getHandle(req.params.id).describe(), req.params.id)),
  );
  app.delete(
    '/v1/schedules/:id',
    { preValidation: authorise(CAN.operate), schema: { summary: 'Delete a schedule', params: idParam } },
    async (req) => {
      await notFoundAs404(client.schedule.getHandle(req.params.id).delete(), req.params.id);
      return { deleted: req.params.id };
    },
  );

  // ---- Codec for the Temporal UI (Temporal's remote codec protocol).
  const payloadsBody = z.object({
    payloads: z.array(
      z.object({ metadata: z.record(z.string(), z.string()).default({}), data: z.string().default('') }),
    ),
  });
  // The Temporal UI cannot send our bearer header, so it gets a URL carrying a viewer token instead:
  // --ui-codec-endpoint http://api/codec/t/<token>. Same tokens, same roles; the token is never logged.
  const codecRoute = (path: 'encode' | 'decode', route: string) =>
    app.post(
      route,
      {
        preValidation: authorise(CAN.read),
        schema: { summary: `Payload codec: ${path}`, body: payloadsBody, hide: route.includes(':token') },
      },
      async (req) => {
        if (!options.codec) throw new ApiError(404, 'NotConfigured', 'no encryption is configured');
        const payloads: Payload[] = req.body.payloads.map((p) => ({
          metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
          data: Buffer.from(p.data, 'base64'),
        }));
        const out = path === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
        return {
          payloads: out.map((p) => ({
            metadata: Object.fromEntries(
              Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
            ),
            data: Buffer.from(p.data ?? []).toString('base64'),
          })),
        };
      },
    );
  for (const path of ['encode', 'decode'] as const) {
    codecRoute(path, `/codec/${path}`);
    codecRoute(path, `/codec/t/:token/${path}`);
  }

  return app;
}

interface OpenApiDoc {
  info: { title: string; description?: string };
  paths: Record<string, Record<string, { summary?: string }>>;
}

/** A self-contained docs page (no CDN: operators' networks are often closed), generated from the document. */
function docsPage(doc: OpenApiDoc): string {
  const esc = (v: string) =>
    v.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rows = Object.entries(doc.paths)
    .flatMap(([path, ops]) =>
      Object.entries(ops).map(
        ([method, op]) =>
          `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${esc(path)}</code></td><td>${esc(op.summary ?? '')}</td></tr>`,
      ),
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}td{padding:.2rem .8rem;border-bottom:1px solid #ddd}</style></head>
<body><h1>${esc(doc.info.title)}</h1><p>${esc(doc.info.description ?? '')} Every request needs <code>Authorization: Bearer &lt;token&gt;</code>.
The machine-readable description is at <a href="/openapi.json">/openapi.json</a>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What it does</th></tr></thead><tbody>${rows}</tbody></table></body></html>`;
}

function redactCodecToken(url: string): string {
  return url.replace(/^\/codec\/t\/[^/]+/, '/codec/t/[redacted]');
}

/** Content negotiation for reports: the first of Markdown or HTML the client names, else JSON. */
function preferredType(accept: string | undefined): string {
  for (const part of (accept ?? '').split(',')) {
    const type = part.split(';')[0]!.trim();
    if (type === 'text/markdown' || type === 'text/html' || type === 'application/json') return type;
  }
  return 'application/json';
}

function grpcCodeOf(err: unknown): number | undefined {
  return (err as { cause?: { code?: number } }).cause?.code ?? (err as { code?: number }).code;
}

/** What needs a worker (queries, updates) gets a bounded wait: a run whose worker is down is a 503, not a hang. */
async function answerWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ApiError(
            503,
            'WorkerUnavailable',
            `${what}: no worker answered within ${ms / 1000}s; is a ledger-dr worker running for this run's task queue?`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Temporal refusing what was asked (a cron it cannot parse, an id in use) is the caller's 400/409, not a 500. */
async function rejectedAs400<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    if ((err as Error).name === 'ScheduleAlreadyRunning')
      throw new ApiError(409, 'Conflict', 'a schedule with this id exists already');
    const grpcCode =
      (err as { code?: number; cause?: { code?: number } }).cause?.code ?? (err as { code?: number }).code;
    // INVALID_ARGUMENT
    if (grpcCode === 3)
      throw new ApiError(400, 'InvalidRequest', `Temporal refused the schedule: ${(err as Error).message}`);
    throw err;
  }
}

async function notFoundAs404<T>(promise: Promise<T>, id: string): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    // describe and delete name the error; pause, unpause and trigger surface gRPC NOT_FOUND (code 5).
    const grpcCode =
      (err as { code?: number; cause?: { code?: number } }).cause?.code ?? (err as { code?: number }).code;
    if ((err as Error).name === 'ScheduleNotFoundError' || grpcCode === 5)
      throw new ApiError(404, 'NotFound', `no schedule "${id}"`);
    throw err;
  }
}

function describeSchedule(s: ScheduleDescription) {
  return {
    id: s.scheduleId,
    paused: s.state.paused,
    note: s.state.note,
    overlap: s.policies.overlap,
    recentRuns: s.info.recentActions.length,
    next: s.info.nextActionTimes.map((t) => t.toISOString()),
  };
}

/**
 * The API for a configuration, as every process builds it (API server, CLI, demo): the configured payload
 * encryption, task queue and tokens, unless the caller gives its own.
 */
export async function buildApiForConfig(
  options: Pick<ApiOptions, 'connection' | 'namespace' | 'config' | 'uiUrl' | 'logger'> &
    Partial<Pick<ApiOptions, 'tokens' | 'taskQueue'>>,
): Promise<FastifyInstance> {
  const { config } = options;
  return buildApi({
    ...options,
    dataConverter: await createDataConverter(config),
    codec: config.encryption ? await createCodec(config.encryption) : undefined,
    taskQueue: options.taskQueue ?? taskQueue(config.temporal.taskQueue),
    tokens: options.tokens ?? (await resolveApiTokens(config)),
  });
}

/** Tokens are read once at start-up from their references; each maps to a caller name and role. */
export async function resolveApiTokens(config: LedgerDrConfig): Promise<Map<string, Caller>> {
  const tokens = new Map<string, Caller>();
  for (const [i, t] of config.api.tokens.entries()) {
    const secret = await readSecret(t.token, `api.tokens[${i}].token`);
    tokens.set(secret.reveal(), { name: t.name, role: t.role });
  }
  return tokens;
}
