/**
 * `npm run bench:send`: how fast pushctl sends, against the push-service stand-in over TLS
 * (decryption and VAPID checks off, so the stand-in costs every sender the same), next to
 * (b) web-push's own sendNotification with the same concurrency over a keep-alive agent, and
 * (c) the CPU ceiling: the encryption alone on every core. Then (a) again with 10x the
 * subscriptions, to show memory does not grow with the audience.
 *
 *   npm run bench:send -- [--n 20000] [--concurrency 50] [--scale 10] [--no-scale]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { startPushService, testCertificate, type PushService } from '../test/support/push-service.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '50' },
    scale: { type: 'string', default: '10' },
    'no-scale': { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const CONCURRENCY = Number(args.concurrency);
const SCALE = Number(args.scale);
const TITLE = 'T';
const BODY = 'B';
/** What `pushctl send --title T --body B` puts in the push. */
const PAYLOAD = JSON.stringify({ title: TITLE, body: BODY });
const TTL = 3600;
const HERE = path.dirname(fileURLToPath(import.meta.url));
/** npm runs scripts in the package root; the harness itself is compiled elsewhere. */
const ROOT = process.cwd();
const BIN = path.join(ROOT, 'bin/pushctl.js');
/** Temp directories this run made, removed at the end. */
const scratch: string[] = [];
if (!fs.existsSync(BIN)) throw new Error(`run from the package root (npm run bench:send): ${BIN} is missing`);

interface Vapid {
  publicKey: string;
  privateKey: string;
  subject: string;
}

interface Store {
  dir: string;
  db: string;
  vapid: Vapid;
}

interface SendRun {
  label: string;
  messages: number;
  ok: number;
  seconds: number;
  rate: number;
  peakRssMb?: number;
  /** CPU time of the sending process (all threads) per message, µs */
  cpuUsPerMessage?: number;
  /** first to last request as the stand-in saw them */
  serviceSeconds: number;
  note?: string;
}

const cores = os.availableParallelism();
console.log(`bench:send  N=${N}  concurrency=${CONCURRENCY}  node ${process.version}  ${cores} cores (${os.cpus()[0]?.model ?? 'cpu'})`);
console.log('stand-in: HTTPS (self-signed CA via NODE_EXTRA_CA_CERTS), decryption off, VAPID checks off, same process as this harness\n');

const certificate = testCertificate();
const service = await startPushService({ tls: true, decrypt: false, record: false, verify: false });

