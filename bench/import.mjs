#!/usr/bin/env node
/**
 * `npm run bench:import [-- N]`: how fast `pushctl subscriptions import` is against the floor of
 * a bare better-sqlite3 prepared INSERT of the same rows in one transaction, in the same run.
 *
 * Generates N valid subscriptions (default 1,000,000) as NDJSON, imports them with the built CLI
 * (a child process, so its peak RSS is its own), then inserts the same rows bare. Prints
 * subscriptions/s for both, the ratio (target: at least 1/3), and the import's peak RSS next to
 * those of imports of N/20 and N/4 records (target: peak RSS does not grow with N).
 *
 * Plain JavaScript over dist/ (Node 20 cannot run TypeScript directly): run `npm run build` first;
 * the npm script does.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/pushctl.js');
const ORIGIN = 'http://127.0.0.1:9';
const N = Number(process.argv[2] ?? process.env.BENCH_N ?? 1_000_000);
if (!Number.isSafeInteger(N) || N < 1000) {
  console.error('usage: npm run bench:import [-- N]   (N >= 1000)');
  process.exit(2);
}
// Reports the child's peak RSS (KiB on Linux) when it exits.
const REPORT_RSS = "data:text/javascript,process.on('exit',()=>process.stderr.write('\\nPEAK_RSS_KB '+process.resourceUsage().maxRSS+'\\n'))";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-bench-'));
try {
  const file = path.join(dir, 'subs.ndjson');
  const small = path.join(dir, 'small.ndjson');
  const medium = path.join(dir, 'medium.ndjson');
  let t = performance.now();
  generate(file, N);
  generate(small, Math.max(1000, Math.round(N / 20)));
  generate(medium, Math.max(1000, Math.round(N / 4)));
  console.log(`generated ${fmt(N)} subscriptions (${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB NDJSON) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const smallRun = await importFile(small, 'small');
  const mediumRun = await importFile(medium, 'medium');
  const run = await importFile(file, 'large');
  const bare = bareInsert(file, path.join(dir, 'bare.db'));

  const importRate = N / run.seconds;
  const bareRate = N / bare.seconds;
  const ratio = importRate / bareRate;
  console.log('');
  console.log(`pushctl subscriptions import: ${fmt(Math.round(importRate))} subscriptions/s (${run.seconds.toFixed(2)} s, incl. process start, parsing, validation, upsert)`);
  console.log(`bare prepared INSERT:         ${fmt(Math.round(bareRate))} subscriptions/s (${bare.seconds.toFixed(2)} s, one transaction, rows prebuilt in memory)`);
  console.log(`ratio import/bare:            ${ratio.toFixed(2)} (target >= 0.33: ${ratio >= 1 / 3 ? 'met' : 'NOT met'})`);
  console.log(`peak RSS of import:           ${[smallRun, mediumRun, run].map((r) => `${mib(r.rssKb)} MiB for ${fmt(r.records)}`).join(', ')} records`);
  console.log(`                              (x${(N / smallRun.records).toFixed(0)} records: x${(run.rssKb / smallRun.rssKb).toFixed(2)} RSS)`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

function generate(file, count) {
  const pool = Array.from({ length: 256 }, () => {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    return ecdh.getPublicKey().toString('base64url');
  });
  const fd = fs.openSync(file, 'w');
  let chunk = '';
  for (let i = 0; i < count; i++) {
    const auth = crypto.randomBytes(16).toString('base64url');
    chunk += `{"endpoint":"${ORIGIN}/push/${i.toString(36)}-${auth.slice(0, 8)}","expirationTime":null,"keys":{"p256dh":"${pool[i % 256]}","auth":"${auth}"}}\n`;
    if (chunk.length > 1 << 20) {
      fs.writeSync(fd, chunk);
      chunk = '';
    }
  }
  fs.writeSync(fd, chunk);
  fs.closeSync(fd);
}

async function importFile(file, name) {
  const db = path.join(dir, `${name}.db`);
  const env = { ...process.env, PUSHCTL_DB: db, PUSHCTL_ENDPOINT_ORIGINS: ORIGIN, NO_COLOR: '1' };
  await run(['keys', 'generate', '--subject', 'mailto:bench@example.org'], env);
  const started = performance.now();
  const result = await run(['subscriptions', 'import', file, '--json'], env);
  const seconds = (performance.now() - started) / 1000;
  const summary = JSON.parse(result.stdout);
  if (summary.rejected !== 0) throw new Error(`bench import rejected ${summary.rejected} records: ${JSON.stringify(summary.rejections[0])}`);
  const rssKb = Number(/PEAK_RSS_KB (\d+)/.exec(result.stderr)?.[1]);
  return { seconds, rssKb, records: summary.imported };
}

function run(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', REPORT_RSS, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new Error(`pushctl ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

/** The floor: the same rows, prebuilt, through one prepared INSERT in one transaction. */
function bareInsert(file, dbFile) {
  const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => {
    const s = JSON.parse(line);
    return [s.endpoint, s.keys.p256dh, s.keys.auth];
  });
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // The same table and indexes the store creates (store/migrations.ts), without other tables.
  db.exec(`
    CREATE TABLE subscriptions (
      id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL UNIQUE, p256dh TEXT NOT NULL, auth TEXT NOT NULL,
      key_id INTEGER, expiration_time INTEGER, label TEXT, user_agent TEXT, created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL, last_success_at INTEGER, failure_count INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX subscriptions_key ON subscriptions(key_id);`);
  const insert = db.prepare('INSERT INTO subscriptions (endpoint, p256dh, auth, key_id, expiration_time, created_at, updated_at) VALUES (?, ?, ?, 1, NULL, ?, ?)');
  const started = performance.now();
  db.transaction(() => {
    const now = Date.now();
    for (const [endpoint, p256dh, auth] of rows) insert.run(endpoint, p256dh, auth, now, now);
  })();
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return { seconds };
}

function fmt(n) {
  return n.toLocaleString('en-US');
}

function mib(kb) {
  return (kb / 1024).toFixed(0);
}
