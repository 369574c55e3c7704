/**
 * The operator's configuration file (`ledger-dr.yaml`): which networks exist, their nodes, how to reach and
 * drive each node, and where credentials live (by reference only). Loaded and validated once at start-up; an
 * error names the exact field and what was expected.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { checkTemplate } from './command-template';
import type { SecretRef } from './secrets';

export const DEFAULT_CONFIG_FILE = 'ledger-dr.yaml';

/** Network and node names end up in workflow ids, file names and command lines: keep them plain. */
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const NAME_RULE = 'lowercase letters, digits and "-", starting with a letter or digit, at most 63 characters';
export const networkName = z.string().regex(NAME, { error: `expected a name of ${NAME_RULE}` });
const nodeId = z.string().regex(NAME, { error: `expected a node id of ${NAME_RULE}` });

const envVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name' });
const absolutePath = z
  .string()
  .min(1)
  .refine((p) => path.isAbsolute(p) && !p.includes('\0'), { error: 'expected an absolute path' });

/** A credential by reference. A plain string here is refused: secrets are never written into this file. */
export const secretRef = z.union([z.strictObject({ env: envVarName }), z.strictObject({ file: absolutePath })], {
  error: 'expected a reference {env: VARIABLE} or {file: /absolute/path}; secrets are never written inline',
}) as z.ZodType<SecretRef>;

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http or https URL' });
/** CCF serves only TLS, and its address must be a host:port the node can bind: no path. */
const ccfNodeUrl = z
  .url({ protocol: /^https$/, error: 'expected an https URL such as https://10.0.0.4:8000' })
  .refine((u) => new URL(u).port !== '' && ['', '/'].includes(new URL(u).pathname), {
    error: 'expected an https URL with an explicit port and no path, such as https://10.0.0.4:8000',
  });

/** A command template whose placeholders must come from `allowed`. */
export function commandTemplate(allowed: readonly string[]) {
  return z
    .string()
    .min(1, { error: 'expected a command' })
    .superRefine((template, ctx) => {
      for (const problem of checkTemplate(template, allowed)) ctx.addIssue({ code: 'custom', message: problem });
    });
}

// How commands reach a node's host. One shape per transport; the node's commands are the same whichever is used.
const localExecutor = z.strictObject({
  type: z.literal('local'),
  cwd: absolutePath.optional(),
});
const sshExecutor = z.strictObject({
  type: z.literal('ssh'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1),
  privateKey: secretRef,
  passphrase: secretRef.optional(),
  /** Pinned host key (`ssh-keygen -lf key.pub`): a DR tool must not trust whichever host answers. */
  hostKeySha256: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, {
    error: 'expected a host key fingerprint such as SHA256:abc… (ssh-keygen -lf)',
  }),
});
const kubectlExecutor = z.strictObject({
  type: z.literal('kubectl'),
  namespace: z.string().min(1),
  pod: z.string().min(1),
  container: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  kubeconfig: absolutePath.optional(),
  /** kubectl itself, when it is not on the worker's PATH. */
  binary: absolutePath.optional(),
});
const dockerExecutor = z.strictObject({
  type: z.literal('docker'),
  container: z.string().min(1),
  /** docker itself, when it is not on the worker's PATH. */
  binary: absolutePath.optional(),
});
export const executorConfig = z.discriminatedUnion(
  'type',
  [localExecutor, sshExecutor, kubectlExecutor, dockerExecutor],
  {
    error: 'expected an executor with type local, ssh, kubectl or docker',
  },
);
export type ExecutorConfig = z.infer<typeof executorConfig>;

/** Placeholders every node command may use. */
export const NODE_COMMAND_VARIABLES = ['network', 'node'] as const;

const nodeCommands = z.strictObject({
  start: commandTemplate(NODE_COMMAND_VARIABLES).optional(),
  stop: commandTemplate(NODE_COMMAND_VARIABLES).optional(),
  status: commandTemplate(NODE_COMMAND_VARIABLES).optional(),
});

const nodeBase = z.strictObject({
  id: nodeId,
  url: httpUrl.optional(),
  /** PEM file of the CA (or service certificate) that signs the node's TLS certificate. */
  caFile: absolutePath.optional(),
  executor: executorConfig.optional(),
  commands: nodeCommands.default({}),
});

