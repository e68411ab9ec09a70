/**
 * Every PostgreSQL statement pushctl runs, by name (one query set per backend, as ntfy keeps
 * them). Each runs as a named prepared statement: parsed and planned once per connection. Lists
 * travel as arrays (= ANY($n)), so no statement's text depends on its arguments.
 */
import { tableCountsSql } from '../paging.js';
import { TABLES } from '../store.js';

const DETAIL = `
  SELECT s.*,
         (SELECT string_agg(c.name, chr(31)) FROM subscription_categories sc
            JOIN categories c ON c.id = sc.category_id WHERE sc.subscription_id = s.id) AS category_names,
         k.public_key AS vapid_public_key
  FROM subscriptions s LEFT JOIN vapid_keys k ON k.id = s.key_id`;

const WITH_COUNT = `
  SELECT c.*, (SELECT count(*) FROM subscription_categories sc WHERE sc.category_id = c.id) AS subscribers
  FROM categories c`;

/** A subscription whose expirationTime has passed ($n: now) is no recipient: the browser dropped it. */
const live = (now: string) => `(expiration_time IS NULL OR expiration_time > ${now})`;

/** Subscriptions marked stale-key (migration 6) get sends only when named one by one. */
const FRESH_KEY = 'stale_key_at IS NULL';

const IN_CATEGORIES = (now: string, column: 'id' | 'endpoint' = 'id') => `
  SELECT ${column} FROM subscriptions WHERE ${live(now)} AND ${FRESH_KEY} AND id IN (
    SELECT sc.subscription_id FROM subscription_categories sc JOIN categories c ON c.id = sc.category_id
    WHERE c.name = ANY($1::text[]))`;

/** An interrupted send is ready when its lease is gone and it has work due now (or only needs finishing). $1 = now */
const ORPHAN_READY = `
  n.status = 'sending'
  AND (n.lease_owner IS NULL OR n.lease_expires_at IS NULL OR n.lease_expires_at <= $1)
  AND (n.started_at IS NULL
       OR NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending')
       OR EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending'
                  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $1)))`;

/** Finished one-off notifications finished before $1 that still have ledger rows. */
const HISTORY_WHERE = `
  n.status IN ('sent', 'partial', 'failed', 'cancelled', 'skipped') AND n.cron IS NULL
  AND n.finished_at IS NOT NULL AND n.finished_at < $1
  AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id)`;

/** Notifications sent to the category $2 (target {"categories": [...]}, stored as JSON text). */
const TO_CATEGORY = `SELECT n.id FROM notifications n WHERE (n.target::jsonb -> 'categories') @> jsonb_build_array($2::text)`;

// Stale (by age and/or failures; at least one given), or ($3) expired by then.
const PRUNE_WHERE = `
  (($1::bigint IS NOT NULL OR $2::integer IS NOT NULL)
   AND ($1::bigint IS NULL OR (coalesce(last_success_at, created_at) < $1::bigint
        AND NOT EXISTS (SELECT 1 FROM delivery_events e WHERE e.subscription_id = subscriptions.id
                        AND e.kind IN ('shown', 'clicked') AND e.at >= $1::bigint)))
   AND ($2::integer IS NULL OR failure_count > $2::integer))
  OR ($3::bigint IS NOT NULL AND expiration_time IS NOT NULL AND expiration_time <= $3::bigint)`;