try {
  const store = await newStore();
  const subscriptionsFile = path.join(store.dir, 'subscriptions.jsonl');
  writeSubscriptions(service, store.vapid, N, subscriptionsFile);

  const c = await encryptionCeiling(N);
  report(c);
  const b = await webPushBaseline(subscriptionsFile, store.vapid);
  report(b);
  report(await wireAlone(service, subscriptionsFile, store.vapid, false));
  {
    // Same again against a stand-in that offers HTTP/2, to see whether multiplexing helps.
    const h2Service = await startPushService({ tls: true, http2: true, decrypt: false, record: false, verify: false });
    try {
      const h2File = path.join(store.dir, 'subscriptions-h2.jsonl');
      writeSubscriptions(h2Service, store.vapid, N, h2File);
      report(await wireAlone(h2Service, h2File, store.vapid, true));
    } finally {
      await h2Service.close();
    }
  }
  const sendAvailable = await pushctlSendAvailable();
  let a: SendRun | undefined;
  if (sendAvailable === true) {
    a = await pushctlSend(store, subscriptionsFile, N);
    report(a);
  } else {
    console.log(`(a) pushctl send                    NOT AVAILABLE YET: ${sendAvailable}`);
  }

  // (a) again over plain HTTP, as the issue allows: the ceiling (c) has no transport at all, and
  // over TLS both ends of the handshake-free but still encrypted stream share the same two cores.
  let aHttp: SendRun | undefined;
  if (a) {
    const httpService = await startPushService({ tls: false, decrypt: false, record: false, verify: false });
    try {
      const httpStore = await newStore();
      const httpFile = path.join(httpStore.dir, 'subscriptions.jsonl');
      writeSubscriptions(httpService, httpStore.vapid, N, httpFile);
      aHttp = await pushctlSend(httpStore, httpFile, N, httpService);
      report(aHttp);
    } finally {
      await httpService.close();
    }
  }

  console.log('');
  if (a && aHttp) {
    console.log(`a/b (pushctl vs web-push sendNotification, both TLS): ${(a.rate / b.rate).toFixed(2)}   target >= 3`);
    console.log(`a/c (pushctl over TLS vs encryption ceiling):         ${(a.rate / c.rate).toFixed(2)}   target >= 0.5 (the stand-in shares the CPU)`);
    console.log(`a/c (pushctl over plain HTTP vs encryption ceiling):  ${(aHttp.rate / c.rate).toFixed(2)}   target >= 0.5 (the stand-in shares the CPU)`);
    console.log(
      `CPU per message: pushctl ${a.cpuUsPerMessage!.toFixed(0)} µs, encryption alone ${c.cpuUsPerMessage!.toFixed(0)} µs, web-push ${b.cpuUsPerMessage!.toFixed(0)} µs: ` +
        `encryption is ${((c.cpuUsPerMessage! / a.cpuUsPerMessage!) * 100).toFixed(0)}% of pushctl's CPU (wall-clock rates move with other load on the machine; CPU per message barely does)`,
    );
  } else {
    console.log(`b/c (web-push vs encryption ceiling):       ${(b.rate / c.rate).toFixed(2)}   (a/b and a/c need pushctl send)`);
  }

  if (a && !args['no-scale']) {
    const bigStore = await newStore();
    const bigFile = path.join(bigStore.dir, 'subscriptions.jsonl');
    writeSubscriptions(service, bigStore.vapid, N * SCALE, bigFile);
    const big = await pushctlSend(bigStore, bigFile, N * SCALE);
    console.log('');
    report(big);
    console.log(`peak RSS ${N * SCALE} vs ${N}: ${big.peakRssMb!.toFixed(1)} MB / ${a.peakRssMb!.toFixed(1)} MB = ${(big.peakRssMb! / a.peakRssMb!).toFixed(2)}x   target <= 1.3x`);
  }
  console.log(`
What bounds the rate: CPU. Per message pushctl does one ECDH + HKDF + AES-GCM (web-push's
generateRequestDetails, on ${Math.min(Math.max(cores - 1, 0), 4) || 'no'} worker thread(s)), no JWT signing (one per origin and key,
see "JWTs signed"), one pooled keep-alive TLS request and one ledger write (answers arriving
together share one transaction); web-push's
sendNotification signs an ES256 JWT for every message, which costs more than the encryption.
The stand-in shares the same cores, so wall-clock rates here move with any other load on the
machine; the CPU-per-message figures are the steadier comparison. Tried: HTTP/2 (row above:
more CPU per message than keep-alive HTTP/1.1 with ${CONCURRENCY} connections, so it stays off by default).`);
} finally {
  await service.close();
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
}

function report(run: SendRun): void {
  const rss = run.peakRssMb === undefined ? '' : `  peak RSS ${run.peakRssMb.toFixed(1)} MB`;
  const cpu = run.cpuUsPerMessage === undefined ? '' : `  CPU ${run.cpuUsPerMessage.toFixed(0)} µs/msg`;
  const window = run.serviceSeconds ? `  (stand-in saw ${(run.ok / run.serviceSeconds).toFixed(0)}/s)` : '';
  console.log(
    `${run.label.padEnd(36)} ${run.rate.toFixed(0).padStart(7)} msg/s  ${run.ok}/${run.messages} in ${run.seconds.toFixed(2)} s${window}${cpu}${rss}${run.note ? `  ${run.note}` : ''}`,
  );
}

