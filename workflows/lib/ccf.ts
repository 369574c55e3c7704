/**
 * The decisions of a CCF recovery, as pure functions so they can be read, tested and replayed on their own.
 */

export interface ConsensusView {
  node: string;
  reachable: boolean;
  primaryId?: string;
  view?: number;
}

export interface ServiceHealth {
  healthy: boolean;
  /** e.g. "3 of 5 nodes agree that 1f2e… is primary in view 7". */
  reason: string;
  primaryId?: string;
  view?: number;
}

/**
 * CCF's own criterion for a disaster (its health watcher): the service is healthy while a majority of its
 * nodes agree on one (primary, view) pair; otherwise nothing will heal it and recovery is warranted.
 */
export function assessServiceHealth(views: ConsensusView[]): ServiceHealth {
  const majority = Math.floor(views.length / 2) + 1;
  const counts = new Map<string, { primaryId: string; view: number; nodes: string[] }>();
  for (const v of views) {
    if (!v.reachable || v.primaryId === undefined || v.view === undefined) continue;
    const key = `${v.primaryId}@${v.view}`;
    const entry = counts.get(key) ?? { primaryId: v.primaryId, view: v.view, nodes: [] };
    entry.nodes.push(v.node);
    counts.set(key, entry);
  }
  const best = [...counts.values()].sort((a, b) => b.nodes.length - a.nodes.length)[0];
  const reachable = views.filter((v) => v.reachable).length;
  // CCF reports `primary_id: null` while a node is in an election: alive, but following no one.
  const electing = views.filter((v) => v.reachable && v.primaryId === undefined).length;
  const answered = `${reachable} answered${electing ? `, ${electing} of them with no primary (in an election)` : ''}`;
  if (best && best.nodes.length >= majority) {
    return {
      healthy: true,
      reason: `${best.nodes.length} of ${views.length} nodes agree that ${short(best.primaryId)} is primary in view ${best.view}`,
      primaryId: best.primaryId,
      view: best.view,
    };
  }
  return {
    healthy: false,
    reason: best
      ? `at most ${best.nodes.length} of ${views.length} nodes agree on a primary (${majority} needed); ${answered}`
      : `no node of ${views.length} reports a primary; ${answered}`,
  };
}

export interface RecoveryCandidate {
  node: string;
  lastSignedSeqno: number;
}

export interface LedgerChoice {
  node: string;
  lastSignedSeqno: number;
  reason: string;
}

/**
 * The ledger to recover from: the highest `last_signed_seqno` (no committed transaction is lost); on a tie
 * the last known primary (its ledger is the reference the others replicated), then the lowest node id.
 */
export function pickRecoveryLedger(candidates: RecoveryCandidate[], lastKnownPrimary?: string): LedgerChoice {
  if (candidates.length === 0) throw new Error('no node finished reading its public ledger');
  const highest = Math.max(...candidates.map((c) => c.lastSignedSeqno));
  const tied = candidates.filter((c) => c.lastSignedSeqno === highest).sort((a, b) => a.node.localeCompare(b.node));
  const others = candidates
    .filter((c) => c.lastSignedSeqno !== highest)
    .map((c) => `${c.node} ${c.lastSignedSeqno}`)
    .join(', ');
  const seen = `highest last_signed_seqno ${highest}${others ? ` (others: ${others})` : ''}`;
  if (tied.length === 1) return { ...tied[0]!, reason: seen };
  const primary = tied.find((c) => c.node === lastKnownPrimary);
  if (primary)
    return {
      ...primary,
      reason: `${seen}; tied with ${tied.length - 1} other(s), ${primary.node} was the last known primary`,
    };
  return {
    ...tied[0]!,
    reason: `${seen}; tied between ${tied.map((c) => c.node).join(', ')} with no known primary among them, so the lowest node id`,
  };
}

/** `submittedCount/recoveryThreshold` from CCF's reply, e.g. "2/3 recovery shares successfully submitted." */
export function parseShareProgress(message: string): { submitted: number; threshold: number } | undefined {
  const match = /(\d+)\s*\/\s*(\d+) recovery shares/.exec(message);
  return match ? { submitted: Number(match[1]), threshold: Number(match[2]) } : undefined;
}

export function short(id: string): string {
  return id.length > 12 ? `${id.slice(0, 12)}…` : id;
}
