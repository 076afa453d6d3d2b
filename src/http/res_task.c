/* res_task.c - /api/v1/jobs/{job}/tasks. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/http.h"
#include "model/edit.h"

#define TASK_PATH "/api/v1/jobs/%s/tasks/%s"

/* Answers with the task named name of the job named job, re-read. */
static int answer_task(struct op *op, struct store *s, const char *job, const char *name,
                       unsigned status, struct dmt_err *err) {
    struct job_view v;
    int rc = job_view_load(s, job, &v, err);
    for (size_t i = 0; rc == DMT_OK && i < v.tasks.n; i++) {
        const struct task *t = &v.tasks.items[i];
        if (strcmp(t->name, name) != 0) continue;
        char etag[64];
        meta_etag("task", &t->m, etag, sizeof(etag));
        op_answer(op, status, repr_view_task(&v, t), etag, status == 201 ? TASK_PATH : NULL, job,
                  name);
    }
    job_view_cleanup(&v);
    return rc;
}

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct job_view v;
    int rc = view_load(arg, s, &v, NULL, NULL, err);
    if (rc == DMT_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < v.tasks.n; i++)
            json_array_append_new(items, repr_view_task(&v, &v.tasks.items[i]));
        op_answer(arg, 200, repr_list(items), NULL, NULL);
    }
    job_view_cleanup(&v);
    return rc;
}

int res_task_list(struct req *r) { return op_run(r, false, list_tx, NULL); }

struct task_body {
    const char *name, *plugin, *on_failure;
    int64_t position, timeout_s, retries;
    bool enabled;
    json_t *variables;
    bool has_name, has_plugin, has_pos, has_onf, has_timeout, has_retries, has_enabled, has_vars;
};

static int parse_body(struct req *r, struct task_body *b, bool create) {
    const struct spec specs[] = {
        {"name", SPEC_SLUG, create, &b->name, &b->has_name, 0, 0},
        {"plugin", SPEC_SLUG, create, &b->plugin, &b->has_plugin, 0, 0},
        {"position", SPEC_INT, false, &b->position, &b->has_pos, 1, 1000000},
        {"on_failure", SPEC_STRING, false, &b->on_failure, &b->has_onf, 0, 0},
        {"timeout_s", SPEC_INT, false, &b->timeout_s, &b->has_timeout, 0, 7 * 24 * 3600},
        {"retries", SPEC_INT, false, &b->retries, &b->has_retries, 0, 100},
        {"enabled", SPEC_BOOL, false, &b->enabled, &b->has_enabled, 0, 0},
        {"variables", SPEC_OBJECT, false, &b->variables, &b->has_vars, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    if (!create) {
        /* A task's plugin and variables are fixed at creation. */
        json_t *body = r->json;
        if (json_is_object(body) && json_object_get(body, "plugin") != NULL)
            dmt_err_field(&r->err, "plugin", "cannot be changed: create a new task instead");
        if (json_is_object(body) && json_object_get(body, "variables") != NULL)
            dmt_err_field(&r->err, "variables",
                          "cannot be set here: PATCH or PUT the variables themselves");
    }
    int rc = spec_parse(r, specs);
    if (b->has_onf && on_failure_parse(b->on_failure) < 0)
        rc = dmt_err_field(&r->err, "on_failure", "must be \"stop\" or \"continue\"");
    if (r->err.fields != NULL && rc == DMT_OK)
        rc = dmt_err_set(&r->err, DMT_ERR_INVALID, "the request body has invalid fields");
    return rc;
}

static void apply(struct task *t, const struct task_body *b) {
    if (b->has_name) {
        free(t->name);
        t->name = util_strdup(b->name);
    }
    if (b->has_pos) t->position = (int)b->position;
    if (b->has_onf) t->on_failure = on_failure_parse(b->on_failure);
    if (b->has_timeout) t->timeout_s = (int)b->timeout_s;
    if (b->has_retries) t->retries = (int)b->retries;
    if (b->has_enabled) t->enabled = b->enabled;
}

static int create_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct task_body *b = op->arg;
    struct job j = {0};
    int rc = s->ops->job_get(s->ctx, op->r->params[0], &j, err);
    struct task t = {.plugin = util_strdup(b->plugin), .enabled = true};
    apply(&t, b);
    if (rc == DMT_OK) rc = model_task_create(s, &j, &t, b->variables, err);
    if (rc == DMT_OK) rc = answer_task(op, s, j.name, t.name, 201, err);
    task_cleanup(&t);
    job_cleanup(&j);
    return rc;
}

int res_task_create(struct req *r) {
    struct task_body b = {0};
    int rc = parse_body(r, &b, true);
    return rc != DMT_OK ? rc : op_run(r, true, create_tx, &b);
}

static int get_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job_view v;
    struct task *t;
    int rc = view_load(op, s, &v, &t, NULL, err);
    if (rc == DMT_OK) {
        char etag[64];
        meta_etag("task", &t->m, etag, sizeof(etag));
        op_answer(op, 200, repr_view_task(&v, t), etag, NULL);
    }
    job_view_cleanup(&v);
    return rc;
}

int res_task_get(struct req *r) { return op_run(r, false, get_tx, NULL); }

/* Loads the view, finds the task and checks If-Match. */
static int load_for_write(struct op *op, struct store *s, struct job_view *v, struct task **t,
                          struct dmt_err *err) {
    int rc = view_load(op, s, v, t, NULL, err);
    if (rc != DMT_OK) return rc;
    char etag[64];
    meta_etag("task", &(*t)->m, etag, sizeof(etag));
    return req_if_match(op->r, etag, err);
}

static int patch_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job_view v;
    struct task *t;
    int rc = load_for_write(op, s, &v, &t, err);
    if (rc == DMT_OK) {
        int old_pos = t->position;
        apply(t, op->arg);
        rc = model_task_update(s, &v.job, t, old_pos, err);
    }
    if (rc == DMT_OK) rc = answer_task(op, s, v.job.name, t->name, 200, err);
    job_view_cleanup(&v);
    return rc;
}

int res_task_patch(struct req *r) {
    struct task_body b = {0};
    int rc = parse_body(r, &b, false);
    return rc != DMT_OK ? rc : op_run(r, true, patch_tx, &b);
}

static int delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job_view v;
    struct task *t;
    int rc = load_for_write(op, s, &v, &t, err);
    if (rc == DMT_OK) rc = model_task_delete(s, &v.job, t, err);
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    job_view_cleanup(&v);
    return rc;
}

int res_task_delete(struct req *r) { return op_run(r, true, delete_tx, NULL); }
