/* res_env.c - /api/v1/environments. */
#include "http/http.h"
#include "model/edit.h"

#include <stdlib.h>

#include "core/util.h"

#define ENV_PATH "/api/v1/environments/%s"

static int answer_env(struct op *op, unsigned status, const struct env *e) {
    char etag[64];
    meta_etag("env", &e->m, etag, sizeof(etag));
    return op_answer(op, status, repr_env(e), etag, status == 201 ? ENV_PATH : NULL, e->name);
}

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct env_list l = {0};
    int rc = s->ops->env_list(s->ctx, &l, err);
    if (rc == DMT_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < l.n; i++) json_array_append_new(items, repr_env(&l.items[i]));
        op_answer(arg, 200, repr_list(items), NULL, NULL);
    }
    env_list_cleanup(&l);
    return rc;
}

int res_env_list(struct req *r) { return op_run(r, false, list_tx, NULL); }

/* The fields of a POST or PATCH. */
struct env_body {
    const char *name, *description;
    int64_t position;
    bool protected_, has_name, has_desc, has_pos, has_prot, has_grants, has_tags;
    json_t *grants, *worker_tags;
};

static int parse_body(struct req *r, struct env_body *b, bool create) {
    const struct spec specs[] = {
        {"name", SPEC_SLUG, create, &b->name, &b->has_name, 0, 0},
        {"description", SPEC_STRING, false, &b->description, &b->has_desc, 0, 0},
        {"position", SPEC_INT, false, &b->position, &b->has_pos, 1, 1000000},
        {"protected", SPEC_BOOL, false, &b->protected_, &b->has_prot, 0, 0},
        {"grants", SPEC_STR_ARRAY, false, &b->grants, &b->has_grants, 0, 0},
        {"worker_tags", SPEC_TAGS, false, &b->worker_tags, &b->has_tags, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    return spec_parse(r, specs);
}

/* Applies the given fields of b to e. */
static void apply(struct env *e, const struct env_body *b) {
    if (b->has_name) {
        free(e->name);
        e->name = util_strdup(b->name);
    }
    if (b->has_desc) {
        free(e->description);
        e->description = util_strdup(b->description);
    }
    if (b->has_pos) e->position = (int)b->position;
    if (b->has_prot) e->protected_ = b->protected_;
    if (b->has_grants) {
        json_decref(e->grants);
        e->grants = json_deep_copy(b->grants);
    }
    if (b->has_tags) {
        json_decref(e->worker_tags);
        e->worker_tags = json_deep_copy(b->worker_tags);
    }
}

static int create_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct env_body *b = op->arg;
    struct env e = {.description = util_strdup(""), .grants = json_array(),
                    .worker_tags = json_array()};
    apply(&e, b);
    int rc = model_env_create(s, &e, b->has_pos ? b->position : 0, err);
    if (rc == DMT_OK) answer_env(op, 201, &e);
    env_cleanup(&e);
    return rc;
}

int res_env_create(struct req *r) {
    struct env_body b = {0};
    int rc = parse_body(r, &b, true);
    return rc != DMT_OK ? rc : op_run(r, true, create_tx, &b);
}

static int get_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct env e = {0};
    int rc = s->ops->env_get(s->ctx, op->r->params[0], &e, err);
    if (rc == DMT_OK) answer_env(op, 200, &e);
    env_cleanup(&e);
    return rc;
}

int res_env_get(struct req *r) { return op_run(r, false, get_tx, NULL); }

/* Loads the env of the path and checks If-Match. */
static int load_for_write(struct op *op, struct store *s, struct env *e, struct dmt_err *err) {
    int rc = s->ops->env_get(s->ctx, op->r->params[0], e, err);
    if (rc != DMT_OK) return rc;
    char etag[64];
    meta_etag("env", &e->m, etag, sizeof(etag));
    return req_if_match(op->r, etag, err);
}

static int patch_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct env e = {0};
    int rc = load_for_write(op, s, &e, err);
    if (rc == DMT_OK) {
        int old_pos = e.position;
        apply(&e, op->arg);
        rc = model_env_update(s, &e, old_pos, err);
    }
    if (rc == DMT_OK) answer_env(op, 200, &e);
    env_cleanup(&e);
    return rc;
}

int res_env_patch(struct req *r) {
    struct env_body b = {0};
    int rc = parse_body(r, &b, false);
    return rc != DMT_OK ? rc : op_run(r, true, patch_tx, &b);
}

static int delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct env e = {0};
    int rc = load_for_write(op, s, &e, err);
    if (rc == DMT_OK) rc = model_env_delete(s, &e, err);
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    env_cleanup(&e);
    return rc;
}

int res_env_delete(struct req *r) { return op_run(r, true, delete_tx, NULL); }
