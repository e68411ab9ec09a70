/**
 * `npm run bench:send`: how fast pushctl sends (a), against the push-service stand-in over TLS
 * (decryption and VAPID checks off, so the stand-in costs every sender the same), next to
 * (c') a web-push loop with the VAPID header computed once per origin (what a user who knows the
 * library writes), (b) web-push's own sendNotification, and (c) the CPU ceiling: the encryption
 * alone on every core. (a), (c') and (c) run interleaved, `--repeat` times, at two audience
 * sizes; ratios are medians of the per-repetition ratios, rates whole-process (start-up
 * included). Then the HTTP/1.1 and HTTP/2 wire rows, and (a) again with 10x the subscriptions,
 * to show memory does not grow with the audience.
 *
 * Then a/c again with the cores split (`taskset`): (a) and (c) on core 0, this harness with the
 * stand-in on the others, as when the push service is another machine. Unpinned, the stand-in
 * takes its share of the cores from every sender but not from the ceiling (no network), which on
 * two cores caps a/c well below 0.75 whatever the sender does; pinned, both have the same core and
 * nothing else on it. On two cores that is one core each, so the pinned a/c measures the CPU cost
 * and how busy a sender keeps its core, not how it spreads over many. `--no-pinned` skips that
 * phase; `--pin` runs everything pinned.
 *
 *   npm run bench:send -- [--n 20000] [--small-n 2000] [--repeat 3] [--concurrency 50] [--scale 10] [--no-scale] [--no-b] [--no-pinned] [--pin]
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startPushService, testCertificate, type PushService } from '../test/support/push-service.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    'small-n': { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '50' },
    scale: { type: 'string', default: '10' },
    repeat: { type: 'string', default: '3' },
    'no-scale': { type: 'boolean', default: false },
    'no-b': { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    'no-pinned': { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const SMALL_N = Number(args['small-n']);
const CONCURRENCY = Number(args.concurrency);
const SCALE = Number(args.scale);
const REPEAT = Math.max(1, Number(args.repeat));
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
/** Stores whose subscriptions are imported already (each is sent to once per repetition). */
const imported = new Set<string>();
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
  /** whole process, spawn to exit (start-up included) where the row is a process of its own */
  seconds: number;
  rate: number;
  peakRssMb?: number;
  /** CPU time of the sending process (all threads) per message, µs */
  cpuUsPerMessage?: number;
  /** first to last request as the stand-in saw them */
  serviceSeconds: number;
  /**
   * CPU time of this harness process (the stand-in, nothing else runs here meanwhile) per message,
   * µs: what the push service costs on the same cores as the sender.
   */
  serviceCpuUsPerMessage?: number;
  /** every subscription got exactly one request, as the stand-in counted */
  exactlyOnce?: boolean;
  note?: string;
}

const machineCores = os.availableParallelism();
/**
 * Where the processes this harness starts run: pinned, the senders' cores (a taskset list) and how
 * many, the harness keeping the rest. Set for the whole run by --pin, else only for the pinned a/c
 * phase; runNode and the ceiling read them as they start a process.
 */
let pin = args.pin ? pinCores() : undefined;
/** The cores a sender (and the ceiling) can use. */
let cores = pin ? pin.senderCount : machineCores;
console.log(`bench:send  N=${N} and ${SMALL_N}  concurrency=${CONCURRENCY}  repeat=${REPEAT}  node ${process.version}  ${machineCores} cores (${os.cpus()[0]?.model ?? 'cpu'})`);
if (pin) console.log(`pinned: senders and the ceiling on core(s) ${pin.senders}, this harness and the stand-in on ${pin.standIn}`);
console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('stand-in: HTTPS (self-signed CA via NODE_EXTRA_CA_CERTS), decryption off, VAPID checks off, same process as this harness');
console.log('rates are messages / whole-process wall time (spawn to exit, start-up included) unless marked\n');

const certificate = testCertificate();
const service = await startPushService({ tls: true, decrypt: false, record: false, verify: false });

