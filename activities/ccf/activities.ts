/**
 * The I/O of a CCF recovery: reading the network from configuration, backing up ledgers, launching and
 * stopping cchost through the operator's launcher commands, watching nodes, and the governance requests
 * members sign (in drill mode, with keys from configuration). Each activity is safe to retry: launches are
 * guarded, proposals and ballots are looked up before they are sent, and backups are never overwritten.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, chmod, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import deepmerge from 'deepmerge';
import { z } from 'zod';
import { renderCommand } from '../../shared/command-template';
import { networkName, type CcfNetworkConfig, type LedgerDrConfig } from '../../shared/config';
import { GOV_MSG, memberIdOf, signGovernanceRequest, type GovMsgType } from '../../shared/cose';
import type { BackupRecord } from '../../contracts/report';
import { readSecret } from '../../shared/secrets';
import { FailureType, invalidInput, parseInput } from '../errors';
import { networkOfKind } from '../config/networks';
import { withHeartbeats } from '../heartbeat';
import { createExecutor } from '../hosts/executor';
import { CcfHttpError, CcfNodeClient, CcfUnreachableError } from './client';
import { decryptRecoveryShare } from './recovery-share';
import { backupFolder, nodeWorkFiles, RECOVERY_ID, rpcAddress, type CcfRole } from './layout';
import {
  consensusResponse,
  encryptedShareResponse,
  networkInfoResponse,
  nodeStateResponse,
  proposalActionsResponse,
  proposalListResponse,
  proposalResponse,
  recoveryShareResponse,
  serviceConfigurationResponse,
  stateDigestResponse,
  type NodeState,
  type ProposalState,
  type ServiceStatus,
} from './schemas';

export interface CcfNodePlan {
  id: string;
  url: string;
  address: string;
  executor: string;
  ledgerDirectories: string[];
  snapshotsDirectory?: string;
}

export interface CcfMemberPlan {
  name: string;
  memberId: string;
  /** Drill mode can sign for this member (a signing key is configured). */
  canSign: boolean;
  /** Drill mode can decrypt this member's share (an encryption key is configured). */
  canDecryptShare: boolean;
}

export interface CcfPlan {
  network: string;
  nodes: CcfNodePlan[];
  members: CcfMemberPlan[];
  certificateDestinations: string[];
  alertWebhooks: string[];
}

export interface ConsensusProbe {
  node: string;
  reachable: boolean;
  /** The node's own CCF node id, to tell which configured node a reported primary is. */
  nodeId?: string;
  primaryId?: string;
  view?: number;
  error?: string;
}

export interface NodeObservation {
  node: string;
  role: CcfRole;
  reachable: boolean;
  state?: NodeState;
  lastSignedSeqno?: number;
  nodeId?: string;
  error?: string;
  observedAt: string;
}

export interface LaunchResult {
  node: string;
  role: CcfRole;
  /** A previous attempt of this activity had already launched it; nothing was started again. */
  alreadyLaunched: boolean;
  configFile: string;
  /** Recover nodes write the certificate of the service they create; it is public. */
  serviceCertificate?: string;
  /** The surviving ledger's uncommitted files copied into the node's writable ledger directory. */
  uncommittedCopied?: string[];
}

export interface ServiceObservation {
  serviceStatus: ServiceStatus;
  recoveryCount: number;
  currentServiceCreateTxid: string;
  /** No primary while an election runs. */
  primaryId?: string;
  currentView?: number;
  appReady: boolean;
  recoveryThreshold: number;
  serviceCertificate: string;
}

export interface ProposalObservation {
  proposalId: string;
  state: ProposalState;
  ballotCount: number;
  failure?: string;
  /** The proposal is `transition_service_to_open` from the crashed service to this recovery's service. */
  opensThisService: boolean;
}

export interface ShareSubmission {
  member: string;
  /** `already-combined`: the threshold had been reached before (by this call's earlier attempt, or a member). */
  outcome: 'accepted' | 'combination-failed' | 'already-combined';
  message: string;
  submittedCount?: number;
  recoveryThreshold?: number;
}

export interface CertificateWrite {
  destination: string;
  action: 'written' | 'unchanged';
  /** The file it replaced was kept here. */
  previousKeptAt?: string;
}

/** A node of this recovery, in a role. */
export interface RecoveryNodeRequest {
  network: string;
  node: string;
  role: CcfRole;
  recoveryId: string;
}

/** A governance request a member makes through a node of this recovery. */
export interface MemberRequest extends RecoveryNodeRequest {
  member: string;
  /** Seconds since the epoch, from workflow time, so a retried request is the same request. */
  createdAt: number;
}

