/**
 * `pushctl serve` over real sockets: start-up in an empty directory, the public subscription
 * endpoints and what they store, CORS, the rate limit, static files, the access log, and graceful
 * shutdown with a request in flight.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itOnSqlite, storeExists } from './support/backend.js';
import { openDb, ROOT, runCli, tempDir } from './support/cli.js';
import { ADMIN_TOKEN, call, serveConfig, startServe, type ServeHandle } from './support/serve.js';
import { FCM_ORIGIN, fakeSubscription as fakeOn } from './support/subscriptions.js';

/** A subscription on FCM, which the receiver accepts without configuration. */
const fakeSubscription = () => fakeOn({ origin: FCM_ORIGIN, path: '/fcm/send/' + Math.random().toString(36).slice(2) });

interface Row {
  id: number;
  endpoint: string;
  p256dh: string;
  auth: string;
  user_agent: string | null;
  key_id: number | null;
  categories: string | null;
}

function rows(db: string): Row[] {
  const conn = openDb(db);
  try {
    // Portable SQL (the suite runs on SQLite and PostgreSQL): categories joined here, by name.
    const subs = conn.prepare('SELECT id, endpoint, p256dh, auth, user_agent, key_id FROM subscriptions ORDER BY id').all() as Omit<Row, 'categories'>[];
    const members = conn
      .prepare('SELECT sc.subscription_id AS id, c.name FROM subscription_categories sc JOIN categories c ON c.id = sc.category_id ORDER BY c.name')
      .all() as { id: number; name: string }[];
    return subs.map((sub) => {
      const names = members.filter((m) => m.id === sub.id).map((m) => m.name);
      return { ...sub, categories: names.length ? names.join(',') : null };
    });
  } finally {
    conn.close();
  }
}

describe('pushctl serve in an empty directory', () => {
  it('creates the store and VAPID keys, says how to set a real subject, and serves the key', async () => {
    const dir = tempDir();
    const serve = await startServe({ dir });
    try {
      expect(storeExists(path.join(dir, 'pushctl.db'))).toBe(true);
      expect(serve.stderr()).toMatch(/generated VAPID keys/);
      expect(serve.stderr()).toMatch(/vapid\.subject in push\.config\.json or PUSHCTL_VAPID_SUBJECT/);
      expect(serve.stderr()).toMatch(/admin API off/);
      const info = await call(serve.url, 'GET', '/subscription');
      expect(info.status).toBe(200);
      const conn = openDb(serve.db);
      const key = conn.prepare('SELECT public_key FROM vapid_keys WHERE active = 1').get() as { public_key: string };
      conn.close();
      expect(info.json).toEqual({ public_key: key.public_key, categories: [] });
      // Without a configured token the admin API does not exist.
      expect((await call(serve.url, 'GET', '/v1/pushnotification', { admin: ADMIN_TOKEN })).status).toBe(404);
    } finally {
      const result = await serve.stop('SIGINT');
      expect(result.code).toBe(0);
    }
    // The database was closed cleanly: nothing left in the write-ahead log.
    expect(fs.existsSync(path.join(dir, 'pushctl.db-wal'))).toBe(false);
    // A second start keeps the keys.
    const again = await startServe({ dir });
    expect(again.stderr()).not.toMatch(/generated VAPID keys/);
    await again.stop();
  });

  it('refuses a port that is taken, with exit code 2', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const result = await runCli(['serve', '--port', String(port)], { cwd: tempDir() });
    blocker.close();
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    expect((await runCli(['serve', '--port', 'eighty'], { cwd: tempDir() })).code).toBe(2);
  });
});

