/**
 * Keyset paging shared by both backends: pages in key order, each fetched after the last key of
 * the one before, so a long read holds no cursor, snapshot or connection between pages, and
 * memory holds one page.
 */
export async function* keysetPages<Row, Key>(
  fetch: (after: Key, limit: number) => Promise<Row[]> | Row[],
  keyOf: (row: Row) => Key,
  first: Key,
  options: { pageSize: number; limit?: number | undefined },
): AsyncGenerator<Row[]> {
  let left = options.limit ?? Infinity;
  let after = first;
  while (left > 0) {
    const limit = Math.min(options.pageSize, left);
    const page = await fetch(after, limit);
    if (!page.length) return;
    yield page;
    left -= page.length;
    if (page.length < limit) return;
    after = keyOf(page[page.length - 1]!);
  }
}

/** One statement counting every table (the same SQL on both backends). */
export function tableCountsSql(tables: readonly { name: string }[]): string {
  return `SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t.name}) AS ${t.name}`).join(',\n       ')}`;
}
