#!/usr/bin/env node
/**
 * `npm run bench:startup [-- RUNS]`: what a short command costs over the floor it cannot beat,
 * measured whole-process (spawn to exit), as a user or a cron job pays it.
 *
 *   pushctl --version                     vs  node -e 0
 *   pushctl subscriptions count (100k)    vs  node + better-sqlite3 opening the same file and
 *                                             running SELECT count(*)
 *
 * The pairs run interleaved (a, b, a, b, ...) RUNS times each (default 30), after a warm-up, so a
 * busy machine slows both sides alike; the ratio of the medians is reported (target: at most 1.25).
 * Plain JavaScript over dist/: run `npm run build` first (the npm script does).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/pushctl.js');
const RUNS = Number(process.argv[2] ?? process.env.BENCH_RUNS ?? 30);
const ROWS = 100_000;
const TARGET = 1.25;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-bench-startup-'));
try {
  const db = path.join(dir, 'pushctl.db');
  const env = { PATH: process.env.PATH, HOME: dir, NO_COLOR: '1', PUSHCTL_DB: db };
  run(process.execPath, [BIN, 'keys', 'generate', '--subject', 'mailto:bench@example.com'], env, 'keys generate');
  fillStore(db, ROWS);
  const counted = run(process.execPath, [BIN, 'subscriptions', 'count'], env, 'subscriptions count').stdout.trim();
  if (counted !== String(ROWS)) throw new Error(`subscriptions count printed ${counted}, expected ${ROWS}`);

  const bareCount = `const D=require(${JSON.stringify(path.join(ROOT, 'node_modules/better-sqlite3'))});const d=new D(${JSON.stringify(db)},{readonly:true});process.stdout.write(String(d.prepare('SELECT count(*) AS n FROM subscriptions').get().n)+'\\n');`;
  const pairs = [
    { name: 'pushctl --version', a: [BIN, '--version'], b: ['-e', '0'], baseline: 'node -e 0' },
    { name: `pushctl subscriptions count (${ROWS.toLocaleString('en')} rows)`, a: [BIN, 'subscriptions', 'count'], b: ['-e', bareCount], baseline: 'better-sqlite3 count' },
  ];
  console.log(`node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${RUNS} interleaved runs each, medians`);
  let ok = true;
  for (const pair of pairs) {
    for (let i = 0; i < 3; i++) {
      time(pair.a, env);
      time(pair.b, env);
    }
    const a = [];
    const b = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(time(pair.a, env));
      b.push(time(pair.b, env));
    }
    const ratio = median(a) / median(b);
    ok &&= ratio <= TARGET;
    console.log(`${pair.name.padEnd(40)} ${median(a).toFixed(1).padStart(6)} ms   ${pair.baseline.padEnd(22)} ${median(b).toFixed(1).padStart(6)} ms   ratio ${ratio.toFixed(2)} (target <= ${TARGET})`);
  }
  console.log(`load after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  process.exitCode = ok ? 0 : 1;
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

function time(args, env) {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env, cwd: env.HOME, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - start;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}

function run(cmd, args, env, what) {
  const result = spawnSync(cmd, args, { env, cwd: env.HOME, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${what} exited ${result.status}: ${result.stderr}`);
  return result;
}

/** Rows straight into the table the CLI made: the count only needs them to exist. */
function fillStore(file, rows) {
  const db = new Database(file);
  const keyId = db.prepare('SELECT id FROM vapid_keys').get().id;
  const insert = db.prepare('INSERT INTO subscriptions (endpoint, p256dh, auth, key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
  const p256dh = 'B' + 'A'.repeat(86);
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`https://fcm.googleapis.com/fcm/send/bench-${i}`, p256dh, 'AAAAAAAAAAAAAAAAAAAAAA', keyId, now, now);
  })();
  db.close();
}

function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