describe('public subscription endpoints', () => {
  let serve: ServeHandle;
  const site = 'https://www.example.org';

  beforeAll(async () => {
    serve = await startServe({ config: serveConfig({ serve: { corsOrigins: [site] } }) });
    for (const [name, description] of [['news', 'Articles'], ['offers', null]]) {
      expect((await call(serve.url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name, description } })).status).toBe(201);
    }
  });
  afterAll(async () => {
    expect((await serve.stop()).code).toBe(0);
  });

  it('GET /subscription gives the public key and the categories to offer', async () => {
    const info = await call(serve.url, 'GET', '/subscription');
    expect(info.status).toBe(200);
    expect(info.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(info.json.public_key).toMatch(/^B[A-Za-z0-9_-]{86}$/);
    expect(info.json.categories).toEqual([
      { name: 'news', description: 'Articles' },
      { name: 'offers', description: null },
    ]);
  });

  it('POST /subscription takes the browser JSON as is: 201 created, then 200 updated', async () => {
    const sub = fakeSubscription();
    const first = await call(serve.url, 'POST', '/subscription', { json: sub, headers: { 'user-agent': 'TestBrowser/1.0' } });
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ id: expect.any(Number) });
    const second = await call(serve.url, 'POST', '/subscription', { json: sub });
    expect(second.status).toBe(200);
    expect(second.json).toEqual({ id: first.json.id });
    const row = rows(serve.db).find((r) => r.id === first.json.id)!;
    expect(row).toMatchObject({ endpoint: sub.endpoint, p256dh: sub.keys.p256dh, auth: sub.keys.auth, categories: null });
    expect(row.key_id).not.toBeNull();
  });

  it('POST /subscription with categories sets them, and a repeat replaces them', async () => {
    const sub = fakeSubscription();
    const created = await call(serve.url, 'POST', '/subscription', { json: { subscription: sub, categories: ['news', 'offers'] } });
    expect(created.status).toBe(201);
    expect(rows(serve.db).find((r) => r.id === created.json.id)!.categories).toBe('news,offers');
    const updated = await call(serve.url, 'POST', '/subscription', { json: { subscription: sub, categories: ['offers'] } });
    expect(updated.status).toBe(200);
    expect(rows(serve.db).find((r) => r.id === created.json.id)!.categories).toBe('offers');
  });

  it('after pushsubscriptionchange the new subscription replaces the old one and keeps its categories', async () => {
    const old = fakeSubscription();
    const created = await call(serve.url, 'POST', '/subscription', { json: { subscription: old, categories: ['news'] } });
    const fresh = fakeSubscription();
    const replaced = await call(serve.url, 'POST', '/subscription', { json: { subscription: fresh, old_endpoint: old.endpoint } });
    expect(replaced.status).toBe(201);
    const all = rows(serve.db);
    expect(all.find((r) => r.endpoint === old.endpoint)).toBeUndefined();
    expect(created.status).toBe(201);
    const row = all.find((r) => r.endpoint === fresh.endpoint)!;
    expect(row.id).toBe(replaced.json.id);
    expect(row.categories).toBe('news');
  });

  it('DELETE /subscription unsubscribes by endpoint: 204, and 204 again when it is already gone', async () => {
    const sub = fakeSubscription();
    await call(serve.url, 'POST', '/subscription', { json: sub });
    expect(rows(serve.db).some((r) => r.endpoint === sub.endpoint)).toBe(true);
    const removed = await call(serve.url, 'DELETE', '/subscription', { json: { endpoint: sub.endpoint } });
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    expect(rows(serve.db).some((r) => r.endpoint === sub.endpoint)).toBe(false);
    expect((await call(serve.url, 'DELETE', '/subscription', { json: { endpoint: sub.endpoint } })).status).toBe(204);
  });

  it('concurrent subscribes commit together, and a bad one among them fails alone', async () => {
    const before = rows(serve.db).length;
    const subs = Array.from({ length: 40 }, () => fakeSubscription());
    const responses = await Promise.all(
      subs.map((sub, i) => call(serve.url, 'POST', '/subscription', { json: { subscription: sub, categories: i % 4 === 0 ? ['missing'] : ['news'] } })),
    );
    expect(responses.map((r) => r.status)).toEqual(subs.map((_, i) => (i % 4 === 0 ? 400 : 201)));
    const stored = new Set(rows(serve.db).map((r) => r.endpoint));
    expect(stored.size).toBe(before + 30);
    subs.forEach((sub, i) => expect(stored.has(sub.endpoint)).toBe(i % 4 !== 0));
  });

  it('answers CORS only for the listed origins, and never on the admin API', async () => {
    const preflight = await call(serve.url, 'OPTIONS', '/subscription', { headers: { origin: site, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(site);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('Content-Type');
    const get = await call(serve.url, 'GET', '/subscription', { headers: { origin: site } });
    expect(get.headers.get('access-control-allow-origin')).toBe(site);
    expect(get.headers.get('vary')).toBe('Origin');

    const stranger = await call(serve.url, 'OPTIONS', '/subscription', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(stranger.status).toBe(403);
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    expect((await call(serve.url, 'GET', '/subscription', { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin')).toBeNull();

    const admin = await call(serve.url, 'GET', '/v1/pushnotification/categories', { admin: true, headers: { origin: site } });
    expect(admin.status).toBe(200);
    expect(admin.headers.get('access-control-allow-origin')).toBeNull();
    expect((await call(serve.url, 'OPTIONS', '/v1/pushnotification', { headers: { origin: site } })).status).toBe(404);
  });

  it('serves the subscribe page, its script and the service worker, and nothing else', async () => {
    const page = await call(serve.url, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(page.text).toContain('<div id="pushctl">');
    for (const file of ['/app.js', '/sw.js']) {
      const script = await call(serve.url, 'GET', file);
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(script.text).toBe(fs.readFileSync(path.join(ROOT, 'src/http/static', file), 'utf8'));
    }
    expect((await call(serve.url, 'GET', '/style.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    const head = await fetch(`${serve.url}/sw.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await call(serve.url, 'GET', '/package.json')).status).toBe(404);
    expect((await call(serve.url, 'POST', '/', { json: {} })).status).toBe(405);
  });
});

describe('rate limit, access log and shutdown', () => {
  it('limits POST/DELETE per client address with 429 and Retry-After; GET is not limited', async () => {
    const serve = await startServe({ config: serveConfig({ serve: { rateLimit: { windowSeconds: 60, max: 3 } } }) });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(serve.url, 'POST', '/subscription', { json: fakeSubscription() })).status);
      expect(statuses).toEqual([201, 201, 201]);
      const limited = await call(serve.url, 'DELETE', '/subscription', { json: { endpoint: 'https://fcm.googleapis.com/fcm/send/x' } });
      expect(limited.status).toBe(429);
      expect(limited.json.error.code).toBe('rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await call(serve.url, 'POST', '/subscription', { json: fakeSubscription() })).status).toBe(429);
      expect(rows(serve.db)).toHaveLength(3);
      for (let i = 0; i < 5; i++) expect((await call(serve.url, 'GET', '/subscription')).status).toBe(200);
    } finally {
      await serve.stop();
    }
  });

  it('logs one line per request, as JSON with --json, without bodies, queries or tokens', async () => {
    const serve = await startServe({ config: serveConfig(), args: ['--json'] });
    const sub = fakeSubscription();
    await call(serve.url, 'POST', '/subscription', { json: sub });
    await call(serve.url, 'GET', '/subscription?token=secret-in-query');
    await call(serve.url, 'GET', '/v1/pushnotification', { admin: true });
    await call(serve.url, 'GET', '/v1/pushnotification', { admin: 'wrong-token-wrong-token' });
    await serve.stop();
    const lines = serve.stdout().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'listening' });
    const access = lines.slice(1);
    expect(access.map((l) => [l.method, l.path, l.status])).toEqual([
      ['POST', '/subscription', 201],
      ['GET', '/subscription', 200],
      ['GET', '/v1/pushnotification', 200],
      ['GET', '/v1/pushnotification', 401],
    ]);
    for (const line of access) {
      expect(Object.keys(line).sort()).toEqual(['method', 'ms', 'path', 'status', 'time']);
      expect(typeof line.ms).toBe('number');
    }
    const everything = serve.stdout() + serve.stderr();
    for (const secret of [ADMIN_TOKEN, 'wrong-token-wrong-token', 'secret-in-query', sub.keys.auth, sub.keys.p256dh, sub.endpoint]) {
      expect(everything).not.toContain(secret);
    }
  });

  // SQLite's single writer lock; PostgreSQL's outage answers are tested in its own file.
  itOnSqlite('waits for another process holding the write lock, and answers 503 when it holds it too long', async () => {
    const serve = await startServe({ config: serveConfig() });
    const Database = (await import('better-sqlite3')).default;
    const other = new Database(serve.db);
    try {
      other.exec('BEGIN IMMEDIATE');
      const waiting = call(serve.url, 'POST', '/subscription', { json: fakeSubscription() });
      await new Promise((resolve) => setTimeout(resolve, 300));
      other.exec('COMMIT');
      expect((await waiting).status).toBe(201);

      other.exec('BEGIN IMMEDIATE');
      const busy = await call(serve.url, 'POST', '/subscription', { json: fakeSubscription() });
      other.exec('ROLLBACK');
      expect(busy.status).toBe(503);
      expect(busy.json.error.code).toBe('busy');
      expect(busy.headers.get('retry-after')).toBe('2');
      expect(rows(serve.db)).toHaveLength(1);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await serve.stop();
    }
    expect(serve.stderr()).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('on SIGTERM stops accepting, finishes the request in flight, then exits 0', async () => {
    const serve = await startServe({ config: serveConfig() });
    const { port } = new URL(serve.url);
    const body = JSON.stringify(fakeSubscription());
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let response = '';
    socket.on('data', (d) => (response += d.toString()));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // Half a request: the server is now waiting for the rest of the body.
    socket.write(`POST /subscription HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 20)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    serve.child.kill('SIGTERM');
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!/SIGTERM: no new connections/.test(serve.stderr())) return;
        serve.child.stderr!.off('data', check);
        resolve();
      };
      serve.child.stderr!.on('data', check);
    });
    // New connections are refused while the old request is still open.
    const refused = await new Promise<string>((resolve) => {
      const probe = net.connect(Number(port), '127.0.0.1');
      probe.once('connect', () => {
        probe.destroy();
        resolve('connected');
      });
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    socket.write(body.slice(20));
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 201 Created/);
    const result = await serve.done;
    expect(result.code).toBe(0);
    expect(rows(serve.db)).toHaveLength(1);
  });
});
