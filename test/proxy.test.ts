/**
 * The nginx example of docs/production.md, run for real where nginx is installed: the block is
 * taken from the page as written (only certificate paths and ports are swapped for test ones),
 * must pass `nginx -t`, and then proxies TLS to a running `pushctl serve`: requests arrive, the
 * metrics and readiness endpoints are closed to the outside, and the proxy's own rate limit
 * answers 429 before pushctl's does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './support/cli.js';
import { hasCommand, skipWithout } from './support/commands.js';
import { freePort } from './support/ports.js';
import { testCertificate } from './support/push-service.js';
import { serveConfig, startServe, type ServeHandle } from './support/serve.js';

const NGINX = hasCommand('nginx') ? 'nginx' : fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;

function nginxExample(): string {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/production.md'), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/production.md has no ```nginx block');
  return block[1]!;
}

describe.skipIf(skipWithout(NGINX !== undefined))('the nginx example (docs/production.md)', () => {
  let dir: string;
  let serve: ServeHandle;
  let nginx: ChildProcess;
  let base: string;
  let dispatcher: Agent;

  beforeAll(async () => {
    dir = tempDir('pushctl-nginx-');
    serve = await startServe({ config: serveConfig({ serve: { metrics: true, metricsPublic: true } }) });
    const certificate = testCertificate();
    fs.writeFileSync(path.join(dir, 'key.pem'), certificate.key);
    const [tlsPort, plainPort] = [await freePort(), await freePort()];
    const site = nginxExample()
      .replace(/ssl_certificate +\S+;/, `ssl_certificate ${certificate.certFile};`)
      .replace(/ssl_certificate_key +\S+;/, `ssl_certificate_key ${path.join(dir, 'key.pem')};`)
      .replace('listen 443 ', `listen 127.0.0.1:${tlsPort} `)
      .replace('listen 80;', `listen 127.0.0.1:${plainPort};`)
      .replaceAll('http://127.0.0.1:8080', serve.url);
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(
      path.join(dir, 'nginx.conf'),
      `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log;\nevents {}\nhttp {\n` +
        `access_log off;\nclient_body_temp_path ${dir}/body;\nproxy_temp_path ${dir}/proxy;\nfastcgi_temp_path ${dir}/fastcgi;\nuwsgi_temp_path ${dir}/uwsgi;\nscgi_temp_path ${dir}/scgi;\n${site}\n}\n`,
    );
    const check = spawnSync((NGINX ?? 'nginx'), ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    nginx = spawn((NGINX ?? 'nginx'), ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
    base = `https://localhost:${tlsPort}`;
    dispatcher = new Agent({ connect: { ca: certificate.cert } });
    // Wait for the listener, not for time.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const up = await fetch(`${base}/healthz`, { dispatcher }).then((r) => r.status === 200, () => false);
      if (up) break;
      if (Date.now() > deadline) throw new Error(`nginx did not come up: ${fs.readFileSync(path.join(dir, 'logs/error.log'), 'utf8')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx.once('exit', resolve));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await dispatcher?.close();
    await serve?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('proxies TLS to pushctl and closes /metrics and /readyz to the outside', async () => {
    const info = await fetch(`${base}/subscription`, { dispatcher });
    expect(info.status).toBe(200);
    expect(((await info.json()) as { public_key: string }).public_key).toMatch(/^[A-Za-z0-9_-]{87}$/);
    expect((await fetch(`${base}/metrics`, { dispatcher })).status).toBe(403);
    expect((await fetch(`${base}/readyz`, { dispatcher })).status).toBe(403);
    // Directly, pushctl would have answered both.
    expect((await fetch(`${serve.url}/metrics`)).status).toBe(200);
  });

  it('limits /subscription per visitor at the proxy with 429', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 30 }, () =>
        fetch(`${base}/subscription`, { dispatcher, method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ endpoint: 'https://fcm.googleapis.com/fcm/send/x' }) }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        }),
      ),
    );
    // rate=1r/s, burst=10: at least the burst gets through, and far from all 30.
    expect(statuses.filter((s) => s === 204).length).toBeGreaterThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(5);
    expect(statuses.every((s) => s === 204 || s === 429)).toBe(true);
    // pushctl's own limit (10,000 in this config) never came into play.
    const text = await (await fetch(`${serve.url}/metrics`)).text();
    expect(text).toMatch(/^pushctl_http_rate_limited_total 0$/m);
  });
});
