/**
 * The human-facing part of a roll-forward LSU: the parameters the super validators communicate (checked,
 * recorded with who gave them), and the pure decision of when the participant has caught up.
 */
import { setHandler } from '@temporalio/workflow';
import { HOST_NAME, PHYSICAL_SYNCHRONIZER_ID, SEQUENCER_ID } from '../../contracts/canton-ids';
import { lsuParametersUpdate, type LsuParameters, type SequencerSuccessor } from '../../contracts/updates';
import type { Procedure } from './procedure';
import { conditionWithin } from './poll';

export const AWAIT_LSU_PARAMETERS =
  'the successor physical synchronizer id and sequencer successors the super validators communicated';

/** Why `value` is not LSU parameters (`field: problem`), or undefined when it is. */
export function lsuParametersProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'expected an object';
  const v = value as Record<string, unknown>;
  if (typeof v.newPhysicalSynchronizerId !== 'string' || !PHYSICAL_SYNCHRONIZER_ID.test(v.newPhysicalSynchronizerId))
    return 'newPhysicalSynchronizerId: expected a physical synchronizer id such as global-domain::1220…::34-1';
  if (!Array.isArray(v.sequencerSuccessors) || v.sequencerSuccessors.length === 0)
    return 'sequencerSuccessors: expected at least one { sequencerId, host, port } (Canton refuses an empty list)';
  for (const [i, s] of (v.sequencerSuccessors as unknown[]).entries()) {
    const field = `sequencerSuccessors[${i}]`;
    if (typeof s !== 'object' || s === null) return `${field}: expected { sequencerId, host, port, tls? }`;
    const e = s as Record<string, unknown>;
    const unknown = Object.keys(e).find((k) => !['sequencerId', 'host', 'port', 'tls'].includes(k));
    if (unknown) return `${field}.${unknown}: unknown field`;
    if (typeof e.sequencerId !== 'string' || !SEQUENCER_ID.test(e.sequencerId))
      return `${field}.sequencerId: expected a sequencer id such as SEQ::sv1::1220…`;
    if (typeof e.host !== 'string' || !HOST_NAME.test(e.host)) return `${field}.host: expected a host name or address`;
    if (typeof e.port !== 'number' || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535)
      return `${field}.port: expected a port from 1 to 65535`;
    if (e.tls !== undefined && typeof e.tls !== 'boolean') return `${field}.tls: expected true or false`;
  }
  return undefined;
}

/** Only the fields the procedure uses, so nothing else the caller sent reaches the console script. */
export function lsuParametersOf(v: LsuParameters): LsuParameters {
  return {
    newPhysicalSynchronizerId: v.newPhysicalSynchronizerId,
    sequencerSuccessors: v.sequencerSuccessors.map((s): SequencerSuccessor => ({
      sequencerId: s.sequencerId,
      host: s.host,
      port: s.port,
      ...(s.tls !== undefined ? { tls: s.tls } : {}),
    })),
  };
}

/**
 * Takes the parameters from the input or, without them, waits for an approver to pass on what the super
 * validators communicated (`lsuParameters` update).
 */
export async function awaitLsuParameters(
  run: Procedure,
  given: LsuParameters | undefined,
  timeoutMs: number,
): Promise<LsuParameters | undefined> {
  let parameters = given;
  setHandler(
    lsuParametersUpdate,
    (request) => {
      parameters = lsuParametersOf(request);
      run.operatorAction(
        request.actor,
        'gave the LSU parameters from the super validators',
        `${request.newPhysicalSynchronizerId}; ${request.sequencerSuccessors.map((s) => `${s.sequencerId} at ${s.host}:${s.port}`).join(', ')}`,
      );
      run.received(AWAIT_LSU_PARAMETERS);
      return `LSU to ${request.newPhysicalSynchronizerId} accepted`;
    },
    {
      validator: (request) => {
        if (typeof request?.actor !== 'string' || request.actor.trim() === '')
          throw new Error('actor: required (who passes them on)');
        if (!run.isAwaiting(AWAIT_LSU_PARAMETERS)) throw new Error('no LSU parameters are awaited now');
        const problem = lsuParametersProblem(request);
        if (problem) throw new Error(problem);
      },
    },
  );
  if (parameters) return parameters;
  run.await(AWAIT_LSU_PARAMETERS, 'an approver (from the super validators)');
  return (await conditionWithin(() => parameters !== undefined, timeoutMs)) ? parameters : undefined;
}

export interface CatchUpObservation {
  /** When the participant last logged `Processing event at`, as the node said at `observedAt`. */
  lastEventAt?: string;
  observedAt: number;
}

/**
 * The guide's sign of having caught up: no new `Processing event at` line. Caught up once the newest
 * event is `quietMs` old, or no event was seen at all; the evidence says which.
 */
export function caughtUp(o: CatchUpObservation, quietMs: number): { done: boolean; evidence: string } {
  if (!o.lastEventAt) return { done: true, evidence: 'the participant logged no "Processing event at" line' };
  const quiet = o.observedAt - Date.parse(o.lastEventAt);
  const seconds = Math.round(quiet / 1000);
  return quiet >= quietMs
    ? { done: true, evidence: `last "Processing event at" ${o.lastEventAt}, ${seconds}s without a new one` }
    : { done: false, evidence: `last "Processing event at" ${o.lastEventAt}, ${seconds}s ago` };
}
