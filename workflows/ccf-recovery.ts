/**
 * CCF network recovery: CCF's "Disaster Recovery" operations procedure, end to end.
 *
 * Runbook:
 *   1. Read the network from configuration.
 *   2. Preflight: refuse unless the service is really down (no majority agrees on a primary), unless forced.
 *   3. Back up every ledger and snapshot directory; the originals are never modified.
 *   4. (Optional) Wait for an operator's approval.
 *   5. Start one Recover node per surviving ledger and watch them all read their public ledger.
 *   6. Pick the ledger with the highest last_signed_seqno; stop the other candidates.
 *   7. Restart the other healthy nodes as Join nodes of the chosen node's new service.
 *   8. Governance: state digest acks, transition_service_to_open, ballots, recovery shares (signed by
 *      ledger-dr in drill mode; otherwise members act and report through updates).
 *   9. Wait for every node PartOfNetwork, the service Open and the application ready; check recovery_count.
 *  10. Write the new service certificate where the operator's clients pick it up.
 */
import { ApplicationFailure, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type {
  Activities,
  CcfPlan,
  CcfRole,
  CertificateWrite,
  NodeObservation,
  ProposalObservation,
} from '../activities';
import type { ProcedureReport } from '../contracts/report';
import { PROCEDURES } from '../contracts/procedures';
import {
  approveUpdate,
  proposalSubmittedUpdate,
  sharesSubmittedUpdate,
  voteUpdate,
  type ProposalReport,
} from '../contracts/updates';
import { assessServiceHealth, parseShareProgress, pickRecoveryLedger, short, type LedgerChoice } from './lib/ccf';
import {
  badInput,
  optionalBoolean,
  optionalNumber,
  rejectUnknownFields,
  requireNetworkName,
  requireObject,
} from './lib/input';
import { asWorkflowFailure, failureMessage, Procedure, runStamp } from './lib/procedure';
import { conditionWithin } from './lib/poll';

export interface CcfRecoveryInput {
  network: string;
  /** Recover even though a majority of nodes still agree on a primary. */
  force?: boolean;
  /** Drill: ledger-dr signs governance requests with the member keys configured for the network. */
  drill?: boolean;
  /** Pause for an operator's `approve` update after the backup, before any node is started. */
  waitForApproval?: boolean;
  /** Node id of the last primary of the crashed service, to break ties between equally long ledgers. */
  lastKnownPrimary?: string;
  pollIntervalMs?: number;
  approvalTimeoutMs?: number;
  publicRecoveryTimeoutMs?: number;
  joinTimeoutMs?: number;
  governanceTimeoutMs?: number;
  privateRecoveryTimeoutMs?: number;
}

export interface CandidateOutcome {
  node: string;
  state?: string;
  lastSignedSeqno?: number;
  /** Why the node took no further part, when it did not. */
  excluded?: string;
}

export interface CcfRecoveryResult {
  report: ProcedureReport;
  recoveryId: string;
  chosen: LedgerChoice;
  candidates: CandidateOutcome[];
  joined: string[];
  recoveryCount: number;
  serviceCreateTxid: string;
  serviceCertificate: string;
  certificateWrites: CertificateWrite[];
}

export interface NodeProgress {
  role: CcfRole;
  state?: string;
  lastSignedSeqno?: number;
  reachable?: boolean;
  error?: string;
  outcome?: string;
}

export interface CcfRecoveryProgress {
  recoveryId: string;
  nodes: Record<string, NodeProgress>;
  chosen?: string;
  proposal?: { id: string; state: string; ballots: number };
  shares?: { submitted: number; threshold?: number; round: number; submittedBy: string[] };
}

const { describeCcfNetwork, probeCcfConsensus, writeCcfServiceCertificate } = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { maximumAttempts: 5 },
});
const { backupCcfLedgers } = proxyActivities<Activities>({
  startToCloseTimeout: '6h',
  heartbeatTimeout: '15s',
  retry: { maximumInterval: '1m', maximumAttempts: 10 },
});
const { launchCcfNode, stopCcfNode } = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '2s', maximumAttempts: 4 },
});
const { observeCcfNode } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '10s' },
});
// Governance answers 503 during elections and while the service settles: retry patiently.
const governance = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '500ms', maximumInterval: '10s', maximumAttempts: 40 },
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const now = () => Date.now();
const createdAt = () => Math.floor(Date.now() / 1000);
/** Node states once the shares have combined. */
const PRIVATE_RECOVERY = ['ReadingPrivateLedger', 'PartOfNetwork'];

