/*
 * admin.c - `dmt admin rotate-key`: works on the database directly (the
 * server should be stopped): opens every secret under the current master
 * key and seals it again under a new one, with the new key check value,
 * in one transaction. The new key file is created (mode 0600) if it does
 * not exist; afterwards start the server with it.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/seal.h"
#include "core/util.h"
#include "model/secrets.h"
#include "store/store.h"

static const char admin_usage[] =
    "usage: dmt admin rotate-key --db URL [--key-file PATH] --new-key-file PATH\n"
    "  re-seals every secret of the database under a new master key (stop the\n"
    "  server first, start it again with --key-file set to the new file).\n"
    "  The current key: DMT_MASTER_KEY, else --key-file (default: the\n"
    "  database path plus .key). The new file is created if it does not exist.\n";

struct rotate {
    const unsigned char *old_key, *new_key;
    int count;
};

static int rotate_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct rotate *r = arg;
    int rc = secrets_reseal_all(s, r->old_key, r->new_key, &r->count, err);
    if (rc == DMT_OK) rc = secrets_set_check(s, r->new_key, err);
    return rc;
}

int cmd_admin(int argc, char **argv) {
    const char *db = "sqlite:./dmt.db", *key_file = NULL, *new_file = NULL;
    if (argc < 2 || strcmp(argv[1], "rotate-key") != 0) {
        fputs(admin_usage, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(admin_usage, stdout);
            return CLI_EXIT_OK;
        } else if (next != NULL && strcmp(argv[i], "--db") == 0) {
            db = argv[++i];
        } else if (next != NULL && strcmp(argv[i], "--key-file") == 0) {
            key_file = argv[++i];
        } else if (next != NULL && strcmp(argv[i], "--new-key-file") == 0) {
            new_file = argv[++i];
        } else {
            fprintf(stderr, "dmt admin rotate-key: unknown option or missing value: %s\n%s",
                    argv[i], admin_usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (new_file == NULL) {
        fprintf(stderr, "dmt admin rotate-key: --new-key-file is required\n%s", admin_usage);
        return CLI_EXIT_USAGE;
    }
    char url[1024], def[1100];
    snprintf(url, sizeof(url), "%s%s", strstr(db, ":") ? "" : "sqlite:", db);
    if (key_file == NULL) {
        serve_default_key_file(url, def, sizeof(def));
        key_file = def;
    }
    struct dmt_err err;
    dmt_err_init(&err);
    struct store *st = NULL;
    unsigned char old_key[SEAL_KEY_BYTES], new_key[SEAL_KEY_BYTES];
    int status = CLI_EXIT_FAIL;
    const char *hex = getenv("DMT_MASTER_KEY");
    if (hex != NULL && *hex == '\0') hex = NULL;
    if (store_open(url, &st, &err) != DMT_OK) goto out;
    if (seal_key_load(hex, key_file, false, old_key, NULL, &err) != DMT_OK) goto out;
    /* The current key must be the database's (this also seals leftovers). */
    if (seal_key_set(old_key) != DMT_OK || secrets_start(st, old_key, &err) != DMT_OK) goto out;
    bool created = false;
    if (seal_key_load(NULL, new_file, true, new_key, &created, &err) != DMT_OK) goto out;
    if (sodium_memcmp(old_key, new_key, SEAL_KEY_BYTES) == 0) {
        dmt_err_set(&err, DMT_ERR_USAGE, "the new key is the current key");
        goto out;
    }
    struct rotate r = {old_key, new_key, 0};
    if (store_tx(st, true, rotate_tx, &r, &err) != DMT_OK) goto out;
    printf("re-sealed %d secret value(s) under the key in %s%s\n", r.count, new_file,
           created ? " (created)" : "");
    printf("start the server with --key-file %s (or DMT_MASTER_KEY set to its contents)\n",
           new_file);
    status = CLI_EXIT_OK;
out:
    if (err.code != DMT_OK) fprintf(stderr, "dmt admin rotate-key: %s\n", err.msg);
    sodium_memzero(old_key, sizeof(old_key));
    sodium_memzero(new_key, sizeof(new_key));
    seal_key_set(NULL);
    store_close(st);
    dmt_err_cleanup(&err);
    return status;
}
