#!/usr/bin/env node
/**
 * `npm run bench:serve [-- SECONDS [CLIENTS]]`: how many subscriptions per second `pushctl serve`
 * takes, against a bare node:http server that answers 201 without doing anything, in the same run
 * and with the same client.
 *
 * CLIENTS keep-alive connections (default 32) each POST distinct subscriptions to /subscription in
 * a loop for SECONDS (default 10) against loopback; the servers run as their own processes. Prints
 * requests/s and p50/p99 latency for both and the ratio (target: at least 1/3), then checks that
 * the store holds exactly the subscriptions that were answered 201 (target: nothing lost, nothing
 * extra).
 *
 * Plain JavaScript over dist/: run `npm run build` first (the npm script does).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/pushctl.js');
const SECONDS = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.argv[3] ?? process.env.BENCH_CLIENTS ?? 32);
if (!(SECONDS > 0) || !Number.isSafeInteger(CLIENTS) || CLIENTS < 1) {
  console.error('usage: npm run bench:serve [-- SECONDS [CLIENTS]]');
  process.exit(2);
}

// Valid P-256 points are costly to make; a pool is enough (each subscription still has its own endpoint and auth).
const KEYS = Array.from({ length: 64 }, () => {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return ecdh.getPublicKey().toString('base64url');
});

const BARE_SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(201, { 'content-type': 'application/json; charset=utf-8' }); res.end('{"id":1}'); });
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port + '/'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-bench-serve-'));
try {
  fs.writeFileSync(
    path.join(dir, 'push.config.json'),
    JSON.stringify({ vapid: { subject: 'mailto:bench@example.com' }, serve: { rateLimit: { windowSeconds: 60, max: 100_000_000 } } }),
  );
  console.log(`${CLIENTS} clients, ${SECONDS} s per server, loopback, ${os.cpus().length} CPUs`);

  const bare = await startServer(process.execPath, ['-e', BARE_SERVER], dir);
  const bareRun = await load(bare.url, 'bare');
  await bare.stop();

  const pushctl = await startServer(process.execPath, [BIN, 'serve', '--port', '0'], dir);
  const run = await load(pushctl.url, 'pushctl');
  const exit = await pushctl.stop();

  const db = new Database(path.join(dir, 'pushctl.db'), { readonly: true });
  const stored = new Set(db.prepare('SELECT endpoint FROM subscriptions').pluck().all());
  db.close();
  const missing = [...run.created].filter((endpoint) => !stored.has(endpoint)).length;
  const extra = [...stored].filter((endpoint) => !run.created.has(endpoint)).length;

  const ratio = run.rate / bareRun.rate;
  console.log('');
  report('pushctl serve POST /subscription', run);
  report('bare node:http (201, no work)   ', bareRun);
  console.log(`ratio pushctl/bare:               ${ratio.toFixed(2)} (target >= 0.33: ${ratio >= 1 / 3 ? 'met' : 'NOT met'})`);
  console.log(
    `store after SIGTERM (exit ${exit}):    ${stored.size} subscriptions, ${run.created.size} answered 201, ${missing} missing, ${extra} extra, ${run.other} other answers (${missing === 0 && extra === 0 && run.other === 0 ? 'nothing lost' : 'MISMATCH'})`,
  );
  if (missing || extra || run.other || exit !== 0) process.exitCode = 1;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

function report(label, r) {
  console.log(`${label}: ${Math.round(r.rate).toLocaleString('en')} requests/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${r.count.toLocaleString('en')} requests)`);
}

async function startServer(command, args, cwd) {
  const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let head = '';
    const onData = (d) => {
      head += d;
      const match = /listening on (http:\/\/[^/\s]+)\//.exec(head);
      if (match) {
        // Keep draining the access log so the server never blocks on a full pipe.
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function load(base, tag) {
  const url = new URL('/subscription', base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies = [];
  const created = new Set();
  let other = 0;
  let counter = 0;
  const deadline = performance.now() + SECONDS * 1000;

  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(body);
    });

  const client = async () => {
    while (performance.now() < deadline) {
      const n = counter++;
      const endpoint = `https://fcm.googleapis.com/fcm/send/bench-${tag}-${n}-${crypto.randomBytes(4).toString('hex')}`;
      const body = JSON.stringify({ endpoint, expirationTime: null, keys: { p256dh: KEYS[n % KEYS.length], auth: crypto.randomBytes(16).toString('base64url') } });
      const started = performance.now();
      const status = await post(body);
      latencies.push(performance.now() - started);
      if (status === 201) created.add(endpoint);
      else other += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { count: latencies.length, rate: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), created, other };
}
