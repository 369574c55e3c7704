/**
 * The simulator's ledger files. Real CCF ledgers are binary; the simulator keeps CCF's file naming
 * (`ledger_<first>-<last>.committed`, an uncommitted tail `ledger_<first>`, `snapshot_<seqno>_<evidence>.committed`)
 * with JSON content, so that which files survive on which node decides its `last_signed_seqno`, exactly as
 * in a real recovery. The first chunk carries what CCF keeps in its public KV and recovery needs: the
 * service identity, recovery_count, view, members, their encrypted recovery shares and the threshold.
 *
 * Read as CCF reads them (microsoft/CCF `src/host/ledger.h`, the read-only scan that logs "Read-only ledger
 * file {} is ignored as not committed"; `cchost_config.json`: "only '.committed' files will be read from these
 * directories"): every ledger file of `ledger.directory`, only `.committed` ones of `ledger.read_only_directories`.
 * A crashed node's last file is usually uncommitted and holds its newest signatures (commit trails the
 * signatures), so a recovery that leaves it in a read-only directory recovers less than the service committed.
 */
import { constants as cryptoConstants, createHash, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createEncryptionKeyPair, createMemberIdentity, createServiceIdentity, type Identity } from '../../shared/pki';
import { certificateFingerprint } from './cose';

export const LEDGER_FORMAT = 'ledger-dr/ccf-simulator-ledger/1';
const CHUNK = 100;
const SIGNATURE_EVERY = 10;

export interface LedgerMember {
  memberId: string;
  certificate: string;
  encryptionPublicKey: string;
  /** RSA-OAEP-SHA256 of the raw share under the member's encryption key, as CCF stores it. */
  encryptedShare: string;
  /** SHA-256 of the raw share, so the simulator can check submitted shares without keeping them. */
  shareSha256: string;
}

export interface LedgerService {
  serviceCertificate: string;
  recoveryCount: number;
  lastView: number;
  recoveryThreshold: number;
  members: LedgerMember[];
  lastPrimary?: string;
}

interface Chunk {
  format: string;
  first: number;
  last: number;
  signatures: number[];
  service?: LedgerService;
}

export interface LedgerContents {
  lastSignedSeqno: number;
  lastSeqno: number;
  snapshotSeqno: number;
  service?: LedgerService;
  files: number;
}

const LEDGER_FILE = /^ledger_(\d+)(?:-(\d+))?(\.committed)?$/;
const SNAPSHOT_FILE = /^snapshot_(\d+)_(\d+)\.committed$/;

/**
 * What a node started with this ledger configuration recovers: every chunk in `directory`, the committed
 * chunks of `readOnlyDirectories`, and the newest snapshot.
 */
