/* auth.c - bearer tokens and the first-start bootstrap of the admin. */
#include "http/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "http/http.h"

void auth_token_hash(const char *token, char out[65]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

int auth_check(struct req *r) {
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (h == NULL) return DMT_OK;
    if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0')
        return dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED,
                           "the Authorization header must be 'Bearer <token>'");
    char hash[65];
    auth_token_hash(h + 7, hash);
    /* Each thread remembers its last good token for as long as nothing in
     * the database changes (revoking a token is a change). */
    static __thread struct {
        char hash[65];
        int64_t seq, user_id;
    } last;
    int64_t seq;
    int rc0 = req_seq(r, &seq);
    if (rc0 != DMT_OK) return rc0;
    if (last.seq == seq && strcmp(last.hash, hash) == 0) {
        r->user_id = last.user_id;
        return DMT_OK;
    }
    struct token t = {0};
    int rc = r->store->ops->token_find(r->store->ctx, hash, &t, NULL);
    if (rc == DMT_ERR_NOT_FOUND)
        return dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED, "unknown or revoked token");
    if (rc != DMT_OK) return dmt_err_set(&r->err, rc, "cannot check the token");
    r->user_id = t.user_id;
    memcpy(last.hash, hash, sizeof(last.hash));
    last.seq = seq;
    last.user_id = t.user_id;
    token_cleanup(&t);
    return DMT_OK;
}

struct boot {
    const char *password;
    const char *token;
    char generated[32];
};

static int bootstrap_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct boot *b = arg;
    struct user admin = {0};
    int rc = s->ops->user_get(s->ctx, "admin", &admin, NULL);
    if (rc == DMT_ERR_NOT_FOUND) {
        const char *pw = b->password;
        if (pw == NULL || *pw == '\0') {
            unsigned char rnd[12];
            randombytes_buf(rnd, sizeof(rnd));
            sodium_bin2base64(b->generated, sizeof(b->generated), rnd, sizeof(rnd),
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            pw = b->generated;
        }
        char hash[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(hash, pw, strlen(pw), 2, 19u << 20) != 0)
            return dmt_err_set(err, DMT_ERR_NOMEM, "cannot hash the admin password");
        admin.name = util_strdup("admin");
        admin.role = util_strdup("admin");
        admin.password_hash = util_strdup(hash);
        rc = s->ops->user_insert(s->ctx, &admin, err);
    } else {
        b->generated[0] = '\0';
    }
    if (rc != DMT_OK) goto out;
    if (b->token != NULL && *b->token != '\0') {
        struct token t = {0};
        char hash[65];
        auth_token_hash(b->token, hash);
        rc = s->ops->token_find(s->ctx, hash, &t, NULL);
        if (rc == DMT_ERR_NOT_FOUND) {
            t.name = util_strdup("DMT_ADMIN_TOKEN");
            t.user_id = admin.m.id;
            t.hash = util_strdup(hash);
            rc = s->ops->token_insert(s->ctx, &t, err);
        }
        token_cleanup(&t);
    }
out:
    user_cleanup(&admin);
    return rc;
}

int auth_bootstrap(struct store *s, const char *admin_password, const char *admin_token,
                   struct dmt_err *err) {
    if (sodium_init() < 0) return dmt_err_set(err, DMT_ERR_INTERNAL, "libsodium failed to start");
    struct boot b = {admin_password, admin_token, ""};
    int rc = store_tx(s, true, bootstrap_tx, &b, err);
    if (rc == DMT_OK && b.generated[0] != '\0')
        fprintf(stderr,
                "dmt: created the user 'admin' with the password %s\n"
                "dmt: it is shown only this once; set DMT_ADMIN_PASSWORD to choose it\n",
                b.generated);
    return rc;
}
