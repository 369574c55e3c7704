/**
 * The procedures, by name and workflow type, shared by workflows and the clients that start them. A recovery's
 * workflow id is derived from its network, so Temporal itself refuses a second recovery of the same network
 * while one runs.
 */

export const PROCEDURES = {
  ccfRecovery: { name: 'ccf-recovery', workflowType: 'ccfRecovery' },
  ccfHealthWatch: { name: 'ccf-health-watch', workflowType: 'ccfHealthWatch' },
  cantonBackup: { name: 'canton-backup', workflowType: 'cantonBackup' },
  cantonRestore: { name: 'canton-restore', workflowType: 'cantonRestore' },
  cantonReonboard: { name: 'canton-reonboard', workflowType: 'cantonReonboard' },
  cantonNetworkRecovery: { name: 'canton-network-recovery', workflowType: 'cantonNetworkRecovery' },
  cantonLsuRecovery: { name: 'canton-lsu-recovery', workflowType: 'cantonLsuRecovery' },
  cordaRecovery: { name: 'corda-recovery', workflowType: 'cordaRecovery' },
  cordaReconciliation: { name: 'corda-reconciliation', workflowType: 'cordaReconciliation' },
  networkPreflight: { name: 'network-preflight', workflowType: 'networkPreflight' },
} as const;

export type ProcedureName = (typeof PROCEDURES)[keyof typeof PROCEDURES]['name'];

/** `ccf-recovery:prod`: one running recovery per network and procedure. */
export function procedureWorkflowId(procedure: ProcedureName, network: string): string {
  return `${procedure}:${network}`;
}
