/**
 * Migration 8's data step on SQLite (what and why: ../endpoint-rewrite.ts), inside the migration's
 * transaction: a page of rows with an escape at a time, each one's twin looked up by its index.
 */
import type Database from 'better-sqlite3';
import { REWRITE_PAGE, rewritePlan, rewriteTargets, type StoredEndpoint } from '../endpoint-rewrite.js';

/** SQLite: runs inside the migration's transaction. */
export function rewriteEndpointsSqlite(db: Database.Database): void {
  // Only rows with an escape can change: a URL's serialisation is otherwise already canonical.
  const page = db.prepare<[number, number], StoredEndpoint>(
    "SELECT id, endpoint, updated_at FROM subscriptions WHERE id > ? AND instr(endpoint, '%') > 0 ORDER BY id LIMIT ?",
  );
  const byEndpoint = db.prepare<[string], StoredEndpoint>('SELECT id, endpoint, updated_at FROM subscriptions WHERE endpoint = ?');
  const remove = db.prepare<[number]>('DELETE FROM subscriptions WHERE id = ?');
  const rename = db.prepare<[string, number]>('UPDATE subscriptions SET endpoint = ? WHERE id = ?');
  for (let after = 0; ; ) {
    const rows = page.all(after, REWRITE_PAGE);
    if (rows.length === 0) return;
    after = rows.at(-1)!.id;
    const twins = new Map<string, StoredEndpoint>();
    for (const endpoint of rewriteTargets(rows)) {
      const twin = byEndpoint.get(endpoint);
      if (twin) twins.set(endpoint, twin);
    }
    const plan = rewritePlan(rows, twins);
    for (const id of plan.drop) remove.run(id);
    for (const { id, endpoint } of plan.rename) rename.run(endpoint, id);
  }
}
