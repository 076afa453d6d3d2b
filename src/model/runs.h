/*
 * runs.h - creating runs: preflight, snapshot, the queued rows.
 */
#ifndef DMT_RUNS_H
#define DMT_RUNS_H

#include "model/run.h"
#include "store/store.h"

/*
 * Creates a queued run of job `job` against environment `env` (inside the
 * caller's write transaction): resolves every value (model/resolve.h);
 * when preflight finds problems, creates nothing and returns
 * DMT_ERR_PREFLIGHT with err->extra = {"errors": [{"task", "variable",
 * "environment", "message"}]}. Otherwise inserts the run (status queued,
 * with its snapshot) and one pending task result per task of the snapshot
 * (disabled tasks are results with status skipped), and fills *out.
 * triggered_by is borrowed.
 */
int model_run_create(struct store *s, const char *job, const char *env, const char *triggered_by,
                     struct run *out, struct dmt_err *err);

/*
 * Why run r is still queued, for people: no executor online, none with
 * the tags its environment requires, all of those busy, or about to be
 * claimed. A malloc'd sentence, or NULL when r is not queued.
 */
char *model_run_waiting(const struct run *r, const struct worker_list *w);

/*
 * Creates a queued run that repeats run `of` exactly: the same snapshot
 * (secrets are looked up again when its tasks start), rerun_of = of. It
 * needs the worker tags its environment requires now (those of run `of`
 * if the environment is gone).
 */
int model_run_rerun(struct store *s, int64_t of, const char *triggered_by, struct run *out,
                    struct dmt_err *err);

/*
 * Asks for a run to be canceled: a queued run becomes canceled at once
 * (its results canceled); a running one gets cancel_requested and the
 * executor stops it. A run that already ended is DMT_ERR_CONFLICT.
 */
int model_run_cancel(struct store *s, int64_t id, struct run *out, struct dmt_err *err);

#endif
