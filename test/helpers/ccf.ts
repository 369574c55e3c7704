/**
 * A crashed CCF network for tests: ledgers on disk written by the simulator's fixture, a configuration whose
 * launcher commands run the simulator's cchost stand-in, and helpers to act as a member would with their own
 * tools (sign and send governance requests) in non-drill recoveries.
 */
import { constants as cryptoConstants, createHash, privateDecrypt } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import axios from 'axios';
import { createActivities } from '../../activities';
import type { LedgerDrConfig } from '../../shared/config';
import { GOV_MSG, memberIdOf, signGovernanceRequest, type GovMsgType } from '../../shared/cose';
import { createCrashedNetwork } from '../../simulators/ccf/ledger';
import type { CcfSimulator } from '../../simulators/ccf/simulator';
import { PROJECT_ROOT } from './paths';
import { freePort } from './ports';
import { scratchDir, writeConfig } from './temporal';
import { waitFor } from './wait';

export interface CcfTestNode {
  id: string;
  lastSignedSeqno: number;
  /** Where the node's committed files end (see the simulator's fixture); the rest is its uncommitted tail. */
  committedSeqno?: number;
  snapshotSeqno?: number;
}

export interface CcfTestNetwork {
  name: string;
  dir: string;
  configFile: string;
  config: LedgerDrConfig;
  /** The configuration as written, to extend it (API tokens…) and write it again. */
  rawConfig: object;
  fixture: Awaited<ReturnType<typeof createCrashedNetwork>>;
  addresses: Record<string, string>;
  certificateDestination: string;
  backupDirectory: string;
  /** SHA-256 of every file the crashed service left, to prove they were never modified. */
  originalDigests(): Record<string, string>;
  members: { name: string; certificateFile: string; signingKeyFile: string; encryptionKeyFile: string }[];
}

export async function createCcfTestNetwork(
  sim: CcfSimulator,
  options: {
    name: string;
    nodes: CcfTestNode[];
    members?: number;
    recoveryThreshold?: number;
    /** Configure the previous service identity as some other certificate. */
    previousIdentityFile?: string;
    alerts?: LedgerDrConfig['alerts'];
    cchostOverlay?: Record<string, unknown>;
  },
): Promise<CcfTestNetwork> {
  const dir = scratchDir(`ccf-${options.name}`);
  const ports = await Promise.all(options.nodes.map(() => freePort()));
  const fixture = await createCrashedNetwork({
    dir: path.join(dir, 'crashed'),
    nodes: options.nodes.map((n, i) => ({ ...n, port: ports[i]! })),
    members: options.members ?? 3,
    recoveryThreshold: options.recoveryThreshold ?? 2,
    recoveryCount: 2,
  });
  const cchost = `${JSON.stringify(process.execPath)} --import tsx simulators/ccf/cchost.ts --simulator ${sim.controlUrl}`;
  const members = fixture.members.map((m, i) => ({
    name: `m${i}`,
    certificateFile: m.certificateFile,
    signingKeyFile: m.signingKeyFile,
    encryptionKeyFile: m.encryptionPrivateKeyFile,
  }));
  const certificateDestination = path.join(dir, 'clients', 'service_cert.pem');
  const backupDirectory = path.join(dir, 'backups');
  const raw = {
    alerts: options.alerts ?? { webhooks: [] },
    networks: {
      [options.name]: {
        kind: 'ccf',
        executor: { type: 'local', cwd: PROJECT_ROOT },
        ccf: {
          previousServiceIdentityFile: options.previousIdentityFile ?? fixture.previousServiceCertificateFile,
          workDirectory: path.join(dir, 'work'),
          backupDirectory,
          serviceCertificateDestinations: [certificateDestination],
          launcher: { start: `${cchost} --config {{config}}`, stop: `${cchost} stop --config {{config}}` },
          ...(options.cchostOverlay ? { cchostOverlay: options.cchostOverlay } : {}),
          members: members.map((m) => ({
            name: m.name,
            certificateFile: m.certificateFile,
            signingKey: { file: m.signingKeyFile },
            encryptionKey: { file: m.encryptionKeyFile },
          })),
        },
        nodes: options.nodes.map((n, i) => {
          const files = fixture.nodes[i]!;
          return {
            id: n.id,
            url: `https://127.0.0.1:${ports[i]}`,
            ledgerDirectory: files.ledgerDirectory,
            snapshotsDirectory: files.snapshotsDirectory,
          };
        }),
      },
    },
  };
  const { file, config } = writeConfig(dir, raw);
  const crashedRoot = path.join(dir, 'crashed');
  return {
    name: options.name,
    dir,
    configFile: file,
    config,
    rawConfig: raw,
    fixture,
    addresses: Object.fromEntries(options.nodes.map((n, i) => [n.id, `127.0.0.1:${ports[i]}`])),
    certificateDestination,
    backupDirectory,
    originalDigests: () => digestTree(crashedRoot),
    members,
  };
}

/**
 * A one-node recovery in its public phase, as members find it when governance starts: the node launched as
 * Recover through the activities (the launcher stand-in) and `PartOfPublicNetwork`.
 */
