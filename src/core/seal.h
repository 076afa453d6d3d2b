/*
 * seal.h - secrets at rest (DESIGN.md §7): XChaCha20-Poly1305 from
 * libsodium under one 32-byte master key.
 *
 * A sealed value is the JSON object {"$sealed": "v1.<base64url(nonce |
 * ciphertext)>"}; the plaintext is the compact JSON text of the clear value,
 * and the associated data binds it to its variable id and environment id
 * (0 for a default), so a sealed value copied to another row does not
 * open. The process holds one master key (seal_key_set), kept in locked,
 * guarded memory; functions that take an explicit key exist for rotation.
 */
#ifndef DMT_SEAL_H
#define DMT_SEAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

#define SEAL_KEY_BYTES 32

/*
 * Reads the master key: from hex (64 hex characters, DMT_MASTER_KEY) when
 * hex is not NULL, else from key_file (64 hex characters and an optional
 * newline). When the file does not exist and create is true, a new random
 * key is written to it with mode 0600 and *created is set. A file that
 * group or others may read is refused. Fails with DMT_ERR_CONFIG and the
 * reason in err; key is filled on DMT_OK only.
 */
int seal_key_load(const char *hex, const char *key_file, bool create,
                  unsigned char key[SEAL_KEY_BYTES], bool *created, struct dmt_err *err);

/* Writes a new random key to path (mode 0600, the file must not exist) and
 * gives it in key. */
int seal_key_create(const char *path, unsigned char key[SEAL_KEY_BYTES], struct dmt_err *err);

/* Makes key the process's master key (copied into guarded memory); NULL
 * forgets it. Call before any thread seals or opens. */
int seal_key_set(const unsigned char *key);
/* Whether a master key is set. */
bool seal_key_ready(void);

/* Whether v has the shape of a sealed value. */
bool seal_is_sealed(const json_t *v);

/* Seals clear (any JSON value) for (var_id, env_id) under the process key,
 * or key when not NULL. *out is a new reference. */
int seal_value(const unsigned char *key, const json_t *clear, int64_t var_id, int64_t env_id,
               json_t **out, struct dmt_err *err);
/* Opens a sealed value; DMT_ERR_CRYPTO when it does not open (wrong key,
 * wrong row, tampered). *out is a new reference. */
int seal_open(const unsigned char *key, const json_t *sealed, int64_t var_id, int64_t env_id,
              json_t **out, struct dmt_err *err);

/* The key check value stored with the database (a known text sealed under
 * key): *out is malloc'd. seal_check_verify tells whether check opens
 * under key. */
int seal_check_make(const unsigned char *key, char **out, struct dmt_err *err);
bool seal_check_verify(const unsigned char *key, const char *check);

#endif
