/**
 * Tracking tokens that need no row of their own: a delivery's two ids (notification, subscription)
 * sealed in one AES-128 block under a key kept in the store (made on first use, copied by `db copy`).
 *
 * Why not random tokens in a table: issuing one was an INSERT per delivery into a table as big as
 * the ledger, keyed by random strings (6% of a send's main thread, profiled). A sealed token is
 * made in about a microsecond and found by decrypting it.
 *
 * Why a block cipher and not the ids with a MAC: the ids are counters; in the clear they would tell
 * any subscriber how many subscribers and notifications the site has. AES is a permutation, so a
 * token says nothing about its ids, and equal ids give equal tokens (a retried delivery keeps its
 * token). A guess must decrypt to 32 zero bits and to ids of a notification and a subscription
 * that both exist (48-bit fields holding small counters): with N notifications and S subscriptions,
 * a chance of about N * S / 2^128 per guess (2^-91 for ten thousand and ten million).
 *
 * Tokens issued before this scheme (24 characters, random, in delivery_tokens) still count: they
 * are looked up as before. Ids beyond 48 bits (never made by either store's counters) would get one.
 */
import { createCipheriv, createDecipheriv, randomBytes, type Cipher, type Decipher } from 'node:crypto';
import { SEALED_TOKEN_LENGTH } from '../limits.js';
import type { Store } from '../store/store.js';

/** The secret's name in the store's secrets table. */
const KEY_NAME = 'tracking-token-key';
const BLOCK_BYTES = 16;
/** Ids are written as 48-bit fields; 4 bytes stay zero and are checked on the way back. */
const ID_BYTES = 6;
const MAX_ID = 2 ** (8 * ID_BYTES) - 1;

export interface DeliveryIds {
  notificationId: number;
  subscriptionId: number;
}

export class TokenSeal {
  // ECB over a single block is the block cipher itself; one cipher object serves every token.
  private readonly cipher: Cipher;
  private readonly decipher: Decipher;
  private readonly block = Buffer.alloc(BLOCK_BYTES);

  constructor(key: Buffer) {
    this.cipher = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
    this.decipher = createDecipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  }

  /** The token of this delivery; undefined when an id does not fit (then a stored token is used). */
  seal(notificationId: number, subscriptionId: number): string | undefined {
    if (!fits(notificationId) || !fits(subscriptionId)) return undefined;
    this.block.fill(0);
    this.block.writeUIntBE(notificationId, 0, ID_BYTES);
    this.block.writeUIntBE(subscriptionId, ID_BYTES, ID_BYTES);
    return this.cipher.update(this.block).toString('base64url');
  }

  /** The delivery a sealed token names; undefined when it is not one this key made. */
  open(token: string): DeliveryIds | undefined {
    if (token.length !== SEALED_TOKEN_LENGTH) return undefined;
    const sealed = Buffer.from(token, 'base64url');
    // Only the canonical spelling: base64url's last character has bits that decoding ignores.
    if (sealed.length !== BLOCK_BYTES || sealed.toString('base64url') !== token) return undefined;
    const block = this.decipher.update(sealed);
    if (block.readUInt32BE(2 * ID_BYTES) !== 0) return undefined;
    const ids = { notificationId: block.readUIntBE(0, ID_BYTES), subscriptionId: block.readUIntBE(ID_BYTES, ID_BYTES) };
    return ids.notificationId > 0 && ids.subscriptionId > 0 ? ids : undefined;
  }
}

function fits(id: number): boolean {
  return Number.isSafeInteger(id) && id > 0 && id <= MAX_ID;
}

const seals = new WeakMap<Store, Promise<TokenSeal>>();

/** The store's seal, its key made on first use (once, whichever process gets there first). */
export function tokenSealOf(store: Store): Promise<TokenSeal> {
  return remembered(store, () => store.secret(KEY_NAME, () => randomBytes(BLOCK_BYTES).toString('base64')));
}

/**
 * The seal for reading tokens: undefined while the store has no key (then no token was ever
 * sealed), so a report from outside never makes one.
 */
export async function existingTokenSeal(store: Store): Promise<TokenSeal | undefined> {
  const known = seals.get(store);
  if (known) return known;
  const key = await store.readSecret(KEY_NAME);
  return key === undefined ? undefined : remembered(store, async () => key);
}

function remembered(store: Store, key: () => Promise<string>): Promise<TokenSeal> {
  let seal = seals.get(store);
  if (!seal) {
    seal = key().then((text) => new TokenSeal(Buffer.from(text, 'base64')));
    // A failed read is not remembered: the next caller tries again.
    seal.catch(() => seals.delete(store));
    seals.set(store, seal);
  }
  return seal;
}
