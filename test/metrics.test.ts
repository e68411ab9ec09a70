/**
 * Prometheus metrics over real sockets: `pushctl serve` with serve.metrics sends a test push
 * through the strict push-service stand-in, whose answers are chosen per subscription (accepted,
 * 410, 403, one 503 then accepted), and the scrape shows exactly those outcomes; the probes;
 * metricsPublic and the rate-limit counter; `dispatch --watch --metrics-port`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample } from './support/prometheus.js';
import { startPushService, type PushService } from './support/push-service.js';
import { installation, until } from './support/scheduling.js';
import { ADMIN_TOKEN, call, serveConfig, startServe, type ServeHandle } from './support/serve.js';

describe('serve metrics', () => {
  let push: PushService;
  let serve: ServeHandle;

  beforeAll(async () => {
    push = await startPushService();
    serve = await startServe({ config: serveConfig({ push: { endpointOrigins: [push.origin] }, serve: { metrics: true } }) });
  });
  afterAll(async () => {
    const result = await serve.stop();
    await push.close();
    expect(result.code).toBe(0);
  });

  it('is behind the admin token unless serve.metricsPublic', async () => {
    const anonymous = await call(serve.url, 'GET', '/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error.code).toBe('unauthorized');
    const scraped = await call(serve.url, 'GET', '/metrics', { admin: true });
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scraped.text).toContain('process_cpu_user_seconds_total');
    expect(scraped.text).not.toContain(ADMIN_TOKEN);
  });

  it('counts a send of known outcome exactly: deliveries, push-service timings, subscriptions, requests', async () => {
    const { public_key: publicKey } = (await call(serve.url, 'GET', '/subscription')).json as { public_key: string };
    expect((await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 'news' } })).status).toBe(201);
    const subs = Array.from({ length: 5 }, () => push.createSubscription(publicKey));
    for (const [i, sub] of subs.entries()) {
      const saved = await call(serve.url, 'POST', '/subscription', { json: { subscription: { endpoint: sub.endpoint, keys: sub.keys }, categories: i < 2 ? ['news'] : [] } });
      expect(saved.status).toBe(201);
    }
    // One update and one refusal, to see the results apart.
    expect((await call(serve.url, 'POST', '/subscription', { json: { endpoint: subs[0]!.endpoint, keys: subs[0]!.keys } })).status).toBe(200);
    expect((await call(serve.url, 'POST', '/subscription', { json: { endpoint: 'not a url' } })).status).toBe(400);

    push.removeSubscription(subs[1]!.id); // 410: gone
    push.behave({ status: 403, subscriptions: [subs[2]!.id] }); // rejected: failed
    push.behave({ status: 503, subscriptions: [subs[3]!.id], first: 1 }); // retried once, then accepted
    const sent = await call(serve.url, 'POST', '/push', { admin: true, json: { title: 'metrics' } });
    expect(sent.status).toBe(201);
    expect(sent.json.counts).toMatchObject({ total: 5, sent: 3, gone: 1, failed: 1, pending: 0 });

    const text = (await call(serve.url, 'GET', '/metrics', { admin: true })).text;
    const origin = push.origin.toLowerCase();
    expect(sample(text, 'pushctl_deliveries_total', { outcome: 'sent', origin })).toBe(3);
    expect(sample(text, 'pushctl_deliveries_total', { outcome: 'gone', origin })).toBe(1);
    expect(sample(text, 'pushctl_deliveries_total', { outcome: 'failed', origin })).toBe(1);
    expect(sample(text, 'pushctl_deliveries_total', { outcome: 'retried', origin })).toBe(1);
    expect(sample(text, 'pushctl_push_response_seconds_count', { origin, status_class: '2xx' })).toBe(3);
    expect(sample(text, 'pushctl_push_response_seconds_count', { origin, status_class: '4xx' })).toBe(2);
    expect(sample(text, 'pushctl_push_response_seconds_count', { origin, status_class: '5xx' })).toBe(1);
    expect(sample(text, 'pushctl_push_response_seconds_bucket', { origin, status_class: '2xx', le: '+Inf' })).toBe(3);

    // Gauges come from the store: the 410 removed one subscriber.
    expect(sample(text, 'pushctl_subscriptions')).toBe(4);
    expect(sample(text, 'pushctl_category_subscriptions', { category: 'news' })).toBe(1);
    expect(sample(text, 'pushctl_notifications', { status: 'partial' })).toBe(1);
    expect(sample(text, 'pushctl_deliveries_due')).toBe(0);
    expect(sample(text, 'pushctl_deliveries_deferred')).toBe(0);
    expect(sample(text, 'pushctl_notifications_overdue')).toBe(0);

    expect(sample(text, 'pushctl_subscription_posts_total', { result: 'created' })).toBe(5);
    expect(sample(text, 'pushctl_subscription_posts_total', { result: 'updated' })).toBe(1);
    expect(sample(text, 'pushctl_subscription_posts_total', { result: 'rejected' })).toBe(1);
    expect(sample(text, 'pushctl_http_requests_total', { method: 'POST', route: '/subscription', status: '201' })).toBe(5);
    expect(sample(text, 'pushctl_http_requests_total', { method: 'POST', route: '/push', status: '201' })).toBe(1);
    expect(sample(text, 'pushctl_http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBe(1);
  });

  it('answers the probes: /healthz and /readyz', async () => {
    const health = await call(serve.url, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok' });
    const ready = await call(serve.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', checks: { store: 'ok', keys: 'ok' } });
  });
});

describe('metrics settings', () => {
  it('warns when /metrics would need a token that is not set', async () => {
    const serve = await startServe({ config: { vapid: { subject: 'mailto:tests@example.com' }, serve: { metrics: true } } });
    try {
      expect((await call(serve.url, 'GET', '/metrics')).status).toBe(404);
      // stderr and stdout are separate pipes: wait for the line rather than assume it came first.
      await until(() => serve.stderr().includes('serve.metrics is on but /metrics needs the admin token'), 30_000, 20);
    } finally {
      await serve.stop();
    }
  });

  it('/metrics does not exist unless serve.metrics is on', async () => {
    const serve = await startServe({ config: serveConfig() });
    try {
      expect((await call(serve.url, 'GET', '/metrics', { admin: true })).status).toBe(404);
    } finally {
      await serve.stop();
    }
  });

  it('serve.metricsPublic needs no token; refused requests count as rate-limited', async () => {
    const serve = await startServe({ config: serveConfig({ serve: { metrics: true, metricsPublic: true, rateLimit: { windowSeconds: 3600, max: 2 } } }) });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(serve.url, 'DELETE', '/subscription', { json: { endpoint: 'https://push.example.net/x' } })).status);
      expect(statuses).toEqual([204, 204, 429]);
      const scraped = await call(serve.url, 'GET', '/metrics');
      expect(scraped.status).toBe(200);
      expect(sample(scraped.text, 'pushctl_http_rate_limited_total')).toBe(1);
      expect(sample(scraped.text, 'pushctl_http_requests_total', { method: 'DELETE', route: '/subscription', status: '429' })).toBe(1);
    } finally {
      await serve.stop();
    }
  });
});

describe('dispatch --watch --metrics-port', () => {
  let push: PushService;
  beforeAll(async () => {
    push = await startPushService();
  });
  afterAll(async () => {
    await push.close();
  });

  it('refuses --metrics-port without --watch, and without a token or metricsPublic', async () => {
    const inst = await installation(push, 'pushctl-metrics-');
    try {
      const once = await inst.cli(['dispatch', '--metrics-port', '0']);
      expect(once.code).toBe(2);
      expect(once.stderr).toContain('--metrics-port: only with --watch');
      const hostAlone = await inst.cli(['dispatch', '--watch', '--metrics-host', '127.0.0.1']);
      expect(hostAlone.code).toBe(2);
      expect(hostAlone.stderr).toContain('--metrics-host: only with --metrics-port');
      const noAuth = await inst.cli(['dispatch', '--watch', '--metrics-port', '0']);
      expect(noAuth.code).toBe(2);
      expect(noAuth.stderr).toContain('serve.adminToken');
    } finally {
      inst.cleanup();
    }
  });

  it('counts the deliveries of the notifications it sends', async () => {
    const inst = await installation(push, 'pushctl-metrics-');
    fs.writeFileSync(path.join(inst.dir, 'push.config.json'), JSON.stringify({ serve: { metricsPublic: true } }));
    const subs = await inst.subscribe(2);
    push.behave({ status: 410, subscriptions: [subs[1]!.id] });
    const worker = inst.start(['dispatch', '--watch', '--interval', '200ms', '--metrics-port', '0', '--metrics-host', '127.0.0.1']);
    try {
      let stderr = '';
      worker.child.stderr!.on('data', (d: string) => (stderr += d));
      await until(() => /metrics on (http:\/\/\S+)/.test(stderr), 30_000, 20);
      const url = /metrics on (http:\/\/\S+)/.exec(stderr)![1]!;
      expect((await inst.cli(['schedule', '--all', '--title', 'worker', '--in', '1s'])).code).toBe(0);
      let text = '';
      const origin = push.origin.toLowerCase();
      const deadline = Date.now() + 60_000;
      // The counters move when an answer arrives, the gauge once the ledger commit has pruned the
      // gone subscription: wait for both rather than racing the commit.
      while (
        sample(text, 'pushctl_deliveries_total', { outcome: 'sent', origin }) !== 1 ||
        sample(text, 'pushctl_deliveries_total', { outcome: 'gone', origin }) !== 1 ||
        sample(text, 'pushctl_subscriptions') !== 1
      ) {
        if (Date.now() > deadline) throw new Error(`no deliveries counted:\n${text}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        text = await (await fetch(url)).text();
      }
      expect(sample(text, 'pushctl_push_response_seconds_count', { origin, status_class: '2xx' })).toBe(1);
      expect(sample(text, 'pushctl_push_response_seconds_count', { origin, status_class: '4xx' })).toBe(1);
      expect(sample(text, 'pushctl_subscriptions')).toBe(1);
      expect(text).not.toContain('pushctl_http_requests_total');
      expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      worker.child.kill('SIGTERM');
      const result = await worker.done;
      expect(result.code).toBe(0);
      inst.cleanup();
    }
  });
});
