/**
 * Shared setup for the scheduling, dispatch and notification-history tests: a temp installation
 * with VAPID keys, subscribers created at the push-service stand-in and imported through the CLI,
 * and small readers of the SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { openDb, runCli, runJson, startCli, tempDir, type RunResult } from './cli.js';
import { startPushService, type PushService, type ServiceSubscription } from './push-service.js';

export interface Installation {
  dir: string;
  db: string;
  env: Record<string, string>;
  publicKey: string;
  cli(args: string[], extraEnv?: Record<string, string>): Promise<RunResult>;
  json<T>(args: string[], extraEnv?: Record<string, string>): Promise<T>;
  start(args: string[], extraEnv?: Record<string, string>): ReturnType<typeof startCli>;
  subscribe(count: number): Promise<ServiceSubscription[]>;
  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T[];
  cleanup(): void;
}

export async function installation(svc: PushService, prefix = 'pushctl-dispatch-'): Promise<Installation> {
  const dir = tempDir(prefix);
  const env = { PUSHCTL_ENDPOINT_ORIGINS: svc.origin };
  const opts = (extra: Record<string, string> = {}) => ({ cwd: dir, env: { ...env, ...extra }, timeoutMs: 120_000 });
  const key = await runJson<{ publicKey: string }>(['keys', 'generate', '--subject', 'mailto:ops@example.org'], opts());
  const inst: Installation = {
    dir,
    db: path.join(dir, 'pushctl.db'),
    env,
    publicKey: key.publicKey,
    cli: (args, extra) => runCli(args, opts(extra)),
    json: (args, extra) => runJson(args, opts(extra)),
    start: (args, extra) => startCli(args, opts(extra)),
    async subscribe(count) {
      const subs = count > 50 ? svc.createSubscriptions(count, key.publicKey, { shareKeys: true }) : Array.from({ length: count }, () => svc.createSubscription(key.publicKey));
      const file = path.join(dir, `subs-${Date.now()}-${Math.random().toString(36).slice(2)}.ndjson`);
      fs.writeFileSync(file, subs.map((s) => JSON.stringify({ endpoint: s.endpoint, keys: s.keys })).join('\n') + '\n');
      const result = await runCli(['subscriptions', 'import', file], opts());
      expect(result.code, result.stderr).toBe(0);
      return subs;
    },
    query(sql, ...params) {
      const db = openDb(path.join(dir, 'pushctl.db'));
      try {
        return db.prepare(sql).all(...params) as never[];
      } finally {
        db.close();
      }
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  return inst;
}

/** How many pushes each subscription got, from the stand-in's record (only accepted, decrypted ones). */
export function receivedBySubscription(svc: PushService, topic?: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const push of svc.received) {
    if (topic !== undefined && push.headers.topic !== topic) continue;
    counts.set(push.subscriptionId, (counts.get(push.subscriptionId) ?? 0) + 1);
  }
  return counts;
}

/** Resolves when `condition` holds (checked every few ms), or rejects after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 30_000, stepMs = 2): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface NotificationJson {
  id: number;
  status: string;
  title: string | null;
  sendAt: string | null;
  error: string | null;
  topic: string | null;
  parentId: number | null;
  slotAt: string | null;
  counts: { total: number; sent: number; gone: number; failed: number; pending: number };
}

/**
 * For a test file on a simulated calendar: one push-service stand-in for the file, a fresh
 * installation per test (read `t.svc` and `t.inst` inside tests), and a writer of the installation's
 * push.config.json that keeps the stand-in's origin allowed.
 */
export function standInPerFile(prefix: string): {
  svc: PushService;
  inst: Installation;
  config(push: Record<string, unknown>): void;
} {
  const t = {
    svc: undefined as unknown as PushService,
    inst: undefined as unknown as Installation,
    config(push: Record<string, unknown>) {
      fs.writeFileSync(path.join(t.inst.dir, 'push.config.json'), JSON.stringify({ push: { endpointOrigins: [t.svc.origin], ...push } }));
    },
  };
  beforeAll(async () => {
    t.svc = await startPushService();
  });
  afterAll(async () => {
    await t.svc.close();
  });
  beforeEach(async () => {
    t.svc.clearBehaviour();
    t.svc.resetCounts();
    t.inst = await installation(t.svc, prefix);
  });
  afterEach(() => t.inst.cleanup());
  return t;
}

/** PUSHCTL_NOW for a simulated instant (ms since the epoch). */
export const simulatedAt = (ms: number) => ({ PUSHCTL_NOW: new Date(ms).toISOString() });

/** Four subscribers imported with zones Tokyo, Berlin, New York and none, in that order (ids 1-4 in a fresh store). */
export async function importTravellers(t: { svc: PushService; inst: Installation }): Promise<ServiceSubscription[]> {
  const zones = ['Asia/Tokyo', 'Europe/Berlin', 'America/New_York', null];
  const subs = zones.map(() => t.svc.createSubscription(t.inst.publicKey));
  const file = path.join(t.inst.dir, 'travellers.ndjson');
  fs.writeFileSync(file, subs.map((s, i) => JSON.stringify({ endpoint: s.endpoint, keys: s.keys, timeZone: zones[i] })).join('\n') + '\n');
  const imported = await t.inst.cli(['subscriptions', 'import', file]);
  expect(imported.code, imported.stderr).toBe(0);
  return subs;
}
