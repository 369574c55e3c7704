/**
 * A random subset of a node's peers, for large business networks (Corda's guide: reconcile more often with
 * fewer peers). Workflow randomness is seeded by Temporal, so the subset is the same on replay.
 */
export function samplePeers(peers: string[], sampleSize: number | undefined): string[] {
  if (!sampleSize || sampleSize >= peers.length) return peers;
  return peers
    .map((p) => ({ p, k: Math.random() }))
    .sort((a, b) => a.k - b.k)
    .slice(0, sampleSize)
    .map((x) => x.p);
}
