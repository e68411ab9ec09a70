/** `pushctl db status|copy`: which store this is and whether it answers; moving an installation between stores. */
import type { Command } from 'commander';
import type { TableCounts } from '../../core/db-admin.js';
import { action } from '../run.js';

export function registerDb(program: Command): void {
  const db = program.command('db').description('the database: status, and copying an installation between SQLite and PostgreSQL');

  db.command('status')
    .description('backend, location (without password), schema version, row counts, and that the connection works')
    .action(
      action(async ({ out, config }) => {
        const { databaseStatus } = await import('../../core/db-admin.js');
        const status = await databaseStatus((await config()).database);
        out.result(status, () => [
          `backend:         ${status.backend}`,
          `location:        ${status.location}`,
          `schema version:  ${status.schemaVersion}`,
          `connection:      ${out.color.green('ok')}`,
          ...countLines(status.counts),
        ]);
      }),
    );

  db.command('copy')
    .description('copy a whole installation (keys, subscriptions, categories, notifications, ledger) to another database; stop writers first')
    .requiredOption('--from <database>', 'source: a SQLite file or a postgres:// URL')
    .requiredOption('--to <database>', 'target: a SQLite file (created if missing) or a postgres:// URL')
    .option('--force', 'replace what the target holds (a non-empty target is refused otherwise)')
    .addHelpText('after', '\nExample:\n  pushctl db copy --from pushctl.db --to postgres://pushctl@db.internal/pushctl')
    .action(
      action<{ from: string; to: string; force?: boolean }>(async ({ options, out }) => {
        const { copyDatabase, resolveLocation } = await import('../../core/db-admin.js');
        const result = await copyDatabase(resolveLocation(options.from), resolveLocation(options.to), {
          force: options.force,
          onTable: (table, rows) => out.info(`  ${table}: ${rows}`),
        });
        out.result(result, () => [
          out.color.green('✓ ') + `copied ${result.from.backend} ${result.from.location} to ${result.to.backend} ${result.to.location}; counts verified`,
          ...countLines(result.counts),
        ]);
      }),
    );
}

function countLines(counts: TableCounts): string[] {
  return Object.entries(counts).map(([table, n]) => `${`${table}:`.padEnd(25)}${n}`);
}