/** A fresh pushctl database with a VAPID key; the private half is needed for (b). */
async function newStore(): Promise<Store> {
  const dir = tempDir('pushctl-bench-send-');
  const db = path.join(dir, 'bench.db');
  await runJson(['keys', 'generate', '--subject', 'mailto:bench@example.com', '--db', db], { cwd: dir });
  const vapid = await runJson<Vapid>(['keys', 'export', '--private', '--db', db], { cwd: dir });
  return { dir, db, vapid: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: vapid.subject } };
}

/**
 * Subscriptions on the stand-in, written as PushSubscription JSON lines. They share one key pair:
 * the sender's cost per message is the same (a fresh ECDH per message either way) and making
 * 200,000 key pairs would only slow the harness.
 */
function writeSubscriptions(push: PushService, vapid: Vapid, count: number, file: string): void {
  const lines = push
    .createSubscriptions(count, vapid.publicKey, { shareKeys: true })
    .map((s) => JSON.stringify({ endpoint: s.endpoint, expirationTime: null, keys: s.keys }));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

/** (c) generateRequestDetails without VAPID on every core at once, nothing else running. */
async function encryptionCeiling(count: number): Promise<SendRun> {
  const sample = service.createSubscription((await newKeyOnly()).publicKey);
  const perWorker = Math.ceil(count / cores);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: cores }, () => {
      const worker = new Worker(path.join(HERE, 'send-encrypt-worker.js'), {
        workerData: { count: perWorker, subscription: { endpoint: sample.endpoint, keys: sample.keys }, payload: PAYLOAD },
      });
      return new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      }).finally(() => worker.terminate());
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const total = perWorker * cores;
  return {
    label: `(c) encryption alone, ${cores} threads`,
    messages: total,
    ok: total,
    seconds,
    rate: total / seconds,
    serviceSeconds: 0,
    cpuUsPerMessage: (cpu.user + cpu.system) / total,
  };
}

async function newKeyOnly(): Promise<{ publicKey: string }> {
  const { default: webpush } = await import('web-push');
  return webpush.generateVAPIDKeys();
}

/** (b) web-push's sendNotification in its own process, `CONCURRENCY` at a time. */
async function webPushBaseline(subscriptionsFile: string, vapid: Vapid): Promise<SendRun> {
  service.resetCounts();
  const job = { subscriptionsFile, payload: PAYLOAD, ttl: TTL, concurrency: CONCURRENCY, caFile: certificate.certFile, vapid };
  const { stdout, code, stderr } = await runNode([path.join(HERE, 'send-webpush.js'), JSON.stringify(job)]);
  if (code !== 0) throw new Error(`web-push baseline failed (${code}): ${stderr}`);
  const result = JSON.parse(stdout) as { sent: number; failed: number; ms: number; maxRssKb: number; cpuUs: number };
  const seconds = result.ms / 1000;
  return {
    label: `(b) web-push sendNotification, c=${CONCURRENCY}`,
    messages: result.sent + result.failed,
    ok: result.sent,
    seconds,
    rate: result.sent / seconds,
    peakRssMb: result.maxRssKb / 1024,
    cpuUsPerMessage: result.cpuUs / (result.sent + result.failed),
    serviceSeconds: (service.lastRequestAt - service.firstRequestAt) / 1000,
  };
}

/** Diagnostic: pushctl's wire layer (dist/push/sender.js) without store or engine, in its own process. */
async function wireAlone(push: PushService, subscriptionsFile: string, vapid: Vapid, http2: boolean): Promise<SendRun> {
  push.resetCounts();
  const job = { root: ROOT, subscriptionsFile, payload: PAYLOAD, ttl: TTL, concurrency: CONCURRENCY, http2, vapid };
  const { stdout, code, stderr } = await runNode([path.join(HERE, 'send-wire.js'), JSON.stringify(job)], { env: { ...process.env, NODE_EXTRA_CA_CERTS: certificate.certFile } });
  if (code !== 0) throw new Error(`wire-only run failed (${code}): ${stderr}`);
  const result = JSON.parse(stdout) as { sent: number; failed: number; ms: number; maxRssKb: number; cpuUs: number; jwtSigned: number };
  const seconds = result.ms / 1000;
  return {
    label: `(-) wire layer alone${http2 ? ' (HTTP/2)' : ''}, c=${CONCURRENCY}`,
    messages: result.sent + result.failed,
    ok: result.sent,
    seconds,
    rate: result.sent / seconds,
    peakRssMb: result.maxRssKb / 1024,
    cpuUsPerMessage: result.cpuUs / (result.sent + result.failed),
    serviceSeconds: (push.lastRequestAt - push.firstRequestAt) / 1000,
    note: `JWTs signed: ${result.jwtSigned}`,
  };
}

