/**
 * The I/O of a roll-forward Logical Synchronizer Upgrade (Splice 0.6.2 and later; the guide's "Roll Forward
 * Logical Synchronizer Upgrade", guides/splice-validator-disaster-recovery-0.7.rst): when the participant last
 * processed an event on the old synchronizer (the guide's sign that it has caught up), and the Canton console
 * command `participant.synchronizers.perform_manual_lsu(...)` with what the super validators communicated.
 * Both run through the node's executor with the operator's command templates.
 */
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { HOST_NAME, PHYSICAL_SYNCHRONIZER_ID, SEQUENCER_ID } from '../../contracts/canton-ids';
import type { LsuParameters } from '../../contracts/updates';
import { renderCommand } from '../../shared/command-template';
import { networkName, type CantonNetworkConfig, type LedgerDrConfig } from '../../shared/config';
import { invalidInput, parseInput } from '../errors';
import { networkOfKind } from '../config/networks';
import { withHeartbeats } from '../heartbeat';
import { createExecutor } from '../hosts/executor';
import { currentMigrationId } from './registry';

export interface LastEvent {
  /** When the participant last logged `Processing event at`; absent when the command found none. */
  at?: string;
}

export interface LsuOutcome {
  /** `already-connected`: an earlier attempt had upgraded the participant; nothing was run again. */
  action: 'performed' | 'already-connected';
  connected: boolean;
}

export const lsuParameters = z.strictObject({
  newPhysicalSynchronizerId: z.string().regex(PHYSICAL_SYNCHRONIZER_ID, {
    error: 'expected a physical synchronizer id such as global-domain::1220…::34-1',
  }),
  sequencerSuccessors: z
    .array(
      z.strictObject({
        sequencerId: z.string().regex(SEQUENCER_ID, { error: 'expected a sequencer id such as SEQ::sv1::1220…' }),
        host: z.string().regex(HOST_NAME, { error: 'expected a host name or address' }),
        port: z.number().int().min(1).max(65535),
        tls: z.boolean().optional(),
      }),
    )
    .min(1, { error: 'expected at least one sequencer successor (Canton refuses an empty list)' }),
});

const MARKER = /^ledger-dr: (lsu|connected)=(\S+)$/gm;

export function createCantonLsuActivities(deps: { config: LedgerDrConfig }) {
  const cantonNetwork = (name: string): CantonNetworkConfig =>
    networkOfKind(deps.config, name, 'canton', 'is for Canton/Splice validators');
  const lsuOf = (name: string) => {
    const network = cantonNetwork(name);
    if (!network.canton.lsu)
      throw invalidInput(
        `networks.${name}.canton.lsu: not configured; add lastEventCommand and consoleCommand for the roll-forward LSU`,
      );
    return { network, lsu: network.canton.lsu };
  };
  const run = async (network: CantonNetworkConfig, name: string, command: string, what: string) => {
    const executor = createExecutor(network.executor, `networks.${name}.executor`);
    const result = await withHeartbeats((signal) => executor.run(command, { timeoutMs: 600_000, signal }));
    if (result.exitCode !== 0) {
      throw ApplicationFailure.retryable(
        `${what} exited ${result.exitCode ?? result.signal} (${executor.description}): ${(result.stderr || result.stdout).trim().split('\n').pop() ?? ''}`,
        'ConsoleFailed',
      );
    }
    return result.stdout;
  };

  return {
    /** The time of the participant's newest `Processing event at` log line, by the operator's command. */
    async readCantonLastEvent(input: { network: string }): Promise<LastEvent> {
      const args = parseInput(z.strictObject({ network: networkName }), input);
      const { network, lsu } = lsuOf(args.network);
      const command = renderCommand(lsu.lastEventCommand, {
        network: args.network,
        migrationId: await currentMigrationId(network),
      });
      const out = (await run(network, args.network, command, 'lsu.lastEventCommand')).trim();
      if (out === '') return {};
      const at = Date.parse(out);
      if (Number.isNaN(at))
        throw ApplicationFailure.nonRetryable(
          `networks.${args.network}.canton.lsu.lastEventCommand printed "${out.slice(0, 80)}"; expected the time of the last "Processing event at" log line (ISO-8601) or nothing`,
          'Configuration',
        );
      return { at: new Date(at).toISOString() };
    },

    /**
     * Runs the guide's console script: unless the participant is already connected to the successor (an
     * earlier attempt did it), `perform_manual_lsu(existing, successor, upgradeTime = None, sequencerSuccessors)`;
     * then whether it is connected to the successor.
     */
    async performCantonLsu(input: { network: string } & LsuParameters): Promise<LsuOutcome> {
      const args = parseInput(lsuParameters.extend({ network: networkName }), input);
      const { network, lsu } = lsuOf(args.network);
      const script = lsuScript(args, lsu.participantReference, lsu.synchronizerAlias);
      const out = await run(
        network,
        args.network,
        renderCommand(lsu.consoleCommand, { network: args.network, script }),
        'lsu.consoleCommand',
      );
      const said = new Map([...out.matchAll(MARKER)].map((m) => [m[1]!, m[2]!]));
      const action = said.get('lsu');
      if (action !== 'performed' && action !== 'already-connected') {
        throw ApplicationFailure.retryable(
          `the console script did not report its outcome; its output ended: ${out.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`,
          'ConsoleFailed',
        );
      }
      return { action, connected: said.get('connected') === 'true' };
    },
  };
}

