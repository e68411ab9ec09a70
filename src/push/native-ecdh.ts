/**
 * The P-256 key agreement of RFC 8291: a fresh key pair and the ECDH secret with a subscriber's
 * public key. Through the system's libcrypto when `npm run build` could compile native/ecdh.c
 * (about half the CPU: Node 20's built-in OpenSSL lacks the optimised P-256 code), through
 * node:crypto otherwise or with PUSHCTL_NATIVE_ECDH=0. Natively the rest of the encryption runs
 * in the same call. Either way the wire carries the same construction.
 */
import { createECDH, type ECDH } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { builtFile } from './built-file.js';

export interface KeyAgreement {
  /** 'native' (system libcrypto) or 'node' (node:crypto). */
  readonly kind: 'native' | 'node';
  /** A fresh key pair: its public key (65 bytes, uncompressed) and the shared secret (32 bytes). */
  agree(uaPublic: Buffer): { asPublic: Buffer; sharedSecret: Buffer };
  /**
   * Native only: the whole RFC 8291 body in one call (key agreement, HKDF, AES-128-GCM), the
   * same steps as rfc8291.ts encryptWith; inputs already checked by the caller.
   */
  encrypt?(uaPublic: Buffer, authSecret: Buffer, salt: Buffer, plaintext: Buffer): Buffer;
}

interface NativeModule {
  derive(uaPublic: Buffer): Buffer;
  encrypt(uaPublic: Buffer, authSecret: Buffer, salt: Buffer, plaintext: Buffer): Buffer;
}

/** node:crypto: one ECDH object per thread, a new key pair per call (generateKeys replaces it). */
export function nodeKeyAgreement(): KeyAgreement {
  let ecdh: ECDH | undefined;
  return {
    kind: 'node',
    agree(uaPublic) {
      ecdh ??= createECDH('prime256v1');
      const asPublic = ecdh.generateKeys();
      return { asPublic, sharedSecret: ecdh.computeSecret(uaPublic) };
    },
  };
}

/** The addon built into dist/native/, or undefined when it was not built or does not load here. */
export function nativeKeyAgreement(): KeyAgreement | undefined {
  const native = loadNative();
  if (!native) return undefined;
  return {
    kind: 'native',
    agree(uaPublic) {
      const both = native.derive(uaPublic);
      return { asPublic: both.subarray(0, 65), sharedSecret: both.subarray(65) };
    },
    encrypt: (uaPublic, authSecret, salt, plaintext) => native.encrypt(uaPublic, authSecret, salt, plaintext),
  };
}

/** What a send uses: native unless PUSHCTL_NATIVE_ECDH=0 or it is not there. */
export function defaultKeyAgreement(): KeyAgreement {
  return (process.env.PUSHCTL_NATIVE_ECDH !== '0' && nativeKeyAgreement()) || nodeKeyAgreement();
}

/** Where the build puts the addon (dist/native/). */
export function nativeModulePath(): string {
  return fileURLToPath(builtFile('../native/ecdh.node'));
}

function loadNative(): NativeModule | undefined {
  const module = { exports: {} as NativeModule };
  const { RTLD_NOW, RTLD_DEEPBIND } = os.constants.dlopen as Record<string, number | undefined>;
  try {
    // DEEPBIND: the addon's OpenSSL calls go to the libcrypto it was linked with, never to the
    // copy inside the node binary (which exports the same names).
    process.dlopen(module, nativeModulePath(), RTLD_DEEPBIND === undefined ? RTLD_NOW : (RTLD_NOW ?? 0) | RTLD_DEEPBIND);
  } catch {
    return undefined; // not built (no compiler or headers), or built for another system
  }
  return typeof module.exports.derive === 'function' && typeof module.exports.encrypt === 'function' ? module.exports : undefined;
}
