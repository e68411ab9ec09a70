/**
 * Request bodies: JSON only (Content-Type application/json, UTF-8), at most 8 KiB, an object at
 * the top level. Oversized bodies are refused from Content-Length before reading, or as soon as
 * the running total passes the limit, so a client cannot make the server buffer more.
 */
import type { IncomingMessage } from 'node:http';
import { badRequest, HttpError } from './http-error.js';

export const MAX_BODY_BYTES = 8 * 1024;

export type JsonObject = Record<string, unknown>;

export function assertJsonContentType(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  const [type, ...params] = (header ?? '').split(';').map((part) => part.trim().toLowerCase());
  if (type !== 'application/json') {
    throw new HttpError('unsupported_media_type', `send the body as JSON with "Content-Type: application/json"${header ? ` (got "${truncate(header, 60)}")` : ''}`);
  }
  for (const param of params) {
    const [name, value] = param.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8') {
      throw new HttpError('unsupported_media_type', `JSON bodies must be UTF-8 (got charset=${truncate(value ?? '', 20)})`);
    }
  }
}

export async function readJsonObject(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<JsonObject> {
  assertJsonContentType(req);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const raw = await readLimited(req, limit);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw badRequest('the body is not valid UTF-8');
  }
  if (!text.trim()) throw badRequest('the body is empty; send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest(`the body is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest('the body must be a JSON object');
  }
  return value as JsonObject;
}

function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Node drains (and discards) the rest once the response ends; the 413 closes the connection.
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new HttpError('invalid_request', `the request body could not be read: ${error.message}`));
    };
    const onAborted = () => onError(new Error('client aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function tooLarge(limit: number): HttpError {
  return new HttpError('payload_too_large', `the body is larger than ${limit} bytes`, { connection: 'close' });
}

function truncate(text: string, max: number): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? clean.slice(0, max) + '...' : clean;
}

/**
 * Rejects fields the endpoint does not know, naming the first one: a typo must not be silently
 * ignored (a misspelled "send_at" would otherwise send at once).
 */
export function assertKnownFields(body: JsonObject, allowed: readonly string[], where = ''): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      const name = where ? `${where}.${key}` : key;
      throw badRequest(`unknown field (allowed${where ? ` in ${where}` : ''}: ${allowed.join(', ')})`, truncate(name, 60));
    }
  }
}
