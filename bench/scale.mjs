#!/usr/bin/env node
/**
 * `npm run bench:scale [-- --n 100000 --workers 1,2,3 --repeat 1 --concurrency 50 --plain]`:
 * one notification to N subscriptions on PostgreSQL, sent by 1, 2 and 3 worker processes (the
 * `pushctl send` that starts it plus `pushctl dispatch --watch` workers that join it), and by one
 * `pushctl send` on SQLite for comparison; all against the push-service stand-in (TLS unless
 * --plain, decryption and VAPID checks off so it costs every run the same). Prints messages/s per
 * run (N / the stand-in's first-to-last request), each process's share, the CPU time all the
 * sending processes spent per message (steadier than rates on a shared machine), the
 * PostgreSQL/SQLite ratio at one worker (target >= 0.8: the store must not be the limit) and
 * whether every subscriber got exactly one request. PostgreSQL: a throwaway cluster started here (Debian's postgresql, as the tests do),
 * or the database PUSHCTL_BENCH_PG names (its contents are replaced).
 *
 * Plain JavaScript over dist/ and the compiled test helpers (.bench-build/); the npm script builds both.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin/pushctl.js');
const HELPERS = path.join(ROOT, '.bench-build/test/support');
const { startPushService, testCertificate } = await import(path.join(HELPERS, 'push-service.js'));
const { startPostgres } = await import(path.join(HELPERS, 'postgres.js'));

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    workers: { type: 'string', default: '1,2,3' },
    repeat: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '50' },
    plain: { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const WORKERS = args.workers.split(',').map(Number);
const REPEAT = Math.max(1, Number(args.repeat));
const CONCURRENCY = Number(args.concurrency);
if (!Number.isSafeInteger(N) || N < 1 || WORKERS.some((w) => !Number.isInteger(w) || w < 1)) {
  console.error('usage: npm run bench:scale -- [--n 100000] [--workers 1,2,3] [--repeat 1] [--concurrency 50] [--plain]');
  process.exit(2);
}

const scratch = [];
const tempDir = (prefix) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};
const load = () => os.loadavg().map((x) => x.toFixed(1)).join(', ');

console.log(`bench:scale: N=${N}, workers ${WORKERS.join('/')}, concurrency ${CONCURRENCY} per process, ${args.plain ? 'plain HTTP' : 'TLS'}, ${os.availableParallelism()} cores, load average ${load()}`);

const certificate = args.plain ? undefined : testCertificate();
const service = await startPushService({ tls: !args.plain, decrypt: false, verify: false, record: false });
const server = process.env.PUSHCTL_BENCH_PG ? undefined : await startPostgres();
const pgUrl = process.env.PUSHCTL_BENCH_PG ?? (await server.createDatabase('pushctl_bench'));
const dir = tempDir('pushctl-bench-scale-');
const sqlite = path.join(dir, 'bench.db');
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  NO_COLOR: '1',
  TZ: 'UTC',
  PUSHCTL_ENDPOINT_ORIGINS: service.origin,
  ...(certificate ? { NODE_EXTRA_CA_CERTS: certificate.certFile } : {}),
};

try {
  // One installation, then the same on PostgreSQL: keys and subscriptions moved by `db copy`.
  await cli(['keys', 'generate', '--subject', 'mailto:bench@example.com', '--db', sqlite]);
  const key = await cliJson(['keys', 'show', '--db', sqlite]);
  const file = path.join(dir, 'subscriptions.ndjson');
  const lines = service.createSubscriptions(N, key.publicKey, { shareKeys: true }).map((s) => JSON.stringify({ endpoint: s.endpoint, expirationTime: null, keys: s.keys }));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  await cli(['subscriptions', 'import', file, '--db', sqlite]);
  await cli(['db', 'copy', '--from', sqlite, '--to', pgUrl, '--force']);

  const runs = [];
  for (let round = 0; round < REPEAT; round++) {
    runs.push(await sendWith('sqlite', sqlite, 1));
    for (const workers of WORKERS) runs.push(await sendWith('postgres', pgUrl, workers));
  }

  console.log('');
  console.log(`${'run'.padEnd(22)} ${'msgs/s'.padStart(7)} ${'seconds'.padStart(8)} ${'CPU/msg'.padStart(8)} ${'DB CPU'.padStart(7)} ${'stand-in'.padStart(8)}  ${'shares'.padEnd(22)} exactly once  load at start`);
  for (const r of runs) {
    const once = r.exactlyOnce ? 'yes' : `NO (${r.requests} requests, ${r.distinct} subscribers)`;
    const db = r.dbCpuUsPerMessage === undefined ? '-' : `${Math.round(r.dbCpuUsPerMessage)} µs`;
    console.log(`${r.label.padEnd(22)} ${String(Math.round(r.rate)).padStart(7)} ${r.seconds.toFixed(1).padStart(8)} ${`${Math.round(r.cpuUsPerMessage)} µs`.padStart(8)} ${db.padStart(7)} ${`${Math.round(r.standInUsPerMessage)} µs`.padStart(8)}  ${r.shares.join('/').padEnd(22)} ${once.padEnd(12)}  ${r.load}`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const rate = (backend, workers) => median(runs.filter((r) => r.backend === backend && r.workers === workers).map((r) => r.rate));
  console.log('');
  if (WORKERS.includes(1)) {
    const ratio = rate('postgres', 1) / rate('sqlite', 1);
    console.log(`PostgreSQL / SQLite at one worker: ${ratio.toFixed(2)}   target >= 0.8`);
  }
  for (const workers of WORKERS.filter((w) => w > 1)) {
    if (WORKERS.includes(1)) console.log(`PostgreSQL ${workers} workers / 1 worker: ${(rate('postgres', workers) / rate('postgres', 1)).toFixed(2)}`);
  }
  console.log(`exactly once at the stand-in, every run: ${runs.every((r) => r.exactlyOnce) ? 'yes' : 'NO'}`);
  console.log(`load average at the end: ${load()}`);
} finally {
  await service.close();
  await server?.stop();
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * One send to everyone: `workers - 1` dispatch --watch processes started (and watching) first,
 * then `pushctl send --all`, which takes its own share; timed at the stand-in.
 */
