/**
 * The parts of CCF's node and governance responses that recovery relies on, checked at the boundary. Field
 * names and enums follow CCF's OpenAPI files (doc/schemas/node_openapi.json, gov/2024-07-01/gov.json).
 */
import { z } from 'zod';

const hex64 = z.string().regex(/^[a-f0-9]{64}$/);
const uint = z.number().int().min(0);
const txid = z.string().regex(/^[0-9]+\.[0-9]+$/);

export const NODE_STATES = [
  'Uninitialized',
  'Initialized',
  'Pending',
  'PartOfPublicNetwork',
  'PartOfNetwork',
  'ReadingPublicLedger',
  'ReadingPrivateLedger',
] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const nodeStateResponse = z.object({
  node_id: hex64,
  state: z.enum(NODE_STATES),
  last_signed_seqno: uint,
  startup_seqno: uint,
  stop_notice: z.boolean(),
  recovery_target_seqno: uint.optional(),
  last_recovered_seqno: uint.optional(),
});

export const SERVICE_STATUSES = ['Opening', 'Open', 'WaitingForRecoveryShares', 'Recovering'] as const;
export type ServiceStatus = (typeof SERVICE_STATUSES)[number];

/**
 * The OpenAPI declares `primary_id` a required NodeId, but CCF serialises an optional one: `null` while no
 * leader is known, during an election (microsoft/CCF src/node/rpc/call_types.h GetNetworkInfo::Out,
 * src/kv/kv_types.h ConsensusDetails; tests/infra/network.py polls until it is not None). `current_view` is
 * optional in the same structure.
 */
const primaryId = hex64.nullable();

export const networkInfoResponse = z.object({
  service_status: z.enum(SERVICE_STATUSES),
  service_certificate: z.string(),
  current_view: uint.nullish(),
  primary_id: primaryId,
  recovery_count: uint,
  current_service_create_txid: txid,
});

export const serviceConfigurationResponse = z.object({ recovery_threshold: uint });

export const consensusResponse = z.object({
  details: z.object({
    primary_id: primaryId,
    current_view: uint,
    membership_state: z.enum(['Active', 'Retired']),
    leadership_state: z.string().optional(),
  }),
});

export const proposalResponse = z.object({
  proposalId: hex64,
  proposerId: hex64,
  proposalState: z.enum(['Open', 'Accepted', 'Withdrawn', 'Rejected', 'Failed', 'Dropped']),
  ballotCount: uint,
  finalVotes: z.record(z.string(), z.boolean()).optional(),
  failure: z.object({ reason: z.string() }).optional(),
});
export type ProposalState = z.infer<typeof proposalResponse>['proposalState'];

export const proposalListResponse = z.object({ value: z.array(proposalResponse), nextLink: z.string().optional() });

export const proposalActionsResponse = z.object({
  actions: z.array(z.object({ name: z.string(), args: z.unknown().optional() })),
});

export const stateDigestResponse = z.object({ memberId: hex64, stateDigest: hex64 });

export const encryptedShareResponse = z.object({ encryptedShare: z.base64() });

/** recovery.h: the same body for every api-version; `fullKeySubmitted` since CCF 6 (#6705). */
export const recoveryShareResponse = z.object({
  message: z.string(),
  submittedCount: uint,
  recoveryThreshold: uint,
  fullKeySubmitted: z.boolean().optional(),
});

/** CCF's error body; both the node API's CCFError and the governance API's ErrorResponse have this shape. */
export const errorResponse = z.object({
  error: z.object({ code: z.string().optional(), message: z.string().optional() }),
});
