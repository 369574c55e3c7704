/**
 * Search attributes ledger-dr sets on every run, so the Temporal UI and the API can list recoveries by network,
 * procedure and phase. They hold names only, never secrets: search attributes are stored unencrypted.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const NETWORK_ATTRIBUTE = defineSearchAttributeKey('LedgerNetwork', SearchAttributeType.KEYWORD);
export const PROCEDURE_ATTRIBUTE = defineSearchAttributeKey('LedgerProcedure', SearchAttributeType.KEYWORD);
export const PHASE_ATTRIBUTE = defineSearchAttributeKey('RecoveryPhase', SearchAttributeType.KEYWORD);

export const LEDGER_DR_SEARCH_ATTRIBUTES = [NETWORK_ATTRIBUTE, PROCEDURE_ATTRIBUTE, PHASE_ATTRIBUTE];
