/* seal.c - secrets at rest with XChaCha20-Poly1305 (see seal.h). */
#include "core/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

#define PREFIX      "v1."
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define CHECK_TEXT  "dmt master key check"
/* The largest clear value sealed: a value is at most a request body. */
#define CLEAR_MAX (64u << 20)

/* The process key, in sodium_malloc'd (guarded, locked) memory. */
static unsigned char *process_key;

static int parse_hex_key(const char *hex, size_t len, unsigned char key[SEAL_KEY_BYTES],
                         struct dmt_err *err, const char *what) {
    size_t bin_len = 0;
    while (len > 0 && (hex[len - 1] == '\n' || hex[len - 1] == '\r' || hex[len - 1] == ' ')) len--;
    if (len != 2 * SEAL_KEY_BYTES ||
        sodium_hex2bin(key, SEAL_KEY_BYTES, hex, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != SEAL_KEY_BYTES)
        return dmt_err_set(err, DMT_ERR_CONFIG,
                           "%s must hold exactly 64 hexadecimal characters (a 32-byte key)", what);
    return DMT_OK;
}

int seal_key_create(const char *path, unsigned char key[SEAL_KEY_BYTES], struct dmt_err *err) {
    if (sodium_init() < 0) return dmt_err_set(err, DMT_ERR_INTERNAL, "libsodium failed to start");
    unsigned char k[SEAL_KEY_BYTES];
    char hex[2 * SEAL_KEY_BYTES + 2];
    randombytes_buf(k, sizeof(k));
    sodium_bin2hex(hex, sizeof(hex) - 1, k, sizeof(k));
    size_t n = strlen(hex);
    hex[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        sodium_memzero(k, sizeof(k));
        return dmt_err_set(err, DMT_ERR_CONFIG, "cannot create the key file %s: %s", path,
                           strerror(errno));
    }
    bool ok = write(fd, hex, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    sodium_memzero(hex, sizeof(hex));
    if (!ok) {
        unlink(path);
        sodium_memzero(k, sizeof(k));
        return dmt_err_set(err, DMT_ERR_CONFIG, "cannot write the key file %s", path);
    }
    memcpy(key, k, sizeof(k));
    sodium_memzero(k, sizeof(k));
    return DMT_OK;
}

int seal_key_load(const char *hex, const char *key_file, bool create,
                  unsigned char key[SEAL_KEY_BYTES], bool *created, struct dmt_err *err) {
    if (created != NULL) *created = false;
    if (sodium_init() < 0) return dmt_err_set(err, DMT_ERR_INTERNAL, "libsodium failed to start");
    if (hex != NULL) return parse_hex_key(hex, strlen(hex), key, err, "DMT_MASTER_KEY");
    if (key_file == NULL)
        return dmt_err_set(err, DMT_ERR_CONFIG,
                           "no master key: set DMT_MASTER_KEY or give --key-file");
    int fd = open(key_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        int rc = seal_key_create(key_file, key, err);
        if (rc == DMT_OK && created != NULL) *created = true;
        return rc;
    }
    if (fd < 0)
        return dmt_err_set(err, DMT_ERR_CONFIG, "cannot read the key file %s: %s", key_file,
                           strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
        close(fd);
        return dmt_err_set(err, DMT_ERR_CONFIG,
                           "the key file %s must be a regular file that only its owner can read "
                           "(chmod 600 %s)",
                           key_file, key_file);
    }
    char buf[2 * SEAL_KEY_BYTES + 8];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0) n = 0;
    char what[600];
    snprintf(what, sizeof(what), "the key file %s", key_file);
    int rc = parse_hex_key(buf, (size_t)n, key, err, what);
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

int seal_key_set(const unsigned char *key) {
    if (sodium_init() < 0) return DMT_ERR_INTERNAL;
    if (process_key != NULL) {
        sodium_free(process_key);
        process_key = NULL;
    }
    if (key == NULL) return DMT_OK;
    process_key = sodium_malloc(SEAL_KEY_BYTES);
    if (process_key == NULL) return DMT_ERR_NOMEM;
    memcpy(process_key, key, SEAL_KEY_BYTES);
    sodium_mprotect_readonly(process_key);
    return DMT_OK;
}

bool seal_key_ready(void) { return process_key != NULL; }

bool seal_is_sealed(const json_t *v) {
    const json_t *s = json_object_get(v, "$sealed");
    return json_is_object(v) && json_object_size(v) == 1 && json_is_string(s) &&
           strncmp(json_string_value(s), PREFIX, strlen(PREFIX)) == 0;
}

static void make_ad(char *ad, size_t len, int64_t var_id, int64_t env_id) {
    snprintf(ad, len, "dmt-secret-v1:%lld:%lld", (long long)var_id, (long long)env_id);
}

/* Seals len bytes of clear with ad; *out is "v1.<base64url>", malloc'd. */
static int seal_bytes(const unsigned char *key, const unsigned char *clear, size_t len,
                      const char *ad, char **out, struct dmt_err *err) {
    if (key == NULL) key = process_key;
    if (key == NULL) return dmt_err_set(err, DMT_ERR_CONFIG, "no master key is loaded");
    if (len > CLEAR_MAX) return dmt_err_set(err, DMT_ERR_INVALID, "a secret value is too large");
    size_t blen = NONCE_BYTES + len + TAG_BYTES;
    unsigned char *box = malloc(blen);
    if (box == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    randombytes_buf(box, NONCE_BYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_BYTES, &clen, clear, len,
                                               (const unsigned char *)ad, strlen(ad), NULL, box,
                                               key);
    size_t b64 = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *s = malloc(strlen(PREFIX) + b64);
    if (s == NULL) {
        free(box);
        return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    }
    strcpy(s, PREFIX);
    sodium_bin2base64(s + strlen(PREFIX), b64, box, NONCE_BYTES + (size_t)clen,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(box);
    *out = s;
    return DMT_OK;
}

/* Opens "v1.<base64url>" with ad; *out (malloc'd, NUL-terminated, *len
 * bytes) must be wiped and freed by the caller. */
static int open_bytes(const unsigned char *key, const char *text, const char *ad,
                      unsigned char **out, size_t *len, struct dmt_err *err) {
    if (key == NULL) key = process_key;
    if (key == NULL) return dmt_err_set(err, DMT_ERR_CONFIG, "no master key is loaded");
    if (strncmp(text, PREFIX, strlen(PREFIX)) != 0)
        return dmt_err_set(err, DMT_ERR_CRYPTO, "a sealed value has an unknown format");
    text += strlen(PREFIX);
    size_t tlen = strlen(text), blen = 0;
    unsigned char *box = malloc(tlen + 1);
    if (box == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    if (sodium_base642bin(box, tlen + 1, text, tlen, NULL, &blen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        blen < NONCE_BYTES + TAG_BYTES) {
        free(box);
        return dmt_err_set(err, DMT_ERR_CRYPTO, "a sealed value is malformed");
    }
    unsigned char *clear = malloc(blen - NONCE_BYTES - TAG_BYTES + 1);
    if (clear == NULL) {
        free(box);
        return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    }
    unsigned long long clen = 0;
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        clear, &clen, NULL, box + NONCE_BYTES, blen - NONCE_BYTES, (const unsigned char *)ad,
        strlen(ad), box, key);
    free(box);
    if (bad != 0) {
        free(clear);
        return dmt_err_set(err, DMT_ERR_CRYPTO,
                           "a secret does not decrypt: wrong master key, or a value moved to "
                           "another variable or environment");
    }
    clear[clen] = '\0';
    *out = clear;
    *len = (size_t)clen;
    return DMT_OK;
}

int seal_value(const unsigned char *key, const json_t *clear, int64_t var_id, int64_t env_id,
               json_t **out, struct dmt_err *err) {
    char ad[96], *text = NULL, *box = NULL;
    make_ad(ad, sizeof(ad), var_id, env_id);
    text = json_dumps(clear, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "cannot encode a secret");
    size_t len = strlen(text);
    int rc = seal_bytes(key, (const unsigned char *)text, len, ad, &box, err);
    sodium_memzero(text, len);
    free(text);
    if (rc != DMT_OK) return rc;
    *out = json_pack("{s:s}", "$sealed", box);
    free(box);
    return *out != NULL ? DMT_OK : dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
}

int seal_open(const unsigned char *key, const json_t *sealed, int64_t var_id, int64_t env_id,
              json_t **out, struct dmt_err *err) {
    if (!seal_is_sealed(sealed))
        return dmt_err_set(err, DMT_ERR_CRYPTO, "a secret is stored without its seal");
    char ad[96];
    make_ad(ad, sizeof(ad), var_id, env_id);
    unsigned char *clear = NULL;
    size_t len = 0;
    int rc = open_bytes(key, json_string_value(json_object_get(sealed, "$sealed")), ad, &clear,
                        &len, err);
    if (rc != DMT_OK) return rc;
    json_error_t je;
    *out = json_loadb((const char *)clear, len, JSON_DECODE_ANY, &je);
    sodium_memzero(clear, len);
    free(clear);
    if (*out == NULL) return dmt_err_set(err, DMT_ERR_CRYPTO, "a sealed secret holds no JSON");
    return DMT_OK;
}

int seal_check_make(const unsigned char *key, char **out, struct dmt_err *err) {
    return seal_bytes(key, (const unsigned char *)CHECK_TEXT, strlen(CHECK_TEXT), "dmt-key-check",
                      out, err);
}

bool seal_check_verify(const unsigned char *key, const char *check) {
    unsigned char *clear = NULL;
    size_t len = 0;
    if (check == NULL || open_bytes(key, check, "dmt-key-check", &clear, &len, NULL) != DMT_OK)
        return false;
    bool ok = len == strlen(CHECK_TEXT) && memcmp(clear, CHECK_TEXT, len) == 0;
    free(clear);
    return ok;
}