async function sendWith(backend, db, workers) {
  const watchers = [];
  for (let i = 1; i < workers; i++) watchers.push(await startWatcher(db, `watcher-${i}`));
  service.resetCounts();
  const startLoad = load();
  const dbCpuBefore = backend === 'postgres' ? postgresCpuUs() : 0;
  // This process is the stand-in (one thread): its CPU per message bounds what any number of workers can reach here.
  const standInBefore = process.cpuUsage();
  const started = performance.now();
  const run = await node(['--import', usageRecorder('send'), BIN, 'send', '--all', '--title', 'T', '--body', 'B', '--yes', '--json', '--concurrency', String(CONCURRENCY), '--db', db]);
  const wall = (performance.now() - started) / 1000;
  const standIn = process.cpuUsage(standInBefore);
  for (const w of watchers) w.child.kill('SIGTERM');
  await Promise.all(watchers.map((w) => w.done));
  if (run.code !== 0) throw new Error(`pushctl send on ${backend} failed (${run.code}): ${run.stderr}`);
  const summary = JSON.parse(run.stdout);
  // Each watcher's share from its log; the send took the rest.
  const joined = watchers.map((w) => [...w.output().matchAll(/joined the send in progress, its share: (\d+) sent/g)].reduce((sum, m) => sum + Number(m[1]), 0));
  const shares = [N - joined.reduce((a, b) => a + b, 0), ...joined];
  const cpuUs = ['send', ...watchers.map((w) => w.name)].reduce((sum, name) => sum + readUsage(name), 0);
  const dbCpuUs = backend === 'postgres' ? postgresCpuUs() - dbCpuBefore : undefined;
  const seconds = Math.max((service.lastRequestAt - service.firstRequestAt) / 1000, 1e-3);
  const result = {
    label: `${backend}, ${workers} worker${workers > 1 ? 's' : ''}`,
    backend,
    workers,
    rate: N / seconds,
    seconds,
    wall,
    requests: service.requestCount,
    distinct: service.distinctSubscriptions,
    exactlyOnce: summary.counts.sent === N && service.requestCount === N && service.distinctSubscriptions === N,
    load: startLoad,
    shares,
    cpuUsPerMessage: cpuUs / N,
    dbCpuUsPerMessage: dbCpuUs === undefined ? undefined : dbCpuUs / N,
    standInUsPerMessage: (standIn.user + standIn.system) / N,
  };
  console.log(
    `  ${result.label}: ${Math.round(result.rate)} msgs/s (${seconds.toFixed(1)} s at the stand-in, ${wall.toFixed(1)} s for the send process), ` +
      `shares ${shares.join('/')}, CPU per message ${Math.round(result.cpuUsPerMessage)} µs in the sending processes` +
      `${result.dbCpuUsPerMessage === undefined ? '' : ` + ${Math.round(result.dbCpuUsPerMessage)} µs in PostgreSQL`}, ${Math.round(result.standInUsPerMessage)} µs in the stand-in, exactly once: ${result.exactlyOnce ? 'yes' : 'NO'}`,
  );
  return result;
}