export const SQL = {
  // ---- keys ----
  activeKey: 'SELECT * FROM vapid_keys WHERE active = 1',
  keyById: 'SELECT * FROM vapid_keys WHERE id = $1',
  keyByPublicKey: 'SELECT * FROM vapid_keys WHERE public_key = $1',
  allKeys: 'SELECT * FROM vapid_keys ORDER BY id',
  deactivateKeys: 'UPDATE vapid_keys SET active = 0 WHERE active = 1',
  reactivateKey: 'UPDATE vapid_keys SET active = 1, subject = $2 WHERE id = $1 RETURNING *',
  insertActiveKey: 'INSERT INTO vapid_keys (public_key, private_key, subject, created_at, active) VALUES ($1, $2, $3, $4, 1) RETURNING *',
  setKeySubject: 'UPDATE vapid_keys SET subject = $2 WHERE id = $1',
  subscriptionCountByKey: 'SELECT count(*) AS n FROM subscriptions WHERE key_id = $1',

  // ---- subscriptions ----
  // One statement, atomic against a concurrent insert of the same endpoint (another replica).
  // xmax = 0 only on a freshly inserted row version: that is "created".
  // Parameters: the row's 13 values ($1-$13), then whether each optional field was given ($14-$18).
  upsertSubscription: `
    INSERT INTO subscriptions (endpoint, p256dh, auth, key_id, expiration_time, label, user_agent,
                               created_at, updated_at, last_success_at, failure_count, time_zone, language)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (endpoint) DO UPDATE SET
      p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, key_id = EXCLUDED.key_id, expiration_time = EXCLUDED.expiration_time,
      label = CASE WHEN $14::boolean THEN EXCLUDED.label ELSE subscriptions.label END,
      user_agent = CASE WHEN $15::boolean THEN EXCLUDED.user_agent ELSE subscriptions.user_agent END,
      updated_at = EXCLUDED.updated_at,
      last_success_at = CASE WHEN $16::boolean THEN EXCLUDED.last_success_at ELSE subscriptions.last_success_at END,
      failure_count = EXCLUDED.failure_count,
      time_zone = CASE WHEN $17::boolean THEN EXCLUDED.time_zone ELSE subscriptions.time_zone END,
      language = CASE WHEN $18::boolean THEN EXCLUDED.language ELSE subscriptions.language END,
      stale_key_at = CASE WHEN subscriptions.key_id IS NOT DISTINCT FROM EXCLUDED.key_id AND subscriptions.p256dh = EXCLUDED.p256dh
                            AND subscriptions.auth = EXCLUDED.auth THEN subscriptions.stale_key_at END
    RETURNING id, (xmax = 0) AS created`,
  // A batch (an import's) in a few round trips instead of one or two per row: insert the new
  // endpoints, then update the rest from the same arrays. The arrays are the write's fields.
  insertSubscriptionBatch: `
    INSERT INTO subscriptions (endpoint, p256dh, auth, key_id, expiration_time, label, user_agent,
                               created_at, updated_at, last_success_at, failure_count, time_zone, language)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
                         $8::bigint[], $9::bigint[], $10::bigint[], $11::integer[], $12::text[], $13::text[])
    ON CONFLICT (endpoint) DO NOTHING
    RETURNING id, endpoint`,
  updateSubscriptionBatch: `
    UPDATE subscriptions s SET
      p256dh = u.p256dh, auth = u.auth, key_id = u.key_id, expiration_time = u.expiration_time,
      label = CASE WHEN u.set_label THEN u.label ELSE s.label END,
      user_agent = CASE WHEN u.set_user_agent THEN u.user_agent ELSE s.user_agent END,
      updated_at = u.updated_at,
      last_success_at = CASE WHEN u.set_last_success THEN u.last_success_at ELSE s.last_success_at END,
      failure_count = u.failure_count,
      time_zone = CASE WHEN u.set_time_zone THEN u.time_zone ELSE s.time_zone END,
      language = CASE WHEN u.set_language THEN u.language ELSE s.language END,
      stale_key_at = CASE WHEN s.key_id IS NOT DISTINCT FROM u.key_id AND s.p256dh = u.p256dh AND s.auth = u.auth THEN s.stale_key_at END
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
                $8::bigint[], $9::bigint[], $10::bigint[], $11::integer[], $12::text[], $13::text[],
                $14::boolean[], $15::boolean[], $16::boolean[], $17::boolean[], $18::boolean[])
      AS u(endpoint, p256dh, auth, key_id, expiration_time, label, user_agent, created_at, updated_at, last_success_at,
           failure_count, time_zone, language, set_label, set_user_agent, set_last_success, set_time_zone, set_language)
    WHERE s.endpoint = u.endpoint
    RETURNING s.id, s.endpoint`,
  clearCategoriesOfMany: 'DELETE FROM subscription_categories WHERE subscription_id = ANY($1::bigint[])',
  addMemberships: `
    INSERT INTO subscription_categories (subscription_id, category_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])
    ON CONFLICT DO NOTHING`,
  subscriptionIdByEndpoint: 'SELECT id FROM subscriptions WHERE endpoint = $1',
  clearCategories: 'DELETE FROM subscription_categories WHERE subscription_id = $1',
  addCategories: `
    INSERT INTO subscription_categories (subscription_id, category_id) SELECT $1, unnest($2::bigint[])
    ON CONFLICT DO NOTHING`,
  subscriptionById: 'SELECT * FROM subscriptions WHERE id = $1',
  updateLocale: `
    UPDATE subscriptions SET
      time_zone = CASE WHEN $3::boolean THEN $4 ELSE time_zone END,
      language = CASE WHEN $5::boolean THEN $6 ELSE language END,
      updated_at = $2
    WHERE id = $1`,
  subscriptionByEndpoint: 'SELECT * FROM subscriptions WHERE endpoint = $1',
  deleteSubscription: 'DELETE FROM subscriptions WHERE id = $1',
  categoryIdsOf: 'SELECT category_id FROM subscription_categories WHERE subscription_id = $1',
  countSubscriptions: 'SELECT count(*) AS n FROM subscriptions',
  countSubscriptionsInCategory: 'SELECT count(*) AS n FROM subscription_categories WHERE category_id = $1',
  subscriptionDetail: `${DETAIL} WHERE s.id = $1`,
  subscriptionDetailPage: `${DETAIL} WHERE s.id > $1 ORDER BY s.id LIMIT $2`,
  subscriptionDetailPageInCategory: `${DETAIL}
    WHERE s.id > $1 AND s.id IN (SELECT subscription_id FROM subscription_categories WHERE category_id = $3)
    ORDER BY s.id LIMIT $2`,
  countPrunable: `SELECT count(*) AS n FROM subscriptions WHERE ${PRUNE_WHERE}`,
  deletePrunable: `DELETE FROM subscriptions WHERE ${PRUNE_WHERE}`,

  // ---- categories ----
  insertCategory: 'INSERT INTO categories (name, description, created_at) VALUES ($1, $2, $3) RETURNING *',
  categoryById: 'SELECT * FROM categories WHERE id = $1',
  categoryByName: 'SELECT * FROM categories WHERE name = $1',
  categoryWithCount: `${WITH_COUNT} WHERE c.id = $1`,
  // COLLATE "C": byte order, as SQLite sorts, whatever the database's locale.
  allCategoriesWithCounts: `${WITH_COUNT} ORDER BY c.name COLLATE "C"`,
  categoryIdsByName: 'SELECT id, name FROM categories',
  renameCategory: 'UPDATE categories SET name = $2 WHERE id = $1',
  describeCategory: 'UPDATE categories SET description = $2 WHERE id = $1',
  deleteCategory: 'DELETE FROM categories WHERE id = $1',
  addMembers: `
    INSERT INTO subscription_categories (subscription_id, category_id) SELECT unnest($2::bigint[]), $1
    ON CONFLICT DO NOTHING`,
  removeMembers: 'DELETE FROM subscription_categories WHERE category_id = $1 AND subscription_id = ANY($2::bigint[])',
  existingCategoryNames: 'SELECT name FROM categories WHERE name = ANY($1::text[])',

  // ---- notifications ----
  insertNotification: `
    INSERT INTO notifications (payload, target, ttl, urgency, topic, status, send_at, cron, tz, until_at, remaining_count,
      stale_after_ms, idempotency_key, created_at, parent_id, slot_at, lease_owner, lease_expires_at, urgent, local_time, rate)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
    RETURNING id`,
  setTopic: 'UPDATE notifications SET topic = $2 WHERE id = $1',
  setTopicIf: 'UPDATE notifications SET topic = $3 WHERE id = $1 AND topic = $2',
  notificationById: 'SELECT * FROM notifications WHERE id = $1',
  notificationByIdempotencyKey: 'SELECT * FROM notifications WHERE idempotency_key = $1',
  clearIdempotencyKey: 'UPDATE notifications SET idempotency_key = NULL WHERE id = $1',
  listNotifications: `
    SELECT * FROM notifications
    WHERE ($1::text IS NULL OR status = $1::text)
      AND ($2::bigint IS NULL OR coalesce(finished_at, started_at, send_at, created_at) >= $2::bigint)
    ORDER BY id DESC LIMIT $3 OFFSET $4`,
  deleteNotification: 'DELETE FROM notifications WHERE id = $1',
  setStatus: 'UPDATE notifications SET status = $2, error = coalesce($3, error), finished_at = coalesce($4, finished_at) WHERE id = $1',
  cancelNotification: `
    UPDATE notifications SET status = 'cancelled', finished_at = coalesce(finished_at, $2)
    WHERE id = $1 AND status IN ('scheduled', 'sending')`,

  finishSingleSend: `
    UPDATE notifications SET status = $2, total_count = 1, sent_count = $3, gone_count = $4, failed_count = $5,
      error = $6, started_at = $7, finished_at = $8, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1`,

  // ---- leases ($2 owner, $3 now, $4 until) ----
  tryAcquireLease: `
    UPDATE notifications SET lease_owner = $2, lease_expires_at = $4,
      status = CASE WHEN status = 'scheduled' THEN 'sending' ELSE status END
    WHERE id = $1 AND status IN ('scheduled', 'sending')
      AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= $3 OR lease_owner = $2)`,
  takeOverLease: `
    UPDATE notifications SET lease_owner = $2, lease_expires_at = $4,
      status = CASE WHEN status = 'scheduled' THEN 'sending' ELSE status END
    WHERE id = $1 AND status IN ('scheduled', 'sending') AND lease_owner = $3`,
  renewLease: 'UPDATE notifications SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2',
  releaseLease: 'UPDATE notifications SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2',
  leaseHolder: 'SELECT lease_owner AS owner, lease_expires_at AS "expiresAt" FROM notifications WHERE id = $1',

  // ---- recipients and the ledger ----
  countAll: `SELECT count(*) AS n FROM subscriptions WHERE ${live('$1')} AND ${FRESH_KEY}`,
  countInCategories: `SELECT count(*) AS n FROM (${IN_CATEGORIES('$2')}) r`,
  countByIds: `SELECT count(*) AS n FROM subscriptions WHERE id = ANY($1::bigint[]) AND ${live('$2')}`,
  // The first recipients by id, as a send reaches them: $limit is the last parameter.
  endpointsAll: `SELECT endpoint FROM subscriptions WHERE ${live('$1')} AND ${FRESH_KEY} ORDER BY id LIMIT $2`,
  endpointsInCategories: `${IN_CATEGORIES('$2', 'endpoint')} ORDER BY id LIMIT $3`,
  endpointsByIds: `SELECT endpoint FROM subscriptions WHERE id = ANY($1::bigint[]) AND ${live('$2')} ORDER BY id LIMIT $3`,
  lockForStart: 'SELECT started_at FROM notifications WHERE id = $1 FOR UPDATE',
  fixAll: `INSERT INTO deliveries (notification_id, subscription_id, state, updated_at)
           SELECT $1::bigint, id, 'pending', $2::bigint FROM subscriptions WHERE ${live('$2')} AND ${FRESH_KEY} ON CONFLICT DO NOTHING`,
  fixInCategories: `INSERT INTO deliveries (notification_id, subscription_id, state, updated_at)
           SELECT $2, id, 'pending', $3 FROM (${IN_CATEGORIES('$3')}) r ON CONFLICT DO NOTHING`,
  fixByIds: `INSERT INTO deliveries (notification_id, subscription_id, state, updated_at)
           SELECT $2, id, 'pending', $3 FROM subscriptions WHERE id = ANY($1::bigint[]) AND ${live('$3')} ON CONFLICT DO NOTHING`,
  markStarted: 'UPDATE notifications SET started_at = $2, total_count = $3 WHERE id = $1',
  // After a large recipient list is written, so the claims that follow are planned on its real size.
  analyzeDeliveries: 'ANALYZE deliveries',
  // expired: 1 when the subscription's expirationTime has passed since the recipient list was fixed.
  pendingPage: `
    SELECT d.subscription_id, d.attempts, s.endpoint, s.p256dh, s.auth, s.key_id, coalesce((s.expiration_time <= $3)::integer, 0) AS expired
    FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id
    WHERE d.notification_id = $1 AND d.state = 'pending' AND d.subscription_id > $2
      AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $3)
    ORDER BY d.subscription_id LIMIT $4`,
  // A chunk of due rows, locked and leased in one statement; rows another worker has locked are
  // skipped, not waited for, and a row leased meanwhile fails the re-check: chunks never overlap.
  claimDeliveries: `
    WITH due AS (
      SELECT ctid FROM deliveries
      WHERE notification_id = $1 AND state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
      ORDER BY subscription_id LIMIT $4
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      -- By the locked rows' ctid (a TID scan), not a join or an index filter: a send's rows are
      -- fresh, their statistics say "few", and a plan built on that scans the whole send per chunk.
      UPDATE deliveries d SET next_attempt_at = $3
      WHERE d.ctid = ANY(ARRAY(SELECT ctid FROM due))
      RETURNING d.subscription_id, d.attempts
    )
    SELECT c.subscription_id, c.attempts, s.endpoint, s.p256dh, s.auth, s.key_id, coalesce((s.expiration_time <= $2)::integer, 0) AS expired
    FROM claimed c LEFT JOIN subscriptions s ON s.id = c.subscription_id
    ORDER BY c.subscription_id`,
  nextRetryAt: `SELECT count(*) AS pending, min(coalesce(next_attempt_at, 0)) AS earliest FROM deliveries WHERE notification_id = $1 AND state = 'pending'`,
  earliestRetryAfter: `SELECT min(next_attempt_at) AS t FROM deliveries WHERE notification_id = $1 AND state = 'pending' AND next_attempt_at > $2`,
  // A whole group commit in one round trip: the ledger rows and their subscriptions' bookkeeping.
  recordDeliveries: `
    WITH u AS (
      SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::integer[], $5::text[], $6::bigint[], $7::bigint[])
        AS u(notification_id, subscription_id, state, status_code, error, next_attempt_at, now)
    ), ledger AS (
      UPDATE deliveries d SET state = u.state, attempts = d.attempts + 1, status_code = u.status_code, error = u.error,
        next_attempt_at = u.next_attempt_at, updated_at = u.now
      FROM u WHERE d.notification_id = u.notification_id AND d.subscription_id = u.subscription_id
      RETURNING 1
    ), succeeded AS (
      UPDATE subscriptions s SET last_success_at = u.now, failure_count = 0, stale_key_at = NULL
      FROM u WHERE s.id = u.subscription_id AND u.state = 'sent'
      RETURNING 1
    ), gone AS (
      DELETE FROM subscriptions s USING u WHERE s.id = u.subscription_id AND u.state = 'gone'
      RETURNING 1
    ), failed AS (
      UPDATE subscriptions s SET failure_count = s.failure_count + 1
      FROM u WHERE s.id = u.subscription_id AND (u.state = 'failed' OR (u.state = 'pending' AND u.status_code IS NOT NULL))
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM ledger) AS n`,
  deliveryCounts: 'SELECT state, count(*) AS n FROM deliveries WHERE notification_id = $1 GROUP BY state',
  storeCounts: 'UPDATE notifications SET total_count = $2, sent_count = $3, gone_count = $4, failed_count = $5, capped_count = $6 WHERE id = $1',
  recentFailures: `
    SELECT subscription_id, state, status_code, error, attempts, updated_at FROM deliveries
    WHERE notification_id = $1 AND (state IN ('failed', 'gone') OR (state = 'pending' AND status_code IS NOT NULL))
    ORDER BY updated_at DESC NULLS LAST LIMIT $2`,

  // ---- the dispatcher ----
  claimNext: `
    UPDATE notifications SET status = 'sending', lease_owner = $2, lease_expires_at = $3
    WHERE id = (
      SELECT n.id FROM notifications n
      WHERE n.cron IS NULL
        AND n.id <> ALL($4::bigint[])
        AND ((n.status = 'scheduled' AND coalesce(n.send_at, 0) <= $1) OR (${ORPHAN_READY}))
      ORDER BY coalesce(n.send_at, 0), n.id
      LIMIT 1
      FOR UPDATE SKIP LOCKED)
    RETURNING *`,
  markSkipped: `
    UPDATE notifications SET status = 'skipped', error = $3, finished_at = $4, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status = 'sending'`,
  dueTemplates: `SELECT * FROM notifications WHERE status = 'scheduled' AND cron IS NOT NULL AND send_at <= $1 ORDER BY send_at, id`,
  insertOccurrence: `
    INSERT INTO notifications
      (payload, target, ttl, urgency, topic, status, send_at, tz, stale_after_ms, parent_id, slot_at, created_at, error, finished_at, tracking, urgent,
       local_time, rate)
    SELECT payload, target, ttl, urgency, topic, $2::text, $3, tz, stale_after_ms, id, $3, $4, $5,
           CASE WHEN $2::text = 'skipped' THEN $4::bigint END, tracking, urgent, local_time, rate
    FROM notifications WHERE id = $1
    ON CONFLICT (parent_id, slot_at) WHERE parent_id IS NOT NULL DO NOTHING
    RETURNING id`,
  advanceTemplate: `UPDATE notifications SET send_at = $3, remaining_count = $4 WHERE id = $1 AND send_at = $2 AND status = 'scheduled'`,
  finishTemplate: `UPDATE notifications SET status = 'sent', finished_at = $3, remaining_count = $4 WHERE id = $1 AND send_at = $2 AND status = 'scheduled'`,
  nextWorkAt: `
    SELECT min(t) AS t FROM (
      SELECT min(send_at) AS t FROM notifications WHERE status = 'scheduled'
      UNION ALL
      SELECT min(greatest(coalesce(n.lease_expires_at, 0),
                          CASE WHEN n.started_at IS NULL THEN 0
                               ELSE coalesce((SELECT min(coalesce(d.next_attempt_at, 0)) FROM deliveries d
                                              WHERE d.notification_id = n.id AND d.state = 'pending'), 0) END))
        FROM notifications n WHERE n.status = 'sending'
    ) w`,
  occurrenceRows: 'SELECT * FROM notifications WHERE parent_id = $1 ORDER BY slot_at DESC LIMIT $2',
  occurrenceCount: 'SELECT count(*) AS n FROM notifications WHERE parent_id = $1',
  liveOccurrences: `SELECT id FROM notifications WHERE parent_id = $1 AND status = 'sending' AND lease_owner IS NOT NULL AND lease_expires_at > $2`,
  cancelScheduledOccurrences: `UPDATE notifications SET status = 'cancelled', finished_at = $2 WHERE parent_id = $1 AND status = 'scheduled'`,
  deleteOccurrences: 'DELETE FROM notifications WHERE parent_id = $1',
  reopenForResume: `
    UPDATE notifications SET status = 'sending', finished_at = NULL
    WHERE id = $1 AND status IN ('failed', 'partial')
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = notifications.id AND d.state = 'pending')`,

  deferredSends: `
    SELECT n.id AS id, count(*) AS deliveries, min(d.next_attempt_at) AS "dueAt"
    FROM notifications n JOIN deliveries d ON d.notification_id = n.id AND d.state = 'pending'
    WHERE n.status = 'sending' AND (n.lease_owner IS NULL OR n.lease_expires_at IS NULL OR n.lease_expires_at <= $1)
    GROUP BY n.id
    HAVING min(coalesce(d.next_attempt_at, 0)) > $1
    ORDER BY "dueAt", n.id`,

  // ---- engagement ----
  setTracking: 'UPDATE notifications SET tracking = $2 WHERE id = $1',
  trackingOf: 'SELECT tracking FROM notifications WHERE id = $1',
  // A whole page of recipients in one statement; the tokens already issued are read afterwards
  // (a new statement sees what a concurrent issuer committed meanwhile).
  insertTokens: `
    INSERT INTO delivery_tokens (token, notification_id, subscription_id)
    SELECT t, $1, s FROM unnest($2::bigint[], $3::text[]) AS u(s, t)
    ON CONFLICT DO NOTHING`,
  tokensOf: 'SELECT subscription_id, token FROM delivery_tokens WHERE notification_id = $1 AND subscription_id = ANY($2::bigint[])',
  deliveryByToken: `
    SELECT t.notification_id, t.subscription_id, n.tracking, n.payload
    FROM delivery_tokens t JOIN notifications n ON n.id = t.notification_id
    WHERE t.token = $1`,
  trackedDelivery: `
    SELECT n.id AS notification_id, s.id AS subscription_id, n.tracking, n.payload
    FROM notifications n, subscriptions s
    WHERE n.id = $1 AND s.id = $2`,
  insertSecret: 'INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING',
  secret: 'SELECT value FROM secrets WHERE name = $1',
  insertEvent: `
    INSERT INTO delivery_events (notification_id, subscription_id, kind, action, at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT DO NOTHING`,
  ledgerFunnel: `SELECT count(*) AS targeted, count(*) FILTER (WHERE state = 'sent') AS delivered FROM deliveries WHERE notification_id = $1`,
  eventFunnel: `
    SELECT count(*) FILTER (WHERE kind = 'shown') AS shown, count(*) FILTER (WHERE kind = 'clicked') AS clicked,
           count(*) FILTER (WHERE kind = 'dismissed') AS dismissed
    FROM delivery_events WHERE notification_id = $1`,
  // NULLS FIRST and byte order: the order SQLite gives.
  clicksByAction: `
    SELECT action, count(*) AS clicks FROM delivery_events WHERE notification_id = $1 AND kind = 'clicked'
    GROUP BY action ORDER BY clicks DESC, action COLLATE "C" NULLS FIRST`,
  // $2: a category name, or NULL for every notification. Days since the epoch, UTC.
  dailyDelivered: `
    SELECT updated_at / 86400000 AS day, count(*) AS n FROM deliveries
    WHERE state = 'sent' AND updated_at >= $1 AND ($2::text IS NULL OR notification_id IN (${TO_CATEGORY}))
    GROUP BY day`,
  dailyEvents: `
    SELECT at / 86400000 AS day, kind, count(*) AS n FROM delivery_events
    WHERE at >= $1 AND ($2::text IS NULL OR notification_id IN (${TO_CATEGORY}))
    GROUP BY day, kind`,

  // ---- gauges ----
  ping: 'SELECT 1',
  notificationsByStatus: 'SELECT status, count(*) AS n FROM notifications GROUP BY status ORDER BY status COLLATE "C"',
  overdueNotifications: `SELECT count(*) AS n FROM notifications WHERE status = 'scheduled' AND cron IS NULL AND (send_at IS NULL OR send_at <= $1)`,
  pendingDeliveries: `
    SELECT count(*) FILTER (WHERE d.next_attempt_at IS NULL OR d.next_attempt_at <= $1) AS due,
           count(*) FILTER (WHERE d.next_attempt_at > $1) AS deferred
    FROM notifications n JOIN deliveries d ON d.notification_id = n.id AND d.state = 'pending'
    WHERE n.status = 'sending'`,
  subscriptionsByCategory: `
    SELECT c.name, (SELECT count(*) FROM subscription_categories sc WHERE sc.category_id = c.id) AS n
    FROM categories c ORDER BY c.id`,

  // ---- subscriber locale, frequency caps, quiet hours ----
  categoryCapsByName: 'SELECT name, frequency_cap FROM categories WHERE frequency_cap IS NOT NULL AND name = ANY($1::text[])',
  setCategoryCap: 'UPDATE categories SET frequency_cap = $2 WHERE id = $1',
  // The next range of a notification's pending recipients (caps and quiet hours write one range per transaction).
  pendingRange: `
    SELECT min(subscription_id) AS lo, max(subscription_id) AS hi FROM (
      SELECT subscription_id FROM deliveries WHERE notification_id = $1 AND state = 'pending' AND subscription_id > $2
      ORDER BY subscription_id LIMIT $3) r`,
  // $1 id, $2 now, $3..$4 the range, $5 since, $6 limit, $7 category or NULL. Only notifications
  // that can have sent in the window are read, through the ledger's (notification, state, subscription) index.
  capRange: `
    UPDATE deliveries SET state = 'capped', updated_at = $2
    WHERE notification_id = $1 AND state = 'pending' AND attempts = 0 AND subscription_id BETWEEN $3 AND $4
      AND subscription_id IN (
        SELECT d2.subscription_id FROM notifications n2 JOIN deliveries d2 ON d2.notification_id = n2.id
        WHERE n2.id <> $1 AND n2.started_at IS NOT NULL AND (n2.finished_at IS NULL OR n2.finished_at > $5)
          AND ($7::text IS NULL OR (n2.target::jsonb -> 'categories') @> jsonb_build_array($7::text))
          AND d2.state = 'sent' AND d2.subscription_id BETWEEN $3 AND $4 AND d2.updated_at > $5
        GROUP BY d2.subscription_id HAVING count(*) >= $6)`,
  categoryQuietHours: 'SELECT name, quiet_hours FROM categories WHERE quiet_hours IS NOT NULL AND name = ANY($1::text[]) ORDER BY name COLLATE "C"',
  setCategoryQuietHours: 'UPDATE categories SET quiet_hours = $2 WHERE id = $1',
  pendingZones: `
    SELECT DISTINCT s.time_zone AS zone FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
    WHERE d.notification_id = $1 AND d.state = 'pending' AND d.attempts = 0`,
  // $4..$6: the zones (NULL: unknown) with their end of quiet hours and reason. A zone name is
  // never '', so coalesce makes "unknown" a value a hash join can match. Never moves a row earlier.
  deferZones: `
    UPDATE deliveries d SET next_attempt_at = z.until, error = z.reason
    FROM subscriptions s, unnest($4::text[], $5::bigint[], $6::text[]) AS z(zone, until, reason)
    WHERE d.notification_id = $1 AND d.state = 'pending' AND d.attempts = 0 AND d.subscription_id BETWEEN $2 AND $3
      AND s.id = d.subscription_id AND coalesce(s.time_zone, '') = coalesce(z.zone, '')
      AND (d.next_attempt_at IS NULL OR d.next_attempt_at < z.until)`,
  // ILIKE with no escape character: SQLite's LIKE (ASCII case-insensitive, no escape).
  deferredSummary: `
    SELECT count(*) AS count, min(next_attempt_at) AS until FROM deliveries
    WHERE notification_id = $1 AND state = 'pending' AND attempts = 0 AND error ILIKE $2 ESCAPE ''`,

  // ---- housekeeping ----
  lastRun: 'SELECT last_run_at FROM maintenance_runs WHERE task = $1',
  // One statement decides, however many dispatchers ask at once (the row lock serialises them).
  claimRun: `
    INSERT INTO maintenance_runs (task, last_run_at) VALUES ($1, $2)
    ON CONFLICT (task) DO UPDATE SET last_run_at = EXCLUDED.last_run_at
    WHERE maintenance_runs.last_run_at <= EXCLUDED.last_run_at - $3`,
  prunableHistory: `
    SELECT count(*) AS notifications, coalesce(sum((SELECT count(*) FROM deliveries d WHERE d.notification_id = n.id)), 0)::bigint AS deliveries
    FROM notifications n WHERE ${HISTORY_WHERE}`,
  prunableHistoryIds: `SELECT n.id FROM notifications n WHERE ${HISTORY_WHERE} ORDER BY n.id LIMIT $2`,
  markLedgerPruned: 'UPDATE notifications SET ledger_pruned_at = $2 WHERE id = $1',
  deleteLedger: 'DELETE FROM deliveries WHERE notification_id = $1',

  // ---- whole installation ----
  tableCounts: tableCountsSql(TABLES),

  // ---- delivery control (migration 6; issue 14) ----
  markStaleKeys: 'UPDATE subscriptions SET stale_key_at = $2 WHERE stale_key_at IS NULL AND id = ANY($1::bigint[])',
  // The notification's row lock serialises every claim of a throttled send: one cursor, no slot twice.
  pacedCursor: 'SELECT paced_until FROM notifications WHERE id = $1 FOR UPDATE',
  // $1 id, $2 now, $3 first slot, $4 limit, $5 interval, $6 lease. Rows numbered after locking
  // (a window function cannot sit beside FOR UPDATE); each row is leased until its slot + lease.
  claimPaced: `
    WITH due AS (
      SELECT subscription_id FROM deliveries
      WHERE notification_id = $1 AND state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
      ORDER BY subscription_id LIMIT $4
      FOR UPDATE SKIP LOCKED
    ), numbered AS (
      SELECT subscription_id, row_number() OVER (ORDER BY subscription_id) - 1 AS i FROM due
    ), claimed AS (
      UPDATE deliveries d SET next_attempt_at = $3::bigint + ceil(n.i * $5::float8)::bigint + $6::bigint
      FROM numbered n WHERE d.notification_id = $1 AND d.subscription_id = n.subscription_id
      RETURNING d.subscription_id, d.attempts, $3::bigint + ceil(n.i * $5::float8)::bigint AS slot_at
    )
    SELECT c.subscription_id, c.attempts, c.slot_at, s.endpoint, s.p256dh, s.auth, s.key_id,
           coalesce((s.expiration_time <= $2)::integer, 0) AS expired
    FROM claimed c LEFT JOIN subscriptions s ON s.id = c.subscription_id
    ORDER BY c.slot_at`,
  setPacedUntil: 'UPDATE notifications SET paced_until = $2 WHERE id = $1',
  giveBackClaims: `UPDATE deliveries SET next_attempt_at = $3 WHERE notification_id = $1 AND state = 'pending' AND subscription_id = ANY($2::bigint[])`,
  // Zones in byte order (COLLATE "C"), as SQLite sorts them; those without a zone last.
  pendingByDueTime: `
    SELECT d.next_attempt_at AS "dueAt", s.time_zone AS zone, count(*)::integer AS deliveries
    FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id
    WHERE d.notification_id = $1 AND d.state = 'pending'
    GROUP BY d.next_attempt_at, s.time_zone ORDER BY coalesce(d.next_attempt_at, 0), s.time_zone COLLATE "C" NULLS LAST`,
  pacedSendsInProgress: `
    SELECT n.id FROM notifications n
    WHERE n.status = 'sending' AND n.rate IS NOT NULL AND n.lease_owner IS NOT NULL AND n.lease_expires_at > $1
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending'
                  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $1))
    ORDER BY n.id`,
  zonesOfAll: `SELECT DISTINCT time_zone AS zone FROM subscriptions WHERE ${live('$1')} AND ${FRESH_KEY}`,
  zonesInCategories: `SELECT DISTINCT time_zone AS zone FROM subscriptions WHERE id IN (${IN_CATEGORIES('$2')})`,
  zonesByIds: `SELECT DISTINCT time_zone AS zone FROM subscriptions WHERE id = ANY($1::bigint[]) AND ${live('$2')}`,
  // ---- work wake-ups and chunk leases (issue 11) ----
  // Delivered to every LISTENer when the surrounding transaction commits (at once outside one);
  // the same id twice in one transaction is delivered once.
  notifyWork: `SELECT pg_notify('pushctl_work', $1::text)`,
  // Extends the lease of claimed rows this worker still holds: still pending, still carrying the
  // lease it claimed them with ($3); a row taken over by someone else carries another one.
  renewClaims: `
    UPDATE deliveries SET next_attempt_at = $4
    WHERE notification_id = $1 AND subscription_id = ANY($2::bigint[]) AND state = 'pending' AND next_attempt_at = $3`,
  releaseClaims: `UPDATE deliveries SET next_attempt_at = $3 WHERE notification_id = $1 AND state = 'pending' AND next_attempt_at = $2`,
  // $1 owner, $2 now, $3 limit. The EXISTS walks the ledger index from the lowest pending row:
  // rows in flight elsewhere are few and come first, so it stops soon.
  joinableSends: `
    SELECT n.id FROM notifications n
    WHERE n.status = 'sending' AND n.started_at IS NOT NULL AND n.cron IS NULL
      -- A throttled send is shared through its pace cursor (claimPaced), never by plain chunks.
      AND n.rate IS NULL
      AND n.lease_owner IS NOT NULL AND n.lease_owner <> $1 AND n.lease_expires_at > $2
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state = 'pending'
                  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $2))
      -- The lead has begun sending (an answer is recorded), so caps and quiet hours are applied.
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND d.state IN ('sent', 'gone', 'failed'))
    ORDER BY n.id LIMIT $3`,
} as const;

