/* res_token.c - /api/v1/tokens: API tokens, shown once (DESIGN.md §7). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "http/auth.h"
#include "http/http.h"

static json_t *repr_token(const struct token *t) {
    return json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)t->m.id, "name", t->name, "user",
                     t->user != NULL ? t->user : "", "created_at", t->m.created_at);
}

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct token_list l = {0};
    int rc = s->ops->token_list(s->ctx, &l, err);
    if (rc == DMT_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < l.n; i++) json_array_append_new(items, repr_token(&l.items[i]));
        op_answer(arg, 200, repr_list(items), NULL, NULL);
    }
    token_list_cleanup(&l);
    return rc;
}

int res_token_list(struct req *r) { return op_run(r, false, list_tx, NULL); }

struct token_body {
    const char *name, *user;
    bool has_user;
    char secret[48];
};

static int create_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct token_body *b = op->arg;
    struct user u = {0};
    const char *owner = b->has_user ? b->user : op->r->user_name;
    int rc = s->ops->user_get(s->ctx, owner, &u, NULL);
    if (rc == DMT_ERR_NOT_FOUND) rc = dmt_err_field(err, "user", "no user named '%s'", owner);
    char hash[65];
    auth_token_hash(b->secret, hash);
    struct token t = {.name = util_strdup(b->name), .user_id = u.m.id, .hash = util_strdup(hash)};
    if (rc == DMT_OK) rc = s->ops->token_insert(s->ctx, &t, err);
    if (rc == DMT_OK) {
        /* The only time the token is ever shown. */
        json_t *body = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)t.m.id, "name",
                                 t.name, "user", u.name, "token", b->secret, "created_at",
                                 t.m.created_at);
        op_answer(op, 201, body, NULL, "/api/v1/tokens/%lld", (long long)t.m.id);
    }
    token_cleanup(&t);
    user_cleanup(&u);
    return rc;
}

int res_token_create(struct req *r) {
    struct token_body b = {0};
    const struct spec specs[] = {
        {"name", SPEC_STRING, true, &b.name, NULL, 0, 0},
        {"user", SPEC_SLUG, false, &b.user, &b.has_user, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    if (rc != DMT_OK) return rc;
    if (b.name[0] == '\0' || strlen(b.name) > 100) {
        dmt_err_field(&r->err, "name", "must be 1 to 100 characters long");
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "the request body has invalid fields");
    }
    auth_random_token(b.secret);
    rc = op_run(r, true, create_tx, &b);
    sodium_memzero(b.secret, sizeof(b.secret));
    return rc;
}

static int delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    int64_t id = *(const int64_t *)op->arg;
    struct token t = {0};
    int rc = s->ops->token_get(s->ctx, id, &t, err);
    if (rc == DMT_OK) rc = s->ops->token_delete(s->ctx, id, err);
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    token_cleanup(&t);
    return rc;
}

int res_token_delete(struct req *r) {
    int64_t id;
    if (!util_parse_i64(r->params[0], &id) || id <= 0)
        return dmt_err_set(&r->err, DMT_ERR_NOT_FOUND, "no token %s", r->params[0]);
    return op_run(r, true, delete_tx, &id);
}
