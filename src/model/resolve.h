/*
 * resolve.h - effective values, ${{ }} references, the workflow matrix and
 * the plan (DESIGN.md §1 "Resolution").
 *
 * A job view is everything about one job that resolution needs, loaded in
 * one read transaction so that the result is consistent.
 */
#ifndef DMT_RESOLVE_H
#define DMT_RESOLVE_H

#include "model/model.h"
#include "store/store.h"

struct job_view {
    struct job job;
    struct env_list envs;
    struct task_list tasks;
    struct var_list vars;
    struct override_list ovs;
};

/* Loads the view of the job named name (inside the caller's transaction).
 * Release it with job_view_cleanup, also after a failure. */
int job_view_load(struct store *s, const char *name, struct job_view *out, struct dmt_err *err);
void job_view_cleanup(struct job_view *v);

/* The override of var for env in the view, or NULL. */
const struct override *job_view_override(const struct job_view *v, int64_t var_id,
                                         int64_t env_id);

/* The workflow document (DESIGN.md §3). New reference; no secret in it. */
json_t *resolve_workflow(const struct job_view *v);

/* The plan of the job for env (DESIGN.md §3): resolved values, secrets
 * masked, and every preflight error in "errors". New reference. */
json_t *resolve_plan(const struct job_view *v, const struct env *env);

/*
 * The values of one task for a run (a new object NAME -> value; unset
 * values are null). Differences from the plan: `$${{` escapes stay escaped
 * and ${{ run.id }} / ${{ tasks.T.outputs.K }} stay as written, because the
 * executor expands each value once more when the task starts
 * (resolve_runtime). A value that holds a secret is replaced by
 * {"$secret": {"task_id", "var_id", "env_id"}} unless with_secrets. Call it
 * only when resolve_plan found no error.
 */
json_t *resolve_task_values(const struct job_view *v, const struct env *env,
                            const struct task *task, bool with_secrets);

/*
 * The last expansion of a run's value when its task starts: replaces
 * ${{ run.id }} and ${{ tasks.T.outputs.K }} (outputs: {"T": {"K": "v"}})
 * and turns $${{ into ${{. Returns a new string, or NULL with a message in
 * err (an output that does not exist: the earlier task did not write it).
 */
char *resolve_runtime(const char *value, int64_t run_id, const json_t *outputs,
                      struct dmt_err *err);

#endif
