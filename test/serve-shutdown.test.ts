/**
 * `pushctl serve` shuts down in bounded time even while a send it started (the admin API's POST
 * /v1/pushnotification) waits on a push service that never answers: each request has its deadline
 * (push.timeoutSeconds), the send stops after the requests in flight, and what is left stays
 * pending for a later run. Without the deadline this test would hang until its own timeout.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDb } from './support/cli.js';
import { startPushService, type PushService } from './support/push-service.js';
import { call, serveConfig, startServe } from './support/serve.js';

let push: PushService;
beforeAll(async () => {
  push = await startPushService();
});
afterAll(async () => {
  await push.close();
});

it('on SIGTERM during a send to a stalled push service: exits 0 within the request deadline, deliveries stay pending', async () => {
  const serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [push.origin], timeoutSeconds: 2, maxAttempts: 10 } }) });
  const publicKey = (await call(serve.url, 'GET', '/subscription')).json.public_key as string;
  for (let i = 0; i < 3; i++) {
    const sub = push.createSubscription(publicKey);
    const saved = await call(serve.url, 'POST', '/subscription', { json: { endpoint: sub.endpoint, keys: sub.keys } });
    expect(saved.status).toBe(201);
  }
  push.behave({ stall: true });
  // Created at once and sent in the background (POST /push would wait for the answers).
  const sent = await call(serve.url, 'POST', '/v1/pushnotification', { admin: true, json: { title: 'stalled', all: true } });
  expect(sent.status, sent.text).toBe(201);
  // All three requests are out and hanging at the push service.
  await expect.poll(() => push.answers.filter((a) => a.status === 'stalled').length, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(3);
  const stopping = Date.now();
  const result = await serve.stop('SIGTERM');
  const tookMs = Date.now() - stopping;
  expect(result.code, result.stderr).toBe(0);
  expect(result.stderr).toMatch(/pushctl serve: stopped/);
  // The requests' 2 s deadline, not the stall, bounds the shutdown (generous room for a busy machine).
  expect(tookMs).toBeLessThan(15_000);
  const conn = openDb(serve.db);
  try {
    const states = conn.prepare('SELECT state, count(*) AS n FROM deliveries GROUP BY state').all() as { state: string; n: number }[];
    // Timed out once each: retries due later; nobody was lost or marked failed by the shutdown.
    expect(states).toEqual([{ state: 'pending', n: 3 }]);
  } finally {
    conn.close();
  }
});
