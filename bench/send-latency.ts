/**
 * `npm run bench:latency`: what opening connections ahead (preconnect) saves when the push service
 * is a network round trip away, as real ones are. The stand-in (HTTPS) sits behind a TCP relay in
 * this process that holds every chunk for half the round trip each way, and the first bytes of a
 * connection for one more round trip (the TCP handshake the relay's local accept skips). The real
 * CLI sends to N subscriptions with connections opened ahead (default) and without
 * (PUSHCTL_PRECONNECT=0), interleaved, `--repeat` times; medians of whole-process wall time and of
 * the time from spawn to the first request at the stand-in. The store is a SQLite file, or with
 * `--postgres` a database on a PostgreSQL cluster the bench starts (Debian's postgresql package).
 *
 *   npm run bench:latency -- [--n 2000] [--rtt 50] [--repeat 5] [--concurrency 50] [--postgres]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startPushService, testCertificate } from '../test/support/push-service.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    rtt: { type: 'string', default: '50' },
    repeat: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '50' },
    postgres: { type: 'boolean', default: false },
  },
});
const N = Number(args.n);
const RTT_MS = Number(args.rtt);
const REPEAT = Math.max(1, Number(args.repeat));
const CONCURRENCY = Number(args.concurrency);
const ROOT = process.cwd();
const BIN = path.join(ROOT, 'bin/pushctl.js');
if (!fs.existsSync(BIN)) throw new Error(`run from the package root (npm run bench:latency): ${BIN} is missing`);

/**
 * A TCP relay to `port` that delays each chunk by half the round trip each way; a connection's
 * first chunk towards the service waits one round trip more (the SYN, SYN-ACK a real network costs).
 */
async function startRelay(port: number, rttMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const half = rttMs / 2;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const service = net.connect(port, '127.0.0.1');
    for (const s of [client, service]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        service.destroy();
      });
    }
    let first = true;
    // Equal delays fire in the order set, so each direction keeps its byte order.
    client.on('data', (chunk) => {
      const delay = first ? rttMs + half : half;
      first = false;
      setTimeout(() => service.write(chunk), delay);
    });
    service.on('data', (chunk) => setTimeout(() => client.write(chunk), half));
    client.on('end', () => setTimeout(() => service.end(), half));
    service.on('end', () => setTimeout(() => client.end(), half));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const certificate = testCertificate();
const service = await startPushService({ tls: true, decrypt: false, record: false, verify: false });
const relay = await startRelay(Number(new URL(service.origin).port), RTT_MS);
const origin = `https://127.0.0.1:${relay.port}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-bench-latency-'));
const postgres = args.postgres ? await (await import('../test/support/postgres.js')).startPostgres() : undefined;
const db = postgres ? await postgres.createDatabase('pushctl_bench') : path.join(dir, 'bench.db');
const env = { PATH: process.env.PATH, HOME: dir, NO_COLOR: '1', TZ: 'UTC', PUSHCTL_DB: db, PUSHCTL_ENDPOINT_ORIGINS: origin, NODE_EXTRA_CA_CERTS: certificate.certFile };

console.log(`bench:latency  N=${N}  round trip ${RTT_MS} ms (relay)  concurrency=${CONCURRENCY}  repeat=${REPEAT}  store ${postgres ? 'PostgreSQL' : 'SQLite'}  node ${process.version}  ${os.availableParallelism()} cores`);
console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
try {
  const key = JSON.parse((await cli(['keys', 'generate', '--subject', 'mailto:bench@example.com', '--json'])).stdout) as { publicKey: string };
  // The stand-in's subscriptions, reached through the relay.
  const lines = service
    .createSubscriptions(N, key.publicKey, { shareKeys: true })
    .map((s) => JSON.stringify({ endpoint: s.endpoint.replace(service.origin, origin), keys: s.keys }));
  const file = path.join(dir, 'subscriptions.jsonl');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  await cli(['subscriptions', 'import', file, '--json']);

  const runs = { ahead: [] as Run[], cold: [] as Run[] };
  for (let rep = 0; rep < REPEAT; rep++) {
    const order = rep % 2 === 0 ? (['cold', 'ahead'] as const) : (['ahead', 'cold'] as const);
    for (const arm of order) {
      const run = await send(arm === 'cold' ? { PUSHCTL_PRECONNECT: '0' } : {});
      runs[arm].push(run);
      console.log(`${arm === 'ahead' ? 'connections opened ahead' : 'opened as requests come '}  first request ${run.firstMs.toFixed(0).padStart(5)} ms after spawn   all ${N} in ${run.wallMs.toFixed(0).padStart(5)} ms`);
    }
  }
  const first = (xs: Run[]) => median(xs.map((x) => x.firstMs));
  const wall = (xs: Run[]) => median(xs.map((x) => x.wallMs));
  console.log('');
  console.log(`first request after spawn, medians: ahead ${first(runs.ahead).toFixed(0)} ms, cold ${first(runs.cold).toFixed(0)} ms: ${(first(runs.cold) - first(runs.ahead)).toFixed(0)} ms sooner (${(first(runs.cold) / first(runs.ahead)).toFixed(2)}x)`);
  console.log(`whole send, medians: ahead ${wall(runs.ahead).toFixed(0)} ms, cold ${wall(runs.cold).toFixed(0)} ms: cold/ahead ${(wall(runs.cold) / wall(runs.ahead)).toFixed(3)}`);
  console.log(`load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await relay.close();
  await service.close();
  await postgres?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

interface Run {
  firstMs: number;
  wallMs: number;
}

async function send(extraEnv: Record<string, string>): Promise<Run> {
  service.resetCounts();
  const spawnedAt = Date.now();
  const result = await cli(['send', '--all', '--title', 'T', '--body', 'B', '--yes', '--json', '--concurrency', String(CONCURRENCY)], extraEnv);
  const wallMs = Date.now() - spawnedAt;
  const summary = JSON.parse(result.stdout) as { counts: { sent: number } };
  if (summary.counts.sent !== N || service.requestCount !== N) throw new Error(`expected ${N} sent once each, got ${summary.counts.sent} (stand-in saw ${service.requestCount})`);
  return { firstMs: service.firstRequestAt - spawnedAt, wallMs };
}

function cli(cliArgs: string[], extraEnv: Record<string, string> = {}): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...cliArgs], { cwd: dir, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => (code === 0 ? resolve({ stdout }) : reject(new Error(`pushctl ${cliArgs.join(' ')} exited ${code}: ${stderr}`))));
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
