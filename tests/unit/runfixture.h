/*
 * runfixture.h - the fixture the run store tests share: a fresh store per
 * test (testdb.h: SQLite or PostgreSQL), the CALL/EXPECT/OK helpers around
 * store ops, and builders of runs and task results.
 *
 * Include it once per test file, after defining `static char dir[]` (an
 * mkdtemp template), then declare the suite with .init = setup and
 * .fini = teardown.
 */
#ifndef DMT_RUNFIXTURE_H
#define DMT_RUNFIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "testdb.h"

static char path[256];
static struct store *s;
static struct dmt_err err;

/* Calls one op of store st with the shared err, cleared first. */
#define CALL(st, op, ...) (dmt_err_cleanup(&err), (st)->ops->op((st)->ctx, __VA_ARGS__, &err))
#define EXPECT(code, st, op, ...)                                                                  \
    do {                                                                                           \
        int rc_ = CALL(st, op, __VA_ARGS__);                                                       \
        cr_assert_eq(rc_, (code), "%s: got %s (%s)", #op, dmt_status_name(rc_), err.msg);          \
    } while (0)
#define OK(st, op, ...) EXPECT(DMT_OK, st, op, __VA_ARGS__)

static inline struct store *open_store(void) {
    struct store *st = NULL;
    dmt_err_cleanup(&err);
    int rc = store_open(path, &st, &err);
    cr_assert_eq(rc, DMT_OK, "store_open: %s", err.msg);
    cr_assert_not_null(st);
    return st;
}

static inline void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
    tdb_url(path, sizeof(path), dir);
    tdb_reset(path);
    dmt_err_init(&err);
    s = open_store();
}

static inline void teardown(void) {
    char f[300];
    store_close(s);
    s = NULL;
    dmt_err_cleanup(&err);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof(f), "%s/dmt.db%s", dir, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
}


/* --- builders ---------------------------------------------------------- */

static inline json_t *snapshot_of(const char *job, const char *env) {
    return json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:i, s:i, s:b, s:i, s:{s:s, s:i, s:{s:{s:i, "
                     "s:i, s:i}}}}]}",
                     "job", job, "environment", env, "tasks", "name", "build", "plugin", "shell",
                     "on_failure", "stop", "timeout_s", 30, "retries", 1, "enabled", 1, "task_id",
                     7, "values", "CMD", "make ${{ tasks.x.outputs.y }} \xc3\xa9", "N", 3, "TOKEN",
                     "$secret", "task_id", 7, "var_id", 9, "env_id", 2);
}

/* Inserts a run and returns it (the caller cleans it up). */
static inline struct run add_run(const char *job, const char *env, int status) {
    struct run r = {0};
    r.job = strdup(job);
    r.environment = strdup(env);
    r.job_id = 11;
    r.env_id = 22;
    r.status = status;
    r.triggered_by = strdup("admin");
    r.snapshot = snapshot_of(job, env);
    OK(s, run_insert, &r);
    return r;
}

/* Inserts a run and returns only its id. */
static inline int64_t add_run_id(const char *job, const char *env, int status) {
    struct run r = add_run(job, env, status);
    int64_t id = r.m.id;
    run_cleanup(&r);
    return id;
}

static inline struct task_result add_result(int64_t run_id, int idx, const char *name) {
    struct task_result t = {0};
    t.run_id = run_id;
    t.idx = idx;
    t.name = strdup(name);
    t.status = RESULT_PENDING;
    t.exit_code = -1;
    OK(s, result_insert, &t);
    return t;
}

#endif
