/**
 * Idempotency-Key: a repeat within 24 h returns the first notification; after that the key starts
 * a new one. The core with an injected clock on a real SQLite file (a server cannot be aged 25 h).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { closeContext, openContext, type Context } from '../src/core/context.js';
import { generateKeys } from '../src/core/keys.js';
import { createNotification } from '../src/core/notifications.js';
import { tempDir } from './support/cli.js';

let dir: string;
let ctx: Context;
afterEach(async () => {
  await closeContext(ctx);
  fs.rmSync(dir, { recursive: true, force: true });
});

it('returns the first notification within 24 h and a new one after', async () => {
  dir = tempDir('pushctl-idem-');
  let now = Date.parse('2030-01-01T00:00:00Z');
  ctx = await openContext(await loadConfig({ db: path.join(dir, 'pushctl.db') }, {}, dir), { now: () => now });
  await generateKeys(ctx, { subject: 'mailto:ops@example.org' });
  const spec = { message: { title: 'Hi' }, target: { all: true as const }, delivery: {}, idempotencyKey: 'order-42' };
  const first = await createNotification(ctx, spec);
  now += 23 * 3600_000;
  expect((await createNotification(ctx, spec)).id).toBe(first.id);
  now += 2 * 3600_000;
  const later = await createNotification(ctx, spec);
  expect(later.id).not.toBe(first.id);
  now += 3600_000;
  expect((await createNotification(ctx, spec)).id).toBe(later.id);
  const count = (await ctx.store.tableCounts()).notifications;
  expect(count).toBe(2);
});
