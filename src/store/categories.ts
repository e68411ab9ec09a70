/** SQL for categories and category membership (subscription_categories). */
import type { Db } from './db.js';

export interface CategoryRow {
  id: number;
  name: string;
  description: string | null;
  created_at: number;
  /** migration 5: "3/day", or null */
  frequency_cap?: string | null;
  quiet_hours?: string | null;
}

export interface CategoryWithCount extends CategoryRow {
  subscribers: number;
}

const withCount = `
  SELECT c.*, (SELECT count(*) FROM subscription_categories sc WHERE sc.category_id = c.id) AS subscribers
  FROM categories c`;

export function insertCategory(db: Db, category: { name: string; description: string | null; createdAt: number }): CategoryRow {
  const info = db
    .prepare('INSERT INTO categories (name, description, created_at) VALUES (?, ?, ?)')
    .run(category.name, category.description, category.createdAt);
  return categoryById(db, Number(info.lastInsertRowid))!;
}

export function categoryById(db: Db, id: number): CategoryRow | undefined {
  return db.prepare('SELECT * FROM categories WHERE id = ?').get(id) as CategoryRow | undefined;
}

export function categoryByName(db: Db, name: string): CategoryRow | undefined {
  return db.prepare('SELECT * FROM categories WHERE name = ?').get(name) as CategoryRow | undefined;
}

export function categoryWithCount(db: Db, id: number): CategoryWithCount | undefined {
  return db.prepare(`${withCount} WHERE c.id = ?`).get(id) as CategoryWithCount | undefined;
}

export function allCategoriesWithCounts(db: Db): CategoryWithCount[] {
  return db.prepare(`${withCount} ORDER BY c.name`).all() as CategoryWithCount[];
}

/** name -> id for every category (there are few; imports resolve names against this). */
export function categoryIdsByName(db: Db): Map<string, number> {
  const rows = db.prepare('SELECT id, name FROM categories').all() as { id: number; name: string }[];
  return new Map(rows.map((row) => [row.name, row.id]));
}

export function updateCategoryRow(db: Db, id: number, change: { name?: string; description?: string | null }): void {
  if (change.name !== undefined) db.prepare('UPDATE categories SET name = ? WHERE id = ?').run(change.name, id);
  if (change.description !== undefined) db.prepare('UPDATE categories SET description = ? WHERE id = ?').run(change.description, id);
}

/** Deletes the category; memberships go with it (ON DELETE CASCADE), subscriptions stay. */
export function deleteCategoryRow(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM categories WHERE id = ?').run(id).changes > 0;
}

/** Adds memberships; returns how many were new. */
export function addMembers(db: Db, categoryId: number, subscriptionIds: readonly number[]): number {
  const insert = db.prepare('INSERT OR IGNORE INTO subscription_categories (subscription_id, category_id) VALUES (?, ?)');
  let added = 0;
  for (const id of subscriptionIds) added += insert.run(id, categoryId).changes;
  return added;
}

/** Removes memberships; returns how many existed. */
export function removeMembers(db: Db, categoryId: number, subscriptionIds: readonly number[]): number {
  const remove = db.prepare('DELETE FROM subscription_categories WHERE subscription_id = ? AND category_id = ?');
  let removed = 0;
  for (const id of subscriptionIds) removed += remove.run(id, categoryId).changes;
  return removed;
}

/** Which of these category names exist. */
export function existingCategoryNames(db: Db, names: string[]): Set<string> {
  if (!names.length) return new Set();
  const rows = db.prepare(`SELECT name FROM categories WHERE name IN (${names.map(() => '?').join(', ')})`).all(...names) as { name: string }[];
  return new Set(rows.map((r) => r.name));
}