export type StatementName = keyof typeof SQL;

/**
 * Copying whole tables (db copy), statements per table: the first keyset page and the ones after
 * a key, in key order (no sentinel key: text keys have no value below them all), and an insert of
 * a page of rows as they are (ids included), passed as one JSON array.
 */
export function tableSql(table: { name: string; key: string[]; columns: string[] }): { first: string; page: string; insert: string } {
  const key = table.key.join(', ');
  const after = table.key.map((_, i) => `$${i + 1}`).join(', ');
  return {
    first: `SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${key} LIMIT $1`,
    page: `SELECT ${table.columns.join(', ')} FROM ${table.name} WHERE (${key}) > (${after}) ORDER BY ${key} LIMIT $${table.key.length + 1}`,
    insert: `INSERT INTO ${table.name} (${table.columns.join(', ')})
             SELECT ${table.columns.join(', ')} FROM json_populate_recordset(NULL::${table.name}, $1::json)`,
  };
}

/** Tables whose id comes from an identity column. */
export const IDENTITY_TABLES = ['vapid_keys', 'categories', 'subscriptions', 'notifications'] as const;

// ---- connection resilience (issue 11) ----

/**
 * Writes that are harmless to run twice, so one whose connection died mid-flight (applied or
 * not, nobody knows) is simply run again: the same values set again, a claim whose first copy
 * was lost (its rows wait for the lease, then come back), answers recorded again (the states and
 * counts come out the same; at most an extra attempt is counted). Every other write fails with
 * store_unavailable instead, because running it twice would create a second row or report what
 * the first run already changed. Plain reads are always repeatable.
 */
export const REPEATABLE_WRITES: ReadonlySet<string> = new Set<StatementName>([
  'setKeySubject', 'clearCategories', 'addCategories', 'updateLocale', 'renameCategory', 'describeCategory',
  'setTopic', 'setTopicIf', 'clearIdempotencyKey', 'setStatus', 'tryAcquireLease', 'renewLease', 'releaseLease',
  'claimDeliveries', 'recordDeliveries', 'storeCounts', 'claimNext', 'setTracking', 'insertTokens',
  'setCategoryCap', 'setCategoryQuietHours', 'renewClaims', 'notifyWork', 'releaseClaims', 'giveBackClaims', 'markStaleKeys', 'insertSecret',
]);

/** A statement that only reads (its text starts with SELECT and takes no row locks). */
export function isPlainRead(text: string): boolean {
  return /^\s*SELECT\b/i.test(text) && !/\bFOR\s+(UPDATE|SHARE|NO KEY UPDATE|KEY SHARE)\b|\bpg_notify\b|\bsetval\b|\bnextval\b/i.test(text);
}