/**
 * CPU time (µs) the PostgreSQL cluster started here has used: the postmaster's own and its reaped
 * children's, plus its live backends'. (Not available for PUSHCTL_BENCH_PG's server: 0.)
 */
function postgresCpuUs() {
  if (!server) return 0;
  const stat = (pid) => {
    try {
      const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return text.slice(text.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  };
  const pids = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  const postmaster = pids.find((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(`-p ${server.port} `) && stat(pid)?.[0] !== 'Z';
    } catch {
      return false;
    }
  });
  if (!postmaster) return 0;
  // Fields after the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14), in clock ticks (100/s).
  const own = stat(postmaster);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const pid of pids) {
    const fields = stat(pid);
    if (fields && fields[1] === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10_000;
}

/** A preload module (data: URL) that writes the process's CPU time (µs) to a file named `name` as it exits. */
function usageRecorder(name) {
  const file = path.join(dir, `${name}.usage.json`);
  fs.rmSync(file, { force: true });
  const source = `import fs from 'node:fs'; process.on('exit', () => { const u = process.resourceUsage(); fs.writeFileSync(${JSON.stringify(file)}, JSON.stringify({ cpuUs: u.userCPUTime + u.systemCPUTime })); });`;
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

function readUsage(name) {
  return JSON.parse(fs.readFileSync(path.join(dir, `${name}.usage.json`), 'utf8')).cpuUs;
}

/** `pushctl dispatch --watch`, resolved once it says it is watching. */
async function startWatcher(db, name) {
  const child = spawn(process.execPath, ['--import', usageRecorder(name), BIN, 'dispatch', '--watch', '--interval', '60s', '--concurrency', String(CONCURRENCY), '--db', db], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const done = new Promise((resolve) => child.on('close', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dispatch --watch did not start: ${output}`)), 60_000);
    const check = (d) => {
      output += d;
      if (/watching/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.setEncoding('utf8').on('data', check);
    child.stderr.setEncoding('utf8').on('data', check);
    void done.then(() => reject(new Error(`dispatch --watch exited: ${output}`)));
  });
  return { child, done, name, output: () => output };
}

async function cli(cliArgs) {
  const result = await node([BIN, ...cliArgs]);
  if (result.code !== 0) throw new Error(`pushctl ${cliArgs.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result;
}

async function cliJson(cliArgs) {
  return JSON.parse((await cli([...cliArgs, '--json'])).stdout);
}

function node(nodeArgs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
