/**
 * The admin API's bearer token. Without a configured token the admin API does not exist (404, as
 * for any unknown path); a missing or wrong token gets 401. The comparison hashes both sides first,
 * so it takes the same time whatever the length or content of the guess.
 */
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError, routeNotFound } from './http-error.js';

export class AdminAuth {
  private readonly digest: Buffer | undefined;

  constructor(token: string | undefined) {
    this.digest = token ? sha256(token) : undefined;
  }

  get enabled(): boolean {
    return this.digest !== undefined;
  }

  /** Throws the 404 or 401 the request deserves; returns when the token is right. */
  check(req: IncomingMessage): void {
    if (!this.digest) throw routeNotFound();
    const header = req.headers.authorization ?? '';
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    const given = sha256(match?.[1] ?? '');
    const ok = crypto.timingSafeEqual(given, this.digest) && match !== null;
    if (!ok) {
      throw new HttpError('unauthorized', header ? 'the admin token is wrong' : 'send the admin token as "Authorization: Bearer <serve.adminToken>"', {
        'www-authenticate': 'Bearer realm="pushctl admin"',
      });
    }
  }
}

function sha256(text: string): Buffer {
  return crypto.createHash('sha256').update(text, 'utf8').digest();
}
