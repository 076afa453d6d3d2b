/* demo.c - the first-start demo (see demo.h). */
#include "model/demo.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/edit.h"

static int demo_tx(struct store *s, void *arg, struct dmt_err *err) {
    bool *created = arg;
    *created = false;
    char *done = NULL;
    int rc = s->ops->kv_get(s->ctx, "demo_created", &done, NULL);
    free(done);
    if (rc == DMT_OK) return DMT_OK;
    struct env_list envs = {0};
    struct job_list jobs = {0};
    rc = s->ops->env_list(s->ctx, &envs, err);
    if (rc == DMT_OK) rc = s->ops->job_list(s->ctx, &jobs, err);
    bool empty = envs.n == 0 && jobs.n == 0;
    env_list_cleanup(&envs);
    job_list_cleanup(&jobs);
    if (rc != DMT_OK || !empty) return rc;

    static const char *const names[] = {"dev", "staging", "prod"};
    struct env prod = {0};
    for (size_t i = 0; rc == DMT_OK && i < 3; i++) {
        struct env e = {.name = util_strdup(names[i]),
                        .description = util_strdup(i == 2 ? "Production" : ""),
                        .protected_ = i == 2,
                        .grants = json_array()};
        rc = model_env_create(s, &e, 0, err);
        if (i == 2) prod = e;
        else env_cleanup(&e);
    }
    struct job j = {.name = util_strdup("hello"),
                    .description = util_strdup("A first job: greets the environment it runs in.")};
    if (rc == DMT_OK) rc = s->ops->job_insert(s->ctx, &j, err);
    struct task t = {.name = util_strdup("greet"), .plugin = util_strdup("shell"), .enabled = true};
    json_t *values = json_pack("{s:s}", "script",
                               "echo \"Hello, $GREETING from ${{ env.name }} (job ${{ job.name }})\"");
    if (rc == DMT_OK) rc = model_task_create(s, &j, &t, values, err);
    json_decref(values);
    struct var v = {.name = util_strdup("GREETING"),
                    .type = VAR_STRING,
                    .description = util_strdup("Who is greeted; prod overrides it."),
                    .value = json_string("world")};
    if (rc == DMT_OK) rc = model_var_create(s, &t, &v, err);
    struct override o = {0};
    bool is_new;
    json_t *prod_value = json_string("production team");
    if (rc == DMT_OK) rc = model_override_put(s, &t, &v, &prod, prod_value, &o, &is_new, err);
    json_decref(prod_value);
    if (rc == DMT_OK) rc = s->ops->kv_set(s->ctx, "demo_created", "1", err);
    if (rc == DMT_OK) *created = true;
    override_cleanup(&o);
    var_cleanup(&v);
    task_cleanup(&t);
    job_cleanup(&j);
    env_cleanup(&prod);
    return rc;
}

int model_demo_create(struct store *s, bool *created, struct dmt_err *err) {
    return store_tx(s, true, demo_tx, created, err);
}
