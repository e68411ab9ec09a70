/**
 * Pooled keep-alive HTTP client for push services: one undici Pool per origin, a bounded number of
 * connections each (no pipelining: a push service answers each request on its own), explicit
 * connect and response timeouts, and the endpoint's own scheme, so http test services work too.
 * TLS uses Node's trust store (NODE_EXTRA_CA_CERTS included) plus an optional extra CA.
 */
import tls from 'node:tls';
import { Pool } from 'undici';
import type { WireAnswer } from './classify.js';

export interface TransportOptions {
  /** Connections (= requests in flight) per origin. */
  connections: number;
  connectTimeoutMs: number;
  /** Limit for the response headers, and separately for the response body, to arrive. */
  responseTimeoutMs: number;
  /** Extra trusted CA (PEM), on top of the system roots: for a private or test push service. */
  ca?: string | Buffer | undefined;
  /** Negotiate HTTP/2 via ALPN where the push service offers it. */
  http2?: boolean | undefined;
}

export interface Transport {
  /** Resolves with the push service's answer; rejects only for network-level failures. */
  post(url: URL, headers: Record<string, string>, body: Buffer): Promise<WireAnswer>;
  close(): Promise<void>;
}

/** Push services explain rejections in a line or two; keep no more than this of any body. */
const BODY_EXCERPT_BYTES = 512;

export function createTransport(options: TransportOptions): Transport {
  const pools = new Map<string, Pool>();
  const ca = options.ca ? [...tls.rootCertificates, options.ca.toString()] : undefined;

  function poolFor(origin: string): Pool {
    let pool = pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: options.connections,
        pipelining: 1,
        allowH2: options.http2 ?? false,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        headersTimeout: options.responseTimeoutMs,
        bodyTimeout: options.responseTimeoutMs,
        connect: { timeout: options.connectTimeoutMs, ...(ca ? { ca } : {}) },
      });
      pools.set(origin, pool);
    }
    return pool;
  }

  return {
    async post(url, headers, body) {
      const response = await poolFor(url.origin).request({
        method: 'POST',
        path: url.pathname + url.search,
        headers,
        body,
      });
      const { statusCode } = response;
      const retryAfter = firstValue(response.headers['retry-after']);
      if (statusCode >= 200 && statusCode < 300) {
        // Read to the end so the connection goes back to the pool.
        await response.body.dump();
        return { status: statusCode, retryAfter };
      }
      return { status: statusCode, retryAfter, bodyExcerpt: await readExcerpt(response.body) };
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((pool) => pool.close()));
    },
  };
}

async function readExcerpt(body: AsyncIterable<Buffer>): Promise<string> {
  const kept: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < BODY_EXCERPT_BYTES) {
      kept.push(chunk);
      size += chunk.length;
    }
  }
  return Buffer.concat(kept).subarray(0, BODY_EXCERPT_BYTES).toString('utf8');
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
