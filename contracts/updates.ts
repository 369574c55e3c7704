/**
 * What operators and members send to a running procedure: every update, with its payload, and the steering
 * list the API's routes and the CLI's commands are made from (path, who may send it, what it is for). The
 * workflows set handlers for these definitions; clients send them; nobody spells an update's name twice.
 * `actor` is filled in by the API or CLI with the authenticated caller.
 */
import { defineUpdate } from '@temporalio/workflow';

/** An approval; for a canton-network-recovery re-onboarding it carries the new participant id. */
export interface Approval {
  actor: string;
  comment?: string;
  /** canton-network-recovery: the new participant id, never used on this network. */
  participantId?: string;
}

/** ccf-recovery, non-drill: a member's `transition_service_to_open` proposal. */
export interface ProposalReport {
  actor: string;
  member: string;
  proposalId: string;
}

/** ccf-recovery, non-drill: a member's ballot. */
export interface BallotReport {
  actor: string;
  member: string;
}

/** ccf-recovery, non-drill: a member's recovery share submission. */
export interface ShareReport {
  actor: string;
  member: string;
  /** CCF's reply to the member, e.g. "2/3 recovery shares successfully submitted". */
  message?: string;
  /** CCF answered 500: the shares did not combine and all were cleared. */
  combinationFailed?: boolean;
}

/** canton-network-recovery: the timestamp the super validators agreed on (UTC). */
export interface AgreeTimestampRequest {
  actor: string;
  timestamp: string;
}

export interface SequencerSuccessor {
  /** The sequencer's id as the SVs give it, `SEQ::<name>::<namespace>` (or the bare unique identifier). */
  sequencerId: string;
  host: string;
  port: number;
  /** TLS to the successor sequencer (the default, as public sequencer endpoints use it). */
  tls?: boolean;
}

/** canton-lsu-recovery: what the super validators communicated for a roll-forward LSU. */
export interface LsuParameters {
  newPhysicalSynchronizerId: string;
  sequencerSuccessors: SequencerSuccessor[];
}

export interface LsuParametersRequest extends LsuParameters {
  actor: string;
}

/** corda-recovery: where a peer's sealed manual-recovery archive arrived. */
export interface ArchiveArrived {
  actor: string;
  party: string;
  requestId: string;
  /** Where the peer's sealed archive arrived, on the worker's disk. */
  path: string;
}

export const approveUpdate = defineUpdate<string, [Approval]>('approve');
export const proposalSubmittedUpdate = defineUpdate<string, [ProposalReport]>('proposalSubmitted');
export const voteUpdate = defineUpdate<string, [BallotReport]>('vote');
export const sharesSubmittedUpdate = defineUpdate<string, [ShareReport]>('sharesSubmitted');
export const agreeTimestampUpdate = defineUpdate<string, [AgreeTimestampRequest]>('agreeTimestamp');
export const lsuParametersUpdate = defineUpdate<string, [LsuParametersRequest]>('lsuParameters');
export const archiveArrivedUpdate = defineUpdate<string, [ArchiveArrived]>('archiveArrived');

/** Who may send an update: operators run procedures; approvers decide and report members' governance. */
export type SteeringRole = 'operate' | 'approve';

/** The updates clients send, by the path of their API route and CLI command. */
export const STEERING = [
  { path: 'approve', update: approveUpdate, role: 'approve', summary: 'Approve a run that waits for approval' },
  {
    path: 'archive-arrived',
    update: archiveArrivedUpdate,
    role: 'operate',
    summary: "Tell a corda-recovery where a peer's sealed manual-recovery archive arrived",
  },
  {
    path: 'agree-timestamp',
    update: agreeTimestampUpdate,
    role: 'approve',
    summary: 'Give a canton-network-recovery the timestamp the super validators agreed on',
  },
  {
    path: 'lsu-parameters',
    update: lsuParametersUpdate,
    role: 'approve',
    summary: 'Give a canton-lsu-recovery the successor synchronizer and sequencers the super validators communicated',
  },
  { path: 'vote', update: voteUpdate, role: 'approve', summary: "Report a member's ballot" },
  {
    path: 'proposal-submitted',
    update: proposalSubmittedUpdate,
    role: 'approve',
    summary: "Report a member's transition_service_to_open proposal",
  },
  {
    path: 'shares-submitted',
    update: sharesSubmittedUpdate,
    role: 'approve',
    summary: "Report a member's recovery share submission",
  },
] as const satisfies readonly { path: string; update: { name: string }; role: SteeringRole; summary: string }[];

export type SteeringPath = (typeof STEERING)[number]['path'];
