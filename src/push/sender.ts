/**
 * One push request to one subscription: encrypt (encrypt.ts), authorise with the cached VAPID
 * header for the push service's origin (vapid.ts), POST through the pooled transport
 * (transport.ts), and say what the answer means (classify.ts). Never throws for anything a push
 * service or the network does; those come back as a PushOutcome.
 */
import os from 'node:os';
import { payloadFits } from '../limits.js';
import { classifyError, classifyResponse } from './classify.js';
import { createEncryptionPool, inlineEncryptor, type Encryptor } from './encrypt-pool.js';
import { preconnectPlan } from './preconnect-plan.js';
import { createTransport } from './transport.js';
import {
  MAX_PLAINTEXT_BYTES,
  type PushOptions,
  type PushOutcome,
  type PushSender,
  type PushSenderOptions,
  type PushTarget,
  type VapidCredentials,
} from './types.js';
import { createVapidSigner } from './vapid.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** One deadline per request, connection to last byte kept (see transport.ts). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Below this many announced requests a send encrypts on its own thread: starting the helper costs
 * ~100-150 ms of CPU and each hand-off a message, which only pays off on a long send. Measured on
 * 2 cores (interleaved, docs/performance.md): without the helper 2,000 finished 9% sooner and 5,000
 * 7% sooner, 10,000 about the same, 20,000 10% later.
 */
export const HELPER_MIN_REQUESTS = 8_000;

/** Worker threads for encryption when the caller does not say: the cores but one (that one sends), at most 4. */
export function defaultEncryptionThreads(): number {
  return Math.min(Math.max(os.availableParallelism() - 1, 0), 4);
}

export interface PushSenderStats {
  /** JWTs signed so far: one per (origin, key) per ~11 h when the cache works. */
  readonly jwtSigned: number;
  /** Messages encrypted on worker threads (the rest were encrypted on the calling thread). */
  readonly encryptedOffThread: number;
  /** Connections opened ahead of requests (preconnect). */
  readonly openedAhead: number;
}

export function createPushSender(options: PushSenderOptions): PushSender & PushSenderStats & Required<Pick<PushSender, 'preconnect'>> {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const signer = createVapidSigner();
  const transport = createTransport({
    connections: concurrency,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    ca: options.ca,
    http2: options.http2,
  });
  // Encrypt only when a connection slot is free, so a big fan-out never holds more than
  // `concurrency` encrypted bodies per origin in memory.
  const slots = createKeyedLimiter(concurrency);
  const threads = Math.max(0, Math.floor(options.encryptionThreads ?? defaultEncryptionThreads()));
  const threadsFrom = options.threadsFromRequests ?? HELPER_MIN_REQUESTS;
  // Started by expect() or on the first send, not here: a sender that never sends costs no threads.
  let encryptor: Encryptor | undefined = threads === 0 ? inlineEncryptor : undefined;

  async function sendNow(url: URL, target: PushTarget, payload: Buffer, options: PushOptions, vapid: VapidCredentials): Promise<PushOutcome> {
    let headers: Record<string, string>;
    let body: Buffer;
    try {
      encryptor ??= createEncryptionPool(threads);
      ({ headers, body } = await encryptor.encrypt(target, payload, options));
    } catch (error) {
      return { kind: 'failed', message: `cannot encrypt for this subscription: ${errorText(error)}` };
    }
    try {
      headers.authorization = signer.authorization(url.origin, vapid);
    } catch (error) {
      // A key problem, like a push service's 401/403: the engine stops after a few, deleting nobody.
      return { kind: 'rejected', message: `cannot sign the VAPID JWT with key ${vapid.publicKey.slice(0, 12)}...: ${errorText(error)}` };
    }
    // The last moment before the request is written: a throttled one past its slot is not sent.
    if (options.notAfter !== undefined && Date.now() > options.notAfter) return { kind: 'late', message: 'past its throttle slot' };
    try {
      return classifyResponse(await transport.post(url, headers, body));
    } catch (error) {
      return classifyError(error);
    }
  }

  return {
    async send(target, payload, pushOptions, vapid) {
      if (!payloadFits(payload.length)) {
        return { kind: 'too-large', message: `payload is ${payload.length} bytes; at most ${MAX_PLAINTEXT_BYTES} fit in one push message` };
      }
      let url: URL;
      try {
        url = new URL(target.endpoint);
      } catch {
        return { kind: 'failed', message: `endpoint is not a URL: ${target.endpoint}` };
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        return { kind: 'failed', message: `endpoint must be https: (or http: for a test service): ${target.endpoint}` };
      }
      const refusal = options.endpointRefusal?.(target.endpoint);
      if (refusal) return { kind: 'failed', message: `not sent: ${refusal}` };
      return slots.run(url.origin, () => sendNow(url, target, payload, pushOptions, vapid));
    },
    async close() {
      await Promise.all([transport.close(), encryptor?.close()]);
    },
    preconnect(endpoints, inFlight = concurrency) {
      for (const [origin, connections] of preconnectPlan(endpoints, Math.min(inFlight, concurrency), options.endpointRefusal)) transport.preconnect(origin, connections);
    },
    expect(requests) {
      if (threads === 0 || (encryptor !== undefined && encryptor !== inlineEncryptor)) return;
      encryptor = requests < threadsFrom ? inlineEncryptor : createEncryptionPool(threads);
    },
    get jwtSigned() {
      return signer.signed;
    },
    get encryptedOffThread() {
      return encryptor?.offThread ?? 0;
    },
    get openedAhead() {
      return transport.openedAhead;
    },
  };
}

interface KeyedLimiter {
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
}

/** At most `limit` tasks running per key; the rest wait in order (a freed slot passes straight to the next). */
function createKeyedLimiter(limit: number): KeyedLimiter {
  interface Lane {
    running: number;
    waiting: Array<() => void>;
    head: number;
  }
  const lanes = new Map<string, Lane>();

  function release(key: string, lane: Lane): void {
    if (lane.head < lane.waiting.length) {
      const next = lane.waiting[lane.head]!;
      lane.head += 1;
      // Compact now and then so a long queue costs O(1) per hand-over, not a shift of the array.
      if (lane.head > 1024 && lane.head * 2 > lane.waiting.length) {
        lane.waiting = lane.waiting.slice(lane.head);
        lane.head = 0;
      }
      next();
      return;
    }
    lane.running -= 1;
    if (lane.running === 0) lanes.delete(key);
  }

  return {
    async run(key, task) {
      let lane = lanes.get(key);
      if (!lane) {
        lane = { running: 0, waiting: [], head: 0 };
        lanes.set(key, lane);
      }
      if (lane.running < limit) lane.running += 1;
      else await new Promise<void>((resolve) => lane.waiting.push(resolve));
      try {
        return await task();
      } finally {
        release(key, lane);
      }
    },
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
