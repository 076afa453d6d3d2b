/* res_user.c - /api/v1/users (admins only, DESIGN.md §7). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "http/auth.h"
#include "http/http.h"

#define USER_PATH    "/api/v1/users/%s"
#define PASSWORD_MIN 8

static json_t *repr_user(const struct user *u) {
    return json_pack("{s:I, s:s, s:s, s:b, s:b, s:I, s:s, s:s}", "id", (json_int_t)u->m.id, "name",
                     u->name, "role", u->role, "has_password", u->password_hash != NULL,
                     "locked", u->locked_until > (int64_t)time(NULL), "version",
                     (json_int_t)u->m.version, "created_at", u->m.created_at, "updated_at",
                     u->m.updated_at);
}

static int answer_user(struct op *op, unsigned status, const struct user *u) {
    char etag[64];
    meta_etag("user", &u->m, etag, sizeof(etag));
    return op_answer(op, status, repr_user(u), etag, status == 201 ? USER_PATH : NULL, u->name);
}

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct user_list l = {0};
    int rc = s->ops->user_list(s->ctx, &l, err);
    if (rc == DMT_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < l.n; i++) json_array_append_new(items, repr_user(&l.items[i]));
        op_answer(arg, 200, repr_list(items), NULL, NULL);
    }
    user_list_cleanup(&l);
    return rc;
}

int res_user_list(struct req *r) { return op_run(r, false, list_tx, NULL); }

struct user_body {
    const char *name, *role, *password;
    bool has_role, has_password;
    char hash[crypto_pwhash_STRBYTES];
};

/* Checks role and password and hashes the password (outside any tx). */
static int check_body(struct req *r, struct user_body *b) {
    if (b->has_role && role_parse(b->role) < 0)
        dmt_err_field(&r->err, "role", "must be one of viewer, operator, editor, admin");
    if (b->has_password && strlen(b->password) < PASSWORD_MIN)
        dmt_err_field(&r->err, "password", "must be at least %d characters long", PASSWORD_MIN);
    if (r->err.fields != NULL)
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "the request body has invalid fields");
    if (b->has_password) return auth_password_hash(b->password, b->hash, sizeof(b->hash), &r->err);
    return DMT_OK;
}

static int create_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct user_body *b = op->arg;
    struct user u = {.name = util_strdup(b->name), .role = util_strdup(b->role),
                     .password_hash = b->has_password ? util_strdup(b->hash) : NULL};
    int rc = s->ops->user_insert(s->ctx, &u, err);
    if (rc == DMT_OK) answer_user(op, 201, &u);
    user_cleanup(&u);
    return rc;
}

int res_user_create(struct req *r) {
    struct user_body b = {0};
    const struct spec specs[] = {
        {"name", SPEC_SLUG, true, &b.name, NULL, 0, 0},
        {"role", SPEC_STRING, true, &b.role, &b.has_role, 0, 0},
        {"password", SPEC_STRING, false, &b.password, &b.has_password, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    if (rc == DMT_OK) rc = check_body(r, &b);
    if (rc == DMT_OK) rc = op_run(r, true, create_tx, &b);
    sodium_memzero(b.hash, sizeof(b.hash));
    return rc;
}

static int get_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct user u = {0};
    int rc = s->ops->user_get(s->ctx, op->r->params[0], &u, err);
    if (rc == DMT_OK) answer_user(op, 200, &u);
    user_cleanup(&u);
    return rc;
}

int res_user_get(struct req *r) { return op_run(r, false, get_tx, NULL); }

/* The number of admins other than the user with id `except`. */
static int other_admins(struct store *s, int64_t except, int *n, struct dmt_err *err) {
    struct user_list l = {0};
    int rc = s->ops->user_list(s->ctx, &l, err);
    *n = 0;
    for (size_t i = 0; rc == DMT_OK && i < l.n; i++)
        if (l.items[i].m.id != except && strcmp(l.items[i].role, "admin") == 0) (*n)++;
    user_list_cleanup(&l);
    return rc;
}

static int load_for_write(struct op *op, struct store *s, struct user *u, struct dmt_err *err) {
    int rc = s->ops->user_get(s->ctx, op->r->params[0], u, err);
    if (rc != DMT_OK) return rc;
    char etag[64];
    meta_etag("user", &u->m, etag, sizeof(etag));
    return req_if_match(op->r, etag, err);
}

static int patch_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct user_body *b = op->arg;
    struct user u = {0};
    int n = 0;
    int rc = load_for_write(op, s, &u, err);
    if (rc == DMT_OK && b->has_role && strcmp(b->role, "admin") != 0 &&
        strcmp(u.role, "admin") == 0) {
        rc = other_admins(s, u.m.id, &n, err);
        if (rc == DMT_OK && n == 0)
            rc = dmt_err_set(err, DMT_ERR_CONFLICT, "'%s' is the last admin", u.name);
    }
    if (rc == DMT_OK) {
        if (b->has_role) {
            free(u.role);
            u.role = util_strdup(b->role);
        }
        if (b->has_password) {
            free(u.password_hash);
            u.password_hash = util_strdup(b->hash);
            u.failed_logins = 0;
            u.locked_until = 0;
        }
        rc = s->ops->user_update(s->ctx, &u, err);
    }
    if (rc == DMT_OK) answer_user(op, 200, &u);
    user_cleanup(&u);
    return rc;
}

int res_user_patch(struct req *r) {
    struct user_body b = {0};
    const struct spec specs[] = {
        {"role", SPEC_STRING, false, &b.role, &b.has_role, 0, 0},
        {"password", SPEC_STRING, false, &b.password, &b.has_password, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    if (rc == DMT_OK) rc = check_body(r, &b);
    if (rc == DMT_OK) rc = op_run(r, true, patch_tx, &b);
    sodium_memzero(b.hash, sizeof(b.hash));
    return rc;
}

static int delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct user u = {0};
    int n = 1;
    int rc = load_for_write(op, s, &u, err);
    if (rc == DMT_OK && strcmp(u.role, "admin") == 0) rc = other_admins(s, u.m.id, &n, err);
    if (rc == DMT_OK && n == 0)
        rc = dmt_err_set(err, DMT_ERR_CONFLICT, "'%s' is the last admin and cannot be deleted",
                         u.name);
    if (rc == DMT_OK) rc = s->ops->user_delete(s->ctx, u.m.id, err);
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    user_cleanup(&u);
    return rc;
}

int res_user_delete(struct req *r) { return op_run(r, true, delete_tx, NULL); }
