export { networkPreflight } from './network-preflight';
export { ccfRecovery } from './ccf-recovery';
export { ccfHealthWatch } from './ccf-health-watch';
export { cantonBackup } from './canton-backup';
export { cantonRestore } from './canton-restore';
export { cantonReonboard } from './canton-reonboard';
export { cantonNetworkRecovery } from './canton-network-recovery';
export { cordaRecovery } from './corda-recovery';
