/**
 * What the store-level tests (the contract, delivery control) share: the two backends, a fixed
 * clock and the rows they start from.
 */
import type { SubscriptionWrite } from '../../src/store/store.js';
import { postgresAvailable } from './postgres.js';

/** Both backends; PostgreSQL's tests skip only outside CI when its binaries are missing (postgresAvailable throws under CI). */
export const BACKENDS = [
  { backend: 'sqlite' as const, skip: false },
  { backend: 'postgres' as const, skip: !postgresAvailable() },
];

export const NOW = 1_800_000_000_000;
export const DAY = 86_400_000;

/** A notification being sent to everyone, created at NOW. */
export const NOTIFICATION = { payload: '{}', target: '{"all":true}', ttl: 60, urgency: null, topic: null, status: 'sending' as const, send_at: NOW, cron: null, tz: null, until_at: null, remaining_count: null, stale_after_ms: null, idempotency_key: null, created_at: NOW };

/** Subscription number `n`, as an upsert writes it. */
export function write(n: number, extra: Partial<SubscriptionWrite> = {}): SubscriptionWrite {
  return { endpoint: `https://push.example.net/send/${n}`, p256dh: `p256dh-${n}`, auth: `auth-${n}`, keyId: null, expirationTime: null, updatedAt: NOW, ...extra };
}