/** True when `pushctl send` and `pushctl subscriptions import` both exist, else why not. */
async function pushctlSendAvailable(): Promise<true | string> {
  for (const command of [['send'], ['subscriptions', 'import']]) {
    const help = await runCli([...command, '--help']);
    if (help.code !== 0 || !help.stdout.includes(`Usage: pushctl ${command.join(' ')}`)) return `"pushctl ${command.join(' ')}" is not there (${help.stderr.trim().split('\n')[0] ?? `exit ${help.code}`})`;
  }
  return true;
}

/** (a) the real CLI: import the subscriptions, then `pushctl send --all` to all of them. */
async function pushctlSend(store: Store, subscriptionsFile: string, count: number, push: PushService = service): Promise<SendRun> {
  const env = { PUSHCTL_ENDPOINT_ORIGINS: push.origin, NODE_EXTRA_CA_CERTS: certificate.certFile };
  const imported = await runCli(['subscriptions', 'import', subscriptionsFile, '--db', store.db, '--json'], { cwd: store.dir, env });
  if (imported.code !== 0) throw new Error(`pushctl subscriptions import failed (${imported.code}): ${imported.stderr}`);

  push.resetCounts();
  const rssFile = path.join(store.dir, 'rss.txt');
  const args = ['send', '--all', '--title', TITLE, '--body', BODY, '--yes', '--json', '--concurrency', String(CONCURRENCY), '--db', store.db];
  const run = await runNode(['--import', rssRecorder(rssFile), BIN, ...args], { cwd: store.dir, env: cliEnv(env) });
  if (run.code !== 0) throw new Error(`pushctl send failed (${run.code}): ${run.stderr}`);
  const usage = JSON.parse(fs.readFileSync(rssFile, 'utf8')) as { maxRssKb: number; cpuUs: number };
  const summary = JSON.parse(run.stdout) as { counts: { total: number; sent: number }; elapsedMs: number };
  const seconds = summary.elapsedMs / 1000;
  return {
    label: `(a) pushctl send${push.ca ? '' : ' (plain HTTP)'}, c=${CONCURRENCY}, N=${count}`,
    messages: summary.counts.total,
    ok: summary.counts.sent,
    seconds,
    rate: summary.counts.sent / seconds,
    peakRssMb: usage.maxRssKb / 1024,
    cpuUsPerMessage: usage.cpuUs / summary.counts.total,
    serviceSeconds: (push.lastRequestAt - push.firstRequestAt) / 1000,
  };
}

/** A preload module (data: URL) that writes the process's peak RSS (KB) and CPU time (µs) to `file` as it exits. */
function rssRecorder(file: string): string {
  const source = `import fs from 'node:fs'; process.on('exit', () => { const u = process.resourceUsage(); fs.writeFileSync(${JSON.stringify(file)}, JSON.stringify({ maxRssKb: u.maxRSS, cpuUs: u.userCPUTime + u.systemCPUTime })); });`;
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

/** The CLI as an operator's script would run it: no TTY, no colour, the environment given. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', TZ: 'UTC', ...extra };
}

async function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return runNode([BIN, ...args], { cwd: options.cwd ?? ROOT, env: cliEnv(options.env) });
}

async function runJson<T>(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<T> {
  const result = await runCli([...args, '--json'], options);
  if (result.code !== 0) throw new Error(`pushctl ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

function runNode(nodeArgs: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