export async function ccfRecovery(rawInput: CcfRecoveryInput): Promise<CcfRecoveryResult> {
  // ---- Input: refuse a bad one at once, naming the field.
  const input = requireObject(rawInput);
  rejectUnknownFields(input, [
    'network',
    'force',
    'drill',
    'waitForApproval',
    'lastKnownPrimary',
    'pollIntervalMs',
    'approvalTimeoutMs',
    'publicRecoveryTimeoutMs',
    'joinTimeoutMs',
    'governanceTimeoutMs',
    'privateRecoveryTimeoutMs',
  ]);
  const network = requireNetworkName(input);
  const force = optionalBoolean(input, 'force') ?? false;
  const drill = optionalBoolean(input, 'drill') ?? false;
  const waitForApproval = optionalBoolean(input, 'waitForApproval') ?? false;
  const lastKnownPrimary = input.lastKnownPrimary;
  if (lastKnownPrimary !== undefined && typeof lastKnownPrimary !== 'string') {
    throw badInput('lastKnownPrimary', 'expected a node id from the configuration');
  }
  const pollIntervalMs = optionalNumber(input, 'pollIntervalMs', 100, 5000) ?? 1000;
  const approvalTimeoutMs = optionalNumber(input, 'approvalTimeoutMs', 1000, 7 * 24 * HOUR) ?? 24 * HOUR;
  const publicRecoveryTimeoutMs = optionalNumber(input, 'publicRecoveryTimeoutMs', 1000, 7 * 24 * HOUR) ?? HOUR;
  const joinTimeoutMs = optionalNumber(input, 'joinTimeoutMs', 1000, 24 * HOUR) ?? 15 * MINUTE;
  const governanceTimeoutMs = optionalNumber(input, 'governanceTimeoutMs', 1000, 7 * 24 * HOUR) ?? 24 * HOUR;
  const privateRecoveryTimeoutMs = optionalNumber(input, 'privateRecoveryTimeoutMs', 1000, 7 * 24 * HOUR) ?? HOUR;

  const run = new Procedure(PROCEDURES.ccfRecovery.name, network);
  const recoveryId = runStamp();
  const progress: CcfRecoveryProgress = { recoveryId, nodes: {} };
  run.setProgress(progress);

  // ---- What humans send. Validators reject what is not awaited, so nothing stray lands in history.
  let plan: CcfPlan | undefined;
  let approvedBy: string | undefined;
  let reportedProposal: ProposalReport | undefined;
  let humanInput = 0; // bumped by every accepted report, to wake the governance loops early
  const sharesReported = new Set<string>();
  let combinationFailedReported = false;

  const requireMember = (actor: string, member: string) => {
    if (typeof actor !== 'string' || actor.trim() === '') throw new Error('actor: required (who is reporting)');
    if (!plan?.members.some((m) => m.name === member)) {
      throw new Error(
        `member: "${member}" is not a member of ${network}; members: ${plan?.members.map((m) => m.name).join(', ')}`,
      );
    }
  };
  setHandler(
    approveUpdate,
    ({ actor, comment }) => {
      approvedBy = actor;
      run.operatorAction(actor, 'approved the recovery', comment);
      run.received('approval to start the recovery');
      return `approved by ${actor}`;
    },
    {
      validator: ({ actor }) => {
        if (typeof actor !== 'string' || actor.trim() === '') throw new Error('actor: required (who approves)');
        if (!run.isAwaiting('approval to start the recovery')) throw new Error('no approval is awaited now');
      },
    },
  );
  setHandler(
    proposalSubmittedUpdate,
    (report) => {
      reportedProposal = report;
      humanInput++;
      run.operatorAction(report.actor, `reported ${report.member}'s proposal`, report.proposalId);
      return `proposal ${short(report.proposalId)} will be checked`;
    },
    {
      validator: ({ actor, member, proposalId }) => {
        requireMember(actor, member);
        if (drill) throw new Error('this recovery is a drill: ledger-dr proposes itself');
        if (!run.isAwaiting('a transition_service_to_open proposal')) throw new Error('no proposal is awaited now');
        if (typeof proposalId !== 'string' || !/^[a-f0-9]{64}$/.test(proposalId)) {
          throw new Error('proposalId: expected the 64-hex id CCF returned for the proposal');
        }
      },
    },
  );
  setHandler(
    voteUpdate,
    ({ actor, member }) => {
      humanInput++;
      run.operatorAction(actor, `reported ${member}'s ballot`);
      return 'ballot noted; the proposal is checked on the service';
    },
    {
      validator: ({ actor, member }) => {
        requireMember(actor, member);
        if (drill) throw new Error('this recovery is a drill: ledger-dr votes itself');
        if (!run.isAwaiting('ballots on the proposal')) throw new Error('no ballots are awaited now');
      },
    },
  );
  setHandler(
    sharesSubmittedUpdate,
    ({ actor, member, message, combinationFailed }) => {
      humanInput++;
      if (combinationFailed) {
        combinationFailedReported = true;
        run.operatorAction(actor, `reported that ${member}'s share completed a combination that failed`, message);
        return 'combination failure noted; every member must submit again';
      }
      sharesReported.add(member);
      const counted = message ? parseShareProgress(message) : undefined;
      if (progress.shares) {
        progress.shares.submittedBy = [...sharesReported];
        progress.shares.submitted = counted?.submitted ?? sharesReported.size;
        if (counted) progress.shares.threshold = counted.threshold;
      }
      run.operatorAction(actor, `reported ${member}'s recovery share`, message);
      return `share of ${member} noted`;
    },
    {
      validator: ({ actor, member }) => {
        requireMember(actor, member);
        if (!run.isAwaiting('recovery shares')) throw new Error('no recovery shares are awaited now');
      },
    },
  );

  const candidates = new Map<string, CandidateOutcome>();
  const track = (
    node: string,
    role: CcfRole,
    o: Partial<Omit<NodeObservation, 'state'>> & { state?: string; outcome?: string },
  ) => {
    const entry = (progress.nodes[node] ??= { role });
    entry.role = role;
    if (o.state !== undefined) entry.state = o.state;
    if (o.lastSignedSeqno !== undefined) entry.lastSignedSeqno = o.lastSignedSeqno;
    if (o.reachable !== undefined) entry.reachable = o.reachable;
    entry.error = o.error;
    if (o.outcome !== undefined) entry.outcome = o.outcome;
  };

  /** Watches one node until it reaches `states` or the deadline passes; the last observation either way. */
  async function watchNode(node: string, role: CcfRole, states: string[], deadline: number) {
    let last: NodeObservation | undefined;
    while (now() < deadline) {
      last = await observeCcfNode({
        network,
        node,
        role,
        recoveryId,
        untilStates: states,
        lastState: last?.state,
        windowMs: Math.max(0, Math.min(15_000, deadline - now())),
        pollIntervalMs,
      });
      track(node, role, last);
      if (last.state && states.includes(last.state)) return { reached: true, last };
      if (!last.reachable || last.error) await sleep(pollIntervalMs);
    }
    return { reached: false, last };
  }

  try {
    plan = await run.step(
      'read-plan',
      'Read the network from configuration',
      () => describeCcfNetwork({ network }),
      (p) => `${p.nodes.length} nodes, ${p.members.length} members`,
    );
    const nodes = plan.nodes;
    if (lastKnownPrimary !== undefined && !nodes.some((n) => n.id === lastKnownPrimary)) {
      throw badInput('lastKnownPrimary', `expected one of ${nodes.map((n) => n.id).join(', ')}`);
    }

    // ---- 2. Preflight: CCF's guide says recover only once a majority no longer agrees on a primary.
    const health = await run.step(
      'preflight',
      'Check that the service is really down',
      async () => assessServiceHealth(await Promise.all(nodes.map((n) => probeCcfConsensus({ network, node: n.id })))),
      (h) => h.reason,
    );
    if (health.healthy && !force) {
      throw ApplicationFailure.nonRetryable(
        `the service of ${network} is not down: ${health.reason}; recovery would replace a working service. Start again with force: true if you are sure.`,
        'Refused',
      );
    }
    run.decide(
      health.healthy ? 'recover although the service looks healthy' : 'recover the service',
      health.healthy ? `force was given; ${health.reason}` : health.reason,
    );

    // ---- 3. Backups before anything touches a node.
    const backups = await run.step(
      'backup',
      'Back up every ledger and snapshot directory',
      () => backupCcfLedgers({ network, recoveryId }),
      (b) => `${b.length} directories, ${b.reduce((s, x) => s + (x.bytes ?? 0), 0)} bytes`,
    );
    run.report.backups.push(...backups);

    // ---- 4. Approval, when asked for (the health watch starts recoveries this way).
    if (waitForApproval) {
      await run.step(
        'approval',
        'Wait for an operator to approve',
        async () => {
          run.await('approval to start the recovery', 'an operator');
          if (!(await conditionWithin(() => approvedBy !== undefined, approvalTimeoutMs))) {
            throw ApplicationFailure.nonRetryable(
              `nobody approved the recovery within ${approvalTimeoutMs / MINUTE} minutes`,
              'ApprovalTimedOut',
            );
          }
          return approvedBy!;
        },
        (by) => `approved by ${by}`,
      );
    } else {
      run.skip('approval', 'Wait for an operator to approve', 'waitForApproval was not requested');
    }

    // ---- 5. One Recover node per surviving ledger, all at once; then watch them read their public ledgers.
    const launched = await run.step(
      'start-recover-nodes',
      'Start one Recover node per surviving ledger',
      () =>
        Promise.all(
          nodes.map(async (n) => {
            track(n.id, 'Recover', { state: 'launching' });
            try {
              const launch = await launchCcfNode({ network, node: n.id, role: 'Recover', recoveryId });
              if (launch.uncommittedCopied?.length)
                run.note(
                  `${n.id}: ${launch.uncommittedCopied.length} uncommitted ledger file(s) copied into its writable ledger directory (CCF reads only committed files from read-only ones)`,
                );
              return n.id;
            } catch (err) {
              const reason = `its Recover node could not be started: ${failureMessage(err)}`;
              candidates.set(n.id, { node: n.id, excluded: reason });
              track(n.id, 'Recover', { outcome: 'excluded', error: reason });
              return undefined;
            }
          }),
        ),
      (ids) => `${ids.filter(Boolean).length} of ${nodes.length} started`,
    );
    const started = launched.filter((id): id is string => id !== undefined);

    const publicDeadline = now() + publicRecoveryTimeoutMs;
    const recovered = await run.step(
      'public-recovery',
      'Wait for every Recover node to read its public ledger',
      () =>
        Promise.all(
          started.map(async (node) => {
            const { reached, last } = await watchNode(node, 'Recover', ['PartOfPublicNetwork'], publicDeadline);
            const outcome: CandidateOutcome = { node, state: last?.state, lastSignedSeqno: last?.lastSignedSeqno };
            if (!reached) {
              const after = `after ${publicRecoveryTimeoutMs / 1000}s`;
              // The operator gets what the node last said: no answer, an error answer, or a state short of the goal.
              outcome.excluded = !last?.reachable
                ? `unreachable ${after}${last?.error ? ` (${last.error})` : ''}`
                : last.error
                  ? `answering only with errors ${after} (${last.error})`
                  : `still ${last.state ?? 'not answering'} at seqno ${last.lastSignedSeqno ?? '?'} ${after}`;
              track(node, 'Recover', { outcome: 'excluded' });
            }
            candidates.set(node, outcome);
            return outcome;
          }),
        ),
      (all) => all.map((c) => `${c.node}: ${c.excluded ? 'excluded' : `seqno ${c.lastSignedSeqno}`}`).join(', '),
    );
    for (const c of candidates.values()) if (c.excluded) run.note(`${c.node} excluded: ${c.excluded}`);

    // ---- 6. The ledger to recover from.
    const finished = recovered.filter((c) => !c.excluded && c.lastSignedSeqno !== undefined);
    if (finished.length === 0) {
      throw ApplicationFailure.nonRetryable(
        `no Recover node finished reading its public ledger: ${[...candidates.values()].map((c) => `${c.node} ${c.excluded}`).join('; ')}`,
        'NoLedger',
      );
    }
    const chosen = await run.step(
      'pick-ledger',
      'Pick the ledger with the highest last signed seqno',
      async () =>
        pickRecoveryLedger(
          finished.map((c) => ({ node: c.node, lastSignedSeqno: c.lastSignedSeqno! })),
          lastKnownPrimary,
        ),
      (c) => `${c.node} at seqno ${c.lastSignedSeqno}`,
    );
    run.decide(`recover from ${chosen.node}'s ledger`, chosen.reason);
    progress.chosen = chosen.node;
    track(chosen.node, 'Recover', { outcome: 'chosen' });
    const onChosen = { network, node: chosen.node, role: 'Recover' as const, recoveryId };

    // ---- 7. Stop the other candidates, then restart the healthy ones as Join nodes of the new service.
    const others = started.filter((id) => id !== chosen.node);
    await run.step(
      'stop-other-candidates',
      'Stop the other Recover nodes',
      () => Promise.all(others.map((node) => stopCcfNode({ network, node, role: 'Recover', recoveryId }))),
      () => (others.length ? `stopped ${others.join(', ')}` : 'no other candidates'),
    );
    const joiners = finished.map((c) => c.node).filter((id) => id !== chosen.node);
    const joinDeadline = now() + joinTimeoutMs;
    const joined = await run.step(
      'join-nodes',
      `Join the other nodes to ${chosen.node}'s service`,
      async () => {
        const results = await Promise.all(
          joiners.map(async (node) => {
            try {
              await launchCcfNode({ network, node, role: 'Join', recoveryId, joinTarget: chosen.node });
            } catch (err) {
              run.note(`${node} could not be started as a Join node: ${failureMessage(err)}`);
              return undefined;
            }
            const { reached, last } = await watchNode(
              node,
              'Join',
              ['PartOfPublicNetwork', 'PartOfNetwork'],
              joinDeadline,
            );
            if (!reached) {
              run.note(
                `${node} did not join within ${joinTimeoutMs / 1000}s (last state ${last?.state ?? 'unknown'}); continuing without it`,
              );
              track(node, 'Join', { outcome: 'excluded' });
              return undefined;
            }
            track(node, 'Join', { outcome: 'joined' });
            return node;
          }),
        );
        return results.filter((n): n is string => n !== undefined);
      },
      (j) => (j.length ? `${j.join(', ')} trusted` : 'no node to join'),
    );

    // ---- 8. Governance.
    const before = await governance.readCcfService(onChosen);
    run.note(`service ${before.serviceStatus}, recovery_count ${before.recoveryCount} before opening`);
    const signers = plan.members.filter((m) => m.canSign);
    if (drill && signers.length === 0) {
      throw ApplicationFailure.nonRetryable(
        `drill mode needs at least one member of ${network} with a signingKey in networks.${network}.ccf.members`,
        'InvalidInput',
      );
    }

    if (drill) {
      await run.step(
        'member-acks',
        'Members acknowledge the state digest',
        () =>
          Promise.all(
            signers.map((m) => governance.ackCcfStateDigest({ ...onChosen, member: m.name, createdAt: createdAt() })),
          ),
        () => `acked by ${signers.map((m) => m.name).join(', ')}`,
      );
    } else {
      run.skip('member-acks', 'Members acknowledge the state digest', 'members acknowledge with their own tools');
    }

    const governanceDeadline = now() + governanceTimeoutMs;
    const proposal = await run.step(
      'propose-open',
      'Propose transition_service_to_open',
      async (): Promise<ProposalObservation> => {
        if (drill)
          return governance.proposeCcfServiceOpen({ ...onChosen, member: signers[0]!.name, createdAt: createdAt() });
        for (;;) {
          run.await(
            'a transition_service_to_open proposal',
            `any member of ${plan!.members.map((m) => m.name).join(', ')}`,
          );
          if (!(await conditionWithin(() => reportedProposal !== undefined, Math.max(0, governanceDeadline - now())))) {
            throw ApplicationFailure.nonRetryable(
              'no member proposed transition_service_to_open in time',
              'GovernanceTimedOut',
            );
          }
          run.received('a transition_service_to_open proposal');
          const reported = reportedProposal!;
          reportedProposal = undefined;
          const observed = await governance.readCcfProposal({ ...onChosen, proposalId: reported.proposalId });
          if (observed?.opensThisService) return observed;
          run.note(
            `proposal ${short(reported.proposalId)} reported by ${reported.actor} ${observed ? "does not open this recovery's service from the crashed one" : 'does not exist on the service'}; waiting for another`,
          );
        }
      },
      (p) => `proposal ${short(p.proposalId)} ${p.state}`,
    );
    progress.proposal = { id: proposal.proposalId, state: proposal.state, ballots: proposal.ballotCount };

    const decided = await run.step(
      'ballots',
      'Collect ballots',
      async (): Promise<ProposalObservation> => {
        let current = proposal;
        if (drill) {
          for (const m of signers) {
            if (current.state !== 'Open') break;
            current = await governance.submitCcfBallot({
              ...onChosen,
              member: m.name,
              proposalId: proposal.proposalId,
              createdAt: createdAt(),
            });
            progress.proposal = { id: current.proposalId, state: current.state, ballots: current.ballotCount };
          }
        }
        if (current.state === 'Open') run.await('ballots on the proposal', 'members who have not voted');
        while (current.state === 'Open') {
          const seen = humanInput;
          await conditionWithin(() => humanInput !== seen, Math.max(pollIntervalMs * 5, 5000));
          if (now() > governanceDeadline) {
            throw ApplicationFailure.nonRetryable(
              `the proposal was still open after ${governanceTimeoutMs / MINUTE} minutes`,
              'GovernanceTimedOut',
            );
          }
          current = (await governance.readCcfProposal({ ...onChosen, proposalId: proposal.proposalId })) ?? current;
          progress.proposal = { id: current.proposalId, state: current.state, ballots: current.ballotCount };
        }
        run.received('ballots on the proposal');
        return current;
      },
      (p) => `${p.state} after ${p.ballotCount} ballots`,
    );
    if (decided.state !== 'Accepted') {
      throw ApplicationFailure.nonRetryable(
        `transition_service_to_open ended ${decided.state}${decided.failure ? `: ${decided.failure}` : ''}. The service was not opened; the backups in ${backupFolderOf(run.report)} are intact.`,
        'ProposalNotAccepted',
      );
    }

    await run.step(
      'recovery-shares',
      'Submit recovery shares until the threshold',
      async (): Promise<NodeObservation> => {
        progress.shares = { submitted: 0, threshold: before.recoveryThreshold, round: 1, submittedBy: [] };
        const shares = progress.shares;
        const keyHolders = plan!.members.filter((m) => m.canSign && m.canDecryptShare);
        for (let round = 1; ; round++) {
          shares.round = round;
          if (drill) {
            for (const m of keyHolders) {
              const reply = await governance.submitCcfRecoveryShare({
                ...onChosen,
                member: m.name,
                createdAt: createdAt(),
              });
              if (reply.outcome === 'already-combined') {
                run.note(`round ${round}: ${reply.message}`);
                shares.submitted = shares.threshold ?? shares.submitted;
                break;
              }
              if (reply.outcome === 'combination-failed') {
                run.note(
                  `round ${round}: the shares did not combine (${reply.message}); CCF cleared them, asking again`,
                );
                combinationFailedReported = true;
                break;
              }
              shares.submittedBy.push(m.name);
              shares.submitted = reply.submittedCount ?? shares.submittedBy.length;
              shares.threshold = reply.recoveryThreshold ?? shares.threshold;
              if (shares.threshold !== undefined && shares.submitted >= shares.threshold) break;
            }
          }
          // Shares are done once the chosen node reads its private ledger (the service stays
          // WaitingForRecoveryShares until that ends), unless a member reports a failed combination.
          if (!combinationFailedReported) {
            const reached = drill && shares.threshold !== undefined && shares.submitted >= shares.threshold;
            if (!reached) run.await('recovery shares', `members (${shares.threshold ?? '?'} needed)`);
            for (;;) {
              const chosenNode = await observeCcfNode({
                ...onChosen,
                untilStates: PRIVATE_RECOVERY,
                windowMs: 0,
                pollIntervalMs,
              });
              track(chosen.node, 'Recover', chosenNode);
              if (chosenNode.state && PRIVATE_RECOVERY.includes(chosenNode.state)) {
                run.received('recovery shares');
                return chosenNode;
              }
              if (combinationFailedReported) break;
              if (now() > governanceDeadline) {
                throw ApplicationFailure.nonRetryable(
                  `recovery shares were not submitted within ${governanceTimeoutMs / MINUTE} minutes`,
                  'GovernanceTimedOut',
                );
              }
              const seen = humanInput;
              await conditionWithin(
                () => humanInput !== seen,
                reached ? pollIntervalMs : Math.max(pollIntervalMs * 5, 5000),
              );
            }
          }
          if (round >= 5) {
            throw ApplicationFailure.nonRetryable(
              "recovery shares failed to combine five times; check the members' shares",
              'SharesDidNotCombine',
            );
          }
          combinationFailedReported = false;
          sharesReported.clear();
          Object.assign(shares, { submitted: 0, submittedBy: [] });
          run.decide(
            'ask every member for their share again',
            'CCF cleared all submitted shares after the failed combination',
          );
        }
      },
      (n) => `${chosen.node} is ${n.state}`,
    );

    // ---- 9. Private recovery: every node PartOfNetwork, the service Open, the application ready.
    const members = [chosen.node, ...joined];
    const privateDeadline = now() + privateRecoveryTimeoutMs;
    const service = await run.step(
      'private-recovery',
      'Wait for the service to open',
      async () => {
        const states = await Promise.all(
          members.map((node) =>
            watchNode(node, node === chosen.node ? 'Recover' : 'Join', ['PartOfNetwork'], privateDeadline),
          ),
        );
        const late = members.filter((_, i) => !states[i]!.reached);
        if (late.length) {
          throw ApplicationFailure.nonRetryable(
            `${late.join(', ')} did not reach PartOfNetwork in time`,
            'PrivateRecoveryTimedOut',
          );
        }
        for (;;) {
          const views = await Promise.all(
            members.map((node) =>
              governance.readCcfService({ network, node, role: node === chosen.node ? 'Recover' : 'Join', recoveryId }),
            ),
          );
          if (views.every((v) => v.serviceStatus === 'Open' && v.appReady)) return views[0]!;
          if (now() > privateDeadline) {
            throw ApplicationFailure.nonRetryable(
              'the service did not open with every node ready in time',
              'PrivateRecoveryTimedOut',
            );
          }
          await sleep(pollIntervalMs);
        }
      },
      (s) => `service ${s.serviceStatus}, created at ${s.currentServiceCreateTxid}`,
    );

    await run.step(
      'check-recovery-count',
      'Check recovery_count went up by one',
      async () => {
        if (service.recoveryCount !== before.recoveryCount + 1) {
          throw ApplicationFailure.nonRetryable(
            `recovery_count is ${service.recoveryCount}, expected ${before.recoveryCount + 1}: the service that opened is not the recovery of the crashed one`,
            'UnexpectedRecoveryCount',
          );
        }
        return service.recoveryCount;
      },
      (count) => `recovery_count ${before.recoveryCount} → ${count}`,
    );

    // ---- 10. Hand out the new service certificate.
    const certificateWrites = await run.step(
      'distribute-certificate',
      'Write the new service certificate',
      () => writeCcfServiceCertificate({ network, node: chosen.node, recoveryId }),
      (w) => (w.length ? w.map((x) => `${x.destination} (${x.action})`).join(', ') : 'no destinations configured'),
    );

    return {
      report: run.succeed(),
      recoveryId,
      chosen,
      candidates: nodes.map((n) => candidates.get(n.id) ?? { node: n.id }),
      joined,
      recoveryCount: service.recoveryCount,
      serviceCreateTxid: service.currentServiceCreateTxid,
      serviceCertificate: service.serviceCertificate,
      certificateWrites,
    };
  } catch (err) {
    throw asWorkflowFailure(run.fail(err));
  }
}

function backupFolderOf(report: ProcedureReport): string {
  const first = report.backups[0]?.location;
  if (!first) return 'the backup directory';
  return first.split('/').slice(0, -2).join('/');
}