const recoveryId = z.string().regex(RECOVERY_ID, { error: 'expected a recovery id of letters, digits, ".", "_", "-"' });
const role = z.enum(['Recover', 'Join']);
const nodeRef = z.strictObject({ network: networkName, node: z.string().min(1) });
const recoveryNodeRef = nodeRef.extend({ recoveryId, role });
const memberRef = recoveryNodeRef.extend({ member: z.string().min(1) });

/** Polls inside one activity until the state changes or the window ends: fewer history events per hour. */
const observeInput = recoveryNodeRef.extend({
  untilStates: z.array(z.string()).min(1),
  lastState: z.string().optional(),
  windowMs: z.number().int().min(0).max(300_000).default(15_000),
  pollIntervalMs: z.number().int().min(50).max(60_000).default(1000),
});

const transitionAction = 'transition_service_to_open';
/** The ballot drill mode casts; always the same text, so a resubmission is the identical ballot CCF accepts. */
const APPROVE_BALLOT = 'export function vote (proposal, proposerId) { return true }';

export function createCcfActivities(deps: { config: LedgerDrConfig }) {
  const ccfNetwork = (name: string): CcfNetworkConfig =>
    networkOfKind(deps.config, name, 'ccf', 'recovers CCF networks');

  function nodeOf(network: CcfNetworkConfig, networkNameValue: string, id: string) {
    const index = network.nodes.findIndex((n) => n.id === id);
    if (index < 0) throw invalidInput(`input.node: no node "${id}" in network "${networkNameValue}"`);
    return { node: network.nodes[index]!, index };
  }

  /** Runs the operator's launcher `start` or `stop` template for one node's cchost configuration. */
  async function runLauncher(
    networkNameValue: string,
    network: CcfNetworkConfig,
    index: number,
    which: 'start' | 'stop',
    role: CcfRole,
    files: { config: string; dir: string },
  ): Promise<void> {
    const node = network.nodes[index]!;
    const executor = createExecutor(
      node.executor ?? network.executor,
      `networks.${networkNameValue}.nodes[${index}].executor`,
    );
    const rendered = renderCommand(network.ccf.launcher[which], {
      network: networkNameValue,
      node: node.id,
      config: files.config,
      role,
      workDir: files.dir,
    });
    const run = await withHeartbeats((signal) => executor.run(rendered, { timeoutMs: 120_000, signal }));
    if (run.exitCode !== 0) {
      throw ApplicationFailure.retryable(
        `${node.id}: launcher ${which} exited ${run.exitCode ?? run.signal} (${executor.description}): ${lastLine(run.stderr || run.stdout)}`,
        which === 'start' ? 'CcfLaunchFailed' : 'CcfStopFailed',
      );
    }
  }

  function memberOf(network: CcfNetworkConfig, networkNameValue: string, name: string) {
    const index = network.ccf.members.findIndex((m) => m.name === name);
    if (index < 0) throw invalidInput(`input.member: no member "${name}" in networks.${networkNameValue}.ccf.members`);
    return { member: network.ccf.members[index]!, field: `networks.${networkNameValue}.ccf.members[${index}]` };
  }

  async function readPem(file: string, field: string): Promise<string> {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path`,
        FailureType.Configuration,
      );
    }
  }

  /** A client trusting this recovery's service for `node` in `role`. */
  async function recoveryClient(args: { network: string; node: string; recoveryId: string; role: CcfRole }) {
    const network = ccfNetwork(args.network);
    const { node } = nodeOf(network, args.network, args.node);
    const files = nodeWorkFiles(network, args.recoveryId, node.id, args.role);
    let serviceCertificate: string;
    try {
      serviceCertificate = await readFile(files.serviceCertificate, 'utf8');
    } catch {
      throw ApplicationFailure.retryable(
        `${node.id}: no service certificate at ${files.serviceCertificate} yet; the ${args.role} node has not written it`,
        'CcfNodeNotReady',
      );
    }
    return { network, node, files, client: new CcfNodeClient(node.url, { serviceCertificate }) };
  }

  /** Signs a governance request for a member whose keys are configured (drill mode). */
  async function signAs(
    network: CcfNetworkConfig,
    networkNameValue: string,
    memberName: string,
    msgType: GovMsgType,
    payload: unknown,
    createdAt: number,
    proposalId?: string,
  ) {
    const { member, field } = memberOf(network, networkNameValue, memberName);
    if (!member.signingKey) {
      throw invalidInput(`${field}.signingKey: not configured; drill mode signs for members with a signing key`);
    }
    const certificatePem = await readPem(member.certificateFile, `${field}.certificateFile`);
    const key = await readSecret(member.signingKey, `${field}.signingKey`);
    const body = signGovernanceRequest({
      signingKeyPem: key.reveal(),
      certificatePem,
      msgType,
      createdAt,
      proposalId,
      payload: JSON.stringify(payload),
    });
    return { body, memberId: memberIdOf(certificatePem), field };
  }

  /** Unreachable nodes and 5xx are worth retrying; a refused signature is a configuration problem. */
  function governanceFailure(err: unknown, field: string): unknown {
    if (err instanceof CcfHttpError && err.status === 401) {
      return ApplicationFailure.nonRetryable(
        `${err.message}; the service does not accept this member's signature: check ${field}.signingKey matches ${field}.certificateFile`,
        FailureType.Refused,
      );
    }
    if (err instanceof CcfHttpError || err instanceof CcfUnreachableError) {
      return ApplicationFailure.retryable(err.message, 'CcfUnavailable');
    }
    return err;
  }

  async function opensThisService(
    client: CcfNodeClient,
    network: CcfNetworkConfig,
    files: { serviceCertificate: string },
    proposalId: string,
  ) {
    const actions = await client.govGet(`/gov/members/proposals/${proposalId}/actions`, proposalActionsResponse);
    if (!actions) return false;
    const previous = normalisePem(await readFile(network.ccf.previousServiceIdentityFile, 'utf8'));
    const next = normalisePem(await readFile(files.serviceCertificate, 'utf8'));
    return actions.actions.some((a) => {
      if (a.name !== transitionAction) return false;
      const args = a.args as { previous_service_identity?: unknown; next_service_identity?: unknown } | undefined;
      return (
        typeof args?.previous_service_identity === 'string' &&
        typeof args.next_service_identity === 'string' &&
        normalisePem(args.previous_service_identity) === previous &&
        normalisePem(args.next_service_identity) === next
      );
    });
  }

  return {
    /** The network as a recovery sees it; never includes credentials, only whether they are configured. */
    async describeCcfNetwork(input: { network: string }): Promise<CcfPlan> {
      const { network: name } = parseInput(z.strictObject({ network: networkName }), input);
      const network = ccfNetwork(name);
      const members = await Promise.all(
        network.ccf.members.map(async (m, i) => ({
          name: m.name,
          memberId: memberIdOf(await readPem(m.certificateFile, `networks.${name}.ccf.members[${i}].certificateFile`)),
          canSign: !!m.signingKey,
          canDecryptShare: !!m.encryptionKey,
        })),
      );
      return {
        network: name,
        nodes: network.nodes.map((node, i) => ({
          id: node.id,
          url: node.url,
          address: rpcAddress(node.url),
          executor: createExecutor(node.executor ?? network.executor, `networks.${name}.nodes[${i}].executor`)
            .description,
          ledgerDirectories: [node.ledgerDirectory, ...node.readOnlyLedgerDirectories],
          snapshotsDirectory: node.snapshotsDirectory,
        })),
        members,
        certificateDestinations: network.ccf.serviceCertificateDestinations,
        alertWebhooks: deps.config.alerts.webhooks.map((w) => w.name),
      };
    },

    /** Which node this node of the crashed service believes is primary, and in which view. */
    async probeCcfConsensus(input: { network: string; node: string; timeoutMs?: number }): Promise<ConsensusProbe> {
      const args = parseInput(
        nodeRef.extend({ timeoutMs: z.number().int().min(100).max(60_000).default(3000) }),
        input,
      );
      const network = ccfNetwork(args.network);
      const { node } = nodeOf(network, args.network, args.node);
      const serviceCertificate = await readPem(
        network.ccf.previousServiceIdentityFile,
        `networks.${args.network}.ccf.previousServiceIdentityFile`,
      );
      const client = new CcfNodeClient(node.url, { serviceCertificate, timeoutMs: args.timeoutMs });
      try {
        const { details } = await client.get('/node/consensus', consensusResponse);
        const self = await client.get('/node/state', nodeStateResponse);
        return {
          node: node.id,
          reachable: true,
          nodeId: self.node_id,
          // `null` during an election: the node answered, it just follows no primary (counted as such).
          primaryId: details.primary_id ?? undefined,
          view: details.current_view,
        };
      } catch (err) {
        return { node: node.id, reachable: false, error: describeError(err) };
      }
    },

    /**
     * Copies every ledger and snapshot directory to `backupDirectory/<recoveryId>/`, with a manifest of
     * SHA-256 digests, and makes the copies read-only. The copy is made beside the final folder and renamed
     * into place only when complete, so a finished backup is never partial and never overwritten.
     */
    async backupCcfLedgers(input: { network: string; recoveryId: string }): Promise<BackupRecord[]> {
      const args = parseInput(z.strictObject({ network: networkName, recoveryId }), input);
      const network = ccfNetwork(args.network);
      const final = backupFolder(network, args.recoveryId);
      const manifestFile = path.join(final, 'MANIFEST.json');
      if (await exists(manifestFile)) return summariseManifest(final, await readManifest(manifestFile));

      const partial = `${final}.partial`;
      // Only an unfinished copy of ours lives here (the finished one was renamed away): start it afresh.
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true });
      let copied = 0;
      const manifest: ManifestEntry[] = await withHeartbeats(
        async () => {
          const entries: ManifestEntry[] = [];
          for (const node of network.nodes) {
            const sources: [string, string][] = [
              [node.ledgerDirectory, 'ledger'],
              ...node.readOnlyLedgerDirectories.map((d, i): [string, string] => [d, `ledger-read-only-${i}`]),
              ...(node.snapshotsDirectory ? [[node.snapshotsDirectory, 'snapshots'] as [string, string]] : []),
            ];
            for (const [source, name] of sources) {
              const target = path.join(partial, node.id, name);
              if (!(await exists(source))) {
                entries.push({ node: node.id, what: name, source, missing: true, files: [] });
                continue;
              }
              await cp(source, target, { recursive: true, preserveTimestamps: true, errorOnExist: true, force: false });
              const files = await digestTree(target);
              copied += files.length;
              entries.push({ node: node.id, what: name, source, files });
            }
          }
          return entries;
        },
        () => ({ copied }),
      );
      await writeFile(path.join(partial, 'MANIFEST.json'), `${JSON.stringify(manifest, null, 2)}\n`, { flag: 'wx' });
      await makeReadOnly(partial);
      await rename(partial, final);
      return summariseManifest(final, manifest);
    },

    /**
     * Renders the cchost configuration for `node` in `role` and runs the operator's launcher command. A retry
     * after the launcher succeeded (or while the node answers for this recovery) starts nothing.
     */
    async launchCcfNode(input: {
      network: string;
      node: string;
      role: CcfRole;
      recoveryId: string;
      /** Join only: the node whose service to join. */
      joinTarget?: string;
    }): Promise<LaunchResult> {
      const args = parseInput(recoveryNodeRef.extend({ joinTarget: z.string().min(1).optional() }), input);
      const network = ccfNetwork(args.network);
      const { node, index } = nodeOf(network, args.network, args.node);
      const files = nodeWorkFiles(network, args.recoveryId, node.id, args.role);
      const result = async (alreadyLaunched: boolean): Promise<LaunchResult> => ({
        node: node.id,
        role: args.role,
        alreadyLaunched,
        configFile: files.config,
        serviceCertificate: args.role === 'Recover' ? await waitForFile(files.serviceCertificate, 30_000) : undefined,
      });

      if (await exists(files.launchedMarker)) return result(true);

      await mkdir(files.ledger, { recursive: true });
      await mkdir(files.snapshots, { recursive: true });
      const address = rpcAddress(node.url);
      let command: Record<string, unknown>;
      if (args.role === 'Recover') {
        command = {
          type: 'Recover',
          service_certificate_file: files.serviceCertificate,
          recover: {
            initial_service_certificate_validity_days: 1,
            previous_service_identity_file: network.ccf.previousServiceIdentityFile,
          },
        };
      } else {
        if (!args.joinTarget) throw invalidInput('input.joinTarget: required for a Join node');
        const { node: target } = nodeOf(network, args.network, args.joinTarget);
        const targetFiles = nodeWorkFiles(network, args.recoveryId, target.id, 'Recover');
        // The joiner trusts the service its target created, whose certificate the target wrote at start-up.
        const certificate = await readPem(
          targetFiles.serviceCertificate,
          `the certificate of ${target.id}'s new service`,
        );
        await writeFile(files.serviceCertificate, certificate);
        command = {
          type: 'Join',
          service_certificate_file: files.serviceCertificate,
          join: { target_rpc_address: rpcAddress(target.url), retry_timeout: '1000ms' },
        };
      }
      // The operator's overlay is merged key by key (an overlay's `ledger.chunk_size` sits beside the
      // directories below); where both set a key, the recovery's value wins, and arrays are replaced.
      const cchostConfig = deepmerge(
        network.ccf.cchostOverlay,
        {
          network: {
            node_to_node_interface: { bind_address: `${new URL(node.url).hostname}:0` },
            rpc_interfaces: { primary_rpc_interface: { bind_address: address, published_address: address } },
          },
          command,
          ledger: {
            // Fresh and writable: a Recover node gets a copy of the surviving ledger's uncommitted files here
            // (below), as CCF reads only `.committed` files from the read-only directories.
            directory: files.ledger,
            read_only_directories:
              args.role === 'Recover' ? [node.ledgerDirectory, ...node.readOnlyLedgerDirectories] : [],
          },
          snapshots: {
            directory: files.snapshots,
            ...(args.role === 'Recover' && node.snapshotsDirectory
              ? { read_only_directory: node.snapshotsDirectory }
              : {}),
          },
          output_files: { pid_file: files.pidFile },
        },
        { arrayMerge: (_overlay, ours: unknown[]) => ours },
      );
      await writeFile(files.config, `${JSON.stringify(cchostConfig, null, 2)}\n`);

      // A previous attempt may have launched it and died before writing the marker: if the node answers
      // for this recovery, it is ours.
      if (await exists(files.serviceCertificate)) {
        const certificate = await readFile(files.serviceCertificate, 'utf8');
        try {
          await new CcfNodeClient(node.url, { serviceCertificate: certificate, timeoutMs: 2000 }).get(
            '/node/state',
            nodeStateResponse,
          );
          await writeFile(files.launchedMarker, new Date().toISOString());
          return result(true);
        } catch {
          // Not answering: launch it.
        }
      }

      const uncommittedCopied =
        args.role === 'Recover'
          ? await copyUncommittedLedgerFiles([node.ledgerDirectory, ...node.readOnlyLedgerDirectories], files.ledger)
          : [];
      await runLauncher(args.network, network, index, 'start', args.role, files);
      await writeFile(files.launchedMarker, new Date().toISOString());
      return { ...(await result(false)), uncommittedCopied };
    },

    /** Runs the operator's stop command for the cchost of `node` in `role`; stopping a stopped node is fine. */
    async stopCcfNode(input: RecoveryNodeRequest): Promise<void> {
      const args = parseInput(recoveryNodeRef, input);
      const network = ccfNetwork(args.network);
      const { node, index } = nodeOf(network, args.network, args.node);
      const files = nodeWorkFiles(network, args.recoveryId, node.id, args.role);
      await runLauncher(args.network, network, index, 'stop', args.role, files);
    },

    /**
     * Watches `GET /node/state` until the node reaches one of `untilStates`, changes state, or the window ends,
     * and reports what it saw last. An unreachable node is an observation, not a failure.
     */
    async observeCcfNode(input: {
      network: string;
      node: string;
      role: CcfRole;
      recoveryId: string;
      untilStates: string[];
      lastState?: string;
      windowMs?: number;
      pollIntervalMs?: number;
    }): Promise<NodeObservation> {
      const args = parseInput(observeInput, input);
      const deadline = Date.now() + args.windowMs;
      let latest: NodeObservation | undefined;
      // The latest observation rides on every heartbeat: the Temporal UI shows what the node last said.
      return withHeartbeats(
        async (signal) => {
          for (;;) {
            latest = await observeOnce(args);
            const changed = latest.state !== undefined && latest.state !== args.lastState;
            if ((latest.state && args.untilStates.includes(latest.state)) || changed || Date.now() >= deadline)
              return latest;
            await sleep(args.pollIntervalMs, undefined, { signal });
          }
        },
        () => latest,
      );
    },

    /** The service as one node of this recovery reports it. */
    async readCcfService(input: RecoveryNodeRequest): Promise<ServiceObservation> {
      const args = parseInput(recoveryNodeRef, input);
      const { client } = await recoveryClient(args);
      try {
        const info = await client.get('/node/network', networkInfoResponse);
        const ready = await client.status('/node/ready/app');
        const configuration = await client.get('/node/service/configuration', serviceConfigurationResponse);
        return {
          serviceStatus: info.service_status,
          recoveryCount: info.recovery_count,
          currentServiceCreateTxid: info.current_service_create_txid,
          primaryId: info.primary_id ?? undefined,
          currentView: info.current_view ?? undefined,
          appReady: ready === 204,
          recoveryThreshold: configuration.recovery_threshold,
          serviceCertificate: info.service_certificate,
        };
      } catch (err) {
        throw governanceFailure(err, `networks.${args.network}`);
      }
    },

    /** Refreshes and acknowledges the member's state digest, as a member must after a recovery. */
    async ackCcfStateDigest(input: MemberRequest): Promise<void> {
      const args = parseInput(memberRef.extend({ createdAt: z.number().int().min(0) }), input);
      const { network, client } = await recoveryClient(args);
      const update = await signAs(network, args.network, args.member, GOV_MSG.stateDigest, {}, args.createdAt);
      try {
        const digest = await client.govPost(
          `/gov/members/state-digests/${update.memberId}:update`,
          update.body,
          stateDigestResponse,
        );
        const ack = await signAs(
          network,
          args.network,
          args.member,
          GOV_MSG.ack,
          { stateDigest: digest!.stateDigest },
          args.createdAt,
        );
        await client.govPost(`/gov/members/state-digests/${ack.memberId}:ack`, ack.body, null);
      } catch (err) {
        throw governanceFailure(err, update.field);
      }
    },

    /**
     * Proposes `transition_service_to_open` from the crashed service to this recovery's service, unless this
     * member already has such a proposal open (a retry after the first attempt reached the service).
     */
    async proposeCcfServiceOpen(input: MemberRequest): Promise<ProposalObservation> {
      const args = parseInput(memberRef.extend({ createdAt: z.number().int().min(0) }), input);
      const { network, client, files } = await recoveryClient(args);
      const { member, field } = memberOf(network, args.network, args.member);
      const memberId = memberIdOf(await readPem(member.certificateFile, `${field}.certificateFile`));
      try {
        const existing = await client.govGet('/gov/members/proposals', proposalListResponse);
        for (const p of existing?.value ?? []) {
          if (p.proposerId === memberId && ['Open', 'Accepted'].includes(p.proposalState)) {
            if (await opensThisService(client, network, files, p.proposalId)) return observeProposal(p, true);
          }
        }
        const previous = await readPem(
          network.ccf.previousServiceIdentityFile,
          `networks.${args.network}.ccf.previousServiceIdentityFile`,
        );
        const next = await readFile(files.serviceCertificate, 'utf8');
        const signed = await signAs(
          network,
          args.network,
          args.member,
          GOV_MSG.proposal,
          {
            actions: [
              { name: transitionAction, args: { previous_service_identity: previous, next_service_identity: next } },
            ],
          },
          args.createdAt,
        );
        try {
          const proposal = await client.govPost('/gov/members/proposals:create', signed.body, proposalResponse);
          return observeProposal(proposal!, true);
        } catch (err) {
          // proposals.h: a request seen before is refused, naming the proposal it created.
          const replayOf =
            err instanceof CcfHttpError && err.code === 'ProposalReplay'
              ? /proposal ([a-f0-9]{64})/.exec(err.message)
              : null;
          if (!replayOf) throw err;
          const proposal = await client.govGet(`/gov/members/proposals/${replayOf[1]}`, proposalResponse);
          return observeProposal(proposal!, true);
        }
      } catch (err) {
        throw governanceFailure(err, field);
      }
    },

    /** A proposal's state, and whether it is the proposal this recovery needs. */
    async readCcfProposal(
      input: RecoveryNodeRequest & { proposalId: string },
    ): Promise<ProposalObservation | undefined> {
      const args = parseInput(recoveryNodeRef.extend({ proposalId: z.string().regex(/^[a-f0-9]{64}$/) }), input);
      const { network, client, files } = await recoveryClient(args);
      try {
        const proposal = await client.govGet(`/gov/members/proposals/${args.proposalId}`, proposalResponse);
        if (!proposal) return undefined;
        return observeProposal(proposal, await opensThisService(client, network, files, args.proposalId));
      } catch (err) {
        throw governanceFailure(err, `networks.${args.network}`);
      }
    },

    /** Votes for the proposal as the member, unless the member's ballot is already recorded. */
    async submitCcfBallot(input: MemberRequest & { proposalId: string }): Promise<ProposalObservation> {
      const args = parseInput(
        memberRef.extend({ proposalId: z.string().regex(/^[a-f0-9]{64}$/), createdAt: z.number().int().min(0) }),
        input,
      );
      const { network, client } = await recoveryClient(args);
      const signed = await signAs(
        network,
        args.network,
        args.member,
        GOV_MSG.ballot,
        { ballot: APPROVE_BALLOT },
        args.createdAt,
        args.proposalId,
      );
      try {
        // CCF answers with the recorded ballot's source (text/javascript). Submitting the same ballot again is
        // answered 200 without re-evaluation, so a retry after the ballot was recorded is harmless either way.
        const path = `/gov/members/proposals/${args.proposalId}/ballots/${signed.memberId}`;
        const recorded = await client.govGetText(path);
        if (recorded === undefined) {
          await client.govPost(`${path}:submit`, signed.body, proposalResponse);
        }
        const proposal = await client.govGet(`/gov/members/proposals/${args.proposalId}`, proposalResponse);
        return observeProposal(proposal!, true);
      } catch (err) {
        throw governanceFailure(err, signed.field);
      }
    },

    /**
     * Fetches the member's encrypted share, decrypts it with the member's configured key and submits it. The
     * raw share exists only in this function's memory; it is never returned, logged or written anywhere.
     */
    async submitCcfRecoveryShare(input: MemberRequest): Promise<ShareSubmission> {
      const args = parseInput(memberRef.extend({ createdAt: z.number().int().min(0) }), input);
      const { network, client } = await recoveryClient(args);
      const { member, field } = memberOf(network, args.network, args.member);
      if (!member.encryptionKey) {
        throw invalidInput(`${field}.encryptionKey: not configured; drill mode decrypts shares of members with one`);
      }
      const memberId = memberIdOf(await readPem(member.certificateFile, `${field}.certificateFile`));
      try {
        // Retried after the threshold was reached (the first attempt's worker died before reporting it), the
        // node is already reading its private ledger: the shares were combined, which is what this call is for.
        const { state } = await client.get('/node/state', nodeStateResponse);
        if (state === 'ReadingPrivateLedger' || state === 'PartOfNetwork') {
          return {
            member: args.member,
            outcome: 'already-combined',
            message: `${args.node} is already ${state}: the recovery shares have been combined`,
          };
        }
        const encrypted = await client.govGet(`/gov/recovery/encrypted-shares/${memberId}`, encryptedShareResponse);
        if (!encrypted)
          throw new CcfHttpError(
            `GET /gov/recovery/encrypted-shares/${memberId}`,
            404,
            'ResourceNotFound',
            'no share for this member',
          );
        const key = await readSecret(member.encryptionKey, `${field}.encryptionKey`);
        let share: Buffer;
        try {
          share = decryptRecoveryShare(encrypted.encryptedShare, key.reveal());
        } catch {
          throw ApplicationFailure.nonRetryable(
            `${field}.encryptionKey: cannot decrypt member ${args.member}'s recovery share with this key; check it is the member's share-encryption private key`,
            FailureType.Configuration,
          );
        }
        const signed = await signAs(
          network,
          args.network,
          args.member,
          GOV_MSG.recoveryShare,
          { share: share.toString('base64') },
          args.createdAt,
        );
        share.fill(0);
        try {
          const reply = await client.govPost(
            `/gov/recovery/members/${memberId}:recover`,
            signed.body,
            recoveryShareResponse,
          );
          return {
            member: args.member,
            outcome: 'accepted',
            message: reply!.message,
            submittedCount: reply!.submittedCount,
            recoveryThreshold: reply!.recoveryThreshold,
          };
        } catch (err) {
          // CCF answers 500 when the submitted shares do not combine, and forgets all of them.
          if (err instanceof CcfHttpError && err.status === 500) {
            return { member: args.member, outcome: 'combination-failed', message: err.message };
          }
          // The threshold was reached between the check above and this submission.
          if (err instanceof CcfHttpError && err.code === 'NodeAlreadyRecovering') {
            return { member: args.member, outcome: 'already-combined', message: err.message };
          }
          if (err instanceof CcfHttpError && err.status === 403) {
            const { service_status: status } = await client.get('/node/network', networkInfoResponse);
            if (status === 'Open') {
              return {
                member: args.member,
                outcome: 'already-combined',
                message: `the service is already ${status}: the recovery shares have been combined`,
              };
            }
          }
          throw err;
        }
      } catch (err) {
        throw governanceFailure(err, field);
      }
    },

    /**
     * Writes the new service certificate to each configured destination. A different file already there is
     * kept beside it (`<file>.before-<recoveryId>`), never overwritten.
     */
    async writeCcfServiceCertificate(input: {
      network: string;
      node: string;
      recoveryId: string;
    }): Promise<CertificateWrite[]> {
      const args = parseInput(z.strictObject({ network: networkName, node: z.string().min(1), recoveryId }), input);
      const network = ccfNetwork(args.network);
      const certificate = await readFile(
        nodeWorkFiles(network, args.recoveryId, args.node, 'Recover').serviceCertificate,
        'utf8',
      );
      const writes: CertificateWrite[] = [];
      for (const destination of network.ccf.serviceCertificateDestinations) {
        await mkdir(path.dirname(destination), { recursive: true });
        const current = await readFile(destination, 'utf8').catch(() => undefined);
        if (current === certificate) {
          writes.push({ destination, action: 'unchanged' });
          continue;
        }
        let previousKeptAt: string | undefined;
        if (current !== undefined) {
          previousKeptAt = `${destination}.before-${args.recoveryId}`;
          if (!(await exists(previousKeptAt))) await rename(destination, previousKeptAt);
        }
        const temporary = `${destination}.${process.pid}.tmp`;
        await writeFile(temporary, certificate, { mode: 0o644 });
        await rename(temporary, destination);
        writes.push({ destination, action: 'written', previousKeptAt });
      }
      return writes;
    },
  };

  async function observeOnce(args: {
    network: string;
    node: string;
    role: CcfRole;
    recoveryId: string;
  }): Promise<NodeObservation> {
    const observedAt = new Date().toISOString();
    let client: CcfNodeClient;
    try {
      ({ client } = await recoveryClient(args));
    } catch (err) {
      return { node: args.node, role: args.role, reachable: false, error: describeError(err), observedAt };
    }
    try {
      const state = await client.get('/node/state', nodeStateResponse);
      return {
        node: args.node,
        role: args.role,
        reachable: true,
        state: state.state,
        lastSignedSeqno: state.last_signed_seqno,
        nodeId: state.node_id,
        observedAt,
      };
    } catch (err) {
      // A 5xx or garbage is an answer from a live process; record it and keep watching.
      return {
        node: args.node,
        role: args.role,
        reachable: err instanceof CcfHttpError || err instanceof ApplicationFailure,
        error: describeError(err),
        observedAt,
      };
    }
  }
}

