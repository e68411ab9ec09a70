/**
 * VAPID key operations. Keys live in the store; PUSHCTL_VAPID_PUBLIC_KEY/PRIVATE_KEY may supply
 * them from a secret store instead, in which case the database keeps only the public half.
 * A subscription remembers the key it was made under: browsers accept pushes only under that key,
 * so replacing the active key keeps the old one for the subscriptions that need it.
 */
import { fail, type PushctlError } from '../errors.js';
import type { VapidKeyRow } from '../store/store.js';
import type { Context } from './context.js';
import { assertKeyPairMatches, generateKeyPair, keyPairFromPem, paddedPrivateKey, validateSubject, type VapidKeyPair } from './vapid-keys.js';

/** Used when no subject is configured yet, so a fresh install works; `keys show` warns about it. */
export const PLACEHOLDER_SUBJECT = 'mailto:webpush@example.com';

export interface KeyInfo {
  id: number;
  publicKey: string;
  /** The subject pushes are signed with: the configured one if any, else the one stored with the key. */
  subject: string;
  /** The subject stored with the key (what --subject set); differs from `subject` when configuration overrides it. */
  storedSubject: string;
  createdAt: string;
  subscriptions: number;
  source: 'database' | 'environment';
  placeholderSubject: boolean;
}

export interface SigningKey {
  id: number;
  publicKey: string;
  privateKey: string;
  subject: string;
}

export async function generateKeys(ctx: Context, options: { subject?: string | undefined; force?: boolean }): Promise<KeyInfo> {
  rejectWhenKeysFromEnvironment(ctx);
  const subject = resolveSubject(ctx, options.subject);
  const row = await storeActiveKey(ctx, { ...generateKeyPair(), subject, createdAt: ctx.now() }, Boolean(options.force));
  return describe(ctx, row, 'database');
}

/** The active key, created on first use when `create` is set (the server in an empty directory). */
export async function ensureActiveKey(ctx: Context, create: boolean): Promise<{ key: KeyInfo; created: boolean }> {
  const env = await environmentKey(ctx);
  if (env) return { key: await describe(ctx, env, 'environment'), created: false };
  const row = await ctx.store.activeKey();
  if (row) return { key: await describe(ctx, row, 'database'), created: false };
  if (!create) throw noKeys();
  return { key: await generateKeys(ctx, {}), created: true };
}

export async function showKeys(ctx: Context): Promise<KeyInfo> {
  const env = await environmentKey(ctx);
  if (env) return describe(ctx, env, 'environment');
  const row = await ctx.store.activeKey();
  if (!row) throw noKeys();
  return describe(ctx, row, 'database');
}

/** Older keys kept for the subscriptions created under them. */
export async function retiredKeys(ctx: Context): Promise<KeyInfo[]> {
  const rows = (await ctx.store.allKeys()).filter((row) => row.active !== 1);
  return Promise.all(rows.map((row) => describe(ctx, row, 'database')));
}

export async function exportKeys(ctx: Context, options: { includePrivate: boolean }): Promise<{ publicKey: string; privateKey?: string; subject: string }> {
  const key = await activeSigningKey(ctx);
  return options.includePrivate
    ? { publicKey: key.publicKey, privateKey: key.privateKey, subject: key.subject }
    : { publicKey: key.publicKey, subject: key.subject };
}

export interface KeyFile {
  pair: VapidKeyPair;
  subject?: string;
}

/**
 * Reads a key pair from the JSON `web-push generate-vapid-keys --json` prints, pushctl's own
 * export, or a PEM private key, checking that the halves match. `source` names the file in errors.
 * Separate from importKeys so a bad file is refused before the store is opened (or created).
 */
export function parseKeyFile(text: string, source: string): KeyFile {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return { pair: keyPairFromPem(trimmed, source) };
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    throw fail('invalid_input', 'neither JSON ({"publicKey","privateKey"}) nor a PEM private key', { at: source, details: { file: source } });
  }
  if (!json || typeof json !== 'object') throw fail('invalid_input', 'expected a JSON object with publicKey and privateKey', { at: source, details: { file: source } });
  const record = json as Record<string, unknown>;
  for (const field of ['publicKey', 'privateKey']) {
    if (typeof record[field] !== 'string' || record[field] === '') {
      throw fail('invalid_input', `field "${field}" is missing`, { at: source, details: { file: source, field } });
    }
  }
  const pair = { publicKey: normalizeB64(record.publicKey as string), privateKey: normalizeB64(record.privateKey as string) };
  assertKeyPairMatches(pair, source);
  pair.privateKey = paddedPrivateKey(pair.privateKey);
  const subject = typeof record.subject === 'string' ? record.subject : undefined;
  return subject ? { pair, subject } : { pair };
}

/** Stores an imported key pair as the active key (the same pair again is a no-op; another needs `force`). */
export async function importKeys(ctx: Context, file: KeyFile, options: { subject?: string | undefined; force?: boolean }): Promise<KeyInfo> {
  rejectWhenKeysFromEnvironment(ctx);
  const subject = resolveSubject(ctx, options.subject ?? file.subject);
  const row = await storeActiveKey(ctx, { ...file.pair, subject, createdAt: ctx.now() }, Boolean(options.force));
  return describe(ctx, row, 'database');
}

