/**
 * Migration 8's data step on PostgreSQL (what and why: ../endpoint-rewrite.ts), inside the
 * migration's transaction: a page of rows, its twins and its changes in four statements, not a
 * round trip per row.
 */
import type pg from 'pg';
import { REWRITE_PAGE, rewritePlan, rewriteTargets, type StoredEndpoint } from '../endpoint-rewrite.js';

const PAGE = "SELECT id, endpoint, updated_at FROM subscriptions WHERE id > $1 AND strpos(endpoint, '%') > 0 ORDER BY id LIMIT $2";
const TWINS = 'SELECT id, endpoint, updated_at FROM subscriptions WHERE endpoint = ANY($1::text[])';
const REMOVE = 'DELETE FROM subscriptions WHERE id = ANY($1::bigint[])';
const RENAME = 'UPDATE subscriptions s SET endpoint = r.endpoint FROM unnest($1::bigint[], $2::text[]) AS r(id, endpoint) WHERE s.id = r.id';

export async function rewriteEndpointsPostgres(client: pg.ClientBase): Promise<void> {
  for (let after = 0; ; ) {
    const rows = (await client.query<StoredEndpoint>(PAGE, [after, REWRITE_PAGE])).rows;
    if (rows.length === 0) return;
    after = rows.at(-1)!.id;
    const targets = rewriteTargets(rows);
    if (targets.length === 0) continue;
    const twins = (await client.query<StoredEndpoint>(TWINS, [targets])).rows;
    const plan = rewritePlan(rows, new Map(twins.map((twin) => [twin.endpoint, twin])));
    if (plan.drop.length) await client.query(REMOVE, [plan.drop]);
    if (plan.rename.length) await client.query(RENAME, [plan.rename.map((r) => r.id), plan.rename.map((r) => r.endpoint)]);
  }
}