try {
  const sizes = [N, SMALL_N];
  const stores = new Map<number, { store: Store; file: string }>();
  for (const size of sizes) {
    const store = await newStore();
    const file = path.join(store.dir, 'subscriptions.jsonl');
    writeSubscriptions(service, store.vapid, size, file);
    stores.set(size, { store, file });
  }
  const vapid = stores.get(N)!.store.vapid;

  // Interleaved: every repetition runs each contender once per size, alternating who goes first,
  // so a burst of load from the other helpers on this machine hits both sides alike.
  const rows = { a: new Map<number, SendRun[]>(), c1: new Map<number, SendRun[]>(), ceiling: [] as SendRun[] };
  const loads: number[] = [];
  for (let rep = 0; rep < REPEAT; rep++) {
    console.log(`-- repetition ${rep + 1}/${REPEAT}  (load average ${os.loadavg()[0]!.toFixed(2)})`);
    loads.push(os.loadavg()[0]!);
    const ceiling = await encryptionCeiling(N);
    report(ceiling);
    rows.ceiling.push(ceiling);
    for (const size of sizes) {
      const { store, file } = stores.get(size)!;
      const order = rep % 2 === 0 ? (['a', 'c1'] as const) : (['c1', 'a'] as const);
      for (const who of order) {
        const run = who === 'a' ? await pushctlSend(store, file, size) : await webPushVapidOnce(file, vapid, size);
        report(run);
        const list = rows[who].get(size) ?? [];
        list.push(run);
        rows[who].set(size, list);
      }
    }
  }

  let b: SendRun | undefined;
  if (!args['no-b']) {
    b = await webPushBaseline(stores.get(N)!.file, vapid);
    report(b);
  }
  // HTTP/1.1 against HTTP/2 through the same pipelines, without store or engine.
  report(await wireAlone(service, stores.get(N)!.file, vapid, false));
  {
    const h2Service = await startPushService({ tls: true, http2: true, decrypt: false, record: false, verify: false });
    try {
      const h2File = path.join(stores.get(N)!.store.dir, 'subscriptions-h2.jsonl');
      writeSubscriptions(h2Service, vapid, N, h2File);
      report(await wireAlone(h2Service, h2File, vapid, true));
    } finally {
      await h2Service.close();
    }
  }

  console.log('');
  const ratio = (xs: SendRun[], ys: SendRun[]) => median(xs.map((x, i) => x.rate / ys[i]!.rate));
  for (const size of sizes) {
    const a = rows.a.get(size)!;
    const c1 = rows.c1.get(size)!;
    const target = size === N ? 'target >= 2.0' : 'target >= 1.3';
    console.log(`a/c' at N=${size} (pushctl vs web-push loop, VAPID once per origin, both TLS, whole process): median ${ratio(a, c1).toFixed(2)}  [${a.map((x, i) => (x.rate / c1[i]!.rate).toFixed(2)).join(', ')}]   ${target}`);
  }
  const a20 = rows.a.get(N)!;
  const c20 = rows.c1.get(N)!;
  console.log(`a/c at N=${N} (pushctl vs encryption-only ceiling on ${cores} thread${cores === 1 ? '' : 's'}${pin ? ', both pinned to the same core' : ''}): median ${ratio(a20, rows.ceiling).toFixed(2)}  [${a20.map((x, i) => (x.rate / rows.ceiling[i]!.rate).toFixed(2)).join(', ')}]   target >= 0.75`);
  const cpuA = median(a20.map((x) => x.cpuUsPerMessage!));
  const cpuC = median(rows.ceiling.map((x) => x.cpuUsPerMessage!));
  console.log(`CPU per message at N=${N}: pushctl ${cpuA.toFixed(0)} µs, ceiling ${cpuC.toFixed(0)} µs, web-push loop (c') ${median(c20.map((x) => x.cpuUsPerMessage!)).toFixed(0)} µs: pushctl/ceiling ${(cpuA / cpuC).toFixed(2)}x   target <= 1.3x`);
  {
    // What the cores allow: unpinned, the stand-in runs on the same cores, so a sender that keeps
    // every core busy reaches at most cores / (its CPU + the stand-in's CPU per message); pinned, a
    // sender reaches at most its cores / its CPU and the stand-in its own cores / its CPU. The loop
    // is one thread, so it reaches at most one core / its CPU per message.
    const standIn = median(a20.map((x) => x.serviceCpuUsPerMessage!));
    const standInLoop = median(c20.map((x) => x.serviceCpuUsPerMessage!));
    const bound = (cpu: number, service: number, threads: number) =>
      pin ? Math.min((Math.min(threads, cores) * 1e6) / cpu, ((machineCores - cores) * 1e6) / service) : Math.min((threads * 1e6) / cpu, (cores * 1e6) / (cpu + service));
    const boundA = bound(cpuA, standIn, cores);
    const cpuLoop = median(c20.map((x) => x.cpuUsPerMessage!));
    const boundLoop = bound(cpuLoop, standInLoop, 1);
    const rateA = median(a20.map((x) => x.rate));
    const how = pin ? `${cores} core${cores === 1 ? '' : 's'} / pushctl ${cpuA.toFixed(0)} µs per message (the stand-in, ${standIn.toFixed(0)} µs, on its own)` : `${cores} cores / (pushctl ${cpuA.toFixed(0)} + stand-in ${standIn.toFixed(0)} µs per message)`;
    console.log(
      `machine bound at N=${N}: ${how} = ${boundA.toFixed(0)} msg/s; ` +
        `pushctl reached ${rateA.toFixed(0)} (${((100 * rateA) / boundA).toFixed(0)}%); the loop at most ${boundLoop.toFixed(0)} msg/s on its one thread; ` +
        `so a/c' cannot exceed about ${(boundA / boundLoop).toFixed(2)} here at these CPU costs`,
    );
    // a/c: unpinned, even a sender whose only cost were the encryption shares the cores with the stand-in.
    const ceilingRate = median(rows.ceiling.map((x) => x.rate));
    console.log(
      `a/c bound: pushctl at the machine bound would be ${(boundA / ceilingRate).toFixed(2)} of the ceiling; a sender costing nothing but ` +
        `the encryption (${cpuC.toFixed(0)} µs) and the stand-in ${(bound(cpuC, standIn, cores) / ceilingRate).toFixed(2)}`,
    );
  }
  if (b) console.log(`a/b at N=${N} (pushctl vs web-push sendNotification): ${(median(a20.map((x) => x.rate)) / b.rate).toFixed(2)}`);
  const allOnce = [...rows.a.values()].flat().every((x) => x.exactlyOnce);
  console.log(`exactly once at the stand-in, every pushctl run: ${allOnce ? 'yes' : 'NO'}`);
  console.log(`load average (1 min) at each repetition: ${loads.map((l) => l.toFixed(2)).join(', ')}`);

  if (!pin && !args['no-pinned']) await pinnedAc(stores.get(N)!.store, stores.get(N)!.file);

  if (!args['no-scale']) {
    const bigStore = await newStore();
    const bigFile = path.join(bigStore.dir, 'subscriptions.jsonl');
    writeSubscriptions(service, bigStore.vapid, N * SCALE, bigFile);
    const big = await pushctlSend(bigStore, bigFile, N * SCALE);
    console.log('');
    report(big);
    const rss = median(a20.map((x) => x.peakRssMb!));
    console.log(`peak RSS ${N * SCALE} vs ${N}: ${big.peakRssMb!.toFixed(1)} MB / ${rss.toFixed(1)} MB = ${(big.peakRssMb! / rss).toFixed(2)}x   target <= 1.3x; exactly once: ${big.exactlyOnce ? 'yes' : 'NO'}`);
  }
  console.log(`load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await service.close();
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function report(run: SendRun): void {
  const rss = run.peakRssMb === undefined ? '' : `  peak RSS ${run.peakRssMb.toFixed(1)} MB`;
  const cpu = run.cpuUsPerMessage === undefined ? '' : `  CPU ${run.cpuUsPerMessage.toFixed(0)} µs/msg`;
  const standIn = run.serviceCpuUsPerMessage === undefined ? '' : `, its CPU ${run.serviceCpuUsPerMessage.toFixed(0)} µs/msg`;
  const window = run.serviceSeconds ? `  (stand-in saw ${(run.ok / run.serviceSeconds).toFixed(0)}/s${standIn})` : '';
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

/** (c) generateRequestDetails without VAPID on every sender core at once, in a process of its own, nothing else running. */
async function encryptionCeiling(count: number): Promise<SendRun> {
  const sample = service.createSubscription((await newKeyOnly()).publicKey);
  const job = { count, threads: cores, subscription: { endpoint: sample.endpoint, keys: sample.keys }, payload: PAYLOAD };
  const { stdout, code, stderr } = await runNode([path.join(HERE, 'send-ceiling.js'), JSON.stringify(job)]);
  if (code !== 0) throw new Error(`the ceiling run failed (${code}): ${stderr}`);
  const result = JSON.parse(stdout) as { messages: number; ms: number; cpuUs: number };
  const seconds = result.ms / 1000;
  return {
    label: `(c) encryption alone, ${cores} thread${cores === 1 ? '' : 's'}`,
    messages: result.messages,
    ok: result.messages,
    seconds,
    rate: result.messages / seconds,
    serviceSeconds: 0,
    cpuUsPerMessage: result.cpuUs / result.messages,
  };
}

async function newKeyOnly(): Promise<{ publicKey: string }> {
  const { default: webpush } = await import('web-push');
  return webpush.generateVAPIDKeys();
}

/** (b) web-push's sendNotification in its own process, `CONCURRENCY` at a time; its rate counts sending only, as before. */
async function webPushBaseline(subscriptionsFile: string, vapid: Vapid): Promise<SendRun> {
  const run = await webPushScript('send-webpush.js', `(b) web-push sendNotification, c=${CONCURRENCY}`, subscriptionsFile, vapid);
  return { ...run, seconds: run.sendingSeconds, rate: run.ok / run.sendingSeconds, note: undefined };
}

/** (c') web-push's generateRequestDetails with VAPID computed once per origin, own https requests, one thread. */
async function webPushVapidOnce(subscriptionsFile: string, vapid: Vapid, count: number): Promise<SendRun> {
  const run = await webPushScript('send-webpush-vapid-once.js', `(c') web-push loop, VAPID once, N=${count}`, subscriptionsFile, vapid);
  return { ...run, exactlyOnce: service.requestCount === count && service.distinctSubscriptions === count };
}

/** A web-push baseline script in its own process, timed spawn to exit. */
async function webPushScript(script: string, label: string, subscriptionsFile: string, vapid: Vapid): Promise<SendRun & { sendingSeconds: number }> {
  service.resetCounts();
  const job = { subscriptionsFile, payload: PAYLOAD, ttl: TTL, concurrency: CONCURRENCY, caFile: certificate.certFile, vapid };
  const started = performance.now();
  const harnessCpu = process.cpuUsage();
  const { stdout, code, stderr } = await runNode([path.join(HERE, script), JSON.stringify(job)]);
  const seconds = (performance.now() - started) / 1000;
  const serviceCpu = cpuMicros(process.cpuUsage(harnessCpu));
  if (code !== 0) throw new Error(`${label} failed (${code}): ${stderr}`);
  const result = JSON.parse(stdout) as { sent: number; failed: number; ms: number; maxRssKb: number; cpuUs: number };
  return {
    label,
    messages: result.sent + result.failed,
    ok: result.sent,
    seconds,
    sendingSeconds: result.ms / 1000,
    rate: result.sent / seconds,
    peakRssMb: result.maxRssKb / 1024,
    cpuUsPerMessage: result.cpuUs / (result.sent + result.failed),
    serviceSeconds: (service.lastRequestAt - service.firstRequestAt) / 1000,
    serviceCpuUsPerMessage: serviceCpu / Math.max(1, result.sent + result.failed),
    note: `sending alone ${(result.ms / 1000).toFixed(2)} s`,
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
    label: `(-) pipelines alone${http2 ? ' (HTTP/2)' : ' (HTTP/1.1)'}, c=${CONCURRENCY}`,
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

/** (a) the real CLI: import the subscriptions, then `pushctl send --all` to all of them. */
async function pushctlSend(store: Store, subscriptionsFile: string, count: number, push: PushService = service): Promise<SendRun> {
  const env: Record<string, string> = { PUSHCTL_ENDPOINT_ORIGINS: push.origin, NODE_EXTRA_CA_CERTS: certificate.certFile };
  // A knob for trying designs: PUSHCTL_SEND_THREADS=0 sends from the main thread (see delivery.ts).
  if (process.env.PUSHCTL_SEND_THREADS !== undefined) env.PUSHCTL_SEND_THREADS = process.env.PUSHCTL_SEND_THREADS;
  if (!imported.has(store.db)) {
    const result = await runCli(['subscriptions', 'import', subscriptionsFile, '--db', store.db, '--json'], { cwd: store.dir, env });
    if (result.code !== 0) throw new Error(`pushctl subscriptions import failed (${result.code}): ${result.stderr}`);
    imported.add(store.db);
  }

  push.resetCounts();
  const rssFile = path.join(store.dir, 'rss.txt');
  const args = ['send', '--all', '--title', TITLE, '--body', BODY, '--yes', '--json', '--concurrency', String(CONCURRENCY), '--db', store.db];
  const started = performance.now();
  const harnessCpu = process.cpuUsage();
  const run = await runNode(['--import', rssRecorder(rssFile), BIN, ...args], { cwd: store.dir, env: cliEnv(env) });
  const seconds = (performance.now() - started) / 1000;
  const serviceCpu = cpuMicros(process.cpuUsage(harnessCpu));
  if (run.code !== 0) throw new Error(`pushctl send failed (${run.code}): ${run.stderr}`);
  const usage = JSON.parse(fs.readFileSync(rssFile, 'utf8')) as { maxRssKb: number; cpuUs: number };
  const summary = JSON.parse(run.stdout) as { counts: { total: number; sent: number }; elapsedMs: number };
  return {
    label: `(a) pushctl send${push.ca ? '' : ' (plain HTTP)'}, c=${CONCURRENCY}, N=${count}`,
    messages: summary.counts.total,
    ok: summary.counts.sent,
    seconds,
    rate: summary.counts.sent / seconds,
    peakRssMb: usage.maxRssKb / 1024,
    cpuUsPerMessage: usage.cpuUs / summary.counts.total,
    serviceSeconds: (push.lastRequestAt - push.firstRequestAt) / 1000,
    serviceCpuUsPerMessage: serviceCpu / Math.max(1, summary.counts.total),
    exactlyOnce: summary.counts.sent === count && push.requestCount === count && push.distinctSubscriptions === count,
    note: `sending alone ${(summary.elapsedMs / 1000).toFixed(2)} s`,
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
    // Pinned, every process this harness starts is a sender (or the ceiling): it gets their cores.
    const [command, commandArgs] = pin ? ['taskset', ['-c', pin.senders, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
    const child = spawn(command, commandArgs, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * a/c with the push service on a core of its own: (c) and (a) at N, interleaved, `--repeat` times,
 * every process on the senders' core, this harness (the stand-in) on the others.
 */
async function pinnedAc(store: Store, file: string): Promise<void> {
  try {
    pin = pinCores();
  } catch (error) {
    console.log(`\npinned a/c: not measured (${(error as Error).message})`);
    return;
  }
  cores = pin.senderCount;
  try {
    console.log(`\n-- a/c with the stand-in on a core of its own: pushctl and the ceiling on core ${pin.senders}, this harness and the stand-in on ${pin.standIn}`);
    const a: SendRun[] = [];
    const c: SendRun[] = [];
    for (let rep = 0; rep < REPEAT; rep++) {
      for (const who of rep % 2 === 0 ? (['c', 'a'] as const) : (['a', 'c'] as const)) {
        const run = who === 'a' ? await pushctlSend(store, file, N) : await encryptionCeiling(N);
        report(run);
        (who === 'a' ? a : c).push(run);
      }
    }
    const ratios = a.map((x, i) => x.rate / c[i]!.rate);
    const cpuA = median(a.map((x) => x.cpuUsPerMessage!));
    const cpuC = median(c.map((x) => x.cpuUsPerMessage!));
    const rateA = median(a.map((x) => x.rate));
    console.log(`a/c at N=${N}, pinned (pushctl vs encryption-only ceiling, both on ${cores === 1 ? 'the same core' : `the same ${cores} cores`}): median ${median(ratios).toFixed(2)}  [${ratios.map((r) => r.toFixed(2)).join(', ')}]   target >= 0.75`);
    console.log(
      `pinned CPU per message: pushctl ${cpuA.toFixed(0)} µs, ceiling ${cpuC.toFixed(0)} µs (${(cpuA / cpuC).toFixed(2)}x); pushctl reached ${rateA.toFixed(0)} msg/s, ` +
        `${((100 * rateA * cpuA) / (cores * 1e6)).toFixed(0)}% of what ${cores === 1 ? 'one core allows' : `${cores} cores allow`} at that cost; exactly once: ${a.every((x) => x.exactlyOnce) ? 'yes' : 'NO'}`,
    );
  } finally {
    unpinCores();
    pin = undefined;
    cores = machineCores;
  }
}

/**
 * --pin: core 0 for the senders, the rest for this process (all its threads, the stand-in's
 * among them; threads started later inherit it). Needs `taskset` (util-linux) and two cores.
 */
function pinCores(): { senders: string; senderCount: number; standIn: string } {
  if (machineCores < 2) throw new Error('--pin needs at least two cores: one for the senders, one for the stand-in');
  const standIn = machineCores === 2 ? '1' : `1-${machineCores - 1}`;
  const result = spawnSync('taskset', ['-a', '-p', '-c', standIn, String(process.pid)], { encoding: 'utf8' });
  if (result.error || result.status !== 0) throw new Error(`--pin: taskset failed: ${result.error?.message ?? result.stderr}`);
  return { senders: '0', senderCount: 1, standIn };
}

/** This process back on every core (after the pinned phase). */
function unpinCores(): void {
  spawnSync('taskset', ['-a', '-p', '-c', `0-${machineCores - 1}`, String(process.pid)], { encoding: 'utf8' });
}
