import { assessServiceHealth, parseShareProgress, pickRecoveryLedger } from '../../workflows/lib/ccf';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('assessServiceHealth (CCF health-watcher criterion)', () => {
  it('is healthy while a majority agrees on one (primary, view)', () => {
    const health = assessServiceHealth([
      { node: 'n0', reachable: true, primaryId: A, view: 4 },
      { node: 'n1', reachable: true, primaryId: A, view: 4 },
      { node: 'n2', reachable: false },
    ]);
    expect(health).toMatchObject({ healthy: true, primaryId: A, view: 4 });
    expect(health.reason).toBe(`2 of 3 nodes agree that ${A.slice(0, 12)}… is primary in view 4`);
  });

  it('is down when agreement is split, even if every node answers', () => {
    const health = assessServiceHealth([
      { node: 'n0', reachable: true, primaryId: A, view: 4 },
      { node: 'n1', reachable: true, primaryId: A, view: 5 },
      { node: 'n2', reachable: true, primaryId: B, view: 5 },
      { node: 'n3', reachable: true, primaryId: B, view: 5 },
    ]);
    expect(health.healthy).toBe(false);
    expect(health.reason).toContain('at most 2 of 4 nodes agree on a primary (3 needed)');
  });

  it('is down when nobody answers', () => {
    expect(assessServiceHealth([{ node: 'n0', reachable: false }]).reason).toBe(
      'no node of 1 reports a primary; 0 answered',
    );
  });
});

describe('pickRecoveryLedger', () => {
  it('takes the highest last_signed_seqno and says why', () => {
    const choice = pickRecoveryLedger([
      { node: 'n0', lastSignedSeqno: 100 },
      { node: 'n1', lastSignedSeqno: 243 },
      { node: 'n2', lastSignedSeqno: 203 },
    ]);
    expect(choice).toEqual({
      node: 'n1',
      lastSignedSeqno: 243,
      reason: 'highest last_signed_seqno 243 (others: n0 100, n2 203)',
    });
  });

  it('breaks a tie with the last known primary, then the lowest node id', () => {
    const tied = [
      { node: 'n2', lastSignedSeqno: 50 },
      { node: 'n1', lastSignedSeqno: 50 },
      { node: 'n0', lastSignedSeqno: 10 },
    ];
    expect(pickRecoveryLedger(tied, 'n2').node).toBe('n2');
    expect(pickRecoveryLedger(tied, 'n2').reason).toContain('n2 was the last known primary');
    expect(pickRecoveryLedger(tied, 'n0').node).toBe('n1');
    expect(pickRecoveryLedger(tied).reason).toContain('tied between n1, n2 with no known primary among them');
  });

  it('refuses to pick from nothing', () => {
    expect(() => pickRecoveryLedger([])).toThrow('no node finished reading its public ledger');
  });
});

describe('parseShareProgress', () => {
  it('reads k/threshold from CCF replies', () => {
    expect(parseShareProgress('2/3 recovery shares successfully submitted.')).toEqual({ submitted: 2, threshold: 3 });
    expect(parseShareProgress('something else')).toBeUndefined();
  });
});
