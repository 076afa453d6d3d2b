/* res_job.c - /api/v1/jobs and the job view every job sub-resource uses. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/http.h"

int view_load(struct op *op, struct store *s, struct job_view *v, struct task **task,
              struct var **var, struct dmt_err *err) {
    const char **p = op->r->params;
    int rc = job_view_load(s, p[0], v, err);
    if (rc != DMT_OK || task == NULL) return rc;
    *task = NULL;
    for (size_t i = 0; i < v->tasks.n; i++)
        if (strcmp(v->tasks.items[i].name, p[1]) == 0) *task = &v->tasks.items[i];
    if (*task == NULL)
        return dmt_err_set(err, DMT_ERR_NOT_FOUND, "job '%s' has no task named '%s'", p[0], p[1]);
    if (var == NULL) return DMT_OK;
    *var = NULL;
    for (size_t i = 0; i < v->vars.n; i++)
        if (v->vars.items[i].task_id == (*task)->m.id && strcmp(v->vars.items[i].name, p[2]) == 0)
            *var = &v->vars.items[i];
    if (*var == NULL)
        return dmt_err_set(err, DMT_ERR_NOT_FOUND, "task '%s' of job '%s' has no variable '%s'",
                           p[1], p[0], p[2]);
    return DMT_OK;
}

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct job_list jobs = {0};
    int rc = s->ops->job_list(s->ctx, &jobs, err);
    json_t *items = json_array();
    for (size_t i = 0; rc == DMT_OK && i < jobs.n; i++) {
        struct task_list tasks = {0};
        rc = s->ops->task_list(s->ctx, jobs.items[i].m.id, &tasks, err);
        json_t *summary = json_array();
        for (size_t t = 0; rc == DMT_OK && t < tasks.n; t++)
            json_array_append_new(summary, json_pack("{s:s, s:s, s:i, s:b}", "name",
                                                     tasks.items[t].name, "plugin",
                                                     tasks.items[t].plugin, "position",
                                                     tasks.items[t].position, "enabled",
                                                     tasks.items[t].enabled));
        json_array_append_new(items, repr_job(&jobs.items[i], summary));
        task_list_cleanup(&tasks);
    }
    job_list_cleanup(&jobs);
    if (rc == DMT_OK) return op_answer(arg, 200, repr_list(items), NULL, NULL);
    json_decref(items);
    return rc;
}

int res_job_list(struct req *r) { return op_run(r, false, list_tx, NULL); }

struct job_body {
    const char *name, *description;
    bool has_name, has_desc;
};

static int parse_body(struct req *r, struct job_body *b, bool create) {
    const struct spec specs[] = {
        {"name", SPEC_SLUG, create, &b->name, &b->has_name, 0, 0},
        {"description", SPEC_STRING, false, &b->description, &b->has_desc, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    return spec_parse(r, specs);
}

static int answer_view(struct op *op, struct store *s, const char *name, unsigned status,
                       struct dmt_err *err) {
    struct job_view v;
    int rc = job_view_load(s, name, &v, err);
    if (rc == DMT_OK) {
        char etag[64];
        meta_etag("job", &v.job.m, etag, sizeof(etag));
        op_answer(op, status, repr_view_job(&v), etag, status == 201 ? "/api/v1/jobs/%s" : NULL,
                  name);
    }
    job_view_cleanup(&v);
    return rc;
}

static int create_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct job_body *b = op->arg;
    struct job j = {.name = util_strdup(b->name),
                    .description = util_strdup(b->has_desc ? b->description : "")};
    int rc = s->ops->job_insert(s->ctx, &j, err);
    if (rc == DMT_OK) rc = answer_view(op, s, j.name, 201, err);
    job_cleanup(&j);
    return rc;
}

int res_job_create(struct req *r) {
    struct job_body b = {0};
    int rc = parse_body(r, &b, true);
    return rc != DMT_OK ? rc : op_run(r, true, create_tx, &b);
}

static int get_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    return answer_view(op, s, op->r->params[0], 200, err);
}

int res_job_get(struct req *r) { return op_run(r, false, get_tx, NULL); }

static int load_for_write(struct op *op, struct store *s, struct job *j, struct dmt_err *err) {
    int rc = s->ops->job_get(s->ctx, op->r->params[0], j, err);
    if (rc != DMT_OK) return rc;
    char etag[64];
    meta_etag("job", &j->m, etag, sizeof(etag));
    return req_if_match(op->r, etag, err);
}

static int patch_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct job_body *b = op->arg;
    struct job j = {0};
    int rc = load_for_write(op, s, &j, err);
    if (rc == DMT_OK) {
        if (b->has_name) {
            free(j.name);
            j.name = util_strdup(b->name);
        }
        if (b->has_desc) {
            free(j.description);
            j.description = util_strdup(b->description);
        }
        rc = s->ops->job_update(s->ctx, &j, err);
    }
    if (rc == DMT_OK) rc = answer_view(op, s, j.name, 200, err);
    job_cleanup(&j);
    return rc;
}

int res_job_patch(struct req *r) {
    struct job_body b = {0};
    int rc = parse_body(r, &b, false);
    return rc != DMT_OK ? rc : op_run(r, true, patch_tx, &b);
}

static int delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job j = {0};
    int rc = load_for_write(op, s, &j, err);
    if (rc == DMT_OK) rc = s->ops->job_delete(s->ctx, j.m.id, err);
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    job_cleanup(&j);
    return rc;
}

int res_job_delete(struct req *r) { return op_run(r, true, delete_tx, NULL); }
