/*
 * store.h - the one storage interface of dmt (DESIGN.md §6).
 *
 * A store is a table of operations plus a backend context, like curl's TLS
 * backends. SQLite is the embedded backend, PostgreSQL (store_pg.c) the
 * shared one, behind the same table. No SQL text and no dialect test lives
 * above src/store/.
 *
 * Rules every backend keeps:
 * - Every operation returns a status: DMT_OK, DMT_ERR_NOT_FOUND (no such
 *   row), DMT_ERR_CONFLICT (a unique name already taken), DMT_ERR_BUSY
 *   (retryable: lock or serialization failure) or DMT_ERR_STORE (hard).
 *   Details go to err.
 * - Out-structs are filled on DMT_OK only and owned by the caller (free them
 *   with the model's *_cleanup functions). In-structs are borrowed.
 * - insert fills in m (id, version 1, created_at, updated_at); update writes
 *   every column of the row with id m.id, increments the version and fills
 *   in m again. Lists are ordered: environments by position, jobs by name,
 *   tasks by position, variables by (task position, id), overrides by id.
 * - Deleting a row deletes what hangs under it (a job's tasks, a task's
 *   variables, a variable's or an environment's overrides).
 * - One store handle is one connection: use it from one thread at a time.
 * - The backend's close frees the struct store too (it lives inside the
 *   backend's context).
 */
#ifndef DMT_STORE_H
#define DMT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "model/model.h"
#include "model/run.h"

/* The tables whose rows can be touched (version bumped, updated_at set). */
enum store_kind { KIND_ENV, KIND_JOB, KIND_TASK, KIND_VAR, KIND_OVERRIDE };

struct store_ops {
    const char *name; /* "sqlite", "postgres" */
    void (*close)(void *ctx);

    /* write=true takes the write lock at once (BEGIN IMMEDIATE). */
    int (*begin)(void *ctx, bool write, struct dmt_err *err);
    int (*commit)(void *ctx, struct dmt_err *err);
    void (*rollback)(void *ctx);
    bool (*in_tx)(void *ctx);

    int (*env_list)(void *ctx, struct env_list *out, struct dmt_err *err);
    int (*env_get)(void *ctx, const char *name, struct env *out, struct dmt_err *err);
    int (*env_insert)(void *ctx, struct env *e, struct dmt_err *err);
    int (*env_update)(void *ctx, struct env *e, struct dmt_err *err);
    int (*env_delete)(void *ctx, int64_t id, struct dmt_err *err);

    int (*job_list)(void *ctx, struct job_list *out, struct dmt_err *err);
    int (*job_get)(void *ctx, const char *name, struct job *out, struct dmt_err *err);
    int (*job_insert)(void *ctx, struct job *j, struct dmt_err *err);
    int (*job_update)(void *ctx, struct job *j, struct dmt_err *err);
    int (*job_delete)(void *ctx, int64_t id, struct dmt_err *err);

    int (*task_list)(void *ctx, int64_t job_id, struct task_list *out, struct dmt_err *err);
    int (*task_get)(void *ctx, int64_t job_id, const char *name, struct task *out,
                    struct dmt_err *err);
    int (*task_insert)(void *ctx, struct task *t, struct dmt_err *err);
    int (*task_update)(void *ctx, struct task *t, struct dmt_err *err);
    int (*task_delete)(void *ctx, int64_t id, struct dmt_err *err);

    int (*var_list)(void *ctx, int64_t task_id, struct var_list *out, struct dmt_err *err);
    /* Every variable of every task of a job. */
    int (*var_list_job)(void *ctx, int64_t job_id, struct var_list *out, struct dmt_err *err);
    int (*var_get)(void *ctx, int64_t task_id, const char *name, struct var *out,
                   struct dmt_err *err);
    int (*var_insert)(void *ctx, struct var *v, struct dmt_err *err);
    int (*var_update)(void *ctx, struct var *v, struct dmt_err *err);
    int (*var_delete)(void *ctx, int64_t id, struct dmt_err *err);

    /* Every override of every variable of a job. */
    int (*override_list_job)(void *ctx, int64_t job_id, struct override_list *out,
                             struct dmt_err *err);
    int (*override_list_var)(void *ctx, int64_t var_id, struct override_list *out,
                             struct dmt_err *err);
    int (*override_get)(void *ctx, int64_t var_id, int64_t env_id, struct override *out,
                        struct dmt_err *err);
    /* Inserts, or updates the existing (var_id, env_id) row. */
    int (*override_put)(void *ctx, struct override *o, struct dmt_err *err);
    int (*override_delete)(void *ctx, int64_t id, struct dmt_err *err);

    /* Increments the version of one row and sets its updated_at. */
    int (*touch)(void *ctx, enum store_kind kind, int64_t id, struct dmt_err *err);

    int (*user_get)(void *ctx, const char *name, struct user *out, struct dmt_err *err);
    int (*user_insert)(void *ctx, struct user *u, struct dmt_err *err);
    int (*token_insert)(void *ctx, struct token *t, struct dmt_err *err);
    int (*token_find)(void *ctx, const char *hash, struct token *out, struct dmt_err *err);

