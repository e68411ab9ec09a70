/**
 * Pooled keep-alive HTTP client for push services: one undici Pool per origin, a bounded number of
 * connections each (no pipelining: a push service answers each request on its own), one total
 * deadline per request, and the endpoint's own scheme, so http test services work too.
 * TLS uses Node's trust store (NODE_EXTRA_CA_CERTS included) plus an optional extra CA.
 * Connections can be opened ahead of the first requests (preconnect), handed to the pool as it connects.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { Pool as UndiciPool } from 'undici';
import type { WireAnswer } from './classify.js';

export interface TransportOptions {
  /** Connections (= requests in flight) per origin. */
  connections: number;
  connectTimeoutMs: number;
  /**
   * One deadline for the whole request: waiting for a connection, sending, the response headers
   * and as much of the body as is kept. undici's own body timeout is per chunk, so a body that
   * trickles a byte at a time would never trip it.
   */
  requestTimeoutMs: number;
  /** Extra trusted CA (PEM), on top of the system roots: for a private or test push service. */
  ca?: string | Buffer | undefined;
  /** Negotiate HTTP/2 via ALPN where the push service offers it. */
  http2?: boolean | undefined;
}

export interface Transport {
  /**
   * Resolves with the push service's answer within the request deadline; rejects only for
   * network-level failures, and with a DeadlineError when no status arrived in time.
   */
  post(url: URL, headers: Record<string, string>, body: Buffer): Promise<WireAnswer>;
  /**
   * Opens up to `connections` connections to a push service not contacted yet, so its first
   * requests need not wait for TCP and TLS handshakes; the pool takes them as it would have
   * connected. An origin already in use is left as it is.
   */
  preconnect(origin: string, connections: number): void;
  /** Connections preconnect() opened so far (a statistic; the tests read it). */
  readonly openedAhead: number;
  close(): Promise<void>;
}

/** Push services explain rejections in a line or two; keep no more than this of any body. */
export const BODY_EXCERPT_BYTES = 512;
/**
 * A 2xx body means nothing to us. One that is complete almost at once is read so the connection
 * can be reused; one still arriving after this long is cut off with its connection.
 */
const SUCCESS_BODY_GRACE_MS = 1_000;

