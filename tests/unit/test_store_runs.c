/* test_store_runs.c - runs, task results and logs through struct store_ops. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "testdb.h"

static char dir[] = "/tmp/dmt-test-runs-XXXXXX";
#include "runfixture.h"

TestSuite(store_runs, .init = setup, .fini = teardown);

static int64_t append(int64_t run_id, int task_idx, int stream, const void *data, size_t len) {
    struct log_chunk c = {0};
    c.run_id = run_id;
    c.task_idx = task_idx;
    c.stream = stream;
    c.data = (char *)data; /* borrowed: never freed here */
    c.len = len;
    OK(s, log_append, &c);
    cr_assert_gt(c.seq, 0);
    cr_assert_eq(strlen(c.ts), 24, "ts '%s'", c.ts);
    return c.seq;
}

/* Lists with a filter and checks the ids, in order; ids ends with 0. */
static void expect_list(const struct run_filter *f, const int64_t *ids) {
    struct run_list l = {0};
    size_t n = 0;
    while (ids[n] != 0)
        n++;
    OK(s, run_list, f, &l);
    cr_assert_eq(l.n, n, "got %zu runs, want %zu", l.n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(l.items[i].m.id, ids[i], "item %zu: got %lld, want %lld", i,
                     (long long)l.items[i].m.id, (long long)ids[i]);
    run_list_cleanup(&l);
}

/* --- runs -------------------------------------------------------------- */

Test(store_runs, run_insert_get_update) {
    struct run r = add_run("deploy", "prod", RUN_QUEUED);
    cr_assert_gt(r.m.id, 0);
    cr_assert_eq(r.m.version, 1);
    cr_assert_eq(strlen(r.m.created_at), 24, "created_at '%s'", r.m.created_at);
    cr_assert_str_eq(r.m.created_at, r.m.updated_at);

    struct run got = {0};
    OK(s, run_get, r.m.id, &got);
    cr_assert_eq(got.m.id, r.m.id);
    cr_assert_eq(got.m.version, 1);
    cr_assert_str_eq(got.job, "deploy");
    cr_assert_str_eq(got.environment, "prod");
    cr_assert_eq(got.job_id, 11);
    cr_assert_eq(got.env_id, 22);
    cr_assert_eq(got.status, RUN_QUEUED);
    cr_assert_str_eq(got.triggered_by, "admin");
    cr_assert_eq(got.rerun_of, 0);
    cr_assert_str_eq(got.started_at, "");
    cr_assert_str_eq(got.finished_at, "");
    cr_assert_not(got.cancel_requested);
    cr_assert_null(got.owner);
    cr_assert(json_equal(got.snapshot, r.snapshot), "snapshot differs");
    run_cleanup(&got);

    /* Started by an executor. */
    r.status = RUN_RUNNING;
    snprintf(r.started_at, sizeof(r.started_at), "2026-01-02T03:04:05.006Z");
    r.owner = strdup("node-abc");
    OK(s, run_update, &r);
    cr_assert_eq(r.m.version, 2);
    OK(s, run_get, r.m.id, &got);
    cr_assert_eq(got.status, RUN_RUNNING);
    cr_assert_eq(got.m.version, 2);
    cr_assert_str_eq(got.started_at, "2026-01-02T03:04:05.006Z");
    cr_assert_str_eq(got.finished_at, "");
    cr_assert_str_eq(got.owner, "node-abc");
    cr_assert_str_eq(got.m.created_at, r.m.created_at);
    run_cleanup(&got);

    /* Cancel asked, then ended, released by its owner. */
    r.cancel_requested = true;
    OK(s, run_update, &r);
    r.status = RUN_CANCELED;
    snprintf(r.finished_at, sizeof(r.finished_at), "2026-01-02T03:05:00.000Z");
    free(r.owner);
    r.owner = NULL;
    OK(s, run_update, &r);
    cr_assert_eq(r.m.version, 4);
    OK(s, run_get, r.m.id, &got);
    cr_assert_eq(got.status, RUN_CANCELED);
    cr_assert(got.cancel_requested);
    cr_assert_str_eq(got.finished_at, "2026-01-02T03:05:00.000Z");
    cr_assert_null(got.owner);
    /* The row's other columns are not touched by an update. */
    cr_assert_str_eq(got.job, "deploy");
    cr_assert(json_equal(got.snapshot, r.snapshot));
    run_cleanup(&got);
    run_cleanup(&r);
}

Test(store_runs, run_numbers_increase_and_rerun_of) {
    struct run a = add_run("deploy", "prod", RUN_SUCCEEDED);
    struct run b = {0};
    b.job = strdup("deploy");
    b.environment = strdup("prod");
    b.status = RUN_QUEUED;
    b.rerun_of = a.m.id;
    b.snapshot = json_deep_copy(a.snapshot);
    /* triggered_by NULL is stored as "". */
    OK(s, run_insert, &b);
    cr_assert_eq(b.m.id, a.m.id + 1);
    struct run got = {0};
    OK(s, run_get, b.m.id, &got);
    cr_assert_eq(got.rerun_of, a.m.id);
    cr_assert_str_eq(got.triggered_by, "");
    run_cleanup(&got);
    run_cleanup(&a);
    run_cleanup(&b);
}

Test(store_runs, snapshot_round_trip) {
    struct run r = {0};
    r.job = strdup("j");
    r.environment = strdup("e");
    r.status = RUN_QUEUED;
    r.snapshot = json_loads("{\"job\":\"j\",\"environment\":\"e\",\"tasks\":[{\"name\":\"t\","
                            "\"values\":{\"A\":null,\"B\":1.5,\"C\":[1,{\"x\":\"\\u0001y\"}],"
                            "\"D\":\"\\\"quoted\\\" \\n \\u00e9 \xe2\x82\xac\",\"E\":false,"
                            "\"F\":-9007199254740991}}]}",
                            0, NULL);
    cr_assert_not_null(r.snapshot);
    OK(s, run_insert, &r);
    struct run got = {0};
    OK(s, run_get, r.m.id, &got);
    char *want = json_dumps(r.snapshot, JSON_COMPACT | JSON_SORT_KEYS);
    char *have = json_dumps(got.snapshot, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(json_equal(got.snapshot, r.snapshot), "want %s, have %s", want, have);
    free(want);
    free(have);
    run_cleanup(&got);
    run_cleanup(&r);
}

Test(store_runs, run_errors) {
    struct run got = {0};
    EXPECT(DMT_ERR_NOT_FOUND, s, run_get, 4242, &got);
    cr_assert_str_eq(err.msg, "no run 4242");

    struct run r = {0};
    r.m.id = 4242;
    r.status = RUN_RUNNING;
    EXPECT(DMT_ERR_NOT_FOUND, s, run_update, &r);
    cr_assert_eq(r.m.version, 0, "meta filled on failure");

    /* A status outside the enum, a missing snapshot: caller bugs. */
    r.job = strdup("j");
    r.environment = strdup("e");
    r.status = 99;
    r.snapshot = json_object();
    EXPECT(DMT_ERR_INTERNAL, s, run_insert, &r);
    r.status = RUN_QUEUED;
    json_decref(r.snapshot);
    r.snapshot = NULL;
    EXPECT(DMT_ERR_INTERNAL, s, run_insert, &r);
    run_cleanup(&r);
}

Test(store_runs, run_list_filters) {
    /* id: job env status */
    int64_t r1 = add_run_id("build", "dev", RUN_SUCCEEDED);
    int64_t r2 = add_run_id("deploy", "prod", RUN_FAILED);
    int64_t r3 = add_run_id("build", "prod", RUN_SUCCEEDED);
    int64_t r4 = add_run_id("deploy", "dev", RUN_RUNNING);
    int64_t r5 = add_run_id("build", "dev", RUN_QUEUED);
    int64_t r6 = add_run_id("deploy", "prod", RUN_SUCCEEDED);

    struct run_filter f = {.status = -1, .limit = 50};
    expect_list(&f, (int64_t[]){r6, r5, r4, r3, r2, r1, 0});

    f.job = "build";
    expect_list(&f, (int64_t[]){r5, r3, r1, 0});
    f.job = "nope";
    expect_list(&f, (int64_t[]){0});

    f.job = NULL;
    f.environment = "prod";
    expect_list(&f, (int64_t[]){r6, r3, r2, 0});

    f.environment = NULL;
    f.status = RUN_SUCCEEDED;
    expect_list(&f, (int64_t[]){r6, r3, r1, 0});
    f.status = RUN_INTERRUPTED;
    expect_list(&f, (int64_t[]){0});

    /* Every combination of two and three filters. */
    f = (struct run_filter){.job = "build", .environment = "dev", .status = -1, .limit = 50};
    expect_list(&f, (int64_t[]){r5, r1, 0});
    f = (struct run_filter){.job = "deploy", .status = RUN_SUCCEEDED, .limit = 50};
    expect_list(&f, (int64_t[]){r6, 0});
    f = (struct run_filter){.environment = "prod", .status = RUN_SUCCEEDED, .limit = 50};
    expect_list(&f, (int64_t[]){r6, r3, 0});
    f = (struct run_filter){
        .job = "deploy", .environment = "prod", .status = RUN_FAILED, .limit = 50};
    expect_list(&f, (int64_t[]){r2, 0});
    f.status = RUN_QUEUED;
    expect_list(&f, (int64_t[]){0});
}

Test(store_runs, run_list_pagination) {
    int64_t ids[7];
    for (int i = 0; i < 7; i++)
        ids[i] = add_run_id(i % 2 == 0 ? "even" : "odd", "dev", RUN_SUCCEEDED);

    /* Pages of three, newest first, each continuing below the last id. */
    struct run_filter f = {.status = -1, .limit = 3};
    expect_list(&f, (int64_t[]){ids[6], ids[5], ids[4], 0});
    f.before_id = ids[4];
    expect_list(&f, (int64_t[]){ids[3], ids[2], ids[1], 0});
    f.before_id = ids[1];
    expect_list(&f, (int64_t[]){ids[0], 0});
    f.before_id = ids[0];
    expect_list(&f, (int64_t[]){0});

    /* The same through a filter's index. */
    f = (struct run_filter){.job = "even", .status = -1, .limit = 2};
    expect_list(&f, (int64_t[]){ids[6], ids[4], 0});
    f.before_id = ids[4];
    expect_list(&f, (int64_t[]){ids[2], ids[0], 0});
    f = (struct run_filter){.environment = "dev", .status = -1, .limit = 2, .before_id = ids[3]};
    expect_list(&f, (int64_t[]){ids[2], ids[1], 0});
    f = (struct run_filter){.status = RUN_SUCCEEDED, .limit = 4, .before_id = ids[5]};
    expect_list(&f, (int64_t[]){ids[4], ids[3], ids[2], ids[1], 0});

    /* A before_id above every run is the same as 0. */
    f = (struct run_filter){.status = -1, .limit = 1, .before_id = ids[6] + 100};
    expect_list(&f, (int64_t[]){ids[6], 0});
}

Test(store_runs, run_list_limit_is_clamped) {
    int64_t a = add_run_id("j", "e", RUN_QUEUED);
    int64_t b = add_run_id("j", "e", RUN_QUEUED);
    struct run_filter f = {.status = -1, .limit = 0};
    expect_list(&f, (int64_t[]){b, 0});
    f.limit = 100000;
    expect_list(&f, (int64_t[]){b, a, 0});
}

Test(store_runs, run_list_status_oldest_first) {
    int64_t q1 = add_run_id("a", "e", RUN_QUEUED);
    int64_t r1 = add_run_id("a", "e", RUN_RUNNING);
    int64_t q2 = add_run_id("b", "e", RUN_QUEUED);
    int64_t q3 = add_run_id("a", "f", RUN_QUEUED);
    (void)add_run_id("a", "f", RUN_FAILED);

    struct run_list l = {0};
    OK(s, run_list_status, RUN_QUEUED, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(l.items[0].m.id, q1);
    cr_assert_eq(l.items[1].m.id, q2);
    cr_assert_eq(l.items[2].m.id, q3);
    cr_assert_eq(l.items[0].status, RUN_QUEUED);
    cr_assert_not_null(l.items[2].snapshot);
    run_list_cleanup(&l);

    /* A queued run taken by an executor leaves the queue. */
    struct run r = {0};
    OK(s, run_get, q2, &r);
    r.status = RUN_RUNNING;
    OK(s, run_update, &r);
    run_cleanup(&r);
    OK(s, run_list_status, RUN_RUNNING, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].m.id, r1);
    cr_assert_eq(l.items[1].m.id, q2);
    run_list_cleanup(&l);

    OK(s, run_list_status, RUN_INTERRUPTED, &l);
    cr_assert_eq(l.n, 0);
    cr_assert_null(l.items);
    run_list_cleanup(&l);
}

/* --- task results ------------------------------------------------------ */

Test(store_runs, results_insert_update_list) {
    int64_t run = add_run_id("deploy", "prod", RUN_QUEUED);
    int64_t other = add_run_id("deploy", "prod", RUN_QUEUED);
    /* Inserted out of order; listed by idx. */
    struct task_result t2 = add_result(run, 2, "notify");
    struct task_result t0 = add_result(run, 0, "build");
    struct task_result t1 = add_result(run, 1, "test");
    struct task_result o0 = add_result(other, 0, "build");
    cr_assert_gt(t0.id, 0);
    cr_assert_neq(t0.id, t1.id);
    cr_assert_neq(t0.id, o0.id);

    struct task_result_list l = {0};
    OK(s, result_list, run, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.items[0].name, "build");
    cr_assert_str_eq(l.items[1].name, "test");
    cr_assert_str_eq(l.items[2].name, "notify");
    cr_assert_eq(l.items[0].id, t0.id);
    cr_assert_eq(l.items[0].run_id, run);
    cr_assert_eq(l.items[0].idx, 0);
    cr_assert_eq(l.items[0].status, RESULT_PENDING);
    cr_assert_eq(l.items[0].attempts, 0);
    cr_assert_eq(l.items[0].exit_code, -1);
    cr_assert_null(l.items[0].error);
    cr_assert_str_eq(l.items[0].started_at, "");
    cr_assert_str_eq(l.items[0].finished_at, "");
    cr_assert(json_is_object(l.items[0].outputs) && json_object_size(l.items[0].outputs) == 0);
    task_result_list_cleanup(&l);

    /* The first task succeeds with outputs, the second fails. */
    t0.status = RESULT_SUCCEEDED;
    t0.attempts = 1;
    t0.exit_code = 0;
    snprintf(t0.started_at, sizeof(t0.started_at), "2026-01-02T03:04:05.000Z");
    snprintf(t0.finished_at, sizeof(t0.finished_at), "2026-01-02T03:04:06.000Z");
    t0.outputs = json_pack("{s:s, s:s}", "VERSION", "1.2.3", "EMPTY", "");
    OK(s, result_update, &t0);
    t1.status = RESULT_FAILED;
    t1.attempts = 3;
    t1.exit_code = -1;
    t1.error = strdup("signal 9");
    snprintf(t1.started_at, sizeof(t1.started_at), "2026-01-02T03:04:07.000Z");
    OK(s, result_update, &t1);
    t2.status = RESULT_SKIPPED;
    OK(s, result_update, &t2);

    OK(s, result_list, run, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_eq(l.items[0].status, RESULT_SUCCEEDED);
    cr_assert_eq(l.items[0].attempts, 1);
    cr_assert_eq(l.items[0].exit_code, 0);
    cr_assert_str_eq(l.items[0].finished_at, "2026-01-02T03:04:06.000Z");
    cr_assert(json_equal(l.items[0].outputs, t0.outputs));
    cr_assert_eq(l.items[1].status, RESULT_FAILED);
    cr_assert_eq(l.items[1].attempts, 3);
    cr_assert_str_eq(l.items[1].error, "signal 9");
    cr_assert_str_eq(l.items[1].started_at, "2026-01-02T03:04:07.000Z");
    cr_assert_str_eq(l.items[1].finished_at, "");
    cr_assert_eq(l.items[2].status, RESULT_SKIPPED);
    cr_assert_str_eq(l.items[2].name, "notify", "update leaves the name");
    task_result_list_cleanup(&l);

    /* The other run's results are its own. */
    OK(s, result_list, other, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.items[0].status, RESULT_PENDING);
    task_result_list_cleanup(&l);

    /* An error cleared again is NULL, not "". */
    free(t1.error);
    t1.error = NULL;
    OK(s, result_update, &t1);
    OK(s, result_list, run, &l);
    cr_assert_null(l.items[1].error);
    task_result_list_cleanup(&l);

    OK(s, result_list, 4242, &l);
    cr_assert_eq(l.n, 0);

    task_result_cleanup(&t0);
    task_result_cleanup(&t1);
    task_result_cleanup(&t2);
    task_result_cleanup(&o0);
}

Test(store_runs, result_errors) {
    int64_t run = add_run_id("deploy", "prod", RUN_QUEUED);
    struct task_result t = add_result(run, 0, "build");

    struct task_result dup = {0};
    dup.run_id = run;
    dup.idx = 0;
    dup.name = strdup("again");
    dup.status = RESULT_PENDING;
    EXPECT(DMT_ERR_CONFLICT, s, result_insert, &dup);
    cr_assert_eq(dup.id, 0);

    dup.run_id = 4242;
    EXPECT(DMT_ERR_NOT_FOUND, s, result_insert, &dup);
    cr_assert_str_eq(err.msg, "the run it belongs to does not exist");

    dup.run_id = run;
    dup.idx = 1;
    dup.status = -1;
    EXPECT(DMT_ERR_INTERNAL, s, result_insert, &dup);

    t.id = 4242;
    EXPECT(DMT_ERR_NOT_FOUND, s, result_update, &t);
    cr_assert_str_eq(err.msg, "no task result with id 4242");
    task_result_cleanup(&dup);
    task_result_cleanup(&t);
}

/* --- logs -------------------------------------------------------------- */

Test(store_runs, log_append_and_read) {
    int64_t run = add_run_id("deploy", "prod", RUN_RUNNING);
    int64_t other = add_run_id("deploy", "prod", RUN_RUNNING);
    static const char bin[] = {'a', '\0', 'b', '\0', '\xff', '\n'};

    int64_t s1 = append(run, -1, LOG_SYSTEM, "starting\n", 9);
    int64_t x1 = append(other, 0, LOG_STDOUT, "other\n", 6);
    int64_t s2 = append(run, 0, LOG_STDOUT, bin, sizeof(bin));
    int64_t s3 = append(run, 0, LOG_STDERR, "", 0);
    int64_t s4 = append(run, 1, LOG_STDERR, "oops\n", 5);
    cr_assert(s1 < s2 && s2 < s3 && s3 < s4);
    (void)x1;

    struct log_chunk_list l = {0};
    OK(s, log_read, run, 0, 1 << 20, &l);
    cr_assert_eq(l.n, 4);
    cr_assert_eq(l.items[0].seq, s1);
    cr_assert_eq(l.items[0].run_id, run);
    cr_assert_eq(l.items[0].task_idx, -1);
    cr_assert_eq(l.items[0].stream, LOG_SYSTEM);
    cr_assert_eq(l.items[0].len, 9);
    cr_assert_eq(memcmp(l.items[0].data, "starting\n", 9), 0);
    cr_assert_eq(strlen(l.items[0].ts), 24);
    cr_assert_eq(l.items[1].seq, s2);
    cr_assert_eq(l.items[1].stream, LOG_STDOUT);
    cr_assert_eq(l.items[1].task_idx, 0);
    cr_assert_eq(l.items[1].len, sizeof(bin));
    cr_assert_eq(memcmp(l.items[1].data, bin, sizeof(bin)), 0, "binary data with NULs");
    cr_assert_eq(l.items[2].seq, s3);
    cr_assert_eq(l.items[2].len, 0, "an empty chunk stays empty");
    cr_assert_not_null(l.items[2].data);
    cr_assert_eq(l.items[3].seq, s4);
    cr_assert_eq(l.items[3].stream, LOG_STDERR);
    cr_assert_eq(l.items[3].task_idx, 1);
    log_chunk_list_cleanup(&l);

    /* Following: only what came after the last seq seen. */
    OK(s, log_read, run, s2, 1 << 20, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].seq, s3);
    cr_assert_eq(l.items[1].seq, s4);
    log_chunk_list_cleanup(&l);
    OK(s, log_read, run, s4, 1 << 20, &l);
    cr_assert_eq(l.n, 0);
    log_chunk_list_cleanup(&l);

    /* A run without logs, or no run at all: nothing. */
    int64_t quiet = add_run_id("deploy", "prod", RUN_QUEUED);
    OK(s, log_read, quiet, 0, 1 << 20, &l);
    cr_assert_eq(l.n, 0);
    OK(s, log_read, 4242, 0, 1 << 20, &l);
    cr_assert_eq(l.n, 0);

    /* The ts given is kept. */
    struct log_chunk c = {.run_id = quiet,
                          .task_idx = 0,
                          .stream = LOG_STDOUT,
                          .ts = "2026-01-02T03:04:05.000Z",
                          .data = "x",
                          .len = 1};
    OK(s, log_append, &c);
    OK(s, log_read, quiet, 0, 1 << 20, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.items[0].ts, "2026-01-02T03:04:05.000Z");
    cr_assert_eq(l.items[0].seq, c.seq);
    log_chunk_list_cleanup(&l);
}

Test(store_runs, log_read_max_bytes) {
    int64_t run = add_run_id("deploy", "prod", RUN_RUNNING);
    char big[300];
    memset(big, 'B', sizeof(big));
    int64_t a = append(run, 0, LOG_STDOUT, "0123456789", 10);
    int64_t b = append(run, 0, LOG_STDOUT, "0123456789", 10);
    int64_t c = append(run, 0, LOG_STDOUT, "0123456789", 10);
    int64_t d = append(run, 0, LOG_STDOUT, big, sizeof(big));
    int64_t e = append(run, 0, LOG_STDOUT, "tail", 4);

    struct log_chunk_list l = {0};
    /* 25 bytes hold two chunks of 10, not three. */
    OK(s, log_read, run, 0, 25, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].seq, a);
    cr_assert_eq(l.items[1].seq, b);
    log_chunk_list_cleanup(&l);

    /* Exactly three. */
    OK(s, log_read, run, 0, 30, &l);
    cr_assert_eq(l.n, 3);
    log_chunk_list_cleanup(&l);

    /* The next page stops before the big chunk... */
    OK(s, log_read, run, b, 100, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.items[0].seq, c);
    log_chunk_list_cleanup(&l);

    /* ...which then comes alone, whole, although larger than max_bytes. */
    OK(s, log_read, run, c, 100, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.items[0].seq, d);
    cr_assert_eq(l.items[0].len, sizeof(big));
    cr_assert_eq(memcmp(l.items[0].data, big, sizeof(big)), 0);
    log_chunk_list_cleanup(&l);

    /* max_bytes 0 still gives one chunk. */
    OK(s, log_read, run, d, 0, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.items[0].seq, e);
    log_chunk_list_cleanup(&l);
}

Test(store_runs, log_errors) {
    struct log_chunk c = {.run_id = 4242, .stream = LOG_STDOUT, .data = "x", .len = 1};
    EXPECT(DMT_ERR_NOT_FOUND, s, log_append, &c);
    cr_assert_str_eq(err.msg, "the run it belongs to does not exist");
    cr_assert_eq(c.seq, 0);

    c.run_id = add_run_id("deploy", "prod", RUN_RUNNING);
    c.stream = 7;
    EXPECT(DMT_ERR_INTERNAL, s, log_append, &c);
}

/* --- transactions and persistence ------------------------------------- */

struct create_arg {
    int64_t run_id;
    bool fail;
};

/* Creates a run with two results and a log line in one transaction. */
static int create_in_tx(struct store *st, void *arg, struct dmt_err *e) {
    struct create_arg *a = arg;
    struct run r = {0};
    r.job = strdup("deploy");
    r.environment = strdup("prod");
    r.status = RUN_QUEUED;
    r.snapshot = snapshot_of("deploy", "prod");
    int rc = st->ops->run_insert(st->ctx, &r, e);
    for (int i = 0; rc == DMT_OK && i < 2; i++) {
        struct task_result t = {.run_id = r.m.id, .idx = i, .status = RESULT_PENDING};
        t.name = strdup(i == 0 ? "build" : "ship");
        rc = st->ops->result_insert(st->ctx, &t, e);
        task_result_cleanup(&t);
    }
    if (rc == DMT_OK) {
        struct log_chunk c = {
            .run_id = r.m.id, .task_idx = -1, .stream = LOG_SYSTEM, .data = "queued", .len = 6};
        rc = st->ops->log_append(st->ctx, &c, e);
    }
    a->run_id = r.m.id;
    run_cleanup(&r);
    if (rc == DMT_OK && a->fail) rc = dmt_err_set(e, DMT_ERR_CONFLICT, "changed my mind");
    return rc;
}

Test(store_runs, transaction_commits_and_rolls_back) {
    int64_t seq0 = 0, seq1 = 0;
    OK(s, seq_get, &seq0);
    struct create_arg a = {0};
    dmt_err_cleanup(&err);
    cr_assert_eq(store_tx(s, true, create_in_tx, &a, &err), DMT_OK, "%s", err.msg);
    OK(s, seq_get, &seq1);
    cr_assert_gt(seq1, seq0, "a new run changes the sequence");

    struct task_result_list l = {0};
    OK(s, result_list, a.run_id, &l);
    cr_assert_eq(l.n, 2);
    task_result_list_cleanup(&l);

    struct create_arg b = {.fail = true};
    dmt_err_cleanup(&err);
    cr_assert_eq(store_tx(s, true, create_in_tx, &b, &err), DMT_ERR_CONFLICT);
    struct run got = {0};
    EXPECT(DMT_ERR_NOT_FOUND, s, run_get, b.run_id, &got);
    OK(s, result_list, b.run_id, &l);
    cr_assert_eq(l.n, 0);
    struct log_chunk_list logs = {0};
    OK(s, log_read, b.run_id, 0, 1 << 20, &logs);
    cr_assert_eq(logs.n, 0);
    cr_assert_not(s->ops->in_tx(s->ctx));
}

Test(store_runs, reopen_keeps_everything) {
    struct run r = add_run("deploy", "prod", RUN_RUNNING);
    struct task_result t = add_result(r.m.id, 0, "build");
    static const char bin[] = {'\0', '\1', '\2'};
    int64_t seq = append(r.m.id, 0, LOG_STDOUT, bin, sizeof(bin));
    store_close(s);
    s = open_store();

    struct run got = {0};
    OK(s, run_get, r.m.id, &got);
    cr_assert_eq(got.status, RUN_RUNNING);
    cr_assert(json_equal(got.snapshot, r.snapshot));
    run_cleanup(&got);
    struct task_result_list l = {0};
    OK(s, result_list, r.m.id, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.items[0].id, t.id);
    task_result_list_cleanup(&l);
    struct log_chunk_list logs = {0};
    OK(s, log_read, r.m.id, 0, 1 << 20, &logs);
    cr_assert_eq(logs.n, 1);
    cr_assert_eq(logs.items[0].seq, seq);
    cr_assert_eq(memcmp(logs.items[0].data, bin, sizeof(bin)), 0);
    log_chunk_list_cleanup(&logs);

    /* Numbers go on where they stopped. */
    int64_t next = add_run_id("deploy", "prod", RUN_QUEUED);
    cr_assert_eq(next, r.m.id + 1);
    cr_assert_gt(append(next, 0, LOG_STDOUT, "x", 1), seq);
    run_cleanup(&r);
    task_result_cleanup(&t);
}

/* Runs SQL on the database behind the store's back. */
static void raw_sql(const char *sql) { tdb_exec(path, sql); }

static int64_t raw_count(const char *sql) { return tdb_count(path, sql); }

Test(store_runs, upgrade_from_schema_2) {
    /* Turn the fresh database into one made by a dmt that knew only
     * migrations 1 and 2, holding a job. */
    struct job j = {0};
    j.name = strdup("kept");
    j.description = strdup("");
    OK(s, job_insert, &j);
    store_close(s);
    s = NULL;
    raw_sql("DROP TABLE log_chunks; DROP TABLE task_results; DROP TABLE runs;"
            "DROP TABLE audit; DROP TABLE sessions;"
            "ALTER TABLE users DROP COLUMN failed_logins;"
            "ALTER TABLE users DROP COLUMN locked_until;"
            "ALTER TABLE envs DROP COLUMN worker_tags; DROP TABLE workers;"
            "DELETE FROM schema_migrations WHERE version >= 3;");
    cr_assert_eq(raw_count("SELECT MAX(version) FROM schema_migrations"), 2);

    s = open_store();
    cr_assert_eq(raw_count("SELECT MAX(version) FROM schema_migrations"), 6);
    cr_assert_eq(raw_count(tdb_pg ? "SELECT COUNT(*) FROM pg_class WHERE relname IN ('runs', "
                                    "'task_results', 'log_chunks', 'runs_status', 'runs_job', "
                                    "'runs_environment', 'log_chunks_run')"
                                  : "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('runs', "
                                    "'task_results', 'log_chunks', 'runs_status', 'runs_job', "
                                    "'runs_environment', 'log_chunks_run')"),
                 7);
    struct job got = {0};
    OK(s, job_get, "kept", &got);
    job_cleanup(&got);
    int64_t run = add_run_id("kept", "dev", RUN_QUEUED);
    append(run, -1, LOG_SYSTEM, "hello", 5);

    /* Opening again applies nothing twice. */
    store_close(s);
    s = open_store();
    cr_assert_eq(raw_count("SELECT COUNT(*) FROM schema_migrations"), 6);
    struct run r = {0};
    OK(s, run_get, run, &r);
    run_cleanup(&r);
    job_cleanup(&j);
}
