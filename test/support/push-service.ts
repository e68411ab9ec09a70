/**
 * A stand-in push service over real sockets (HTTP or HTTPS), strict the way real ones are: it
 * creates subscriptions (a P-256 key pair and auth secret it keeps, an endpoint URL it serves),
 * verifies each request's VAPID header, checks TTL, Content-Encoding and the 4096-byte limit,
 * decrypts the body (RFC 8291/8188, written here on node:crypto, independently of web-push, so a
 * web-push bug cannot check itself), and records what arrived. Tests can make it answer
 * 404/410/413/429/500/403 (with any Retry-After), stall, reset the connection, or send a body that
 * trickles or never ends, for chosen subscriptions or the next N requests.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Largest push body a push service accepts (RFC 8030 section 7.2 says at least 4096; most say exactly). */
export const MAX_BODY_BYTES = 4096;
/** Push services refuse VAPID tokens that expire more than 24 h ahead (RFC 8292 section 2). */
export const MAX_JWT_LIFETIME_SECONDS = 24 * 60 * 60;

export interface ServiceSubscription {
  id: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  /** The VAPID public key (base64url) this subscription was created under. */
  applicationServerKey: string;
}

export interface ReceivedPush {
  subscriptionId: string;
  headers: {
    ttl: string | undefined;
    urgency: string | undefined;
    topic: string | undefined;
    contentEncoding: string | undefined;
    authorization: string | undefined;
  };
  /** The JWT's claims, as verified. */
  claims: JwtClaims;
  /** Decrypted plaintext (utf8); undefined when decryption is off. */
  payload: string | undefined;
  bodyBytes: number;
  /** '1.1' or '2.0' */
  httpVersion: string;
  /** ms since epoch */
  at: number;
}

/** Every request and how it was answered (accepted or not), in arrival order. */
export interface AnsweredRequest {
  subscriptionId: string | undefined;
  status: number | 'stalled' | 'reset';
  reason: string;
  at: number;
}

/**
 * A body that never finishes: `trickleMs` sends one byte that often (no Content-Length), `endless`
 * sends as fast as the client reads. Either stops only when the client goes away.
 */
export type SlowBody = { trickleMs: number } | { endless: true };

export type Behaviour =
  | { status: 201 | 404 | 410 | 413 | 429 | 500 | 502 | 503 | 400 | 401 | 403; retryAfter?: string; body?: string | SlowBody }
  /** Reads the request and never answers. */
  | { stall: true }
  /** Reads the request and drops the connection without an answer. */
  | { reset: true };

export type BehaviourRule = Behaviour & {
  /** Only for these subscription ids (all when omitted). */
  subscriptions?: string[];
  /** Only for the next N matching requests (every one when omitted). */
  first?: number;
};

export interface PushServiceOptions {
  /** Serve HTTPS with a self-signed certificate made at start (see testCertificate()). */
  tls?: boolean;
  /** With tls: offer HTTP/2 by ALPN (HTTP/1.1 stays available), as FCM does. */
  http2?: boolean;
  /** Decrypt each body and fail the request when that is impossible (default true). */
  decrypt?: boolean;
  /** Keep `received` and `answers` (default true); the benchmark turns it off and reads counts. */
  record?: boolean;
  /**
   * Check VAPID on every request (default true). The benchmark turns it off so the stand-in,
   * sharing the CPU, costs both senders the same (web-push signs a new JWT per message).
   */
  verify?: boolean;
  /** Clock for the exp checks (ms since epoch). */
  now?: () => number;
  /**
   * How a push signed with a key other than the subscription's is refused: 'plain' (default), a
   * 403 with a sentence; 'mozilla', a 403 whose JSON body names VapidPkHashMismatch, as autopush does.
   */
  keyMismatch?: 'plain' | 'mozilla';
}

