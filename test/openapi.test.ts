/**
 * docs/openapi.json against the server: a valid OpenAPI 3.1 document (checked by
 * @seriousme/openapi-schema-validator, every $ref resolvable), every route the server registers
 * documented and every documented operation served (no drift), and served as is at /openapi.json.
 * The server runs in this process over a real socket, on a real SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { closeContext, openContext, type Context } from '../src/core/context.js';
import { OPENAPI_FILE } from '../src/http/routes-ops.js';
import { createPushctlServer, type PushctlServer } from '../src/http/server.js';
import { ROOT, tempDir } from './support/cli.js';
import { ADMIN_TOKEN, call } from './support/serve.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

interface OpenApiDocument {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: { Error: { properties: { error: { properties: Record<string, unknown>; required: string[] } } } } };
}

const doc = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as OpenApiDocument;

function documentedOperations(): string[] {
  return Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${p}`));
}

describe('OpenAPI document', () => {
  let dir: string;
  let ctx: Context;
  let app: PushctlServer;
  let url: string;

  beforeAll(async () => {
    dir = tempDir('pushctl-openapi-');
    // Every optional route on: the admin API and metrics.
    fs.writeFileSync(path.join(dir, 'push.config.json'), JSON.stringify({ serve: { adminToken: ADMIN_TOKEN, metrics: true } }));
    ctx = await openContext(await loadConfig({}, {}, dir));
    app = createPushctlServer(ctx, { writeLog: () => undefined });
    const address = await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await app.close();
    await closeContext(ctx);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is a valid OpenAPI 3.1 document whose references all resolve', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(doc.info.version).toBe(version);
  });

  it('documents every route the server registers, and the server serves every documented one', () => {
    const served = app.router.list().map((r) => `${r.method} ${r.pattern}`);
    const documented = documentedOperations();
    expect(served.filter((op) => !documented.includes(op))).toEqual([]);
    expect(documented.filter((op) => !served.includes(op))).toEqual([]);
    // Admin routes say they need the token; public ones say they do not.
    for (const route of app.router.list()) {
      const operation = doc.paths[route.pattern]![route.method.toLowerCase()] as { security?: unknown[] };
      if (route.group === 'admin') expect(operation.security ?? 'inherits admin', `${route.method} ${route.pattern}`).toEqual(expect.arrayContaining([{ adminToken: [] }]));
      if (route.group === 'public' || route.group === 'static') expect(operation.security, `${route.method} ${route.pattern}`).toEqual([]);
    }
  });

  it('is served at /openapi.json exactly as kept in the repository', async () => {
    const served = await call(url, 'GET', '/openapi.json');
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(served.json).toEqual(doc);
  });

  it('describes the error object the server actually sends', async () => {
    const refused = await call(url, 'POST', '/v1/pushnotification/categories', { admin: true, json: { name: 7 } });
    expect(refused.status).toBe(400);
    const described = doc.components.schemas.Error.properties.error;
    expect(Object.keys(refused.json)).toEqual(['error']);
    for (const key of Object.keys(refused.json.error)) expect(Object.keys(described.properties)).toContain(key);
    for (const key of described.required) expect(refused.json.error).toHaveProperty(key);
  });

  it('answers /readyz 503 naming the missing keys, then 200 once keys exist', async () => {
    const notReady = await call(url, 'GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.json.status).toBe('not_ready');
    expect(notReady.json.checks.store).toBe('ok');
    expect(notReady.json.checks.keys).toMatch(/key/i);
    const { ensureActiveKey } = await import('../src/core/keys.js');
    ensureActiveKey(ctx, true);
    const ready = await call(url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', checks: { store: 'ok', keys: 'ok' } });
    expect((await call(url, 'GET', '/healthz')).status).toBe(200);
  });
});
