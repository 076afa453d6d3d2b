/*
 * executor.h - the executor: one thread with an event loop that claims
 * queued runs and supervises their tasks as processes (DESIGN.md §5).
 *
 * The API never talks to the executor directly: it commits a queued run or
 * a cancel request to the store and calls notify_post(NOTIFY_WORK) (other
 * nodes hear of it through core/bus.h); the executor's hook wakes its loop,
 * which reads the store. So the same executor works in `dmt serve` and in
 * `dmt worker` on another machine.
 */
#ifndef DMT_EXECUTOR_H
#define DMT_EXECUTOR_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/status.h"
#include "store/store.h"

struct executor_opts {
    const char *db_url;
    unsigned concurrency; /* runs executed at once; more wait queued */
    const char *data_dir; /* run folders are made under DATA_DIR/runs/ */
    unsigned grace_s;     /* SIGTERM, then SIGKILL this much later */
    const char *node;     /* the name it claims runs under ("host:pid") */
    unsigned lease_s;     /* lease of a claimed run, renewed every lease_s/3; 0: 30 */
    const json_t *tags;   /* its worker tags (copied; NULL: none): it claims only runs
                           * whose environment requires no tag it lacks */
    const char *kind;     /* "worker" or "serve" (GET /workers); NULL: "serve" */
    /* Tasks run as uid:gid when run_as (the server must be root); their
     * run folders are then made theirs (work/) or readable to them. */
    bool run_as;
    uid_t uid;
    gid_t gid;
};

struct executor;

/* Starts the executor thread. *out is released by executor_stop(). */
int executor_start(const struct executor_opts *opts, struct executor **out, struct dmt_err *err);

/*
 * Drains: claims no new run (GET /workers shows it draining), lets the
 * runs it has go on to their end. executor_drained() tells when that is
 * done; executor_stop() then stops it. For a rolling restart of workers.
 */
void executor_drain(struct executor *ex);
/* True once a drain took effect and no run is left (true for NULL). */
bool executor_drained(struct executor *ex);

/*
 * Stops claiming runs; sends SIGTERM to the process group of every task
 * still running, SIGKILL after the grace period; their runs end
 * `interrupted` (they can be re-run); queued runs stay queued for the next
 * start. Joins the thread and frees ex. NULL does nothing.
 */
void executor_stop(struct executor *ex);

/*
 * At start, before executor_start: every run left `running` by a server
 * of this machine whose process is gone (owner "host:pid") becomes
 * `interrupted` at once (its running task failed, the rest canceled, a
 * system line in its log), and any process still carrying one of its
 * DMT_RUN_ID values in its environment is killed with its group. Runs of
 * other machines are left to the lease sweep that every executor does
 * (a run whose lease expired is interrupted, or queued again when none of
 * its tasks started). *count receives the number of runs interrupted.
 */
int executor_recover(struct store *s, int *count, struct dmt_err *err);

/* Figures for /metrics (read without locks; approximate is fine). */
unsigned executor_queue_depth(void);
unsigned executor_runs_active(void);

#endif
