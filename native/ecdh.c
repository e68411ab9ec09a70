/*
 * P-256 key agreement for RFC 8291 through the system's OpenSSL (libcrypto), as a Node-API addon.
 *
 * Why: the OpenSSL that Node 20 carries inside its binary is built without the optimised P-256
 * and AES code this machine's libcrypto has: a fresh key pair plus ECDH costs 115 µs in
 * node:crypto and 62 µs here (same OpenSSL 3.0 calls), and ECDH is most of a push message's CPU.
 * Nothing is written by hand: the point is decoded by EC_POINT_oct2point (which refuses points off
 * the curve; P-256 has cofactor 1, so that is the whole validation), the key pair made by
 * EC_KEY_generate_key and the secret by ECDH_compute_key, the calls node:crypto's ECDH class makes.
 *
 * derive(ua_public: Buffer of 65 bytes) -> Buffer of 97 bytes: as_public (65, uncompressed) |
 * shared secret (32). A fresh key pair on every call. Throws for anything but an uncompressed
 * point on the curve. Each thread (Node-API environment) has its own template key.
 *
 * encrypt(ua_public, auth_secret, salt, plaintext) -> the whole aes128gcm body of RFC 8291 with a
 * fresh key pair: the key agreement above, then the same HKDF and AES-128-GCM steps as
 * src/push/rfc8291.ts encryptWith (HMAC-SHA256 and EVP calls of libcrypto), in one call: a dozen
 * node:crypto objects and calls per message cost more than the operations (84 against 62 µs).
 * test/rfc8291.test.ts has http_ece, an independent implementation, decrypt what it makes.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the EC_KEY calls node:crypto's ECDH class makes */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdh.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <stdlib.h>
#include <string.h>

#define POINT_BYTES 65
#define SECRET_BYTES 32
#define SALT_BYTES 16
#define TAG_BYTES 16
#define RECORD_SIZE 4096
/* salt | rs | idlen | keyid */
#define HEADER_BYTES (SALT_BYTES + 4 + 1 + POINT_BYTES)
#define MAX_PLAINTEXT (RECORD_SIZE - TAG_BYTES - 1)

static void free_template(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  EC_KEY_free((EC_KEY *)data);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value derive(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "derive needs the subscriber's public key");
  bool is_buffer = false;
  napi_is_buffer(env, argv[0], &is_buffer);
  if (!is_buffer) return fail(env, "derive needs the subscriber's public key as a Buffer");
  void *peer_bytes = NULL;
  size_t peer_length = 0;
  if (napi_get_buffer_info(env, argv[0], &peer_bytes, &peer_length) != napi_ok) return fail(env, "derive could not read the public key");
  const unsigned char *peer_octets = (const unsigned char *)peer_bytes;
  if (peer_length != POINT_BYTES || peer_octets[0] != 0x04) return fail(env, "Public key is not valid for specified curve");

  EC_KEY *template_key = NULL;
  if (napi_get_instance_data(env, (void **)&template_key) != napi_ok || template_key == NULL) return fail(env, "derive: module not initialised");
  const EC_GROUP *group = EC_KEY_get0_group(template_key);

  napi_value result = NULL;
  EC_POINT *peer = EC_POINT_new(group);
  EC_KEY *key = EC_KEY_dup(template_key);
  if (peer == NULL || key == NULL) {
    fail(env, "out of memory");
  } else if (!EC_POINT_oct2point(group, peer, peer_octets, peer_length, NULL)) {
    fail(env, "Public key is not valid for specified curve");
  } else if (!EC_KEY_generate_key(key)) {
    fail(env, "could not generate a P-256 key pair");
  } else {
    void *out = NULL;
    if (napi_create_buffer(env, POINT_BYTES + SECRET_BYTES, &out, &result) != napi_ok) {
      result = NULL;
    } else if (EC_POINT_point2oct(group, EC_KEY_get0_public_key(key), POINT_CONVERSION_UNCOMPRESSED, (unsigned char *)out, POINT_BYTES, NULL) != POINT_BYTES ||
               ECDH_compute_key((unsigned char *)out + POINT_BYTES, SECRET_BYTES, peer, key, NULL) != SECRET_BYTES) {
      result = NULL;
      fail(env, "P-256 key agreement failed");
    }
  }
  EC_KEY_free(key);
  EC_POINT_free(peer);
  return result;
}

/* A Buffer argument's bytes (never NULL, also when empty); 0 with a pending exception when it is not a Buffer. */
static int buffer_arg(napi_env env, napi_value value, const unsigned char **bytes, size_t *length, const char *name) {
  static const unsigned char empty[1] = {0};
  bool is_buffer = false;
  void *data = NULL;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, value, &data, length) != napi_ok) {
    napi_throw_type_error(env, NULL, name);
    return 0;
  }
  *bytes = data != NULL ? (const unsigned char *)data : empty;
  return 1;
}

/* HMAC-SHA256; out holds 32 bytes. */
static int hmac(const unsigned char *key, size_t key_length, const unsigned char *data, size_t data_length, unsigned char *out) {
  unsigned int out_length = 0;
  return HMAC(EVP_sha256(), key, (int)key_length, data, data_length, out, &out_length) != NULL && out_length == 32;
}