export interface PushService {
  origin: string;
  url: string;
  /** PEM of the certificate when tls is on, for the sender's `ca` option. */
  ca: string | undefined;
  createSubscription(applicationServerKey: string): ServiceSubscription;
  /** Many at once; `shareKeys` reuses one key pair for all (fast, for benchmarks: encryption costs the same). */
  createSubscriptions(count: number, applicationServerKey: string, options?: { shareKeys?: boolean }): ServiceSubscription[];
  /** Forget a subscription: later pushes to it are answered 410, as after an unsubscribe. */
  removeSubscription(id: string): void;
  received: ReceivedPush[];
  answers: AnsweredRequest[];
  /** Requests seen so far (including rejected and stalled ones). */
  readonly requestCount: number;
  /** Distinct subscriptions those requests were for: equal to requestCount when none was pushed twice. */
  readonly distinctSubscriptions: number;
  /** Count of answers by status ('stalled' included), kept even when record is off. */
  statusCounts: Record<string, number>;
  /** TCP connections accepted so far (keep-alive reuse shows here). */
  readonly connections: number;
  /** Connections open right now. */
  readonly openConnections: number;
  /**
   * Closes every open connection as a server whose idle timeout ran out does (TLS close_notify,
   * then FIN); resolves once each client has closed its side too, so it knows they are gone.
   */
  endConnections(): Promise<void>;
  /** Most requests ever in flight at once. */
  readonly peakInFlight: number;
  /** When the first and the latest request arrived (ms since epoch; 0 before any). */
  readonly firstRequestAt: number;
  readonly lastRequestAt: number;
  /** Forget counts and timestamps (between benchmark runs). */
  resetCounts(): void;
  behave(rule: BehaviourRule): void;
  clearBehaviour(): void;
  close(): Promise<void>;
}

interface Subscriber extends ServiceSubscription {
  ecdh: crypto.ECDH;
  uaPublic: Buffer;
  authSecret: Buffer;
  appKeyBytes: Buffer;
}

