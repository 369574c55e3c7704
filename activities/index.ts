/**
 * Every activity, built from its clients. Workers call `createActivities` with real clients; tests pass the
 * same factories simulated endpoints. Workflows import only the type.
 */
import type { AxiosInstance } from 'axios';
import type { LedgerDrConfig } from '../shared/config';
import { createAlertActivities } from './alerts/activities';
import { createCantonActivities } from './canton/activities';
import { createCantonSnapshotActivities } from './canton/data-snapshot';
import { createCantonLsuActivities } from './canton/lsu';
import { createCcfActivities } from './ccf/activities';
import { createCordaActivities } from './corda/activities';
import { createConfigActivities } from './config/activities';
import { createHostActivities } from './hosts/activities';

export interface ActivityDeps {
  config: LedgerDrConfig;
  /** HTTP client for webhooks; a default one when absent. */
  http?: AxiosInstance;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createConfigActivities(deps),
    ...createHostActivities(deps),
    ...createAlertActivities(deps),
    ...createCcfActivities(deps),
    ...createCantonActivities(deps),
    ...createCantonSnapshotActivities(deps),
    ...createCantonLsuActivities(deps),
    ...createCordaActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { NetworkPlan, NodePlan } from './config/activities';
export type { EndpointProbe, NodeCommandResult } from './hosts/activities';
export type { Alert } from './alerts/activities';
export type {
  CcfPlan,
  CcfNodePlan,
  CcfMemberPlan,
  CertificateWrite,
  ConsensusProbe,
  LaunchResult,
  NodeObservation,
  ProposalObservation,
  ServiceObservation,
  ShareSubmission,
} from './ccf/activities';
export type { CcfRole } from './ccf/layout';
export type {
  BackupFile,
  CantonManifest,
  CantonPlan,
  OnboardedUser,
  PartyCheck,
  RetentionResult,
  ValidatorProbe,
} from './canton/activities';
export type { HealthEvidence, SnapshotRequest } from './canton/data-snapshot';
export type { LastEvent, LsuOutcome } from './canton/lsu';
export type {
  AutomaticRecovery,
  CheckpointArchive,
  CordaPlan,
  LedgerRecoveryResult,
  QueueQuarantine,
  ReconciliationView,
  NodeReconciliation,
  StoppedCheck,
} from './corda/activities';