    /* --- users, tokens, sessions, audit (DESIGN.md §7) ---
     * user_list: by name. user_update writes every column of row u->m.id
     * (name, role, password_hash, failed_logins, locked_until). Deleting a
     * user deletes its tokens and sessions. */
    int (*user_list)(void *ctx, struct user_list *out, struct dmt_err *err);
    int (*user_get_id)(void *ctx, int64_t id, struct user *out, struct dmt_err *err);
    int (*user_update)(void *ctx, struct user *u, struct dmt_err *err);
    int (*user_delete)(void *ctx, int64_t id, struct dmt_err *err);
    /* token_list (by id) and token_get fill each token's user name too;
     * token_delete revokes: the token stops working at once. */
    int (*token_list)(void *ctx, struct token_list *out, struct dmt_err *err);
    int (*token_get)(void *ctx, int64_t id, struct token *out, struct dmt_err *err);
    int (*token_delete)(void *ctx, int64_t id, struct dmt_err *err);
    /* Sessions are found by the hash of their cookie, and only while
     * expires_at > now (Unix seconds); insert fills s->id; purge deletes
     * every session that has expired at now. */
    int (*session_insert)(void *ctx, struct session *s, struct dmt_err *err);
    int (*session_find)(void *ctx, const char *hash, int64_t now, struct session *out,
                        struct dmt_err *err);
    int (*session_delete)(void *ctx, int64_t id, struct dmt_err *err);
    int (*session_purge)(void *ctx, int64_t now, struct dmt_err *err);
    /* The audit log: insert fills a->id (and a->ts when empty); list gives
     * up to limit entries with id < before_id (0: from the newest),
     * newest first. */
    int (*audit_insert)(void *ctx, struct audit_entry *a, struct dmt_err *err);
    int (*audit_list)(void *ctx, int64_t before_id, int limit, struct audit_entry_list *out,
                      struct dmt_err *err);

    /* A small key/value table for server state ("demo_created", ...).
     * get: *out is a malloc'd copy the caller frees. */
    int (*kv_get)(void *ctx, const char *key, char **out, struct dmt_err *err);
    int (*kv_set)(void *ctx, const char *key, const char *value, struct dmt_err *err);

    /* --- runs (DESIGN.md §5) ---
     * run_insert fills m (id = the run number; fence 0, no lease).
     * run_update writes status, started_at, finished_at, cancel_requested
     * and owner of row m.id, only while the row's fence is still r->fence
     * (fenced: a holder that lost its lease cannot overwrite), else
     * DMT_ERR_CONFLICT; a terminal status also drops the lease.
     * run_list: newest first, as the filter says. run_list_status: every
     * run in that status, oldest first (the queue, recovery). */
    int (*run_insert)(void *ctx, struct run *r, struct dmt_err *err);
    int (*run_get)(void *ctx, int64_t id, struct run *out, struct dmt_err *err);
    int (*run_update)(void *ctx, struct run *r, struct dmt_err *err);
    int (*run_list)(void *ctx, const struct run_filter *f, struct run_list *out,
                    struct dmt_err *err);
    int (*run_list_status)(void *ctx, int status, struct run_list *out, struct dmt_err *err);
    /* Cheap reads for pollers (no snapshot is parsed): the status and
     * cancel flag of one run; the ids of up to limit runs in a status,
     * oldest first, into ids (room for limit), *n of them. */
    int (*run_state)(void *ctx, int64_t id, int *status, bool *cancel_requested,
                     struct dmt_err *err);
    int (*run_ids)(void *ctx, int status, int limit, int64_t *ids, size_t *n,
                   struct dmt_err *err);

    /* Leases (DESIGN.md §6). Times are the database's clock, so nodes
     * whose clocks disagree still agree on who holds a run.
     * run_claim: inside a write transaction, takes the oldest queued run
     * (PostgreSQL: FOR UPDATE SKIP LOCKED): status running, started_at
     * now, owner = node, fence + 1, lease until now + lease_s; *id and
     * *fence receive it. DMT_ERR_NOT_FOUND when no run is queued.
     * run_renew: extends the lease of run id to now + lease_s while it is
     * running under that fence; DMT_ERR_CONFLICT when it is not (the
     * holder lost it). Meant to be called outside a transaction: a
     * heartbeat is not a change (it moves no change sequence).
     * run_revoke: inside a write transaction, takes run id away from its
     * holder: fence + 1, no lease; only while it is running under that
     * fence and, if expired_only, its lease has expired (or it has none);
     * else DMT_ERR_CONFLICT. *new_fence receives the new fence.
     * run_expired: the ids of up to limit running runs whose lease has
     * expired (or that have none), oldest first, into ids, *n of them. */
    int (*run_claim)(void *ctx, const char *node, const json_t *tags, int lease_s, int64_t *id,
                     int64_t *fence, struct dmt_err *err);
    int (*run_renew)(void *ctx, int64_t id, int64_t fence, int lease_s, struct dmt_err *err);
    int (*run_revoke)(void *ctx, int64_t id, int64_t fence, bool expired_only,
                      int64_t *new_fence, struct dmt_err *err);
    int (*run_expired)(void *ctx, int limit, int64_t *ids, size_t *n, struct dmt_err *err);

