/* auth.c - bearer tokens, web sessions and the first-start admin. */
#include "http/auth.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/util.h"
#include "http/http.h"

void auth_token_hash(const char *token, char out[65]) {
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

void auth_random_token(char out[48]) {
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2base64(out, 48, rnd, sizeof(rnd), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(rnd, sizeof(rnd));
}

int auth_password_hash(const char *password, char *out, size_t len, struct dmt_err *err) {
    if (len < crypto_pwhash_STRBYTES ||
        crypto_pwhash_str(out, password, strlen(password), AUTH_PW_OPSLIMIT, AUTH_PW_MEMLIMIT) != 0)
        return dmt_err_set(err, DMT_ERR_NOMEM, "cannot hash the password");
    return DMT_OK;
}

static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void dummy_make(void) {
    if (crypto_pwhash_str(dummy_hash, "dmt-dummy-password", 18, AUTH_PW_OPSLIMIT,
                          AUTH_PW_MEMLIMIT) != 0)
        dummy_hash[0] = '\0';
}

bool auth_password_ok(const char *hash, const char *password) {
    if (hash == NULL || *hash == '\0') {
        pthread_once(&dummy_once, dummy_make);
        /* Spend the same time as a real check, then fail. */
        if (dummy_hash[0] != '\0' &&
            crypto_pwhash_str_verify(dummy_hash, password, strlen(password)) == 0)
            return false;
        return false;
    }
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* The value of cookie `name` in the Cookie header, copied into out. */
static bool cookie_value(struct req *r, const char *name, char *out, size_t len) {
    const char *v = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
    if (v == NULL || *v == '\0' || strlen(v) >= len) return false;
    snprintf(out, len, "%s", v);
    return true;
}

/* Each thread remembers its last good credential for as long as nothing in
 * the database changes (revoking a token or ending a session is a change)
 * and the session has not expired. It is matched on the secret itself,
 * compared in constant time, so that a hit costs no hashing; a secret too
 * long for it is hashed and looked up every time. */
#define SECRET_MAX 128
struct cached {
    char secret[SECRET_MAX]; /* the token or cookie value, secret_len bytes */
    size_t secret_len;       /* 0: nothing cached */
    int64_t seq, user_id, session_id, expires_at;
    int role;
    bool cookie;
    char name[72];
    char csrf_hash[65];
};
static __thread struct cached last;

static int fill_user(struct req *r, struct cached *c, int64_t user_id) {
    struct user u = {0};
    int rc = r->store->ops->user_get_id(r->store->ctx, user_id, &u, NULL);
    if (rc == DMT_ERR_NOT_FOUND)
        return dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED, "the user of this credential is gone");
    if (rc != DMT_OK) return dmt_err_set(&r->err, rc, "cannot check the credential");
    c->user_id = u.m.id;
    c->role = role_parse(u.role);
    if (c->role < 0) c->role = ROLE_NONE;
    snprintf(c->name, sizeof(c->name), "%s", u.name);
    user_cleanup(&u);
    return DMT_OK;
}

static int lookup(struct req *r, const char *hash, bool cookie, struct cached *c) {
    memset(c, 0, sizeof(*c));
    c->cookie = cookie;
    int rc;
    if (!cookie) {
        struct token t = {0};
        rc = r->store->ops->token_find(r->store->ctx, hash, &t, NULL);
        if (rc == DMT_ERR_NOT_FOUND)
            return dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED, "unknown or revoked token");
        if (rc != DMT_OK) return dmt_err_set(&r->err, rc, "cannot check the token");
        int64_t uid = t.user_id;
        token_cleanup(&t);
        c->expires_at = INT64_MAX;
        return fill_user(r, c, uid);
    }
    struct session s = {0};
    rc = r->store->ops->session_find(r->store->ctx, hash, (int64_t)time(NULL), &s, NULL);
    if (rc == DMT_ERR_NOT_FOUND)
        return dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED,
                           "the session has ended or expired: log in again");
    if (rc != DMT_OK) return dmt_err_set(&r->err, rc, "cannot check the session");
    c->session_id = s.id;
    c->expires_at = s.expires_at;
    snprintf(c->csrf_hash, sizeof(c->csrf_hash), "%s", s.csrf_hash);
    int64_t uid = s.user_id;
    session_cleanup(&s);
    return fill_user(r, c, uid);
}

int auth_check(struct req *r, bool *present) {
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    char cookie[128];
    bool is_cookie = false;
    const char *secret;
    *present = true;
    if (h != NULL) {
        if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0')
            return dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED,
                               "the Authorization header must be 'Bearer <token>'");
        secret = h + 7;
    } else if (cookie_value(r, AUTH_COOKIE, cookie, sizeof(cookie))) {
        is_cookie = true;
        secret = cookie;
    } else {
        *present = false;
        return dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED,
                           "authentication required: send 'Authorization: Bearer <token>' or "
                           "log in (POST /api/v1/session)");
    }
    int64_t seq;
    int rc = req_seq(r, &seq);
    if (rc != DMT_OK) return rc;
    size_t len = strlen(secret);
    /* The length is no secret (every token has the same); the bytes are
     * compared in constant time. */
    if (last.secret_len == 0 || last.secret_len != len || last.seq != seq ||
        last.cookie != is_cookie || sodium_memcmp(last.secret, secret, len) != 0 ||
        last.expires_at <= (int64_t)time(NULL)) {
        struct cached c;
        char hash[65];
        auth_token_hash(secret, hash);
        rc = lookup(r, hash, is_cookie, &c);
        if (rc != DMT_OK) return rc;
        c.seq = seq;
        if (len < sizeof(c.secret)) {
            memcpy(c.secret, secret, len);
            c.secret_len = len;
        }
        sodium_memzero(&last, sizeof(last));
        last = c;
        sodium_memzero(&c, sizeof(c));
    }
    r->user_id = last.user_id;
    r->role = last.role;
    snprintf(r->user_name, sizeof(r->user_name), "%s", last.name);
    r->via_cookie = last.cookie;
    r->session_id = last.session_id;
    memcpy(r->csrf_hash, last.csrf_hash, sizeof(r->csrf_hash));
    return DMT_OK;
}

bool auth_csrf_ok(struct req *r) {
    const char *t = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
    if (t == NULL || *t == '\0' || r->csrf_hash[0] == '\0') return false;
    char hash[65];
    auth_token_hash(t, hash);
    return sodium_memcmp(hash, r->csrf_hash, 64) == 0;
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
        rc = auth_password_hash(pw, hash, sizeof(hash), err);
        if (rc != DMT_OK) return rc;
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
    sodium_memzero(b.generated, sizeof(b.generated));
    return rc;
}