/** No response status within the request deadline. */
export class DeadlineError extends Error {
  readonly code = 'PUSHCTL_REQUEST_DEADLINE';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${formatSeconds(timeoutMs)}`);
    this.name = 'DeadlineError';
  }
}

/**
 * undici's Pool and its promise `request` alone. `import { Pool } from 'undici'` loads all of
 * undici (fetch, WebSocket, caches, mocks): 65-70 ms of CPU at a send's start, in every pipeline
 * thread too; these two files and what they need load in 22-25 ms (measured on the 2-core
 * machine). undici 7 has no "exports" map, so the paths are reachable; the send tests fail at
 * once if a new undici moves them (the version is pinned in package-lock.json).
 */
const load = createRequire(import.meta.url);
const Pool = load('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
type Pool = UndiciPool;
/** undici's Dispatcher.request, called with the pool as `this` (index.js would install it on the prototype). */
const request = load('undici/lib/api/api-request.js') as (this: Pool, options: Parameters<Pool['request']>[0]) => ReturnType<Pool['request']>;
/** undici's own connector (what a Pool builds when given options): TLS, ALPN, session cache, connect timeout. */
const buildConnector = load('undici/lib/core/connect.js') as (options: ConnectorOptions) => Connector;

interface ConnectorOptions {
  allowH2: boolean;
  timeout: number;
  secureContext: tls.SecureContext;
}
interface ConnectParams {
  host: string;
  hostname: string;
  protocol: string;
  port: string;
  servername?: string | null;
  localAddress?: string | null;
}
/** Returns the socket at once; calls back when it is connected (TLS done) or has failed. */
type Connector = (params: ConnectParams, callback: (error: Error | null, socket?: Socket) => void) => Socket;
/** A connection opened ahead, and when it is ready: undefined once connected, or why it could not be. */
interface Ahead {
  socket: Socket;
  ready: Promise<Error | undefined>;
}

export function createTransport(options: TransportOptions): Transport {
  const pools = new Map<string, Pool>();
  const ca = options.ca ? [...tls.rootCertificates, options.ca.toString()] : undefined;
  const timeoutMs = Math.max(1, options.requestTimeoutMs);
  // One connector, and so one TLS context, for all connections: tls.connect would build a context
  // per socket (0.15 ms each, 19 ms each with a CA list), and a send opens dozens of sockets at once.
  let connector: Connector | undefined;
  const baseConnector = (): Connector =>
    (connector ??= buildConnector({
      allowH2: options.http2 ?? false,
      timeout: Math.min(options.connectTimeoutMs, timeoutMs),
      secureContext: tls.createSecureContext(ca ? { ca } : {}),
    }));
  /** Connections opened ahead and not yet taken by a pool, by origin, oldest first. */
  const ahead = new Map<string, Ahead[]>();
  let openedAhead = 0;
  let closed = false;

  /**
   * The pool's connector: a connection opened ahead when there is one, else a new one. One that
   * failed fails this connect as a new one would; one the push service closed while it waited is
   * replaced by a new one.
   */
  function connectorFor(origin: string): Connector {
    return (params, callback) => {
      const opened = ahead.get(origin)?.shift();
      if (!opened) return baseConnector()(params, callback);
      void opened.ready.then((error) => {
        if (error) callback(error);
        else if (opened.socket.destroyed || opened.socket.readyState !== 'open') baseConnector()(params, callback);
        else callback(null, opened.socket);
      });
      return opened.socket;
    };
  }

  function openAhead(origin: string): Ahead {
    const url = new URL(origin);
    // As undici's client calls its connector (an IPv6 literal without its brackets).
    const params: ConnectParams = { host: url.host, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), protocol: url.protocol, port: url.port, servername: null, localAddress: null };
    openedAhead += 1;
    let socket!: Socket;
    // undici's connector keeps an 'error' listener on the socket: one reset while it waits is no crash.
    const ready = new Promise<Error | undefined>((resolve) => {
      socket = baseConnector()(params, (error) => resolve(error ?? undefined));
    });
    return { socket, ready };
  }

  function poolFor(origin: string): Pool {
    let pool = pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: options.connections,
        pipelining: 1,
        allowH2: options.http2 ?? false,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        // Off: the request deadline below bounds a request, and a 2xx body is cut off by
        // discard(). undici's own timers are re-armed per chunk and cost ~5% of a send's CPU.
        headersTimeout: 0,
        bodyTimeout: 0,
        connect: connectorFor(origin) as unknown as NonNullable<ConstructorParameters<typeof UndiciPool>[1]>['connect'],
      });
      pools.set(origin, pool);
    }
    return pool;
  }

  return {
    async post(url, headers, body) {
      const deadline = new Deadline(timeoutMs);
      try {
        let response;
        try {
          response = await request.call(poolFor(url.origin), {
            method: 'POST',
            path: url.pathname + url.search,
            headers,
            body,
            signal: deadline,
          });
        } catch (error) {
          throw deadline.reason ?? error;
        }
        const { statusCode } = response;
        const retryAfter = firstValue(response.headers['retry-after']);
        if (statusCode >= 200 && statusCode < 300) {
          // Answer now; the body (almost always empty) is drained or dropped on the side.
          discard(response.body, Math.min(SUCCESS_BODY_GRACE_MS, timeoutMs / 4));
          return { status: statusCode, retryAfter };
        }
        return { status: statusCode, retryAfter, bodyExcerpt: await readExcerpt(response.body) };
      } finally {
        deadline.clear();
      }
    },
    preconnect(origin, connections) {
      if (closed || pools.has(origin)) return;
      // As many as the pool would open (over HTTP/2 too: with pipelining 1, undici gives each
      // request in flight a connection of its own).
      const count = Math.min(Math.max(0, Math.floor(connections)), options.connections);
      const list: Ahead[] = [];
      ahead.set(origin, list);
      try {
        poolFor(origin);
        for (let i = 0; i < count; i++) list.push(openAhead(origin));
      } catch {
        // Only a hint: the requests connect as they come, and report what goes wrong then.
      }
    },
    get openedAhead() {
      return openedAhead;
    },
    async close() {
      closed = true;
      const all = [...pools.values()];
      pools.clear();
      // Connections opened ahead that no request took: closed with the pools.
      for (const opened of [...ahead.values()].flat()) opened.socket.destroy();
      ahead.clear();
      await Promise.all(all.map((pool) => pool.close()));
    },
  };
}

/**
 * The request deadline as the minimal abort-event source undici accepts. An AbortController per
 * request, with its EventTarget machinery, cost ~4% of a send's CPU (profiled); this is a timer
 * and a list.
 */
class Deadline {
  aborted = false;
  reason: DeadlineError | undefined;
  private listeners: Array<() => void> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    this.timer = setTimeout(() => {
      this.aborted = true;
      this.reason = new DeadlineError(timeoutMs);
      for (const listener of this.listeners.splice(0)) listener();
    }, timeoutMs);
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const index = this.listeners.indexOf(listener);
    if (index >= 0) this.listeners.splice(index, 1);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

interface ResponseBody extends AsyncIterable<Buffer> {
  dump(options?: { limit?: number; signal?: AbortSignal }): Promise<unknown>;
  destroy(): void;
}

/**
 * Reads a short body to its end (the connection then goes back to the pool); drops a long or slow
 * one. A plain timer, cleared when the body is done: an AbortSignal.timeout per response would
 * fire a second later for every message sent.
 */
function discard(body: ResponseBody, graceMs: number): void {
  const timer = setTimeout(() => body.destroy(), graceMs);
  body.dump({ limit: BODY_EXCERPT_BYTES }).then(
    () => clearTimeout(timer),
    () => clearTimeout(timer),
  );
}

/**
 * The first BODY_EXCERPT_BYTES of an error body. Stops reading there (a longer body is dropped
 * with its connection), and when the request deadline strikes, keeps what has arrived: the status
 * is the answer, the text only explains it.
 */
async function readExcerpt(body: ResponseBody): Promise<string> {
  const kept: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      kept.push(chunk);
      size += chunk.length;
      if (size >= BODY_EXCERPT_BYTES) break; // leaving the loop destroys the rest of the body
    }
  } catch {
    // cut off by the deadline or the connection: what arrived is all there is
  }
  return Buffer.concat(kept).subarray(0, BODY_EXCERPT_BYTES).toString('utf8');
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