static napi_value encrypt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return fail(env, "encrypt needs the public key, auth secret, salt and plaintext");
  size_t ua_length, auth_length, salt_length, plaintext_length;
  const unsigned char *ua, *auth, *salt, *plaintext;
  if (!buffer_arg(env, argv[0], &ua, &ua_length, "the subscriber's public key must be a Buffer") ||
      !buffer_arg(env, argv[1], &auth, &auth_length, "the auth secret must be a Buffer") ||
      !buffer_arg(env, argv[2], &salt, &salt_length, "the salt must be a Buffer") ||
      !buffer_arg(env, argv[3], &plaintext, &plaintext_length, "the plaintext must be a Buffer"))
    return NULL;
  if (ua_length != POINT_BYTES || ua[0] != 0x04) return fail(env, "Public key is not valid for specified curve");
  if (auth_length < 16 || salt_length != SALT_BYTES || plaintext_length > MAX_PLAINTEXT) return fail(env, "encrypt: bad auth secret, salt or plaintext length");

  EC_KEY *template_key = NULL;
  if (napi_get_instance_data(env, (void **)&template_key) != napi_ok || template_key == NULL) return fail(env, "encrypt: module not initialised");
  const EC_GROUP *group = EC_KEY_get0_group(template_key);

  /* "WebPush: info" 0x00 | ua_public | as_public | 0x01 (HKDF-Expand's one block, RFC 5869) */
  static const char key_label[] = "WebPush: info";
  unsigned char key_info[sizeof key_label + 2 * POINT_BYTES + 1];
  unsigned char secret[SECRET_BYTES], auth_prk[32], ikm[32], prk[32], cek_block[32], nonce_block[32];
  static const unsigned char cek_info[] = "Content-Encoding: aes128gcm\0\1";
  static const unsigned char nonce_info[] = "Content-Encoding: nonce\0\1";
  const unsigned char delimiter = 2; /* the last (only) record, no padding */

  napi_value result = NULL;
  EC_POINT *peer = EC_POINT_new(group);
  EC_KEY *key = EC_KEY_dup(template_key);
  EVP_CIPHER_CTX *gcm = EVP_CIPHER_CTX_new();
  unsigned char *out = NULL;
  int written = 0, more = 0;
  if (peer == NULL || key == NULL || gcm == NULL) {
    fail(env, "out of memory");
  } else if (!EC_POINT_oct2point(group, peer, ua, ua_length, NULL)) {
    fail(env, "Public key is not valid for specified curve");
  } else if (!EC_KEY_generate_key(key)) {
    fail(env, "could not generate a P-256 key pair");
  } else if (napi_create_buffer(env, HEADER_BYTES + plaintext_length + 1 + TAG_BYTES, (void **)&out, &result) != napi_ok) {
    result = NULL;
  } else {
    memcpy(out, salt, SALT_BYTES);
    out[16] = (RECORD_SIZE >> 24) & 0xff;
    out[17] = (RECORD_SIZE >> 16) & 0xff;
    out[18] = (RECORD_SIZE >> 8) & 0xff;
    out[19] = RECORD_SIZE & 0xff;
    out[20] = POINT_BYTES;
    unsigned char *as_public = out + 21;
    memcpy(key_info, key_label, sizeof key_label); /* with its terminating 0x00 */
    memcpy(key_info + sizeof key_label, ua, POINT_BYTES);
    key_info[sizeof key_info - 1] = 1;
    int ok = EC_POINT_point2oct(group, EC_KEY_get0_public_key(key), POINT_CONVERSION_UNCOMPRESSED, as_public, POINT_BYTES, NULL) == POINT_BYTES &&
             ECDH_compute_key(secret, SECRET_BYTES, peer, key, NULL) == SECRET_BYTES;
    if (ok) {
      memcpy(key_info + sizeof key_label + POINT_BYTES, as_public, POINT_BYTES);
      ok = hmac(auth, auth_length, secret, SECRET_BYTES, auth_prk) && hmac(auth_prk, 32, key_info, sizeof key_info, ikm) &&
           hmac(salt, SALT_BYTES, ikm, 32, prk) && hmac(prk, 32, cek_info, sizeof cek_info - 1, cek_block) &&
           hmac(prk, 32, nonce_info, sizeof nonce_info - 1, nonce_block);
    }
    unsigned char *body = out + HEADER_BYTES;
    ok = ok && EVP_EncryptInit_ex(gcm, EVP_aes_128_gcm(), NULL, cek_block, nonce_block) == 1 &&
         EVP_EncryptUpdate(gcm, body, &written, plaintext, (int)plaintext_length) == 1 &&
         EVP_EncryptUpdate(gcm, body + written, &more, &delimiter, 1) == 1;
    if (ok) {
      written += more;
      ok = EVP_EncryptFinal_ex(gcm, body + written, &more) == 1 && (written += more) == (int)plaintext_length + 1 &&
           EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, body + written) == 1;
    }
    if (!ok) {
      result = NULL;
      fail(env, "RFC 8291 encryption failed");
    }
  }
  OPENSSL_cleanse(secret, sizeof secret);
  OPENSSL_cleanse(auth_prk, sizeof auth_prk);
  OPENSSL_cleanse(ikm, sizeof ikm);
  OPENSSL_cleanse(prk, sizeof prk);
  OPENSSL_cleanse(cek_block, sizeof cek_block);
  OPENSSL_cleanse(nonce_block, sizeof nonce_block);
  EVP_CIPHER_CTX_free(gcm);
  EC_KEY_free(key);
  EC_POINT_free(peer);
  return result;
}

NAPI_MODULE_INIT() {
  EC_KEY *template_key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  if (template_key == NULL) {
    napi_throw_error(env, NULL, "OpenSSL has no P-256");
    return NULL;
  }
  napi_set_instance_data(env, template_key, free_template, NULL);
  napi_value fn;
  napi_create_function(env, "derive", NAPI_AUTO_LENGTH, derive, NULL, &fn);
  napi_set_named_property(env, exports, "derive", fn);
  napi_create_function(env, "encrypt", NAPI_AUTO_LENGTH, encrypt, NULL, &fn);
  napi_set_named_property(env, exports, "encrypt", fn);
  return exports;
}
