/**
 * A stand-in for Mozilla's push service (autopush), enough for a real Firefox to subscribe and
 * receive pushes with no internet: Firefox's push client speaks WebSocket (subprotocol
 * "push-notification") to the URL in its `dom.push.serverURL` pref; pushctl POSTs encrypted
 * messages to the endpoint URLs this server hands out, and they travel down the WebSocket to the
 * browser, which decrypts them and wakes the service worker.
 *
 * Like a real push service, the HTTP side verifies the VAPID header against the key the channel
 * was registered with (verifyVapidRequest from push-service.ts) and answers 410 for channels the
 * browser unregistered. See ../../../shared/ARCHITECTURE.md, "A real browser, offline".
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyVapidRequest } from './push-service.js';

export interface Channel {
  channelID: string;
  /** The applicationServerKey (base64url) the page subscribed with. */
  key: string;
  endpoint: string;
  unregistered: boolean;
}

export interface ForwardedPush {
  channelID: string;
  version: string;
  /** The encrypted body as received (base64url), as Firefox gets it. */
  data: string;
  headers: Record<string, string | undefined>;
}

export interface PushAnswer {
  channelID: string;
  status: number;
  reason: string;
}

export interface Ack {
  channelID: string;
  version: string;
  /** 100 delivered, 101 decryption failed, 102 other error. */
  code: number;
}

export interface FirefoxPushService {
  /** For dom.push.serverURL. */
  wsUrl: string;
  /** Origin of the push endpoints (list it in push.endpointOrigins). */
  origin: string;
  channels: Map<string, Channel>;
  forwarded: ForwardedPush[];
  answers: PushAnswer[];
  acks: Ack[];
  /** Resolves when Firefox's push client has said hello (subscribe() before that is lost). */
  waitForHello(timeoutMs?: number): Promise<void>;
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs?: number): Promise<T>;
  /**
   * Drops the browser's connection and answers its next hello with a new UAID, as a push service
   * that lost its records would: Firefox drops every subscription and fires pushsubscriptionchange.
   */
  resetUaid(): void;
  close(): Promise<void>;
}

export async function startFirefoxPushService(): Promise<FirefoxPushService> {
  const channels = new Map<string, Channel>();
  const forwarded: ForwardedPush[] = [];
  const answers: PushAnswer[] = [];
  const acks: Ack[] = [];
  let socket: WebSocket | undefined;
  let helloSeen = false;
  let newUaidNext = false;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };

  const server = http.createServer((req, res) => {
    const match = /^\/push\/([A-Za-z0-9-]+)$/.exec(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, reason: string) => {
        const channelID = match?.[1] ?? '';
        answers.push({ channelID, status, reason });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: status, message: reason }));
        changed();
      };
      if (req.method !== 'POST' || !match) return answer(404, 'no such endpoint');
      const channel = channels.get(match[1]!);
      if (!channel || channel.unregistered) return answer(410, 'subscription is gone');
      const verdict = verifyVapidRequest(req.headers, channel.endpoint, channel.key);
      if (!verdict.ok) return answer(verdict.status, verdict.reason);
      if (req.headers['content-encoding'] !== 'aes128gcm') return answer(400, 'Content-Encoding must be aes128gcm');
      if (req.headers.ttl === undefined) return answer(400, 'TTL header is missing');
      const body = Buffer.concat(chunks);
      if (body.length > 4096) return answer(413, 'body larger than 4096 bytes');
      if (!socket) return answer(503, 'the browser is not connected');
      const push: ForwardedPush = {
        channelID: channel.channelID,
        version: crypto.randomUUID(),
        data: body.toString('base64url'),
        headers: { encoding: 'aes128gcm' },
      };
      forwarded.push(push);
      socket.send(JSON.stringify({ messageType: 'notification', ...push }));
      answer(201, 'accepted');
    });
  });

  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('push-notification') ? 'push-notification' : false),
  });
  wss.on('connection', (ws) => {
    socket = ws;
    ws.on('close', () => {
      if (socket === ws) socket = undefined;
    });
    ws.on('message', (raw) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(raw.toString()) as Record<string, unknown>;
      } catch {
        return;
      }
      const reply = (value: unknown) => ws.send(JSON.stringify(value));
      switch (message.messageType) {
        case 'hello': {
          helloSeen = true;
          const known = typeof message.uaid === 'string' && message.uaid && !newUaidNext ? message.uaid : undefined;
          newUaidNext = false;
          reply({ messageType: 'hello', uaid: known ?? crypto.randomBytes(16).toString('hex'), status: 200, use_webpush: true, broadcasts: {} });
          break;
        }
        case 'register': {
          const channelID = String(message.channelID);
          const endpoint = `${service.origin}/push/${channelID}`;
          // Firefox sends the key as padded base64url; keep the canonical unpadded form.
          const key = Buffer.from(String(message.key ?? ''), 'base64url').toString('base64url');
          channels.set(channelID, { channelID, key, endpoint, unregistered: false });
          reply({ messageType: 'register', channelID, status: 200, pushEndpoint: endpoint });
          break;
        }
        case 'unregister': {
          const channelID = String(message.channelID);
          const channel = channels.get(channelID);
          if (channel) channel.unregistered = true;
          reply({ messageType: 'unregister', channelID, status: 200 });
          break;
        }
        case 'ack':
          for (const update of (message.updates as { channelID: string; version: string; code?: number }[] | undefined) ?? []) {
            acks.push({ channelID: update.channelID, version: update.version, code: update.code ?? 100 });
          }
          break;
        case 'nack':
          for (const key of ['version']) if (typeof message[key] === 'string') acks.push({ channelID: '', version: message[key] as string, code: Number(message.code ?? 102) });
          break;
        case 'broadcast_subscribe':
          break;
        default:
          if (Object.keys(message).length === 0) reply({});
      }
      changed();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const service: FirefoxPushService = {
    wsUrl: `ws://127.0.0.1:${port}/`,
    origin: `http://127.0.0.1:${port}`,
    channels,
    forwarded,
    answers,
    acks,
    waitForHello(timeoutMs = 90_000) {
      return service.waitFor('the browser\'s push client to say hello', () => (helloSeen ? true : undefined), timeoutMs).then(() => undefined);
    },
    waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 90_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const attempt = () => {
          const value = check();
          if (value === undefined) return false;
          listeners.delete(attempt);
          clearTimeout(timer);
          resolve(value);
          return true;
        };
        const timer = setTimeout(() => {
          listeners.delete(attempt);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        if (!attempt()) listeners.add(attempt);
      });
    },
    resetUaid() {
      newUaidNext = true;
      for (const client of wss.clients) client.terminate();
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return service;
}
