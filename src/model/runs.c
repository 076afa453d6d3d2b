/* runs.c - creating, repeating and canceling runs (see runs.h). */
#include "model/runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/resolve.h"
#include "model/secrets.h"

/* The snapshot of a job view for env (see run.h). New reference. */
static json_t *snapshot_of(const struct job_view *v, const struct env *env) {
    json_t *tasks = json_array();
    for (size_t i = 0; i < v->tasks.n; i++) {
        const struct task *t = &v->tasks.items[i];
        json_array_append_new(
            tasks, json_pack("{s:s, s:s, s:I, s:s, s:i, s:i, s:b, s:o}", "name", t->name, "plugin",
                             t->plugin, "task_id", (json_int_t)t->m.id, "on_failure",
                             on_failure_name(t->on_failure), "timeout_s", t->timeout_s, "retries",
                             t->retries, "enabled", t->enabled, "values",
                             resolve_task_values(v, env, t, false)));
    }
    return json_pack("{s:s, s:I, s:s, s:I, s:o}", "job", v->job.name, "job_id",
                     (json_int_t)v->job.m.id, "environment", env->name, "env_id",
                     (json_int_t)env->m.id, "tasks", tasks);
}

/* Inserts r (queued) and one result per task of its snapshot. */
static int insert_run(struct store *s, struct run *r, struct dmt_err *err) {
    r->status = RUN_QUEUED;
    int rc = s->ops->run_insert(s->ctx, r, err);
    json_t *tasks = json_object_get(r->snapshot, "tasks"), *t;
    size_t i;
    json_array_foreach(tasks, i, t) {
        if (rc != DMT_OK) break;
        struct task_result tr = {
            .run_id = r->m.id,
            .idx = (int)i,
            .name = util_strdup(json_string_value(json_object_get(t, "name"))),
            .status = json_is_true(json_object_get(t, "enabled")) ? RESULT_PENDING : RESULT_SKIPPED,
            .exit_code = -1,
            .outputs = json_object(),
        };
        rc = s->ops->result_insert(s->ctx, &tr, err);
        task_result_cleanup(&tr);
    }
    return rc;
}

int model_run_create(struct store *s, const char *job, const char *env, const char *triggered_by,
                     struct run *out, struct dmt_err *err) {
    struct job_view v;
    int rc = job_view_load(s, job, &v, err);
    const struct env *e = NULL;
    for (size_t i = 0; rc == DMT_OK && i < v.envs.n; i++)
        if (strcmp(v.envs.items[i].name, env) == 0) e = &v.envs.items[i];
    if (rc == DMT_OK && e == NULL) rc = dmt_err_field(err, "environment", "no environment named '%s'", env);
    if (rc == DMT_OK && v.tasks.n == 0)
        rc = dmt_err_set(err, DMT_ERR_PREFLIGHT, "job '%s' has no task to run", job);
    /* Preflight sees what secrets resolve to, in memory only: the snapshot
     * keeps them by reference. */
    if (rc == DMT_OK) rc = secrets_open_view(&v, err);
    json_t *plan = rc == DMT_OK ? resolve_plan(&v, e) : NULL;
    json_t *errors = json_object_get(plan, "errors");
    if (rc == DMT_OK && json_array_size(errors) > 0) {
        rc = dmt_err_set(err, DMT_ERR_PREFLIGHT,
                         "preflight found %zu problem(s) in job '%s' for '%s'; nothing ran",
                         json_array_size(errors), job, env);
        if (err != NULL) err->extra = json_pack("{s:O}", "errors", errors);
    }
    if (rc == DMT_OK) {
        memset(out, 0, sizeof(*out));
        out->job = util_strdup(v.job.name);
        out->environment = util_strdup(e->name);
        out->job_id = v.job.m.id;
        out->env_id = e->m.id;
        out->triggered_by = util_strdup(triggered_by);
        out->tags = json_incref(e->worker_tags);
        out->snapshot = snapshot_of(&v, e);
        rc = insert_run(s, out, err);
    }
    json_decref(plan);
    job_view_cleanup(&v);
    return rc;
}

