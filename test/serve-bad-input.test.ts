/**
 * A table of bad requests against a running `pushctl serve`: wrong types, huge bodies, non-JSON,
 * wrong content types, endpoints on private addresses or unlisted hosts, plain http, bad keys,
 * unknown fields, path traversal on the static files, missing or wrong tokens. Every one gets a
 * 4xx with a JSON error (code, message; no stack trace), and afterwards the database holds exactly
 * what it held before.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from './support/cli.js';
import { ADMIN_TOKEN, serveConfig, startServe, type ServeHandle } from './support/serve.js';
import { FCM_ORIGIN, fakeSubscription as fakeOn } from './support/subscriptions.js';

/** A subscription on FCM, which the receiver accepts without configuration. */
const fakeSubscription = () => fakeOn({ origin: FCM_ORIGIN, path: '/fcm/send/' + Math.random().toString(36).slice(2) });

interface Case {
  name: string;
  method: string;
  path: string;
  body?: string | Buffer;
  /** Content-Type; 'json' by default when there is a body. */
  type?: string | null;
  headers?: Record<string, string>;
  admin?: boolean | string;
  status: number;
  code?: string;
  /** The field the error names, when it names one. */
  field?: string;
  /** The exact message, for a representative set: in the API's words (snake_case, no CLI flags or commands). */
  message?: string;
}

const good = fakeSubscription();
const json = (value: unknown) => JSON.stringify(value);
const withKeys = (keys: Record<string, unknown>) => json({ ...good, keys: { ...good.keys, ...keys } });
const withEndpoint = (endpoint: unknown) => json({ ...good, endpoint });
const notOnCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url');

