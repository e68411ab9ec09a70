/**
 * Configuration constants both the loader (config.ts) and the schema (config-schema.ts) need:
 * where the file is searched for, the defaults, what an origin looks like. No dependencies, so
 * the loader can use them without loading the schema library.
 */
import { ADMIN_TOKEN_MIN_LENGTH as ADMIN_TOKEN_MIN, type PayloadFormat } from './limits.js';

export const CONFIG_MODULE = 'pushctl';
export const CONFIG_SEARCH_PLACES = [
  'package.json',
  'push.config.json',
  '.pushctlrc',
  '.pushctlrc.json',
  '.pushctlrc.yaml',
  '.pushctlrc.yml',
  'pushctl.config.js',
  'pushctl.config.mjs',
];

export const DEFAULTS = {
  database: 'pushctl.db',
  defaultTtl: 86_400,
  concurrency: 50,
  timeoutSeconds: 30,
  maxAttempts: 5,
  retryDelaySeconds: 1,
  payloadFormat: 'classic' as PayloadFormat,
  tracking: true,
  trackClicks: false,
  host: '127.0.0.1',
  port: 8080,
  rateLimit: { windowSeconds: 60, max: 60 },
};

// Scheme and host only: a wildcard may stand for the leftmost labels; IPv6 hosts in brackets.
export const originPattern = /^https?:\/\/((\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
export const originMessage = 'must be an origin like "https://push.example.net", "https://*.example.net" or "http://127.0.0.1:8090"';

/**
 * Why a token could never authenticate, or undefined when it can: a client sends it in an HTTP
 * header, so whitespace (often a secret file's trailing newline), control or non-ASCII characters
 * would be lost or mangled on the way, and the admin API would answer 401 for ever. Both the
 * environment check (config.ts) and the file schema (config-schema.ts) ask here.
 */
export function adminTokenProblem(token: string): string | undefined {
  if (token.length < ADMIN_TOKEN_MIN) return `must be at least ${ADMIN_TOKEN_MIN} characters (it has ${token.length})`;
  const bad = /[^\x21-\x7e]/.exec(token);
  if (bad) {
    const code = bad[0].codePointAt(0)!;
    const what = /\s/.test(bad[0]) ? 'whitespace' : code < 0x20 || (code >= 0x7f && code <= 0x9f) ? 'a control character' : 'a non-ASCII character';
    const where = bad.index === token.length - 1 && /[\r\n]/.test(bad[0]) ? ' (a trailing newline, as from a secret file?)' : '';
    return `contains ${what} (U+${code.toString(16).toUpperCase().padStart(4, '0')} at position ${bad.index + 1})${where}: use only visible ASCII characters, at least ${ADMIN_TOKEN_MIN} of them`;
  }
  return undefined;
}

/**
 * Which backend a `database` setting names: a postgres:// or postgresql:// URL is PostgreSQL,
 * anything else a SQLite file. Here, not in the store, so configuration can ask without loading
 * a driver (and without importing the store at all).
 */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location.trim());
}
