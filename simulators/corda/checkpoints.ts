/**
 * A Corda node's flow-checkpoint tables (the Corda 4.7+ layout, reduced to the columns recovery touches),
 * filled with flows in every checkpoint status, in a real PostgreSQL database.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Client } from 'pg';

export const CHECKPOINT_STATUSES = ['RUNNABLE', 'FAILED', 'COMPLETED', 'HOSPITALIZED', 'KILLED', 'PAUSED'] as const;

export async function createCheckpointTables(client: Client): Promise<void> {
  await client.query(`
    create table if not exists node_checkpoints (
      flow_id varchar(64) primary key, status smallint not null, compatible boolean not null,
      progress_step varchar(256), flow_io_request varchar(128), timestamp timestamp not null);
    create table if not exists node_checkpoint_blobs (
      flow_id varchar(64) primary key, checkpoint_value bytea not null, flow_state bytea, hmac bytea,
      timestamp timestamp not null);
    create table if not exists node_flow_results (
      flow_id varchar(64) primary key, result_value bytea, timestamp timestamp not null);
    create table if not exists node_flow_exceptions (
      flow_id varchar(64) primary key, type varchar(256) not null, exception_message text,
      stack_trace text, exception_value bytea, timestamp timestamp not null);
    create table if not exists node_flow_metadata (
      flow_id varchar(64) primary key, invocation_id varchar(128) not null, flow_name varchar(128) not null,
      started_by varchar(128), invocation_time timestamp not null, finish_time timestamp);`);
}

/** `perStatus` flows in each status, with the rows a real node keeps for that status. Returns their ids. */
export async function fillCheckpoints(client: Client, perStatus: number): Promise<string[]> {
  const ids: string[] = [];
  for (const [status, name] of CHECKPOINT_STATUSES.entries()) {
    for (let i = 0; i < perStatus; i++) {
      const id = randomUUID();
      ids.push(id);
      await client.query(`insert into node_checkpoints values ($1, $2, true, 'Collecting signatures', 'Send', now())`, [
        id,
        status,
      ]);
      await client.query(`insert into node_checkpoint_blobs values ($1, $2, $3, $4, now())`, [
        id,
        randomBytes(512),
        randomBytes(64),
        randomBytes(32),
      ]);
      await client.query(
        `insert into node_flow_metadata values ($1, $2, 'net.corda.finance.flows.CashPaymentFlow', 'rpcuser', now(), null)`,
        [id, randomUUID()],
      );
      if (name === 'COMPLETED')
        await client.query(`insert into node_flow_results values ($1, $2, now())`, [id, randomBytes(40)]);
      if (name === 'FAILED' || name === 'HOSPITALIZED') {
        await client.query(
          `insert into node_flow_exceptions values ($1, 'net.corda.core.flows.FlowException', 'counterparty went away', 'at …', $2, now())`,
          [id, randomBytes(40)],
        );
      }
    }
  }
  return ids;
}
