/**
 * Numbered schema migrations. The database's user_version records the last one applied; a
 * database from a newer pushctl (user_version beyond this list) is refused rather than guessed at.
 * Times are integer milliseconds since the epoch (UTC).
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
  /** A data step run after `sql`, in the same transaction; each backend has its own (endpoint-rewrite.ts). */
  step?: 'rewrite-endpoints';
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'keys, subscriptions, categories, notifications, deliveries',
    // AUTOINCREMENT: ids are never reused, so a ledger row of a pruned subscription can never
    // point at a newer subscriber, and API clients never see an old id come back as another thing.
    sql: `
      CREATE TABLE vapid_keys (
        id          INTEGER PRIMARY KEY,
        public_key  TEXT NOT NULL UNIQUE,
        private_key TEXT NOT NULL,
        subject     TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        active      INTEGER NOT NULL DEFAULT 0
      );
      -- At most one key signs new subscriptions; older keys stay for the subscriptions made under them.
      CREATE UNIQUE INDEX vapid_keys_one_active ON vapid_keys(active) WHERE active = 1;

      CREATE TABLE subscriptions (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        endpoint        TEXT NOT NULL UNIQUE,
        p256dh          TEXT NOT NULL,
        auth            TEXT NOT NULL,
        key_id          INTEGER REFERENCES vapid_keys(id),
        expiration_time INTEGER,
        label           TEXT,
        user_agent      TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        last_success_at INTEGER,
        failure_count   INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX subscriptions_key ON subscriptions(key_id);

      CREATE TABLE categories (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT NOT NULL UNIQUE,
        description TEXT,
        created_at  INTEGER NOT NULL
      );

      CREATE TABLE subscription_categories (
        subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
        category_id     INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
        PRIMARY KEY (subscription_id, category_id)
      ) WITHOUT ROWID;
      CREATE INDEX subscription_categories_by_category ON subscription_categories(category_id, subscription_id);

      CREATE TABLE notifications (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        payload          TEXT NOT NULL,            -- the JSON text the service worker receives
        target           TEXT NOT NULL,            -- JSON: {"all":true} | {"categories":[..]} | {"subscriptions":[ids]}
        ttl              INTEGER NOT NULL,
        urgency          TEXT,
        topic            TEXT,
        status           TEXT NOT NULL,            -- scheduled|sending|sent|partial|failed|cancelled|skipped
        send_at          INTEGER,                  -- due time; NULL = now
        cron             TEXT,                     -- recurring rule (a template row; occurrences are children)
        tz               TEXT,
        until_at         INTEGER,
        remaining_count  INTEGER,
        stale_after_ms   INTEGER,
        parent_id        INTEGER REFERENCES notifications(id) ON DELETE SET NULL,
        slot_at          INTEGER,                  -- the rule's time slot this occurrence belongs to
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        idempotency_key  TEXT UNIQUE,
        created_at       INTEGER NOT NULL,
        started_at       INTEGER,
        finished_at      INTEGER,
        error            TEXT,
        total_count      INTEGER NOT NULL DEFAULT 0,
        sent_count       INTEGER NOT NULL DEFAULT 0,
        gone_count       INTEGER NOT NULL DEFAULT 0,
        failed_count     INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX notifications_due ON notifications(status, send_at);
      -- One occurrence per time slot of a recurring rule, whoever materialises it.
      CREATE UNIQUE INDEX notifications_slot ON notifications(parent_id, slot_at) WHERE parent_id IS NOT NULL;

      CREATE TABLE deliveries (
        notification_id INTEGER NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
        subscription_id INTEGER NOT NULL,          -- no foreign key: the ledger outlives a pruned subscription
        state           TEXT NOT NULL DEFAULT 'pending',  -- pending|sent|gone|failed
        attempts        INTEGER NOT NULL DEFAULT 0,
        status_code     INTEGER,
        error           TEXT,
        next_attempt_at INTEGER,
        updated_at      INTEGER,
        PRIMARY KEY (notification_id, subscription_id)
      ) WITHOUT ROWID;
      CREATE INDEX deliveries_by_state ON deliveries(notification_id, state, subscription_id);
    `,
  },
  {
    version: 3,
    description: 'engagement: per-delivery tokens and shown/clicked/dismissed events',
    // Version 3 is reserved for this; 2 belongs to another change and may land before or after.
    // No IP address or user agent is ever stored with an event.
    sql: `
      -- JSON {"clicks", "base", "targets"} chosen at creation; NULL: no tokens in payloads.
      ALTER TABLE notifications ADD COLUMN tracking TEXT;

      CREATE TABLE delivery_tokens (
        token           TEXT PRIMARY KEY,          -- 144 random bits, base64url: unguessable
        notification_id INTEGER NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
        subscription_id INTEGER NOT NULL,
        UNIQUE (notification_id, subscription_id)
      ) WITHOUT ROWID;
      CREATE INDEX delivery_tokens_by_subscription ON delivery_tokens(subscription_id);

      -- At most one event of each kind per delivery: the primary key makes repeats change nothing.
      CREATE TABLE delivery_events (
        notification_id INTEGER NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
        subscription_id INTEGER NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('shown', 'clicked', 'dismissed')),
        action          TEXT,                      -- the button pressed (clicked only); NULL: the body
        at              INTEGER NOT NULL,
        PRIMARY KEY (notification_id, subscription_id, kind)
      ) WITHOUT ROWID;
      CREATE INDEX delivery_events_by_subscription ON delivery_events(subscription_id);
      CREATE INDEX delivery_events_by_time ON delivery_events(at);

      -- A removed subscription takes its events and tokens with it (the ledger row stays).
      CREATE TRIGGER subscriptions_forget_engagement AFTER DELETE ON subscriptions BEGIN
        DELETE FROM delivery_events WHERE subscription_id = OLD.id;
        DELETE FROM delivery_tokens WHERE subscription_id = OLD.id;
      END;
    `,
  },
  {
    // 2 and 4 are other features' (merged separately); the runner applies whatever is above user_version.
    version: 5,
    description: 'delivery control: subscriber time zone and language, maintenance runs, pruned ledgers, frequency caps, quiet hours',
    sql: `
      ALTER TABLE subscriptions ADD COLUMN time_zone TEXT;   -- IANA name, as the browser reported it (canonical)
      ALTER TABLE subscriptions ADD COLUMN language TEXT;    -- BCP 47 tag (canonical)

      -- When the per-delivery rows of a finished notification were dropped; its counts stay on the row.
      ALTER TABLE notifications ADD COLUMN ledger_pruned_at INTEGER;

      -- Frequency caps: deliveries skipped because the subscriber had enough already (state 'capped');
      -- urgent notifications (--urgent) are never capped.
      ALTER TABLE notifications ADD COLUMN capped_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE notifications ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE categories ADD COLUMN frequency_cap TEXT;   -- "3/day"; NULL: only push.frequencyCap applies
      -- Quiet hours "21:00-09:00" in each subscriber's local time; NULL: push.quietHours applies.
      ALTER TABLE categories ADD COLUMN quiet_hours TEXT;

      -- Housekeeping that dispatch does at most once a day, whichever process (or cron run) gets there first.
      CREATE TABLE maintenance_runs (
        task        TEXT PRIMARY KEY,
        last_run_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 6,
    description: 'delivery control: stale-key subscriptions, local-time sends, throttled sends',
    sql: `
      -- When pushes to this subscription were last refused as not matching its VAPID key (Mozilla's
      -- VapidPkHashMismatch, or a 403 while the same push service accepted others of the send);
      -- NULL: fine. Cleared by a later successful push or a re-subscription.
      ALTER TABLE subscriptions ADD COLUMN stale_key_at INTEGER;
      -- --local-time: the wall-clock time ("2026-12-24T09:00") each subscriber gets it at in their own
      -- zone (tz: the zone of those without one); on a recurring rule, 'rule': each slot's wall clock.
      ALTER TABLE notifications ADD COLUMN local_time TEXT;
      -- --rate: "600/min"; NULL: as fast as the push services take it.
      ALTER TABLE notifications ADD COLUMN rate TEXT;
      -- The next free start slot of a throttled send (ms): every claim of its deliveries takes slots
      -- from here, atomically, whichever process claims.
      ALTER TABLE notifications ADD COLUMN paced_until INTEGER;
    `,
  },
  {
    version: 7,
    description: 'secrets kept by the store: the key that seals tracking tokens',
    sql: `
      -- Made on first use, never printed; db copy moves them. tracking-token-key: AES-128, base64
      -- (core/tracking-tokens.ts), so tokens need no row in delivery_tokens any more.
      CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 8,
    description: 'endpoints stored before they were compared in one spelling are rewritten into it',
    // Windows' push service writes escapes in lower case; a browser posting its subscription again
    // made a second row in the canonical spelling. The step merges such pairs (endpoint-rewrite.ts and each backend's half).
    sql: '',
    step: 'rewrite-endpoints',
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