export function readLedger(
  directory: string,
  readOnlyDirectories: string[] = [],
  snapshotDirs: string[] = [],
): LedgerContents {
  const result: LedgerContents = { lastSignedSeqno: 0, lastSeqno: 0, snapshotSeqno: 0, files: 0 };
  const sources = [
    { dir: directory, committedOnly: false },
    ...readOnlyDirectories.map((dir) => ({ dir, committedOnly: true })),
  ];
  for (const { dir, committedOnly } of sources) {
    for (const name of safeList(dir)) {
      const match = LEDGER_FILE.exec(name);
      if (!match || (committedOnly && !match[3])) continue;
      const chunk = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Chunk;
      if (chunk.format !== LEDGER_FORMAT) throw new Error(`${path.join(dir, name)}: not a simulator ledger file`);
      result.files++;
      result.lastSeqno = Math.max(result.lastSeqno, chunk.last);
      result.lastSignedSeqno = Math.max(result.lastSignedSeqno, ...chunk.signatures, 0);
      if (chunk.service) result.service = chunk.service;
    }
  }
  for (const dir of snapshotDirs) {
    for (const name of safeList(dir)) {
      const match = SNAPSHOT_FILE.exec(name);
      if (match) result.snapshotSeqno = Math.max(result.snapshotSeqno, Number(match[1]));
    }
  }
  result.snapshotSeqno = Math.min(result.snapshotSeqno, result.lastSignedSeqno);
  return result;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export interface CrashedNetworkNode {
  id: string;
  port: number;
  lastSignedSeqno: number;
  /**
   * Where this node's committed files end; the rest, up to and past `lastSignedSeqno`, is its uncommitted
   * tail. By default the last whole chunk before `lastSignedSeqno`, as commit trails the newest signatures.
   */
  committedSeqno?: number;
  snapshotSeqno?: number;
}

export interface CrashedNetwork {
  previousServiceCertificateFile: string;
  previousServiceKeyFile: string;
  members: {
    memberId: string;
    certificateFile: string;
    signingKeyFile: string;
    encryptionPublicKeyFile: string;
    encryptionPrivateKeyFile: string;
  }[];
  nodes: { id: string; port: number; ledgerDirectory: string; snapshotsDirectory: string }[];
}

/**
 * Writes what a crashed service leaves behind: its identity, its members' keys (as the members hold them)
 * and each node's ledger and snapshots, of the given lengths.
 */
export async function createCrashedNetwork(options: {
  dir: string;
  nodes: CrashedNetworkNode[];
  members?: number;
  recoveryThreshold?: number;
  recoveryCount?: number;
  lastView?: number;
  lastPrimary?: string;
}): Promise<CrashedNetwork> {
  const dir = options.dir;
  const write = (file: string, text: string) => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    return file;
  };
  const service = await createServiceIdentity();
  const previousServiceCertificateFile = write(path.join(dir, 'previous', 'service_cert.pem'), service.certificatePem);
  const previousServiceKeyFile = write(path.join(dir, 'previous', 'service_key.pem'), service.privateKeyPem);

  const memberCount = options.members ?? 3;
  const members: CrashedNetwork['members'] = [];
  const ledgerMembers: LedgerMember[] = [];
  for (let i = 0; i < memberCount; i++) {
    const identity: Identity = await createMemberIdentity(`member${i}`);
    const encryption = createEncryptionKeyPair();
    const share = randomBytes(32);
    const memberId = certificateFingerprint(identity.certificatePem);
    members.push({
      memberId,
      certificateFile: write(path.join(dir, 'members', `member${i}_cert.pem`), identity.certificatePem),
      signingKeyFile: write(path.join(dir, 'members', `member${i}_privk.pem`), identity.privateKeyPem),
      encryptionPublicKeyFile: write(path.join(dir, 'members', `member${i}_enc_pubk.pem`), encryption.publicKeyPem),
      encryptionPrivateKeyFile: write(path.join(dir, 'members', `member${i}_enc_privk.pem`), encryption.privateKeyPem),
    });
    ledgerMembers.push({
      memberId,
      certificate: identity.certificatePem,
      encryptionPublicKey: encryption.publicKeyPem,
      encryptedShare: publicEncrypt(
        { key: encryption.publicKeyPem, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        share,
      ).toString('base64'),
      shareSha256: createHash('sha256').update(share).digest('hex'),
    });
  }
  const meta: LedgerService = {
    serviceCertificate: service.certificatePem,
    recoveryCount: options.recoveryCount ?? 0,
    lastView: options.lastView ?? 4,
    recoveryThreshold: options.recoveryThreshold ?? Math.min(2, memberCount),
    members: ledgerMembers,
    lastPrimary: options.lastPrimary,
  };

  const nodes = options.nodes.map((node) => {
    const ledgerDirectory = path.join(dir, 'nodes', node.id, 'ledger');
    const snapshotsDirectory = path.join(dir, 'nodes', node.id, 'snapshots');
    mkdirSync(ledgerDirectory, { recursive: true });
    mkdirSync(snapshotsDirectory, { recursive: true });
    writeLedger(
      ledgerDirectory,
      node.lastSignedSeqno,
      node.committedSeqno ?? defaultCommitted(node.lastSignedSeqno),
      meta,
    );
    if (node.snapshotSeqno !== undefined) {
      const s = node.snapshotSeqno;
      writeFileSync(
        path.join(snapshotsDirectory, `snapshot_${s}_${s + 1}.committed`),
        JSON.stringify({ format: LEDGER_FORMAT, seqno: s }),
      );
    }
    return { id: node.id, port: node.port, ledgerDirectory, snapshotsDirectory };
  });
  return { previousServiceCertificateFile, previousServiceKeyFile, members, nodes };
}

function defaultCommitted(lastSigned: number): number {
  return Math.max(0, Math.ceil(lastSigned / CHUNK) - 1) * CHUNK;
}

/**
 * Committed chunks up to `committed`, then one uncommitted tail with the remaining entries: its signatures up
 * to `lastSigned`, and three unsigned entries after it (lost on recovery, as CCF rolls back to the last signature).
 */
function writeLedger(dir: string, lastSigned: number, committed: number, meta: LedgerService): void {
  if (committed > lastSigned) throw new Error(`committedSeqno ${committed} is past lastSignedSeqno ${lastSigned}`);
  const signaturesIn = (first: number, last: number) => {
    const out: number[] = [];
    for (let s = first; s <= Math.min(last, lastSigned); s++)
      if (s % SIGNATURE_EVERY === 0 || s === lastSigned) out.push(s);
    return out;
  };
  for (let first = 1; first <= committed; first += CHUNK) {
    const last = Math.min(first + CHUNK - 1, committed);
    const chunk: Chunk = {
      format: LEDGER_FORMAT,
      first,
      last,
      signatures: signaturesIn(first, last),
      ...(first === 1 ? { service: meta } : {}),
    };
    writeFileSync(path.join(dir, `ledger_${first}-${last}.committed`), JSON.stringify(chunk));
  }
  const first = committed + 1;
  const tail: Chunk = {
    format: LEDGER_FORMAT,
    first,
    last: lastSigned + 3,
    signatures: signaturesIn(first, lastSigned),
    ...(first === 1 ? { service: meta } : {}),
  };
  writeFileSync(path.join(dir, `ledger_${first}`), JSON.stringify(tail));
}