/** The key new subscriptions are made under, with its private half, for signing. */
export async function activeSigningKey(ctx: Context): Promise<SigningKey> {
  const env = await environmentKey(ctx);
  if (env) return { id: env.id, publicKey: env.public_key, privateKey: paddedPrivateKey(ctx.config.vapid.privateKey!), subject: subjectFor(ctx, env.subject) };
  const row = await ctx.store.activeKey();
  if (!row) throw noKeys();
  return signingKeyFromRow(ctx, row);
}

/** The key a given subscription was made under (its key_id), for signing pushes to it. */
export async function signingKeyById(ctx: Context, id: number): Promise<SigningKey> {
  const row = await ctx.store.keyById(id);
  if (!row) throw fail('key_not_found', `VAPID key ${id} is not in the store`, { details: { id } });
  return signingKeyFromRow(ctx, row);
}

function signingKeyFromRow(ctx: Context, row: VapidKeyRow): SigningKey {
  if (row.private_key) return { id: row.id, publicKey: row.public_key, privateKey: row.private_key, subject: subjectFor(ctx, row.subject) };
  if (ctx.config.vapid.publicKey === row.public_key && ctx.config.vapid.privateKey) {
    return { id: row.id, publicKey: row.public_key, privateKey: paddedPrivateKey(ctx.config.vapid.privateKey), subject: subjectFor(ctx, row.subject) };
  }
  throw fail('keys_external', `VAPID key ${row.public_key.slice(0, 12)}... is kept outside the database: set PUSHCTL_VAPID_PUBLIC_KEY and PUSHCTL_VAPID_PRIVATE_KEY to it`);
}

/** Keys from the environment are recorded (public half only) so subscriptions can refer to them. */
async function environmentKey(ctx: Context): Promise<VapidKeyRow | undefined> {
  const { publicKey, privateKey } = ctx.config.vapid;
  if (!publicKey || !privateKey) return undefined;
  assertKeyPairMatches({ publicKey, privateKey }, 'PUSHCTL_VAPID_PUBLIC_KEY/PUSHCTL_VAPID_PRIVATE_KEY');
  const existing = await ctx.store.keyByPublicKey(publicKey);
  if (existing?.active === 1) return existing;
  const subject = resolveSubject(ctx, existing?.subject);
  return storeActiveKey(ctx, { publicKey, privateKey: '', subject, createdAt: ctx.now() }, true);
}

/** Makes a key the active one; refuses (unless `force`) when another is active, checked in the same transaction. */
async function storeActiveKey(ctx: Context, key: { publicKey: string; privateKey: string; subject: string; createdAt: number }, force: boolean): Promise<VapidKeyRow> {
  const result = await ctx.store.insertActiveKey(key, { replace: force });
  if ('blockedBy' in result) throw await replaceRefusal(ctx, result.blockedBy.id);
  return result.row;
}

function rejectWhenKeysFromEnvironment(ctx: Context): void {
  if (ctx.config.vapid.publicKey) {
    throw fail('keys_external', 'VAPID keys come from PUSHCTL_VAPID_PUBLIC_KEY/PUSHCTL_VAPID_PRIVATE_KEY; unset them to manage keys in the database');
  }
}

function resolveSubject(ctx: Context, explicit: string | undefined): string {
  if (explicit) return validateSubject(explicit);
  if (ctx.config.vapid.subject) return validateSubject(ctx.config.vapid.subject, 'vapid.subject');
  return PLACEHOLDER_SUBJECT;
}

/** A configured subject (file or PUSHCTL_VAPID_SUBJECT) wins over the one stored with the key. */
function subjectFor(ctx: Context, stored: string): string {
  return ctx.config.vapid.subject ? validateSubject(ctx.config.vapid.subject, 'vapid.subject') : stored;
}

async function describe(ctx: Context, row: VapidKeyRow, source: KeyInfo['source']): Promise<KeyInfo> {
  const subject = subjectFor(ctx, row.subject);
  return {
    id: row.id,
    publicKey: row.public_key,
    subject,
    storedSubject: row.subject,
    createdAt: new Date(row.created_at).toISOString(),
    subscriptions: await ctx.store.subscriptionCountByKey(row.id),
    source,
    placeholderSubject: subject === PLACEHOLDER_SUBJECT,
  };
}

async function replaceRefusal(ctx: Context, activeId: number): Promise<PushctlError> {
  const count = await ctx.store.subscriptionCountByKey(activeId);
  return fail(
    'keys_exist',
    `VAPID keys already exist (${count} subscription${count === 1 ? '' : 's'} made under them). ` +
      'Browsers subscribed under a key accept pushes only signed with it, so replacing it means those visitors must subscribe again to be reached under the new key. ' +
      'The old key is kept and still used for their subscriptions.',
    { details: { subscriptions: count } },
  );
}

function noKeys(): PushctlError {
  return fail('no_keys', 'no VAPID keys yet');
}

function normalizeB64(value: string): string {
  return value.trim().replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