int model_run_rerun(struct store *s, int64_t of, const char *triggered_by, struct run *out,
                    struct dmt_err *err) {
    struct run old = {0};
    int rc = s->ops->run_get(s->ctx, of, &old, err);
    if (rc == DMT_OK) {
        memset(out, 0, sizeof(*out));
        out->job = util_strdup(old.job);
        out->environment = util_strdup(old.environment);
        out->job_id = old.job_id;
        out->env_id = old.env_id;
        out->triggered_by = util_strdup(triggered_by);
        out->rerun_of = of;
        out->snapshot = json_incref(old.snapshot);
        /* Where it may run is the rule of today of its environment (by id:
         * it may have been renamed); if that is gone, the first run's. */
        struct env_list envs = {0};
        rc = s->ops->env_list(s->ctx, &envs, err);
        const json_t *tags = old.tags;
        for (size_t i = 0; rc == DMT_OK && i < envs.n; i++)
            if (envs.items[i].m.id == old.env_id) tags = envs.items[i].worker_tags;
        out->tags = json_incref((json_t *)tags);
        env_list_cleanup(&envs);
        if (rc == DMT_OK) rc = insert_run(s, out, err);
    }
    run_cleanup(&old);
    return rc;
}

/* The tags of a JSON array as "a, b". */
static void tag_text(const json_t *tags, char *out, size_t len) {
    size_t i, pos = 0;
    const json_t *t;
    out[0] = '\0';
    json_array_foreach(tags, i, t) {
        int n = snprintf(out + pos, len - pos, "%s%s", i > 0 ? ", " : "", json_string_value(t));
        if (n < 0 || (size_t)n >= len - pos) break;
        pos += (size_t)n;
    }
}

char *model_run_waiting(const struct run *r, const struct worker_list *w) {
    if (r->status != RUN_QUEUED) return NULL;
    char buf[768], tags[256];
    unsigned online = 0, able = 0, room = 0, draining = 0;
    for (size_t i = 0; i < w->n; i++) {
        const struct worker *k = &w->items[i];
        if (!worker_online(k)) continue;
        online++;
        if (!tags_subset(r->tags, k->tags)) continue;
        if (k->draining) {
            draining++;
            continue;
        }
        able++;
        if (k->active < k->concurrency) room++;
    }
    tag_text(r->tags, tags, sizeof(tags));
    if (online == 0)
        snprintf(buf, sizeof(buf),
                 "no executor is online: start `dmt worker` (or `dmt serve` without "
                 "--no-executor)%s%s",
                 tags[0] ? " with the tags " : "", tags);
    else if (able == 0 && draining > 0)
        snprintf(buf, sizeof(buf),
                 "waiting for an executor%s%s: the %u that may run it %s draining (finishing "
                 "their runs before they stop)",
                 tags[0] ? " with the tags " : "", tags, draining, draining == 1 ? "is" : "are");
    else if (able == 0)
        snprintf(buf, sizeof(buf),
                 "waiting for a worker with the tags %s (environment %s requires them): none of "
                 "the %u online executor%s has them all",
                 tags, r->environment, online, online == 1 ? "" : "s");
    else if (room == 0)
        snprintf(buf, sizeof(buf),
                 "waiting for a free slot: the %u executor%s that may run it %s busy", able,
                 able == 1 ? "" : "s", able == 1 ? "is" : "are all");
    else
        snprintf(buf, sizeof(buf), "waiting to be claimed by one of %u executor%s", able,
                 able == 1 ? "" : "s");
    return util_strdup(buf);
}

int model_run_cancel(struct store *s, int64_t id, struct run *out, struct dmt_err *err) {
    int rc = s->ops->run_get(s->ctx, id, out, err);
    if (rc != DMT_OK) return rc;
    if (run_status_terminal(out->status))
        return dmt_err_set(err, DMT_ERR_CONFLICT, "run %lld has already ended (%s)",
                           (long long)id, run_status_name(out->status));
    out->cancel_requested = true;
    if (out->status == RUN_QUEUED) {
        /* Nothing runs yet: it ends here. */
        out->status = RUN_CANCELED;
        util_now_rfc3339(out->finished_at, sizeof(out->finished_at));
        struct task_result_list l = {0};
        rc = s->ops->result_list(s->ctx, id, &l, err);
        for (size_t i = 0; rc == DMT_OK && i < l.n; i++) {
            if (l.items[i].status != RESULT_PENDING) continue;
            l.items[i].status = RESULT_CANCELED;
            rc = s->ops->result_update(s->ctx, &l.items[i], err);
        }
        task_result_list_cleanup(&l);
    }
    if (rc == DMT_OK) rc = s->ops->run_update(s->ctx, out, err);
    return rc;
}