function uniqueNodeIds(nodes: { id: string }[], ctx: z.RefinementCtx) {
  const seen = new Set<string>();
  nodes.forEach((node, i) => {
    if (seen.has(node.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate node id "${node.id}"` });
    seen.add(node.id);
  });
}

function networkOf<K extends string>(kind: K) {
  return z.strictObject({
    kind: z.literal(kind),
    description: z.string().optional(),
    /** Default executor for nodes that do not name their own; local when absent. */
    executor: executorConfig.default({ type: 'local' }),
    nodes: z.array(nodeBase).min(1, { error: 'expected at least one node' }).superRefine(uniqueNodeIds),
  });
}

/** Placeholders a CCF launcher command may use: `{{config}}` is the rendered cchost configuration file. */
export const CCF_LAUNCHER_VARIABLES = ['network', 'node', 'config', 'role', 'workDir'] as const;

/** A node of the crashed service: where it listened and where its ledger and snapshots survive. */
const ccfNode = nodeBase.extend({
  url: ccfNodeUrl,
  ledgerDirectory: absolutePath,
  /** Further directories of committed ledger files (cchost `ledger.read_only_directories`). */
  readOnlyLedgerDirectories: z.array(absolutePath).default([]),
  snapshotsDirectory: absolutePath.optional(),
});

const ccfMember = z.strictObject({
  name: nodeId,
  certificateFile: absolutePath,
  /** Drill mode only: the member's signing key, so ledger-dr can sign governance requests for it. */
  signingKey: secretRef.optional(),
  /** Drill mode only: the member's share-encryption private key, to decrypt its recovery share. */
  encryptionKey: secretRef.optional(),
});

const ccfSettings = z.strictObject({
  /** The crashed service's certificate: trusted to probe the old nodes, and required by Recover nodes. */
  previousServiceIdentityFile: absolutePath,
  /**
   * Rendered cchost configurations, fresh ledger directories and the new service certificate go here, one
   * folder per recovery. Worker and node hosts must both see it (local disk, or a shared mount).
   */
  workDirectory: absolutePath,
  /** Every ledger and snapshot directory is copied here, one timestamped folder per recovery. */
  backupDirectory: absolutePath,
  /** Where the new service certificate is written once the service is open. */
  serviceCertificateDestinations: z.array(absolutePath).default([]),
  launcher: z.strictObject({
    /** Starts cchost with `--config {{config}}` and returns once it runs (systemd-run, nohup, kubectl…). */
    start: commandTemplate(CCF_LAUNCHER_VARIABLES),
    /** Stops the cchost started with that configuration; must succeed when it is already stopped. */
    stop: commandTemplate(CCF_LAUNCHER_VARIABLES),
  }),
  /** Extra cchost settings merged into every rendered configuration (enclave, attestation, logging…). */
  cchostOverlay: z.record(z.string(), z.unknown()).default({}),
  members: z.array(ccfMember).min(1, { error: 'expected at least one member' }),
});

const ccfNetwork = networkOf('ccf').extend({
  nodes: z.array(ccfNode).min(1, { error: 'expected at least one node' }).superRefine(uniqueNodeIds),
  ccf: ccfSettings,
});

/** Placeholders a Canton/Splice launcher command may use (start.sh, stop.sh, kubectl scale …). */
export const CANTON_LAUNCHER_VARIABLES = ['network', 'migrationId'] as const;
/** Re-onboarding adds the identities dump file, the new participant id, the sponsor SV and the party hint. */
export const CANTON_REONBOARD_VARIABLES = [
  ...CANTON_LAUNCHER_VARIABLES,
  'identitiesFile',
  'participantId',
  'sponsorSv',
  'partyHint',
] as const;
/** Installing a data snapshot adds the extracted `domain_migration_dump.json` on the worker's disk. */
export const CANTON_INSTALL_DUMP_VARIABLES = [...CANTON_LAUNCHER_VARIABLES, 'dumpFile'] as const;

/** A roll-forward LSU runs a Canton console script: `{{script}}` is its text (a file holds it where a path is needed). */
export const CANTON_CONSOLE_VARIABLES = ['network', 'script'] as const;

const cantonLsuSettings = z.strictObject({
  /**
   * Prints when the participant last logged `Processing event at` (an ISO-8601 time; nothing when it has not),
   * e.g. `docker logs --since 24h splice-validator-participant-1 2>&1 | grep 'Processing event at' | tail -1 | cut -c1-24`.
   * The guide's sign that the node has caught up on the old synchronizer is that no new such line appears.
   */
  lastEventCommand: commandTemplate(CANTON_LAUNCHER_VARIABLES),
  /**
   * Runs a Canton console script against the participant, e.g.
   * `printf %s {{script}} > /tmp/lsu.sc && docker exec -i splice-validator-participant-1 canton run /tmp/lsu.sc -c remote.conf`.
   */
  consoleCommand: commandTemplate(CANTON_CONSOLE_VARIABLES),
  /** The console's name for the participant, and the alias of the global synchronizer it is connected to. */
  participantReference: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected a Scala identifier such as participant' })
    .default('participant'),
  synchronizerAlias: z.string().min(1).default('global'),
});

const cantonSettings = z.strictObject({
  /**
   * The Splice release the validator runs, e.g. 0.4.15 (read from its `/api/validator/version` when absent):
   * it decides how a broken global synchronizer is recovered (data snapshot before 0.6.2, roll-forward LSU after).
   */
  release: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, { error: 'expected a Splice release such as 0.4.15' })
    .optional(),
  /** The current migration id: the participant database is `participant-<migrationId>`. */
  migrationId: z.number().int().min(0),
  /** The validator app, e.g. https://validator.example.com (the admin API lives under /api/validator). */
  validatorUrl: httpUrl,
  /** OAuth2 access token for the validator admin API, by reference, and the audience it must carry. */
  auth: z.strictObject({ token: secretRef, audience: z.string().min(1) }),
  postgres: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    user: z.string().min(1).default('cnadmin'),
    password: secretRef,
    /** Where pg_dump, pg_restore and psql live when they are not on PATH. */
    binDir: absolutePath.optional(),
  }),
  backupDirectory: absolutePath,
  /** Seals the node-identities dump (it holds the participant's private keys): 32 bytes, base64. */
  backupEncryptionKey: secretRef,
  retention: z
    .strictObject({
      keep: z.number().int().min(1).default(7),
      maxAgeDays: z.number().int().min(1).default(30),
    })
    .default({ keep: 7, maxAgeDays: 30 }),
  launcher: z.strictObject({
    start: commandTemplate(CANTON_LAUNCHER_VARIABLES),
    stop: commandTemplate(CANTON_LAUNCHER_VARIABLES),
    /** e.g. `./start.sh -s {{sponsorSv}} -o "" -p {{partyHint}} -m {{migrationId}} -i {{identitiesFile}} -P {{participantId}} -w` */
    reonboard: commandTemplate(CANTON_REONBOARD_VARIABLES).optional(),
    /**
     * Copies a data snapshot into the app's domain-upgrade-dump volume or PVC, e.g.
     * `kubectl cp {{dumpFile}} validator/validator-app-0:/domain-upgrade-dump/domain_migration_dump.json`
     */
    installMigrationDump: commandTemplate(CANTON_INSTALL_DUMP_VARIABLES).optional(),
  }),
  /** How a roll-forward Logical Synchronizer Upgrade reaches the participant (Splice 0.6.2 and later). */
  lsu: cantonLsuSettings.optional(),
  /** The super validator that sponsors a re-onboarding, and the validator party's hint. */
  sponsorSvUrl: httpUrl.optional(),
  partyHint: z.string().min(1).optional(),
});

const cantonNetwork = networkOf('canton').extend({ canton: cantonSettings });

/** An X.500 name as Corda prints it, e.g. `O=PartyA, L=London, C=GB`. */
const x500Name = z.string().regex(/^(?=.*\bO=)(?=.*\bL=)(?=.*\bC=)[^"\n]+$/, {
  error: 'expected an X.500 name such as "O=PartyA, L=London, C=GB"',
});

/** A Corda node: its party, where its files are, and how to reach its shell, Jolokia and database. */
const cordaNode = nodeBase.extend({
  party: x500Name,
  /** The node's base directory (artemis/, brokers/, process-id), as the worker sees it. */
  baseDirectory: absolutePath,
  shell: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    user: z.string().min(1),
    password: secretRef,
    /** Pinned host key (SHA256:…), as for ssh executors. */
    hostKeySha256: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, {
      error: 'expected a host key fingerprint such as SHA256:abc… (ssh-keygen -lf)',
    }),
  }),
  /** The node's Jolokia endpoint (jmxMonitoringHttpPort), e.g. http://node-a:7005/jolokia/ */
  jolokia: z.strictObject({ url: httpUrl, user: z.string().min(1).optional(), password: secretRef.optional() }),
  database: z
    .strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(5432),
      database: z.string().min(1),
      user: z.string().min(1),
      password: secretRef,
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]*$/)
        .default('public'),
    })
    .optional(),
  /** The parties this node reconciles with; every other node of the network when absent. */
  peers: z.array(x500Name).optional(),
  /** Starts the node with `--pause-all-flows`, for the gentler checkpoint cleanup (kill each paused flow). */
  startPaused: commandTemplate(NODE_COMMAND_VARIABLES).optional(),
});

const cordaSettings = z.strictObject({
  /** `collaborative-recovery`: the LedgerSync/LedgerRecover CorDapps (Enterprise up to 4.11); `ledger-recovery`: 4.12's LedgerRecoveryFlow. */
  generation: z.enum(['collaborative-recovery', 'ledger-recovery']),
  /** Checkpoint archives and recovery archives, one folder per run. */
  archiveDirectory: absolutePath,
  /** Encrypts manual-recovery archives at rest and in transit: 32 bytes, base64. */
  archiveEncryptionKey: secretRef,
  reconciliation: z
    .strictObject({
      /** Reconcile with a random subset of this many peers (large networks); all peers when absent. */
      sampleSize: z.number().int().min(1).optional(),
      /** Node–peer reconciliations in flight at once across the network. */
      concurrency: z.number().int().min(1).max(1000).default(20),
      /** A reconciliation IN_PROGRESS longer than this is killed and stopped. */
      stuckAfterMinutes: z.number().min(0.01).default(60),
    })
    .default({ concurrency: 20, stuckAfterMinutes: 60 }),
  /** 4.12: LedgerRecoveryFlow's time window, in hours before the recovery started. */
  recoveryWindowHours: z
    .number()
    .min(1)
    .default(24 * 7),
});

/**
 * A `kind: corda` network without a `corda:` section is enough for network preflight; the recovery and
 * reconciliation procedures need the section, and then every node's party, base directory, shell and Jolokia.
 */
const cordaNetwork = networkOf('corda')
  .extend({
    nodes: z
      .array(cordaNode.partial({ party: true, baseDirectory: true, shell: true, jolokia: true }))
      .min(1, { error: 'expected at least one node' })
      .superRefine(uniqueNodeIds),
    corda: cordaSettings.optional(),
  })
  .superRefine((network, ctx) => {
    if (!network.corda) return;
    network.nodes.forEach((node, i) => {
      for (const field of ['party', 'baseDirectory', 'shell', 'jolokia'] as const) {
        if (node[field] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['nodes', i, field],
            message: 'required when the network has a corda: section',
          });
      }
    });
  });

export const networkConfig = z.discriminatedUnion('kind', [ccfNetwork, cantonNetwork, cordaNetwork], {
  error: 'expected kind: ccf, canton or corda',
});
export type NetworkConfig = z.infer<typeof networkConfig>;
export type CcfNetworkConfig = z.infer<typeof ccfNetwork>;
export type CantonNetworkConfig = z.infer<typeof cantonNetwork>;
export type CordaNetworkConfig = z.infer<typeof cordaNetwork>;
/** A node of a network with a `corda:` section: everything the procedures need is there. */
export type CordaNodeConfig = Required<
  Pick<z.infer<typeof cordaNode>, 'party' | 'baseDirectory' | 'shell' | 'jolokia'>
> &
  z.infer<typeof cordaNode>;
export type NodeConfig = NetworkConfig['nodes'][number];

const webhook = z.strictObject({
  name: nodeId,
  url: httpUrl,
  token: secretRef.optional(),
});

const encryptionKey = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'expected a key id of letters, digits, ".", "_", "-"' }),
  /** 32 random bytes, base64 (`openssl rand -base64 32`). */
  key: secretRef,
});

const encryption = z
  .strictObject({
    /** The key that seals new payloads; the others are kept to read older ones. */
    activeKey: z.string().min(1),
    keys: z.array(encryptionKey).min(1, { error: 'expected at least one key' }),
  })
  .superRefine((e, ctx) => {
    if (!e.keys.some((k) => k.id === e.activeKey)) {
      ctx.addIssue({ code: 'custom', path: ['activeKey'], message: `no key "${e.activeKey}" in encryption.keys` });
    }
  });

const apiToken = z.strictObject({
  name: z.string().min(1),
  token: secretRef,
  role: z.enum(['viewer', 'operator', 'approver']),
});

export const ledgerDrConfig = z.strictObject({
  temporal: z
    .strictObject({
      taskQueue: z.string().min(1).default('ledger-dr'),
    })
    .default({ taskQueue: 'ledger-dr' }),
  alerts: z
    .strictObject({
      webhooks: z.array(webhook).default([]),
    })
    .default({ webhooks: [] }),
  /** Payload encryption for everything stored in Temporal. Without it, runs are stored in plaintext. */
  encryption: encryption.optional(),
  api: z
    .strictObject({
      /** Bearer tokens and their roles: viewer reads, operator starts and cancels, approver approves and votes. */
      tokens: z.array(apiToken).default([]),
      /** Origins allowed to call the codec endpoint from a browser (the Temporal UI). */
      corsOrigins: z.array(z.string().min(1)).default([]),
    })
    .default({ tokens: [], corsOrigins: [] }),
  networks: z.record(networkName, networkConfig),
});
export type LedgerDrConfig = z.infer<typeof ledgerDrConfig>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** `networks.prod.nodes[2].url` from zod's path array. */
export function formatIssuePath(issuePath: readonly PropertyKey[]): string {
  let out = '';
  for (const part of issuePath) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(top level)';
}

/** One line per problem: `path: message`. Unions report the branch that came closest, not every alternative. */
export function formatZodError(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  return error.issues.map((issue) => `${formatIssuePath([...prefix, ...issue.path])}: ${describeIssue(issue)}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined'))
    return `required: expected ${issue.expected}`;
  if (issue.code === 'invalid_key') return issue.issues.map((inner) => inner.message).join('; ');
  return issue.message;
}

/** Parses and validates configuration text; `source` names the file in error messages. */
export function parseConfig(text: string, source: string): LedgerDrConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `YAML ${e.linePos?.[0] ? `line ${e.linePos[0].line}` : ''}: ${e.message.split('\n')[0]}`),
    );
  }
  let value: unknown;
  try {
    // yaml refuses documents whose aliases would expand without bound ("billion laughs").
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError(source, [`YAML: ${(err as Error).message}; expand the aliases or simplify the document`]);
  }
  const result = ledgerDrConfig.safeParse(value ?? {});
  if (!result.success) throw new ConfigError(source, formatZodError(result.error));
  return result.data;
}

export function configPath(env: NodeJS.ProcessEnv = process.env, explicit?: string): string {
  return path.resolve(explicit ?? env.LEDGER_DR_CONFIG ?? DEFAULT_CONFIG_FILE);
}

export function loadConfig(file: string): LedgerDrConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [
      code === 'ENOENT'
        ? 'file not found; copy ledger-dr.example.yaml to ledger-dr.yaml or set LEDGER_DR_CONFIG'
        : `cannot read the file (${code ?? 'unknown error'})`,
    ]);
  }
  return parseConfig(text, file);
}

/** The network, or an error that lists the configured ones. */
export function findNetwork(config: LedgerDrConfig, name: string): NetworkConfig {
  const network = config.networks[name];
  if (!network) {
    const known = Object.keys(config.networks);
    throw new ConfigError('input', [
      `network: no network named "${name}" in the configuration; configured: ${known.join(', ') || 'none'}`,
    ]);
  }
  return network;
}
