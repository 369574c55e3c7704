import { samplePeersBySeed } from '../../activities/corda/activities';

const peers = Array.from({ length: 50 }, (_, i) => `O=P${i}, L=London, C=GB`);

describe('the peers a scheduled reconciliation samples', () => {
  it('are the same for the same seed (a retried activity), and a different subset for another run', () => {
    const first = samplePeersBySeed(peers, 5, 'run-1');
    expect(first).toHaveLength(5);
    expect(new Set(first).size).toBe(5);
    for (const p of first) expect(peers).toContain(p);
    expect(samplePeersBySeed(peers, 5, 'run-1')).toEqual(first);
    expect(samplePeersBySeed(peers, 5, 'run-2')).not.toEqual(first);
  });

  it('are every peer when no sample size is set, or it is not smaller than the peers', () => {
    expect(samplePeersBySeed(peers, undefined, 'run-1')).toEqual(peers);
    expect(samplePeersBySeed(peers, 50, 'run-1')).toEqual(peers);
  });
});