export async function startRecoveringNode(
  sim: CcfSimulator,
  options: { name: string; lastSignedSeqno: number; members?: number; recoveryThreshold?: number },
) {
  const net = await createCcfTestNetwork(sim, {
    name: options.name,
    // All of it committed: these tests are about governance, not about which ledger files are read.
    nodes: [{ id: 'n0', lastSignedSeqno: options.lastSignedSeqno, committedSeqno: options.lastSignedSeqno }],
    members: options.members ?? 3,
    ...(options.recoveryThreshold ? { recoveryThreshold: options.recoveryThreshold } : {}),
  });
  const activities = createActivities({ config: net.config });
  const ref = { network: net.name, node: 'n0', role: 'Recover' as const, recoveryId: `recovering-${options.name}` };
  await activities.launchCcfNode(ref);
  await waitFor('public ledger read', async () => {
    const o = await activities.observeCcfNode({ ...ref, untilStates: ['PartOfPublicNetwork'], windowMs: 0 });
    return o.state === 'PartOfPublicNetwork' ? o : undefined;
  });
  const certificateFile = path.join(net.dir, 'work', ref.recoveryId, 'n0-recover', 'service_cert.pem');
  return {
    net,
    activities,
    ref,
    certificateFile,
    certificate: readFileSync(certificateFile, 'utf8'),
    url: `https://${net.addresses.n0}`,
  };
}

/** Runs the network's previous service again on `sim` (a health watch needs a live service to see fail). */
export async function startPreviousService(sim: CcfSimulator, net: CcfTestNetwork): Promise<void> {
  await sim.startPreviousService({
    nodes: Object.entries(net.addresses).map(([id, address], i) => ({
      address,
      ledgerDirectory: net.fixture.nodes[i]!.ledgerDirectory,
      id,
    })),
    serviceCertificatePem: readFileSync(net.fixture.previousServiceCertificateFile, 'utf8'),
    serviceKeyPem: readFileSync(net.fixture.previousServiceKeyFile, 'utf8'),
  });
}

export function digestTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[path.relative(root, full)] = createHash('sha256').update(readFileSync(full)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** A member acting with their own tools: signs requests with their key and sends them to a node. */
export class TestMember {
  readonly memberId: string;
  private readonly certificate: string;
  private readonly signingKey: string;

  constructor(
    readonly member: CcfTestNetwork['members'][number],
    private readonly nodeUrl: string,
    private readonly serviceCertificate: string,
  ) {
    this.certificate = readFileSync(member.certificateFile, 'utf8');
    this.signingKey = readFileSync(member.signingKeyFile, 'utf8');
    this.memberId = memberIdOf(this.certificate);
  }

  sign(msgType: GovMsgType, payload: unknown, proposalId?: string): Buffer {
    return signGovernanceRequest({
      signingKeyPem: this.signingKey,
      certificatePem: this.certificate,
      msgType,
      createdAt: Math.floor(Date.now() / 1000),
      proposalId,
      payload: JSON.stringify(payload),
    });
  }

  send(pathname: string, body: Buffer) {
    return axios.post(`${this.nodeUrl}${pathname}?api-version=2024-07-01`, body, {
      headers: { 'content-type': 'application/cose' },
      httpsAgent: new https.Agent({ ca: this.serviceCertificate }),
      validateStatus: () => true,
    });
  }

  private async post(pathname: string, msgType: GovMsgType, payload: unknown, proposalId?: string) {
    return this.send(pathname, this.sign(msgType, payload, proposalId));
  }

  async proposeOpen(previousIdentity: string): Promise<string> {
    const res = await this.post('/gov/members/proposals:create', GOV_MSG.proposal, {
      actions: [
        {
          name: 'transition_service_to_open',
          args: { previous_service_identity: previousIdentity, next_service_identity: this.serviceCertificate },
        },
      ],
    });
    if (res.status !== 200) throw new Error(`proposal refused: ${res.status} ${JSON.stringify(res.data)}`);
    return (res.data as { proposalId: string }).proposalId;
  }

  async vote(
    proposalId: string,
    ballot = 'export function vote (proposal, proposerId) { return true }',
  ): Promise<void> {
    const res = await this.post(
      `/gov/members/proposals/${proposalId}/ballots/${this.memberId}:submit`,
      GOV_MSG.ballot,
      { ballot },
      proposalId,
    );
    if (res.status !== 200) throw new Error(`ballot refused: ${res.status} ${JSON.stringify(res.data)}`);
  }

  async submitShare(): Promise<{ status: number; message: string }> {
    const encrypted = await axios.get<{ encryptedShare: string }>(
      `${this.nodeUrl}/gov/recovery/encrypted-shares/${this.memberId}?api-version=2024-07-01`,
      { httpsAgent: new https.Agent({ ca: this.serviceCertificate }) },
    );
    const share = privateDecrypt(
      {
        key: readFileSync(this.member.encryptionKeyFile, 'utf8'),
        padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
      },
      Buffer.from(encrypted.data.encryptedShare, 'base64'),
    );
    const res = await this.post(`/gov/recovery/members/${this.memberId}:recover`, GOV_MSG.recoveryShare, {
      share: share.toString('base64'),
    });
    const body = res.data as { message?: string; error?: { message?: string } };
    return { status: res.status, message: body.message ?? body.error?.message ?? '' };
  }
}