/** A Scala string literal of a value already restricted to identifier characters. */
const scala = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * The guide's console commands, with what the SVs communicated as Scala values. The types are Canton's
 * (`perform_manual_lsu(currentPsid, successorPsid, upgradeTime: Option[CantonTimestamp],
 * sequencerSuccessors: Map[SequencerId, GrpcConnection])`, as in Canton's LSU integration tests); the script
 * is idempotent, so a retried activity never upgrades twice.
 */
export function lsuScript(parameters: LsuParameters, participant: string, alias: string): string {
  const successors = parameters.sequencerSuccessors
    .map(
      (s) =>
        `    SequencerId(UniqueIdentifier.tryFromProtoPrimitive(${scala(s.sequencerId.replace(/^SEQ::/, ''))})) ->\n` +
        `      GrpcConnection(NonEmpty(Set, Endpoint(${scala(s.host)}, Port.tryCreate(${s.port}))), transportSecurity = ${s.tls ?? true}, customTrustCertificates = None)`,
    )
    .join(',\n');
  return [
    '// ledger-dr: roll-forward Logical Synchronizer Upgrade (Splice guide, "Roll Forward Logical Synchronizer Upgrade")',
    'import com.daml.nonempty.NonEmpty',
    'import com.digitalasset.canton.config.RequireTypes.Port',
    'import com.digitalasset.canton.networking.Endpoint',
    'import com.digitalasset.canton.topology.{PhysicalSynchronizerId, SequencerId, UniqueIdentifier}',
    'import com.digitalasset.canton.topology.transaction.GrpcConnection',
    `val successorPsid = PhysicalSynchronizerId.tryFromString(${scala(parameters.newPhysicalSynchronizerId)})`,
    `if (${participant}.synchronizers.is_connected(successorPsid)) {`,
    '  println("ledger-dr: lsu=already-connected")',
    '} else {',
    `  val existingPhysicalSynchronizerId = ${participant}.synchronizers.list_connected().find(_.synchronizerAlias == ${scala(alias)}).head.physicalSynchronizerId`,
    `  ${participant}.synchronizers.perform_manual_lsu(`,
    '    existingPhysicalSynchronizerId,',
    '    successorPsid,',
    '    upgradeTime = None,',
    '    Map(',
    successors,
    '    ),',
    '  )',
    '  println("ledger-dr: lsu=performed")',
    '}',
    `println(s"ledger-dr: connected=\${${participant}.synchronizers.is_connected(successorPsid)}")`,
    '',
  ].join('\n');
}
