/**
 * Sealed tracking tokens (src/core/tracking-tokens.ts): what makes them safe to hand to browsers.
 * A token is one AES-128 block holding the delivery's two ids and four zero bytes; the format is
 * checked independently (node:crypto here), and so is what a forger can do with it.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenSeal } from '../src/core/tracking-tokens.js';
import { SEALED_TOKEN_LENGTH, TOKEN_PATTERN } from '../src/limits.js';

const key = randomBytes(16);

describe('sealed tracking tokens', () => {
  it('seal and open round-trip; the same delivery always gets the same token, others a different one', () => {
    const seal = new TokenSeal(key);
    const ids = [[1, 1], [1, 2], [2, 1], [7, 123_456], [2 ** 48 - 1, 2 ** 48 - 1], [40_000, 9_999_999]] as const;
    const tokens = ids.map(([n, s]) => seal.seal(n, s)!);
    for (const [i, [n, s]] of ids.entries()) {
      expect(tokens[i]).toHaveLength(SEALED_TOKEN_LENGTH);
      expect(tokens[i]).toMatch(TOKEN_PATTERN);
      expect(seal.open(tokens[i]!)).toEqual({ notificationId: n, subscriptionId: s });
      // Another seal of the same key (another process) agrees.
      expect(new TokenSeal(key).seal(n, s)).toBe(tokens[i]);
    }
    expect(new Set(tokens).size).toBe(ids.length);
  });

  it('is AES-128 of [notification id, 6 bytes][subscription id, 6 bytes][4 zero bytes]', () => {
    const block = Buffer.alloc(16);
    block.writeUIntBE(42, 0, 6);
    block.writeUIntBE(1_000_001, 6, 6);
    const expected = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false).update(block).toString('base64url');
    expect(new TokenSeal(key).seal(42, 1_000_001)).toBe(expected);
  });

  it('hides the ids: consecutive deliveries share no visible pattern, and another key gives other tokens', () => {
    const seal = new TokenSeal(key);
    const a = Buffer.from(seal.seal(5, 100)!, 'base64url');
    const b = Buffer.from(seal.seal(5, 101)!, 'base64url');
    const sameBytes = a.filter((byte, i) => byte === b[i]).length;
    expect(sameBytes).toBeLessThan(6); // a counter in the clear would share 11 of 16 bytes
    expect(new TokenSeal(randomBytes(16)).seal(5, 100)).not.toBe(seal.seal(5, 100));
  });

  it('opens nothing it did not make: any one character changed, another key, non-canonical spelling, wrong lengths', () => {
    const seal = new TokenSeal(key);
    const token = seal.seal(3, 77)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let tried = 0;
    for (let i = 0; i < token.length; i++) {
      for (const c of alphabet) {
        if (c === token[i]) continue;
        const forged = token.slice(0, i) + c + token.slice(i + 1);
        if (Buffer.from(forged, 'base64url').toString('base64url') !== forged) continue; // counted below
        tried++;
        expect(seal.open(forged), forged).toBeUndefined();
      }
    }
    expect(tried).toBeGreaterThan(1200);
    expect(new TokenSeal(randomBytes(16)).open(token)).toBeUndefined();
    // The last character holds 2 bits; a spelling with other trailing bits decodes to the same block.
    const last = alphabet.indexOf(token.at(-1)!);
    const variant = token.slice(0, -1) + alphabet[last ^ 1];
    expect(Buffer.from(variant, 'base64url').equals(Buffer.from(token, 'base64url'))).toBe(true);
    expect(seal.open(variant)).toBeUndefined();
    for (const bad of ['', token.slice(1), token + 'A', 'A'.repeat(24), '!'.repeat(22)]) expect(seal.open(bad)).toBeUndefined();
    // A block of zeros encrypted under the key names ids 0: never a delivery.
    const zero = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false).update(Buffer.alloc(16)).toString('base64url');
    expect(seal.open(zero)).toBeUndefined();
  });

  it('ids a seal cannot hold get no sealed token (a stored one is used instead)', () => {
    const seal = new TokenSeal(key);
    for (const [n, s] of [[2 ** 48, 1], [1, 2 ** 48], [0, 1], [1, 0], [-1, 1], [1.5, 1], [Number.MAX_SAFE_INTEGER + 1, 1]]) {
      expect(seal.seal(n!, s!), `${n}, ${s}`).toBeUndefined();
    }
  });

  it('random 22-character guesses open to nothing', () => {
    const seal = new TokenSeal(key);
    for (let i = 0; i < 20_000; i++) expect(seal.open(randomBytes(16).toString('base64url'))).toBeUndefined();
  });
});
