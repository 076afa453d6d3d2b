/* res_workflow.c - /api/v1/jobs/{job}/workflow and /plan. */
#include <string.h>

#include "http/http.h"
#include "model/secrets.h"

static int workflow_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct job_view v;
    int rc = view_load(arg, s, &v, NULL, NULL, err);
    if (rc == DMT_OK) op_answer(arg, 200, resolve_workflow(&v), NULL, NULL);
    job_view_cleanup(&v);
    return rc;
}

int res_workflow_get(struct req *r) { return op_run(r, false, workflow_tx, NULL); }

static int plan_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const char *env_name = op->arg;
    struct job_view v;
    int rc = view_load(op, s, &v, NULL, NULL, err);
    const struct env *env = NULL;
    for (size_t i = 0; rc == DMT_OK && i < v.envs.n; i++)
        if (strcmp(v.envs.items[i].name, env_name) == 0) env = &v.envs.items[i];
    if (rc == DMT_OK && env == NULL)
        rc = dmt_err_set(err, DMT_ERR_NOT_FOUND, "no environment named '%s'", env_name);
    /* Preflight checks what secrets resolve to (in memory; the plan shows
     * them masked). */
    if (rc == DMT_OK) rc = secrets_open_view(&v, err);
    if (rc == DMT_OK) op_answer(op, 200, resolve_plan(&v, env), NULL, NULL);
    job_view_cleanup(&v);
    return rc;
}

int res_plan_get(struct req *r) {
    const char *env = req_query(r, "environment");
    if (env == NULL || *env == '\0') {
        dmt_err_field(&r->err, "environment", "is required: ?environment=NAME");
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "which environment? add ?environment=NAME");
    }
    if (!name_is_slug(env)) {
        dmt_err_field(&r->err, "environment", "'%s' is not a valid name", env);
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "invalid environment name");
    }
    return op_run(r, false, plan_tx, (void *)env);
}