const CASES: Case[] = [
  // Bodies and media types
  { name: 'text/plain body', method: 'POST', path: '/subscription', body: json(good), type: 'text/plain', status: 415, code: 'unsupported_media_type' },
  { name: 'no content type', method: 'POST', path: '/subscription', body: json(good), type: null, status: 415 },
  { name: 'form-encoded body', method: 'POST', path: '/subscription', body: 'endpoint=x', type: 'application/x-www-form-urlencoded', status: 415 },
  { name: 'JSON in latin1', method: 'POST', path: '/subscription', body: json(good), type: 'application/json; charset=latin1', status: 415 },
  { name: 'not JSON', method: 'POST', path: '/subscription', body: '{"endpoint": ', status: 400, code: 'invalid_input' },
  { name: 'empty body', method: 'POST', path: '/subscription', body: '', status: 400 },
  { name: 'invalid UTF-8', method: 'POST', path: '/subscription', body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), status: 400 },
  { name: 'JSON array', method: 'POST', path: '/subscription', body: json([good]), status: 400 },
  { name: 'JSON null', method: 'POST', path: '/subscription', body: 'null', status: 400 },
  { name: 'JSON string', method: 'POST', path: '/subscription', body: json('https://fcm.googleapis.com/fcm/send/x'), status: 400 },
  { name: '9 KiB body', method: 'POST', path: '/subscription', body: json({ ...good, pad: 'x'.repeat(9 * 1024) }), status: 413, code: 'payload_too_large' },
  { name: '1 MiB body', method: 'POST', path: '/subscription', body: 'x'.repeat(1024 * 1024), status: 413 },
  { name: '9 KiB chunked body', method: 'POST', path: '/subscription', body: json({ ...good, pad: 'x'.repeat(9 * 1024) }), headers: { 'transfer-encoding': 'chunked' }, status: 413 },
  // Subscription shapes and types
  { name: 'unknown top-level field', method: 'POST', path: '/subscription', body: json({ ...good, admin: true }), status: 400, field: 'admin', code: 'invalid_input', message: 'admin: unknown field (allowed: endpoint, expirationTime, keys)' },
  { name: 'unknown field in keys', method: 'POST', path: '/subscription', body: withKeys({ extra: 'x' }), status: 400, field: 'keys.extra' },
  { name: 'unknown wrapper field', method: 'POST', path: '/subscription', body: json({ subscription: good, label: 'x' }), status: 400, field: 'label' },
  { name: 'unknown field inside wrapper', method: 'POST', path: '/subscription', body: json({ subscription: { ...good, x: 1 } }), status: 400, field: 'subscription.x' },
  { name: 'endpoint missing', method: 'POST', path: '/subscription', body: json({ keys: good.keys }), status: 400, field: 'endpoint' },
  { name: 'endpoint a number', method: 'POST', path: '/subscription', body: withEndpoint(42), status: 400, field: 'endpoint' },
  { name: 'endpoint on a private IP', method: 'POST', path: '/subscription', body: withEndpoint('https://10.1.2.3/push/x'), status: 400, field: 'endpoint' },
  { name: 'endpoint on loopback', method: 'POST', path: '/subscription', body: withEndpoint('https://127.0.0.1:8443/push/x'), status: 400, field: 'endpoint', code: 'endpoint_refused' },
  { name: 'endpoint on IPv6 loopback', method: 'POST', path: '/subscription', body: withEndpoint('https://[::1]/push/x'), status: 400, field: 'endpoint' },
  { name: 'endpoint on link-local metadata', method: 'POST', path: '/subscription', body: withEndpoint('http://169.254.169.254/latest/meta-data'), status: 400, field: 'endpoint' },
  { name: 'endpoint on an unlisted host', method: 'POST', path: '/subscription', body: withEndpoint('https://push.evil.example/x'), status: 400, field: 'endpoint' },
  { name: 'endpoint over plain http', method: 'POST', path: '/subscription', body: withEndpoint('http://fcm.googleapis.com/fcm/send/x'), status: 400, field: 'endpoint' },
  { name: 'endpoint with credentials', method: 'POST', path: '/subscription', body: withEndpoint('https://user:pw@fcm.googleapis.com/fcm/send/x'), status: 400, field: 'endpoint' },
  { name: 'endpoint not a URL', method: 'POST', path: '/subscription', body: withEndpoint('fcm.googleapis.com'), status: 400, field: 'endpoint' },
  { name: 'keys missing', method: 'POST', path: '/subscription', body: json({ endpoint: good.endpoint }), status: 400, field: 'keys' },
  { name: 'keys an array', method: 'POST', path: '/subscription', body: json({ endpoint: good.endpoint, keys: [] }), status: 400, field: 'keys' },
  { name: 'p256dh too short', method: 'POST', path: '/subscription', body: withKeys({ p256dh: good.keys.p256dh.slice(0, 40) }), status: 400, field: 'keys.p256dh', code: 'invalid_input', message: 'keys.p256dh: must be 65 bytes, got 30' },
  { name: 'p256dh not base64', method: 'POST', path: '/subscription', body: withKeys({ p256dh: '!!!' + good.keys.p256dh.slice(3) }), status: 400, field: 'keys.p256dh' },
  { name: 'p256dh not on the curve', method: 'POST', path: '/subscription', body: withKeys({ p256dh: notOnCurve }), status: 400, field: 'keys.p256dh' },
  { name: 'auth wrong length', method: 'POST', path: '/subscription', body: withKeys({ auth: 'AAAA' }), status: 400, field: 'keys.auth' },
  { name: 'auth a number', method: 'POST', path: '/subscription', body: withKeys({ auth: 12 }), status: 400, field: 'keys.auth' },
  { name: 'expirationTime a string', method: 'POST', path: '/subscription', body: json({ ...good, expirationTime: 'soon' }), status: 400, field: 'expirationTime' },
  { name: 'categories not a list', method: 'POST', path: '/subscription', body: json({ subscription: good, categories: 'news' }), status: 400, field: 'categories' },
  { name: 'categories with a number', method: 'POST', path: '/subscription', body: json({ subscription: good, categories: ['news', 1] }), status: 400, field: 'categories' },
  { name: 'category that does not exist', method: 'POST', path: '/subscription', body: json({ subscription: good, categories: ['news', 'nope'] }), status: 400, code: 'unknown_category', field: 'categories', message: 'categories: category "nope" does not exist' },
  { name: 'subscription a string', method: 'POST', path: '/subscription', body: json({ subscription: 'x' }), status: 400, field: 'subscription' },
  { name: 'old_endpoint an id', method: 'POST', path: '/subscription', body: json({ subscription: good, old_endpoint: 1 }), status: 400, field: 'old_endpoint' },
  { name: 'unsubscribe by id', method: 'DELETE', path: '/subscription', body: json({ endpoint: 1 }), status: 400, field: 'endpoint' },
  { name: 'unsubscribe by id string', method: 'DELETE', path: '/subscription', body: json({ endpoint: '1' }), status: 400, field: 'endpoint' },
  { name: 'unsubscribe with extra field', method: 'DELETE', path: '/subscription', body: json({ endpoint: good.endpoint, all: true }), status: 400, field: 'all' },
  { name: 'unsubscribe without body', method: 'DELETE', path: '/subscription', type: null, status: 415 },
  // Methods and paths
  { name: 'PUT /subscription', method: 'PUT', path: '/subscription', body: json(good), status: 405, code: 'method_not_allowed' },
  { name: 'PATCH /subscription', method: 'PATCH', path: '/subscription', body: json(good), status: 405 },
  { name: 'unknown path', method: 'GET', path: '/nope', status: 404, code: 'not_found' },
  { name: 'trailing slash', method: 'POST', path: '/subscription/', body: json(good), status: 404 },
  // Static files: only the listed names, never a path on disk
  { name: 'dot-dot', method: 'GET', path: '/../package.json', status: 404 },
  { name: 'encoded dot-dot', method: 'GET', path: '/%2e%2e/package.json', status: 404 },
  { name: 'encoded slash', method: 'GET', path: '/..%2f..%2fpackage.json', status: 404 },
  { name: 'static subdirectory', method: 'GET', path: '/static/../../../etc/passwd', status: 404 },
  { name: 'absolute path', method: 'GET', path: '//etc/passwd', status: 404 },
  { name: 'backslashes', method: 'GET', path: '/..\\..\\package.json', status: 404 },
  { name: 'NUL byte', method: 'GET', path: '/app.js%00.html', status: 404 },
  { name: 'source map', method: 'GET', path: '/server.js', status: 404 },
  { name: 'static file by its directory name', method: 'GET', path: '/static/app.js', status: 404 },
  // Admin: tokens
  { name: 'admin without a token', method: 'GET', path: '/v1/pushnotification', status: 401, code: 'unauthorized' },
  { name: 'admin with a wrong token', method: 'POST', path: '/push', admin: 'not-the-token-at-all', status: 401 },
  { name: 'admin token in the query', method: 'GET', path: `/v1/pushnotification?token=${ADMIN_TOKEN}`, status: 401 },
  { name: 'admin token as Basic', method: 'GET', path: '/v1/pushnotification', headers: { authorization: `Basic ${ADMIN_TOKEN}` }, status: 401 },
  { name: 'admin delete without a token', method: 'DELETE', path: '/v1/pushnotification/categories/news', status: 401 },
  // Admin: bodies
  { name: 'notification unknown field', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, sendAt: '2030-01-01T00:00:00Z' }), status: 400, field: 'sendAt' },
  { name: 'notification title a number', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 1, all: true }), status: 400, field: 'title' },
  { name: 'notification without target', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x' }), status: 400 },
  { name: 'notification with two targets', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, categories: ['news'] }), status: 400, code: 'invalid_request', field: 'target', message: 'target: choose one target, not all and categories' },
  { name: 'notification all a string', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: 'yes' }), status: 400, field: 'all' },
  { name: 'notification unknown category', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', categories: ['nope'] }), status: 400, code: 'unknown_category', field: 'categories', message: 'categories: category "nope" does not exist' },
  { name: 'notification unknown subscription', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', subscriptions: [999999] }), status: 400, code: 'unknown_subscription', field: 'subscriptions', message: 'subscriptions: subscription "999999" does not exist' },
  { name: 'notification subscription ids as strings', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', subscriptions: ['https://x'] }), status: 400, field: 'subscriptions' },
  { name: 'notification without content', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ all: true }), status: 400 },
  { name: 'notification too large for a push', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x'.repeat(4000), all: true }), status: 400, field: 'payload', code: 'message_too_large' },
  { name: 'notification ttl negative', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, ttl: -1 }), status: 400, field: 'ttl', code: 'invalid_input', message: 'ttl: must be whole seconds from 0 to 2419200 (28 days)' },
  { name: 'notification ttl gibberish', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, ttl: 'forever' }), status: 400, field: 'ttl' },
  { name: 'notification urgency unknown', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, urgency: 'asap' }), status: 400, field: 'urgency' },
  { name: 'notification topic too long', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, topic: 't'.repeat(40) }), status: 400, field: 'topic' },
  { name: 'notification send_at not a date', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, send_at: 'tomorrow' }), status: 400, field: 'send_at' },
  { name: 'notification send_at in the past', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, send_at: '2001-01-01T00:00:00Z' }), status: 400, field: 'send_at', code: 'time_in_past' },
  { name: 'notification cron invalid', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, cron: '99 * * * *' }), status: 400, field: 'cron' },
  { name: 'notification tz unknown', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, cron: '0 9 * * *', tz: 'Mars/Olympus' }), status: 400, field: 'tz' },
  { name: 'notification send_at and cron', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, cron: '0 9 * * *', send_at: '2030-01-01T00:00:00Z' }), status: 400, code: 'invalid_request', field: 'cron', message: 'cron: choose one of send_at, in or cron, not send_at and cron' },
  { name: 'notification data an array', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', all: true, data: [1] }), status: 400, field: 'data' },
  { name: 'notification payload and title', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', payload: 'raw', all: true }), status: 400 },
  { name: 'notification link not a URL', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x', url: 'javascript:alert(1)', all: true }), status: 400, field: 'url' },
  { name: 'idempotency key too long', method: 'POST', path: '/v1/pushnotification', admin: true, headers: { 'idempotency-key': 'k'.repeat(300) }, body: json({ title: 'x', all: true, send_at: '2030-01-01T00:00:00Z' }), status: 400, code: 'invalid_input', field: 'Idempotency-Key', message: 'Idempotency-Key: must be 1 to 200 characters' },
  { name: 'notification body non-JSON', method: 'POST', path: '/v1/pushnotification', admin: true, body: 'title=x', status: 400 },
  { name: 'notification body too big', method: 'POST', path: '/v1/pushnotification', admin: true, body: json({ title: 'x'.repeat(9000), all: true }), status: 413 },
  { name: 'test push unknown field', method: 'POST', path: '/push', admin: true, body: json({ title: 'x', categories: ['news'] }), status: 400, field: 'categories' },
  { name: 'test push wrong type', method: 'POST', path: '/push', admin: true, body: json({ title: ['x'] }), status: 400, field: 'title' },
  { name: 'notification id not a number', method: 'GET', path: '/v1/pushnotification/abc', admin: true, status: 400, field: 'id' },
  { name: 'notification id traversal', method: 'GET', path: '/v1/pushnotification/..%2f..%2fetc', admin: true, status: 400 },
  { name: 'notification id unknown', method: 'GET', path: '/v1/pushnotification/424242', admin: true, status: 404, code: 'notification_not_found', message: 'notification 424242 does not exist' },
  { name: 'delete unknown notification', method: 'DELETE', path: '/v1/pushnotification/424242', admin: true, status: 404 },
  { name: 'list with bad limit', method: 'GET', path: '/v1/pushnotification?limit=lots', admin: true, status: 400, field: 'limit' },
  { name: 'list with limit 0', method: 'GET', path: '/v1/pushnotification?limit=0', admin: true, status: 400, field: 'limit' },
  { name: 'list with unknown status', method: 'GET', path: '/v1/pushnotification?status=done', admin: true, status: 400, code: 'invalid_input', field: 'status', message: 'status: "done" is not one of scheduled, sending, sent, partial, failed, cancelled, skipped' },
  { name: 'list with unknown parameter', method: 'GET', path: '/v1/pushnotification?page=2', admin: true, status: 400, field: 'page' },
  { name: 'category bad name', method: 'POST', path: '/v1/pushnotification/categories', admin: true, body: json({ name: 'Not A Slug!' }), status: 400 },
  { name: 'category name a number', method: 'POST', path: '/v1/pushnotification/categories', admin: true, body: json({ name: 5 }), status: 400, field: 'name' },
  { name: 'category unknown field', method: 'POST', path: '/v1/pushnotification/categories', admin: true, body: json({ name: 'ok', colour: 'red' }), status: 400, field: 'colour' },
  { name: 'category duplicate', method: 'POST', path: '/v1/pushnotification/categories', admin: true, body: json({ name: 'news' }), status: 409, code: 'category_exists', message: 'category "news" already exists' },
  { name: 'category description too long', method: 'POST', path: '/v1/pushnotification/categories', admin: true, body: json({ name: 'ok', description: 'd'.repeat(600) }), status: 400 },
  { name: 'category rename to a bad name', method: 'PUT', path: '/v1/pushnotification/categories/news', admin: true, body: json({ name: '../x' }), status: 400 },
  { name: 'category rename with nothing', method: 'PUT', path: '/v1/pushnotification/categories/news', admin: true, body: json({}), status: 400 },
  { name: 'category update unknown', method: 'PUT', path: '/v1/pushnotification/categories/404', admin: true, body: json({ description: 'x' }), status: 404 },
  { name: 'category delete unknown', method: 'DELETE', path: '/v1/pushnotification/categories/nope', admin: true, status: 404 },
  { name: 'category path traversal', method: 'DELETE', path: '/v1/pushnotification/categories/..%2F..%2Fnews', admin: true, status: 404 },
];

function request(base: string, c: Case): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const url = new URL(base);
  const headers: Record<string, string> = { ...c.headers };
  const type = c.type === undefined ? (c.body !== undefined ? 'application/json' : undefined) : c.type;
  if (type) headers['content-type'] = type;
  if (c.admin) headers.authorization = `Bearer ${c.admin === true ? ADMIN_TOKEN : c.admin}`;
  const body = c.body === undefined ? undefined : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body);
  if (body && !headers['transfer-encoding']) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    // http.request keeps the path exactly as given (fetch would resolve "..").
    const req = http.request({ host: url.hostname, port: url.port, method: c.method, path: c.path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

function snapshot(db: string): Record<string, unknown[]> {
  const conn = openDb(db);
  try {
    const tables = ['vapid_keys', 'subscriptions', 'categories', 'subscription_categories', 'notifications', 'deliveries'];
    return Object.fromEntries(tables.map((t) => [t, conn.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]));
  } finally {
    conn.close();
  }
}

describe('bad requests to pushctl serve', () => {
  let serve: ServeHandle;
  let before: Record<string, unknown[]>;

  beforeAll(async () => {
    serve = await startServe({ config: serveConfig() });
    const add = await request(serve.url, { name: '', method: 'POST', path: '/v1/pushnotification/categories', admin: true, body: json({ name: 'news' }), status: 201 });
    expect(add.status).toBe(201);
    before = snapshot(serve.db);
  });
  afterAll(async () => {
    await serve.stop();
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const response = await request(serve.url, c);
    expect(response.status).toBe(c.status);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = JSON.parse(response.text) as { error: { code: string; message: string; field?: string } };
    expect(Object.keys(body)).toEqual(['error']);
    expect(typeof body.error.code).toBe('string');
    expect(typeof body.error.message).toBe('string');
    expect(body.error.message.length).toBeGreaterThan(0);
    if (c.code) expect(body.error.code).toBe(c.code);
    if (c.field) expect(body.error.field).toBe(c.field);
    if (c.message) expect(body.error.message).toBe(c.message);
    // The API never speaks the terminal's language.
    expect(body.error.message).not.toMatch(/pushctl [a-z]|--[a-z]/);
    expect(response.text).not.toMatch(/\n\s+at |node_modules|\/dist\/|SQLITE|sqlite/);
    expect(response.text).not.toContain(ADMIN_TOKEN);
  });

  it('answers malformed HTTP with 400 and stays up', async () => {
    const { port } = new URL(serve.url);
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('GARBAGE\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect((await request(serve.url, { name: '', method: 'GET', path: '/subscription', status: 200 })).status).toBe(200);
  });

  it('answers an absolute-form target (a proxy request) with 400 and logs its path only', async () => {
    const { port } = new URL(serve.url);
    for (const target of ['http://evil.example/app.js', 'https://evil.example', '*']) {
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n`));
        let text = '';
        socket.on('data', (d) => (text += d.toString()));
        socket.on('close', () => resolve(text));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/);
      expect(answer).toContain('"code":"invalid_request"');
      expect(answer).not.toContain('<html');
    }
    await expect.poll(() => serve.stdout()).toMatch(/GET \/app\.js 400 /);
    expect(serve.stdout()).not.toContain('evil.example');
  });

  it('wrote nothing, logged no stack trace and never answered 5xx', () => {
    expect(snapshot(serve.db)).toEqual(before);
    expect(serve.stderr()).not.toMatch(/\n\s+at /);
    expect(serve.stdout()).not.toMatch(/ 5\d\d [\d.]+ms/);
    expect(serve.stdout()).not.toContain(ADMIN_TOKEN);
  });
});