    /* Workers (struct worker). worker_beat: inserts or updates the row
     * named w->name (kind, tags, concurrency, active, lease_s, started_at,
     * draining),
     * seen now on the database's clock, and forgets workers not seen for
     * an hour. worker_gone: deletes the row of that name (DMT_OK if there
     * is none). worker_list: every worker by name, each with the runs it
     * holds now (running, owner = its name) and active = their number
     * (what the database says, not what its last beat said). A beat is not a change: call it outside transactions, like
     * run_renew. */
    int (*worker_beat)(void *ctx, const struct worker *w, struct dmt_err *err);
    int (*worker_gone)(void *ctx, const char *name, struct dmt_err *err);
    int (*worker_list)(void *ctx, struct worker_list *out, struct dmt_err *err);

    /* Task results: one row per (run, idx). insert fills id; update writes
     * status, attempts, exit_code, error, started_at, finished_at, outputs
     * of row id, only while the run's fence is still t->fence (list fills
     * it in), else DMT_ERR_CONFLICT. list: by idx. */
    int (*result_insert)(void *ctx, struct task_result *t, struct dmt_err *err);
    int (*result_update)(void *ctx, struct task_result *t, struct dmt_err *err);
    int (*result_list)(void *ctx, int64_t run_id, struct task_result_list *out,
                       struct dmt_err *err);

    /* Logs: log_append stores one chunk and fills c->seq; a fenced chunk
     * (c->fence > 0) of a run whose fence moved on is not stored:
     * DMT_ERR_CONFLICT. log_read returns
     * the chunks of a run with seq > after_seq in order, stopping after
     * max_bytes of data (at least one chunk if there is one). */
    int (*log_append)(void *ctx, struct log_chunk *c, struct dmt_err *err);
    int (*log_read)(void *ctx, int64_t run_id, int64_t after_seq, size_t max_bytes,
                    struct log_chunk_list *out, struct dmt_err *err);

    /* The change sequence: a number that every write transaction that
     * changed something increases (store_tx calls seq_bump before it
     * commits; seq_bump does nothing when the transaction changed nothing).
     * Equal numbers mean equal contents, on every node sharing the
     * database: caches and list ETags key on it. */
    int (*seq_get)(void *ctx, int64_t *out, struct dmt_err *err);
    int (*seq_bump)(void *ctx, struct dmt_err *err);

    /* Housekeeping a backend wants done off the request path (SQLite: a
     * passive WAL checkpoint, so that no writer pays for one). Called
     * periodically by the maintainer thread (store_maintainer_start). */
    int (*maintain)(void *ctx, struct dmt_err *err);
};

struct store {
    const struct store_ops *ops;
    void *ctx;
};

/*
 * Opens a store from a URL: "sqlite:PATH" (or a bare path), or
 * "postgres://..." / "postgresql://..." (a libpq connection URI). Creates the
 * database and applies the versioned migrations as needed. On success
 * *out is a new handle the caller releases with store_close().
 */
int store_open(const char *url, struct store **out, struct dmt_err *err);
void store_close(struct store *s);

/* The backend constructors; only store.c calls them. */
int store_sqlite_open(const char *path, struct store **out, struct dmt_err *err);
int store_pg_open(const char *conninfo, struct store **out, struct dmt_err *err);

/*
 * Runs fn(s, arg, err) inside one transaction and commits it; a write
 * transaction also bumps the change sequence. A DMT_ERR_BUSY
 * from fn or from the commit rolls back and runs fn again (bounded number of
 * times, with a short back-off), so fn must have no effects outside the
 * store. Any other failure rolls back and is returned.
 */
typedef int (*store_tx_fn)(struct store *s, void *arg, struct dmt_err *err);
int store_tx(struct store *s, bool write, store_tx_fn fn, void *arg, struct dmt_err *err);

/*
 * The link between the nodes sharing a database (core/bus.h): on
 * PostgreSQL, a thread with a connection of its own that LISTENs and
 * NOTIFYs (store/bus_pg.c), attached to core/bus while it runs. SQLite
 * serves one process: there is nothing to link, and *out is NULL.
 * store_bus_stop(NULL) does nothing.
 */
struct store_bus;
int store_bus_start(const char *url, struct store_bus **out, struct dmt_err *err);
void store_bus_stop(struct store_bus *b);
int store_bus_pg_start(const char *conninfo, struct store_bus **out, struct dmt_err *err);

/* A background thread with its own connection that calls ops->maintain
 * every period_ms. Stop (and free) it with store_maintainer_stop. */
struct store_maintainer;
int store_maintainer_start(const char *url, unsigned period_ms, struct store_maintainer **out,
                           struct dmt_err *err);
void store_maintainer_stop(struct store_maintainer *m);

#endif
