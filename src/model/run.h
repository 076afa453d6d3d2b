/*
 * run.h - runs, their per-task results and their logs (DESIGN.md §5).
 *
 * A run is one execution of a job against an environment. It keeps a
 * snapshot of the job and of the values resolved at creation, so later
 * edits never change what it ran with and a re-run can repeat it:
 *
 *   {"job": "deploy", "environment": "prod",
 *    "tasks": [{"name", "plugin", "on_failure", "timeout_s", "retries",
 *               "enabled", "task_id",
 *               "values": {"NAME": <resolved JSON value>
 *                                 | {"$secret": {"task_id", "var_id", "env_id"}}}}]}
 *
 * Secret values (and values derived from one) are never in the snapshot:
 * they are kept as a reference and looked up when the task starts. Values
 * may still hold ${{ tasks.T.outputs.K }} references, filled in from the
 * outputs of earlier tasks of the same run when the task starts.
 */
#ifndef DMT_RUN_H
#define DMT_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define RUN_STATUS_MAP(X)                                                    \
    X(QUEUED, "queued")                                                      \
    X(RUNNING, "running")                                                    \
    X(SUCCEEDED, "succeeded")                                                \
    X(FAILED, "failed")                                                      \
    X(CANCELED, "canceled")                                                  \
    X(INTERRUPTED, "interrupted")

enum run_status {
#define X(n, s) RUN_##n,
    RUN_STATUS_MAP(X)
#undef X
};

#define RESULT_STATUS_MAP(X)                                                 \
    X(PENDING, "pending")                                                    \
    X(RUNNING, "running")                                                    \
    X(SUCCEEDED, "succeeded")                                                \
    X(FAILED, "failed")                                                      \
    X(SKIPPED, "skipped")                                                    \
    X(CANCELED, "canceled")

enum result_status {
#define X(n, s) RESULT_##n,
    RESULT_STATUS_MAP(X)
#undef X
};

struct run {
    struct meta m; /* m.id is the run number */
    char *job;          /* job name when created */
    char *environment;  /* environment name when created */
    int64_t job_id;
    int64_t env_id;
    int status;
    char *triggered_by; /* who: "admin", "token:ci", "anonymous" */
    int64_t rerun_of;   /* the run this one repeats, 0 if none */
    char started_at[32];  /* "" until it starts */
    char finished_at[32]; /* "" until it ends */
    bool cancel_requested;
    char *owner;      /* the executor holding it ("host:pid"), NULL if none */
    /* The lease (DESIGN.md §6): fence counts the claims and revocations of
     * the run; a write of the run or of one of its task results carries the
     * fence it was read with and is rejected (DMT_ERR_CONFLICT) when the
     * row's fence has moved on. lease_until: Unix milliseconds (the
     * database's clock) until which the owner holds it; 0 if no lease. */
    int64_t fence;
    int64_t lease_until;
    /* The worker tags it needs (its environment's worker_tags when it was
     * queued): only an executor with all of them claims it. An array,
     * NULL or empty: any executor. */
    json_t *tags;
    json_t *snapshot; /* see above; never NULL once stored */
};

struct task_result {
    int64_t id;
    int64_t run_id;
    int idx; /* 0-based position in the snapshot's tasks */
    char *name;
    int status;
    int attempts;
    int exit_code; /* -1 while unknown or when killed by a signal */
    char *error;   /* "timeout", "canceled", "signal 9", "exec failed: ...", or NULL */
    char started_at[32];
    char finished_at[32];
    json_t *outputs; /* {"KEY": "value"}, never NULL once stored */
    int64_t fence;   /* the run's fence when read; result_update checks it */
};

enum log_stream { LOG_STDOUT = 0, LOG_STDERR = 1, LOG_SYSTEM = 2 };

/* A piece of a run's log as stored: bytes of one stream of one task. */
struct log_chunk {
    int64_t seq; /* increasing within the run; assigned by the store */
    int64_t run_id;
    int task_idx; /* -1 for lines of the run itself */
    int stream;
    char ts[32];
    char *data; /* not NUL-terminated data may contain NULs: use len */
    size_t len;
    /* > 0: stored only while the run's fence is still this one (the output
     * of a task whose executor lost the run is not stored); 0: always. */
    int64_t fence;
};

struct run_filter {
    const char *job;         /* NULL: any */
    const char *environment; /* NULL: any */
    int status;              /* -1: any */
    int64_t before_id;       /* 0: from the newest; else runs with id < before_id */
    int limit;               /* 1..500 */
};

/*
 * An executor process as it reports itself (GET /workers): `dmt worker`
 * or a `dmt serve` with its executor. It registers at start, beats every
 * third of its lease, and removes itself at a clean stop; one that is not
 * heard of for a lease is shown as lost, and forgotten after an hour.
 */
struct worker {
    int64_t id;
    char *name;       /* "host:pid": the owner of the runs it claims */
    char *kind;       /* "worker" or "serve" */
    json_t *tags;     /* array of slugs, never NULL once loaded */
    int concurrency;  /* runs it executes at once */
    int active;       /* runs it holds now */
    int lease_s;
    char started_at[32];
    int64_t seen_ago_ms; /* since its last beat, on the database's clock */
    bool draining;       /* finishing its runs, claiming no new one */
    json_t *runs;     /* its running runs [{"id", "lease_until" (ms)}]; list only */
};

DMT_LIST(run);
DMT_LIST(worker);
DMT_LIST(task_result);
DMT_LIST(log_chunk);

void run_cleanup(struct run *r);
void task_result_cleanup(struct task_result *t);
void log_chunk_cleanup(struct log_chunk *c);
void run_list_cleanup(struct run_list *l);
void worker_cleanup(struct worker *w);
void worker_list_cleanup(struct worker_list *l);
struct worker *worker_list_push(struct worker_list *l);
/* Whether a worker was heard of within its lease (else it is "lost"). */
static inline bool worker_online(const struct worker *w) {
    return w->seen_ago_ms <= (int64_t)w->lease_s * 1000;
}

/* True when tags (an array of strings; NULL: none) are all in have. */
bool tags_subset(const json_t *tags, const json_t *have);
void task_result_list_cleanup(struct task_result_list *l);
void log_chunk_list_cleanup(struct log_chunk_list *l);
struct run *run_list_push(struct run_list *l);
struct task_result *task_result_list_push(struct task_result_list *l);
struct log_chunk *log_chunk_list_push(struct log_chunk_list *l);

const char *run_status_name(int s);
int run_status_parse(const char *s); /* -1 if unknown */
const char *result_status_name(int s);
int result_status_parse(const char *s); /* -1 if unknown */
bool run_status_terminal(int s);

#endif
