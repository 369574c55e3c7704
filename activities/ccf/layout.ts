/**
 * Where a recovery keeps its files. Everything a recovery writes lives under `workDirectory/<recoveryId>/`,
 * one folder per node and role; the crashed service's ledgers are only ever read.
 */
import path from 'node:path';
import type { CcfNetworkConfig } from '../../shared/config';

export type CcfRole = 'Recover' | 'Join';

/** Recovery ids become folder names: refuse anything that could climb out of the work directory. */
export const RECOVERY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

export interface NodeWorkFiles {
  dir: string;
  config: string;
  ledger: string;
  snapshots: string;
  serviceCertificate: string;
  pidFile: string;
  /** Written once the launcher command has succeeded, so a retried launch does not start cchost twice. */
  launchedMarker: string;
}

export function nodeWorkFiles(
  network: CcfNetworkConfig,
  recoveryId: string,
  node: string,
  role: CcfRole,
): NodeWorkFiles {
  const dir = path.join(network.ccf.workDirectory, recoveryId, `${node}-${role.toLowerCase()}`);
  return {
    dir,
    config: path.join(dir, 'cchost.json'),
    ledger: path.join(dir, 'ledger'),
    snapshots: path.join(dir, 'snapshots'),
    serviceCertificate: path.join(dir, 'service_cert.pem'),
    pidFile: path.join(dir, 'cchost.pid'),
    launchedMarker: path.join(dir, 'launched'),
  };
}

export function backupFolder(network: CcfNetworkConfig, recoveryId: string): string {
  return path.join(network.ccf.backupDirectory, recoveryId);
}

/** `https://10.0.0.4:8000` → `10.0.0.4:8000`, the form cchost binds and joins. */
export function rpcAddress(url: string): string {
  return new URL(url).host;
}
