import { startTestPostgres } from '../helpers/postgres';

it('runs a throwaway PostgreSQL on loopback with password auth', async () => {
  const pg = await startTestPostgres();
  try {
    pg.sql('postgres', 'create database "participant-3"');
    expect(pg.sql('participant-3', 'select current_database()')).toBe('participant-3');
  } finally {
    await pg.stop();
  }
});
