/** SQL for VAPID key rows. */
import type { Db } from './db.js';

export interface VapidKeyRow {
  id: number;
  public_key: string;
  private_key: string;
  subject: string;
  created_at: number;
  active: number;
}

export function activeKey(db: Db): VapidKeyRow | undefined {
  return db.prepare('SELECT * FROM vapid_keys WHERE active = 1').get() as VapidKeyRow | undefined;
}

export function keyById(db: Db, id: number): VapidKeyRow | undefined {
  return db.prepare('SELECT * FROM vapid_keys WHERE id = ?').get(id) as VapidKeyRow | undefined;
}

export function keyByPublicKey(db: Db, publicKey: string): VapidKeyRow | undefined {
  return db.prepare('SELECT * FROM vapid_keys WHERE public_key = ?').get(publicKey) as VapidKeyRow | undefined;
}

export function allKeys(db: Db): VapidKeyRow[] {
  return db.prepare('SELECT * FROM vapid_keys ORDER BY id').all() as VapidKeyRow[];
}

/**
 * Inserts a key (or reuses an identical one) and makes it the active key, in one IMMEDIATE
 * transaction. With `replace: false` it changes nothing and returns the other key when a different
 * key is already active: the check and the write are one step, so two processes generating keys
 * at once cannot both "succeed" with one silently retiring the other's key.
 */
export function insertActiveKey(
  db: Db,
  key: { publicKey: string; privateKey: string; subject: string; createdAt: number },
  options: { replace: boolean } = { replace: true },
): { row: VapidKeyRow } | { blockedBy: VapidKeyRow } {
  return db.transaction(() => {
    const active = activeKey(db);
    if (active && active.public_key !== key.publicKey && !options.replace) return { blockedBy: active };
    db.prepare('UPDATE vapid_keys SET active = 0 WHERE active = 1').run();
    const existing = keyByPublicKey(db, key.publicKey);
    if (existing) {
      db.prepare('UPDATE vapid_keys SET active = 1, subject = ? WHERE id = ?').run(key.subject, existing.id);
      return { row: keyById(db, existing.id)! };
    }
    const info = db
      .prepare('INSERT INTO vapid_keys (public_key, private_key, subject, created_at, active) VALUES (?, ?, ?, ?, 1)')
      .run(key.publicKey, key.privateKey, key.subject, key.createdAt);
    return { row: keyById(db, Number(info.lastInsertRowid))! };
  }).immediate();
}

export function setKeySubject(db: Db, id: number, subject: string): void {
  db.prepare('UPDATE vapid_keys SET subject = ? WHERE id = ?').run(subject, id);
}

export function subscriptionCountByKey(db: Db, keyId: number): number {
  return (db.prepare('SELECT count(*) AS n FROM subscriptions WHERE key_id = ?').get(keyId) as { n: number }).n;
}
