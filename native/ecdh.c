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
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the EC_KEY calls node:crypto's ECDH class makes */
#include <node_api.h>
#include <openssl/ec.h>
#include <openssl/ecdh.h>
#include <openssl/obj_mac.h>
#include <stdlib.h>

#define POINT_BYTES 65
#define SECRET_BYTES 32

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
  return exports;
}
