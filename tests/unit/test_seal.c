/* test_seal.c - secrets at rest: sealing, opening, binding, keys. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/seal.h"

static unsigned char key1[SEAL_KEY_BYTES], key2[SEAL_KEY_BYTES];

static void setup(void) {
    cr_assert(sodium_init() >= 0);
    memset(key1, 0x11, sizeof(key1));
    memset(key2, 0x22, sizeof(key2));
    seal_key_set(key1);
}

static void teardown(void) { seal_key_set(NULL); }

TestSuite(seal, .init = setup, .fini = teardown);

Test(seal, round_trip_keeps_the_json_value_and_hides_it) {
    json_t *clear = json_string("p@ss\"word-123"), *sealed = NULL, *back = NULL;
    cr_assert_eq(seal_value(NULL, clear, 7, 3, &sealed, NULL), DMT_OK);
    cr_assert(seal_is_sealed(sealed));
    char *text = json_dumps(sealed, JSON_COMPACT);
    cr_assert_null(strstr(text, "p@ss"), "the sealed form holds the clear text: %s", text);
    free(text);
    cr_assert_eq(seal_open(NULL, sealed, 7, 3, &back, NULL), DMT_OK);
    cr_assert(json_equal(clear, back));
    json_decref(back);
    /* an int survives as an int */
    json_t *n = json_integer(123456), *sn = NULL;
    cr_assert_eq(seal_value(NULL, n, 1, 0, &sn, NULL), DMT_OK);
    cr_assert_eq(seal_open(NULL, sn, 1, 0, &back, NULL), DMT_OK);
    cr_assert(json_is_integer(back) && json_integer_value(back) == 123456);
    json_decref(back);
    json_decref(n);
    json_decref(sn);
    json_decref(clear);
    json_decref(sealed);
}

Test(seal, two_seals_of_one_value_differ) {
    json_t *clear = json_string("same-value"), *a = NULL, *b = NULL;
    cr_assert_eq(seal_value(NULL, clear, 1, 0, &a, NULL), DMT_OK);
    cr_assert_eq(seal_value(NULL, clear, 1, 0, &b, NULL), DMT_OK);
    cr_assert_not(json_equal(a, b), "a random nonce each time");
    json_decref(a);
    json_decref(b);
    json_decref(clear);
}

Test(seal, bound_to_its_variable_and_environment) {
    json_t *clear = json_string("bound-secret"), *sealed = NULL, *back = NULL;
    cr_assert_eq(seal_value(NULL, clear, 7, 3, &sealed, NULL), DMT_OK);
    cr_assert_eq(seal_open(NULL, sealed, 8, 3, &back, NULL), DMT_ERR_CRYPTO);
    cr_assert_eq(seal_open(NULL, sealed, 7, 0, &back, NULL), DMT_ERR_CRYPTO);
    cr_assert_eq(seal_open(key2, sealed, 7, 3, &back, NULL), DMT_ERR_CRYPTO, "wrong key");
    json_decref(clear);
    json_decref(sealed);
}

Test(seal, tampering_is_detected) {
    json_t *clear = json_string("tamper-me"), *sealed = NULL, *back = NULL;
    cr_assert_eq(seal_value(NULL, clear, 1, 1, &sealed, NULL), DMT_OK);
    char *s = strdup(json_string_value(json_object_get(sealed, "$sealed")));
    size_t n = strlen(s);
    s[n - 3] = s[n - 3] == 'A' ? 'B' : 'A';
    json_t *bad = json_pack("{s:s}", "$sealed", s);
    cr_assert_eq(seal_open(NULL, bad, 1, 1, &back, NULL), DMT_ERR_CRYPTO);
    json_t *junk = json_pack("{s:s}", "$sealed", "v1.!!!");
    cr_assert_eq(seal_open(NULL, junk, 1, 1, &back, NULL), DMT_ERR_CRYPTO);
    json_t *plain = json_string("v1.x");
    cr_assert_not(seal_is_sealed(plain));
    json_decref(plain);
    free(s);
    json_decref(bad);
    json_decref(junk);
    json_decref(clear);
    json_decref(sealed);
}

Test(seal, key_check_value) {
    char *check = NULL;
    cr_assert_eq(seal_check_make(key1, &check, NULL), DMT_OK);
    cr_assert(seal_check_verify(key1, check));
    cr_assert_not(seal_check_verify(key2, check));
    cr_assert_not(seal_check_verify(key1, "v1.garbage"));
    free(check);
}

Test(seal, key_files_and_hex) {
    char dir[] = "/tmp/dmt-seal-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/k.key", dir);
    unsigned char k[SEAL_KEY_BYTES], again[SEAL_KEY_BYTES];
    bool created = false;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(seal_key_load(NULL, path, false, k, &created, &err), DMT_ERR_CONFIG,
                 "a missing file is an error unless it may be created");
    dmt_err_cleanup(&err);
    dmt_err_init(&err);
    cr_assert_eq(seal_key_load(NULL, path, true, k, &created, &err), DMT_OK, "%s", err.msg);
    cr_assert(created);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(seal_key_load(NULL, path, true, again, &created, &err), DMT_OK);
    cr_assert_not(created);
    cr_assert_eq(memcmp(k, again, sizeof(k)), 0);
    chmod(path, 0644);
    cr_assert_eq(seal_key_load(NULL, path, true, again, NULL, NULL), DMT_ERR_CONFIG,
                 "a key file others can read is refused");
    cr_assert_eq(seal_key_load("zz", NULL, false, again, NULL, NULL), DMT_ERR_CONFIG);
    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    cr_assert_eq(seal_key_load(hex, NULL, false, again, NULL, NULL), DMT_OK);
    cr_assert_eq(again[0], 0xaa);
    unlink(path);
    rmdir(dir);
    dmt_err_cleanup(&err);
}

Test(seal, nothing_seals_without_a_key) {
    seal_key_set(NULL);
    json_t *clear = json_string("no-key-here"), *sealed = NULL;
    cr_assert_eq(seal_value(NULL, clear, 1, 0, &sealed, NULL), DMT_ERR_CONFIG);
    json_decref(clear);
}
