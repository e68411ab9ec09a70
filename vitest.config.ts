import fs from 'node:fs';
import { defineConfig } from 'vitest/config';
import { PG_BIN } from './test/support/pg-bin.js';

/**
 * The suite runs twice: every test on SQLite, and the end-to-end tests (the CLI as a subprocess,
 * the server over sockets, browsers) again on a real PostgreSQL cluster (test/support/backend.ts).
 * Left out of the second run: tests of things with no store in them, or of SQLite itself.
 */
const NOT_ON_POSTGRES = [
  'test/init.test.ts', // writes a config naming a SQLite file, and creates that file
  'test/store.test.ts', // the SQLite file: modes, WAL, busy timeouts, migrations of the file
  'test/store-contract.test.ts', // runs both backends itself
  'test/db-admin.test.ts', // runs both backends itself
  'test/delivery-control-store.test.ts', // runs both backends itself
  'test/store-postgres-outage.test.ts', // PostgreSQL only, on a server of its own (it stops and starts it)
  'test/shared-send.test.ts', // runs both backends itself (PostgreSQL on a server of its own, which it stops and starts)
  'test/config.test.ts',
  'test/completion.test.ts',
  'test/deploy.test.ts',
  'test/cli-docs.test.ts',
  'test/openapi.test.ts',
  'test/push-wire.test.ts',
  'test/rfc8291.test.ts', // no store
  'test/tracking-tokens.test.ts', // no store
  'test/push-service.test.ts',
  'test/rich-payload.test.ts',
  'test/sw-script.test.ts',
  'test/proxy.test.ts',
];

// Under CI a missing PostgreSQL fails the run (pg-global.ts); elsewhere its run is left out.
const withPostgres = Boolean(process.env.CI) || fs.existsSync(`${PG_BIN}/initdb`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The CLI runs as a subprocess against the built dist/; two cores, so keep parallelism modest.
    maxWorkers: 2,
    // CI also writes a JSON report, from which .ci/run prints the plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: process.env.CI ? { json: 'test-results.json' } : undefined,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      ...(withPostgres
        ? [
            {
              extends: true as const,
              test: {
                name: 'postgres',
                include: ['test/**/*.test.ts'],
                exclude: NOT_ON_POSTGRES,
                env: { PUSHCTL_TEST_BACKEND: 'postgres' },
                globalSetup: ['test/support/pg-global.ts'],
              },
            },
          ]
        : []),
    ],
  },
});
