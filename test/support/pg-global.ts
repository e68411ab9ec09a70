/**
 * Global setup of the suite's PostgreSQL run (vitest.config.ts): one real cluster for every test
 * file, started here and stopped at the end; each SQLite file a test names gets a database of its
 * own on it (backend.ts). Its address reaches the workers as PUSHCTL_TEST_PG_SERVER.
 */
import { postgresAvailable, startPostgres } from './postgres.js';

export default async function setup(): Promise<() => Promise<void>> {
  if (!postgresAvailable()) throw new Error('the PostgreSQL run needs Debian\'s postgresql package (apt-get install -y postgresql)');
  const server = await startPostgres();
  process.env.PUSHCTL_TEST_PG_SERVER = `127.0.0.1:${server.port}`;
  return () => server.stop();
}