function observeProposal(p: z.infer<typeof proposalResponse>, opens: boolean): ProposalObservation {
  return {
    proposalId: p.proposalId,
    state: p.proposalState,
    ballotCount: p.ballotCount,
    failure: p.failure?.reason,
    opensThisService: opens,
  };
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.slice(0, 300) ?? '';
}

function normalisePem(pem: string): string {
  return pem.replace(/\r/g, '').trim();
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** A CCF ledger file not (yet) known committed: `ledger_<first>` or `ledger_<first>-<last>`, no suffix. */
const UNCOMMITTED_LEDGER_FILE = /^ledger_\d+(-\d+)?$/;

/**
 * Copies the uncommitted ledger files of `sources` into `target`, each to a temporary name and then renamed,
 * so a copy cut off by a crash is never taken for a file. A file already there is left alone: it is either
 * our finished copy or, if the node ran, the node's own. The sources are only read.
 */
async function copyUncommittedLedgerFiles(sources: string[], target: string): Promise<string[]> {
  const copied: string[] = [];
  await mkdir(target, { recursive: true });
  for (const source of sources) {
    const names = await readdir(source).catch(() => [] as string[]);
    for (const name of names.filter((n) => UNCOMMITTED_LEDGER_FILE.test(n)).sort()) {
      const destination = path.join(target, name);
      if (await exists(destination)) continue;
      const temporary = `${destination}.copying`;
      await cp(path.join(source, name), temporary, { preserveTimestamps: true, force: true });
      await chmod(temporary, 0o644);
      await rename(temporary, destination);
      copied.push(path.join(source, name));
    }
  }
  return copied;
}

async function waitForFile(file: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const text = await readFile(file, 'utf8');
      if (text.includes('END CERTIFICATE')) return text;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) {
      throw ApplicationFailure.retryable(`cchost did not write ${file} within ${timeoutMs / 1000}s`, 'CcfLaunchFailed');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ManifestEntry {
  node: string;
  what: string;
  source: string;
  missing?: boolean;
  files: { path: string; bytes: number; sha256: string }[];
}

async function digestTree(root: string): Promise<ManifestEntry['files']> {
  const out: ManifestEntry['files'] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(full)) hash.update(chunk as Buffer);
    out.push({ path: path.relative(root, full), bytes: (await stat(full)).size, sha256: hash.digest('hex') });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

async function makeReadOnly(root: string): Promise<void> {
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) await chmod(path.join(entry.parentPath, entry.name), 0o444);
  }
}

async function readManifest(file: string): Promise<ManifestEntry[]> {
  return JSON.parse(await readFile(file, 'utf8')) as ManifestEntry[];
}

function summariseManifest(folder: string, manifest: ManifestEntry[]): BackupRecord[] {
  return manifest.map((entry) => ({
    what: `${entry.node} ${entry.what}${entry.missing ? ' (missing at the source)' : ''} from ${entry.source}`,
    location: path.join(folder, entry.node, entry.what),
    bytes: entry.files.reduce((sum, f) => sum + f.bytes, 0),
    sha256: createHash('sha256')
      .update(entry.files.map((f) => `${f.sha256}  ${f.path}`).join('\n'))
      .digest('hex'),
  }));
}
