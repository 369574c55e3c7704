/**
 * A throwaway PostgreSQL cluster from Debian's packages for one test file: initdb into a scratch folder,
 * listening on 127.0.0.1 only, password authentication for the `cnadmin` role Splice uses.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { scratchDir } from './temporal';

export interface TestPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  binDir: string;
  /** Runs SQL as the superuser and returns psql's unaligned output. */
  sql(database: string, statement: string): string;
  stop(): Promise<void>;
}

export function postgresBinDir(): string {
  if (process.env.PG_BIN_DIR) return process.env.PG_BIN_DIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) {
    throw new Error('PostgreSQL is not installed: apt-get install postgresql (Debian), or set PG_BIN_DIR');
  }
  return path.join(root, versions[0]!, 'bin');
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const binDir = postgresBinDir();
  const dir = scratchDir('pg');
  const data = path.join(dir, 'data');
  const port = await freePort();
  // initdb and postgres refuse to run as root; the Debian package's postgres user runs them then.
  const asRoot = os.userInfo().uid === 0;
  const run = (file: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(binDir, file), ...args], { stdio: 'pipe' })
      : execFileSync(path.join(binDir, file), args, { stdio: 'pipe' });
  if (asRoot) {
    const { uid, gid } = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString()),
    };
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  run('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--no-instructions',
  ]);
  // pg_ctl waits for the server to accept connections, and stops it without signalling through runuser.
  run('pg_ctl', [
    '-D',
    data,
    '-w',
    '-l',
    path.join(dir, 'postgres.log'),
    '-o',
    `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off`,
    'start',
  ]);
  const psql = (database: string, statement: string) =>
    run('psql', [
      '-h',
      dir,
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      database,
      '-v',
      'ON_ERROR_STOP=1',
      '-At',
      '-c',
      statement,
    ])
      .toString()
      .trim();
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  psql('postgres', `create role cnadmin login superuser password '${password}'`);
  return {
    host: '127.0.0.1',
    port,
    user: 'cnadmin',
    password,
    binDir,
    sql: psql,
    stop: async () => {
      run('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']);
    },
  };
}