export async function startPushService(options: PushServiceOptions = {}): Promise<PushService> {
  const decrypt = options.decrypt ?? true;
  const record = options.record ?? true;
  const verify = options.verify ?? true;
  const now = options.now ?? Date.now;
  const subscribers = new Map<string, Subscriber>();
  const removed = new Set<string>();
  const rules: Array<BehaviourRule & { remaining: number }> = [];
  // Signature checks cost more than everything else here; a JWT verified once stays verified
  // (its claims are still checked against the clock and the endpoint on every request).
  const verifiedTokens = new Map<string, JwtClaims>();
  const certificate = options.tls ? testCertificate() : undefined;
  let requestCount = 0;
  const pushedTo = new Set<string>();
  let connections = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  let firstRequestAt = 0;
  let lastRequestAt = 0;

  const service: PushService = {
    origin: '',
    url: '',
    ca: certificate?.cert,
    received: [],
    answers: [],
    statusCounts: {},
    get requestCount() {
      return requestCount;
    },
    get distinctSubscriptions() {
      return pushedTo.size;
    },
    get connections() {
      return connections;
    },
    get openConnections() {
      return sockets.size;
    },
    async endConnections() {
      await Promise.all(
        [...sockets].map(
          (socket) =>
            new Promise<void>((resolve) => {
              socket.once('close', () => resolve());
              socket.end();
            }),
        ),
      );
    },
    get peakInFlight() {
      return peakInFlight;
    },
    get firstRequestAt() {
      return firstRequestAt;
    },
    get lastRequestAt() {
      return lastRequestAt;
    },
    resetCounts() {
      requestCount = connections = peakInFlight = firstRequestAt = lastRequestAt = 0;
      pushedTo.clear();
      service.statusCounts = {};
      service.received.length = 0;
      service.answers.length = 0;
    },
    createSubscription(applicationServerKey) {
      return addSubscriber(applicationServerKey, newKeyPair());
    },
    createSubscriptions(count, applicationServerKey, { shareKeys = false } = {}) {
      const shared = shareKeys ? newKeyPair() : undefined;
      return Array.from({ length: count }, () => addSubscriber(applicationServerKey, shared ?? newKeyPair()));
    },
    removeSubscription(id) {
      subscribers.delete(id);
      removed.add(id);
    },
    behave(rule) {
      rules.push({ ...rule, remaining: rule.first ?? Infinity });
    },
    clearBehaviour() {
      rules.length = 0;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };

  function newKeyPair(): { ecdh: crypto.ECDH; uaPublic: Buffer; authSecret: Buffer } {
    const ecdh = crypto.createECDH('prime256v1');
    const uaPublic = ecdh.generateKeys();
    return { ecdh, uaPublic, authSecret: crypto.randomBytes(16) };
  }

  function addSubscriber(applicationServerKey: string, keys: { ecdh: crypto.ECDH; uaPublic: Buffer; authSecret: Buffer }): ServiceSubscription {
    const appKeyBytes = Buffer.from(applicationServerKey, 'base64url');
    if (appKeyBytes.length !== 65 || appKeyBytes[0] !== 4) throw new Error('applicationServerKey must be a 65-byte uncompressed P-256 point (base64url)');
    const id = crypto.randomBytes(12).toString('base64url');
    const subscriber: Subscriber = {
      id,
      endpoint: `${service.origin}/push/${id}`,
      keys: { p256dh: keys.uaPublic.toString('base64url'), auth: keys.authSecret.toString('base64url') },
      applicationServerKey,
      ...keys,
      appKeyBytes,
    };
    subscribers.set(id, subscriber);
    return { id, endpoint: subscriber.endpoint, keys: subscriber.keys, applicationServerKey };
  }

  function answer(response: http.ServerResponse, subscriptionId: string | undefined, status: number, reason: string, headers: Record<string, string> = {}, body: string | SlowBody = reason): void {
    service.statusCounts[status] = (service.statusCounts[status] ?? 0) + 1;
    if (record) service.answers.push({ subscriptionId, status, reason, at: now() });
    response.writeHead(status, { 'content-type': 'text/plain', ...headers });
    if (typeof body === 'string') response.end(body);
    else sendSlowBody(response, body);
  }

  function noAnswer(subscriptionId: string, status: 'stalled' | 'reset', reason: string): void {
    service.statusCounts[status] = (service.statusCounts[status] ?? 0) + 1;
    if (record) service.answers.push({ subscriptionId, status, reason, at: now() });
  }

  function matchingRule(subscriptionId: string | undefined): Behaviour | undefined {
    for (const rule of rules) {
      if (rule.remaining <= 0) continue;
      if (rule.subscriptions && (!subscriptionId || !rule.subscriptions.includes(subscriptionId))) continue;
      rule.remaining -= 1;
      return rule;
    }
    return undefined;
  }

  function handle(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer, bodyBytes: number): void {
    requestCount += 1;
    lastRequestAt = Date.now();
    if (!firstRequestAt) firstRequestAt = lastRequestAt;
    const match = /^\/push\/([A-Za-z0-9_-]+)$/.exec(request.url ?? '');
    const id = match?.[1];
    if (request.method !== 'POST' || !id) return answer(response, undefined, 404, 'no such endpoint');
    pushedTo.add(id);

    const rule = matchingRule(id);
    if (rule && 'stall' in rule) {
      // Left open: close() ends it with its connection.
      return noAnswer(id, 'stalled', 'told to stall');
    }
    if (rule && 'reset' in rule) {
      noAnswer(id, 'reset', 'told to reset');
      request.socket.destroy();
      return;
    }
    if (rule) {
      return answer(response, id, rule.status, `told to answer ${rule.status}`, rule.retryAfter !== undefined ? { 'retry-after': rule.retryAfter } : {}, rule.body);
    }

    const subscriber = subscribers.get(id);
    if (!subscriber) return answer(response, id, removed.has(id) ? 410 : 404, 'no such subscription');

    const authorization = headerValue(request.headers.authorization);
    const cacheKey = `${authorization}\n${subscriber.applicationServerKey}`;
    let claims = verify ? verifiedTokens.get(cacheKey) : UNVERIFIED;
    if (!claims) {
      const verdict = verifyVapidToken(authorization, subscriber.appKeyBytes);
      if (!verdict.ok && verdict.mismatch && options.keyMismatch === 'mozilla') {
        const body = JSON.stringify({ code: 403, errno: 109, error: 'Forbidden', message: 'VapidPkHashMismatch: the VAPID key does not match the one the subscription was made with' });
        return answer(response, id, 403, 'VapidPkHashMismatch', { 'content-type': 'application/json' }, body);
      }
      if (!verdict.ok) return answer(response, id, verdict.status, verdict.reason);
      claims = verdict.claims;
      if (verifiedTokens.size > 10_000) verifiedTokens.clear();
      verifiedTokens.set(cacheKey, claims);
    }
    const claimProblem = verify ? checkClaims(claims, subscriber.endpoint, now()) : undefined;
    if (claimProblem) return answer(response, id, 401, claimProblem);

    const ttl = headerValue(request.headers.ttl);
    if (ttl === undefined || !/^\d+$/.test(ttl.trim())) return answer(response, id, 400, 'TTL header missing or not a non-negative integer');
    const contentEncoding = headerValue(request.headers['content-encoding']);
    if (contentEncoding !== 'aes128gcm') return answer(response, id, 415, `Content-Encoding must be aes128gcm, got ${contentEncoding ?? 'none'}`);
    if (bodyBytes > MAX_BODY_BYTES) return answer(response, id, 413, `body is ${bodyBytes} bytes; the limit is ${MAX_BODY_BYTES}`);

    let payload: string | undefined;
    if (decrypt) {
      try {
        payload = decryptAes128gcm(body, subscriber.ecdh, subscriber.uaPublic, subscriber.authSecret).toString('utf8');
      } catch (error) {
        return answer(response, id, 400, `cannot decrypt: ${(error as Error).message}`);
      }
    }
    if (record) {
      service.received.push({
        subscriptionId: id,
        headers: {
          ttl,
          urgency: headerValue(request.headers.urgency),
          topic: headerValue(request.headers.topic),
          contentEncoding,
          authorization,
        },
        claims,
        payload,
        bodyBytes,
        httpVersion: request.httpVersion,
        at: now(),
      });
    }
    answer(response, id, 201, '', { location: `${service.origin}/message/${crypto.randomBytes(6).toString('hex')}` });
  }

  const listener = (request: http.IncomingMessage, response: http.ServerResponse) => {
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    response.on('close', () => (inFlight -= 1));
    const chunks: Buffer[] = [];
    let bodyBytes = 0;
    request.on('data', (chunk: Buffer) => {
      // Keep just past the limit: enough to know a body is too big without holding all of it.
      if (bodyBytes <= MAX_BODY_BYTES) chunks.push(chunk);
      bodyBytes += chunk.length;
    });
    request.on('end', () => handle(request, response, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), bodyBytes));
  };
  // The HTTP/2 compatibility API hands the listener objects shaped like http's.
  const server = !certificate
    ? http.createServer(listener)
    : options.http2
      ? http2.createSecureServer({ key: certificate.key, cert: certificate.cert, allowHTTP1: true }, listener as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
      : https.createServer({ key: certificate.key, cert: certificate.cert }, listener);
  const sockets = new Set<Socket>();
  server.on(certificate ? 'secureConnection' : 'connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Senders keep connections open across a whole fan-out.
  if ('keepAliveTimeout' in server) server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  service.origin = `${certificate ? 'https' : 'http'}://127.0.0.1:${port}`;
  service.url = `${service.origin}/`;
  return service;
}

/** Writes a body that never ends, until the client goes away (or close() drops the connection). */
function sendSlowBody(response: http.ServerResponse, body: SlowBody): void {
  response.flushHeaders();
  if ('trickleMs' in body) {
    const timer = setInterval(() => response.write('.'), body.trickleMs);
    response.on('close', () => clearInterval(timer));
    return;
  }
  const chunk = Buffer.alloc(16 * 1024, 'x');
  // Write until the socket's buffer is full, then again on drain.
  const pump = () => {
    let room = true;
    while (room && !response.destroyed) room = response.write(chunk);
  };
  response.on('drain', pump);
  pump();
}

// ---------------------------------------------------------------------------------------------
// VAPID (RFC 8292)

export interface JwtClaims {
  aud: string;
  exp: number;
  sub: string;
}

const UNVERIFIED: JwtClaims = { aud: '', exp: 0, sub: '' };

export type VapidVerdict =
  | { ok: true; claims: JwtClaims; publicKey: string }
  | { ok: false; status: 401 | 403; reason: string; mismatch?: boolean };

/**
 * Checks a push request's `Authorization: vapid t=<JWT>, k=<key>` the way a push service does:
 * `k` is the key the subscription was created with, the ES256 signature verifies under it, aud is
 * the endpoint's origin, exp is in the future and at most 24 h away, sub is mailto: or https:.
 */
export function verifyVapidRequest(
  headers: Record<string, string | string[] | undefined>,
  endpointUrl: string,
  applicationServerKey: string,
  now = Date.now(),
): VapidVerdict {
  const verdict = verifyVapidToken(headerValue(headers.authorization ?? headers.Authorization), Buffer.from(applicationServerKey, 'base64url'));
  if (!verdict.ok) return verdict;
  const problem = checkClaims(verdict.claims, endpointUrl, now);
  return problem ? { ok: false, status: 401, reason: problem } : verdict;
}

function verifyVapidToken(authorization: string | undefined, applicationServerKey: Buffer): VapidVerdict {
  if (!authorization) return { ok: false, status: 401, reason: 'no Authorization header' };
  const scheme = /^vapid\s+(.*)$/i.exec(authorization.trim());
  if (!scheme) return { ok: false, status: 401, reason: 'Authorization scheme is not "vapid"' };
  const params = new Map<string, string>();
  for (const part of scheme[1]!.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const token = params.get('t');
  const key = params.get('k');
  if (!token || !key) return { ok: false, status: 401, reason: 'Authorization needs t=<JWT> and k=<public key>' };
  const keyBytes = Buffer.from(key, 'base64url');
  if (!keyBytes.equals(applicationServerKey)) {
    return { ok: false, status: 403, reason: 'k is not the applicationServerKey this subscription was created with', mismatch: true };
  }

  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, status: 401, reason: 'JWT must have three parts' };
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  let header: { alg?: unknown; typ?: unknown };
  let claims: Partial<JwtClaims>;
  try {
    header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString('utf8')) as Partial<JwtClaims>;
  } catch {
    return { ok: false, status: 401, reason: 'JWT header or claims are not JSON' };
  }
  if (header.alg !== 'ES256') return { ok: false, status: 401, reason: `JWT alg must be ES256, got ${String(header.alg)}` };
  const signature = Buffer.from(signaturePart, 'base64url');
  if (signature.length !== 64) return { ok: false, status: 401, reason: 'ES256 signature must be 64 bytes (r||s)' };
  let publicKey: crypto.KeyObject;
  try {
    publicKey = crypto.createPublicKey({
      format: 'jwk',
      key: { kty: 'EC', crv: 'P-256', x: keyBytes.subarray(1, 33).toString('base64url'), y: keyBytes.subarray(33, 65).toString('base64url') },
    });
  } catch {
    return { ok: false, status: 401, reason: 'k is not a P-256 public key' };
  }
  const valid = crypto.verify('sha256', Buffer.from(`${headerPart}.${claimsPart}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  if (!valid) return { ok: false, status: 401, reason: 'JWT signature does not verify under k' };
  if (typeof claims.aud !== 'string' || typeof claims.exp !== 'number' || typeof claims.sub !== 'string') {
    return { ok: false, status: 401, reason: 'JWT needs aud (string), exp (number) and sub (string)' };
  }
  return { ok: true, claims: { aud: claims.aud, exp: claims.exp, sub: claims.sub }, publicKey: key };
}

/** The claim rules that depend on the endpoint and the clock; undefined when they hold. */
function checkClaims(claims: JwtClaims, endpointUrl: string, nowMs: number): string | undefined {
  const origin = new URL(endpointUrl).origin;
  if (claims.aud !== origin) return `JWT aud is ${claims.aud}, must be the endpoint origin ${origin}`;
  const nowSeconds = nowMs / 1000;
  if (claims.exp <= nowSeconds) return 'JWT has expired';
  if (claims.exp > nowSeconds + MAX_JWT_LIFETIME_SECONDS) return 'JWT exp is more than 24 hours away';
  if (!/^(mailto:|https:)/.test(claims.sub)) return 'JWT sub must be a mailto: or https: URL';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// RFC 8291 (Message Encryption for Web Push) over RFC 8188 (aes128gcm), receiving side

/** Decrypts a one-record aes128gcm push body for the user agent holding `ecdh` and `authSecret`. */
export function decryptAes128gcm(body: Buffer, ecdh: crypto.ECDH, uaPublic: Buffer, authSecret: Buffer): Buffer {
  if (body.length < 21) throw new Error('body shorter than the aes128gcm header');
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20]!;
  if (idLength !== 65) throw new Error(`keyid must be the sender's 65-byte public key, got ${idLength} bytes`);
  const asPublic = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  if (record.length > recordSize) throw new Error(`more than one record (${record.length} bytes > rs ${recordSize})`);
  if (record.length < 17) throw new Error('record shorter than a tag and a delimiter');

  const ecdhSecret = ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));

  const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  let padded: Buffer;
  try {
    padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  } catch {
    throw new Error('authentication tag does not verify (wrong keys or corrupted body)');
  }
  // Padding: the last record ends with a 0x02 delimiter followed by zero or more zero bytes.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (end < 0 || padded[end] !== 2) throw new Error('last record lacks the 0x02 padding delimiter');
  return padded.subarray(0, end);
}

// ---------------------------------------------------------------------------------------------
// TLS

let certificate: { key: string; cert: string; certFile: string } | undefined;

/**
 * A self-signed P-256 certificate for 127.0.0.1 and localhost, made once per process with the
 * openssl binary (node:crypto cannot make X.509). `certFile` suits NODE_EXTRA_CA_CERTS.
 */
export function testCertificate(): { key: string; cert: string; certFile: string } {
  if (certificate) return certificate;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushctl-cert-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
        '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      { stdio: 'pipe' },
    );
  } catch (error) {
    throw new Error(`the TLS push-service stand-in needs the openssl binary to make a test certificate: ${(error as Error).message}`);
  }
  certificate = { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile };
  return certificate;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
