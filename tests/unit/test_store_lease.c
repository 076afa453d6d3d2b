/* test_store_lease.c - leases of runs through struct store_ops: claiming
 * (oldest queued first, never twice), renewing, revoking, expiry, and the
 * fenced writes of runs and task results (DESIGN.md §6). Built once, run
 * on SQLite and on PostgreSQL (testdb.h). */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "testdb.h"

static char dir[] = "/tmp/dmt-test-lease-XXXXXX";
#include "runfixture.h"

TestSuite(store_lease, .init = setup, .fini = teardown);



/* run_claim inside a write transaction, as the executor does it. */
struct claim_arg {
    const char *node;
    int lease_s;
    int64_t id, fence;
    const json_t *tags;
};

static int claim_tx(struct store *st, void *arg, struct dmt_err *e) {
    struct claim_arg *c = arg;
    return st->ops->run_claim(st->ctx, c->node, c->tags, c->lease_s, &c->id, &c->fence, e);
}

/* Claims as an executor with the given tags (a JSON array text, or NULL). */
static int claim_tagged(struct store *st, const char *node, const char *tags, int64_t *id,
                        int64_t *fence) {
    json_t *t = tags != NULL ? json_loads(tags, 0, NULL) : NULL;
    struct claim_arg c = {node, 30, 0, 0, t};
    dmt_err_cleanup(&err);
    int rc = store_tx(s, true, claim_tx, &c, &err);
    json_decref(t);
    *id = c.id;
    *fence = c.fence;
    return rc;
}

static int claim(struct store *st, const char *node, int lease_s, int64_t *id, int64_t *fence) {
    struct claim_arg c = {node, lease_s, 0, 0, NULL};
    dmt_err_cleanup(&err);
    int rc = store_tx(st, true, claim_tx, &c, &err);
    *id = c.id;
    *fence = c.fence;
    return rc;
}

struct revoke_arg {
    int64_t id, fence, new_fence;
    bool expired_only;
};

static int revoke_tx(struct store *st, void *arg, struct dmt_err *e) {
    struct revoke_arg *r = arg;
    return st->ops->run_revoke(st->ctx, r->id, r->fence, r->expired_only, &r->new_fence, e);
}

static int revoke_run(int64_t id, int64_t fence, bool expired_only, int64_t *new_fence) {
    struct revoke_arg r = {id, fence, 0, expired_only};
    dmt_err_cleanup(&err);
    int rc = store_tx(s, true, revoke_tx, &r, &err);
    *new_fence = r.new_fence;
    return rc;
}

static struct run get_run(int64_t id) {
    struct run r = {0};
    OK(s, run_get, id, &r);
    return r;
}

Test(store_lease, claim_takes_the_oldest_queued_run_once) {
    int64_t done = add_run_id("deploy", "prod", RUN_SUCCEEDED);
    int64_t a = add_run_id("deploy", "prod", RUN_QUEUED);
    int64_t b = add_run_id("deploy", "prod", RUN_QUEUED);
    int64_t id = 0, fence = 0;
    cr_assert_eq(claim(s, "host:1", 30, &id, &fence), DMT_OK, "%s", err.msg);
    cr_assert_eq(id, a);
    cr_assert_eq(fence, 1);
    struct run r = get_run(a);
    cr_assert_eq(r.status, RUN_RUNNING);
    cr_assert_str_eq(r.owner, "host:1");
    cr_assert_eq(r.fence, 1);
    cr_assert_neq(r.started_at[0], '\0');
    cr_assert_gt(r.lease_until, 0);
    run_cleanup(&r);
    cr_assert_eq(claim(s, "host:2", 30, &id, &fence), DMT_OK, "%s", err.msg);
    cr_assert_eq(id, b);
    cr_assert_eq(claim(s, "host:2", 30, &id, &fence), DMT_ERR_NOT_FOUND);
    r = get_run(done);
    cr_assert_eq(r.status, RUN_SUCCEEDED);
    cr_assert_eq(r.fence, 0);
    cr_assert_eq(r.lease_until, 0);
    run_cleanup(&r);
}

Test(store_lease, two_connections_never_claim_the_same_run) {
    enum { N = 20 };
    for (int i = 0; i < N; i++) add_run_id("j", "e", RUN_QUEUED);
    struct store *other = open_store();
    int64_t seen[2 * N] = {0};
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        int64_t id, fence;
        struct store *st = i % 2 ? other : s;
        int rc = claim(st, i % 2 ? "b:2" : "a:1", 30, &id, &fence);
        cr_assert_eq(rc, DMT_OK, "%s", err.msg);
        for (size_t j = 0; j < n; j++) cr_assert_neq(seen[j], id, "run %lld claimed twice", (long long)id);
        seen[n++] = id;
    }
    int64_t id, fence;
    cr_assert_eq(claim(other, "b:2", 30, &id, &fence), DMT_ERR_NOT_FOUND);
    store_close(other);
}

Test(store_lease, renew_needs_the_current_fence) {
    int64_t a = add_run_id("j", "e", RUN_QUEUED);
    int64_t id, fence;
    cr_assert_eq(claim(s, "h:1", 2, &id, &fence), DMT_OK);
    struct run before = get_run(a);
    usleep(20 * 1000);
    OK(s, run_renew, a, fence, 60);
    struct run after = get_run(a);
    cr_assert_gt(after.lease_until, before.lease_until + 50 * 1000);
    /* Renewing is not a change: no version bump. */
    cr_assert_eq(after.m.version, before.m.version);
    run_cleanup(&before);
    run_cleanup(&after);
    EXPECT(DMT_ERR_CONFLICT, s, run_renew, a, fence + 1, 60);
    EXPECT(DMT_ERR_CONFLICT, s, run_renew, 9999, 1, 60);
    /* Revoked: the old holder can no longer renew. */
    int64_t nf;
    cr_assert_eq(revoke_run(a, fence, false, &nf), DMT_OK, "%s", err.msg);
    cr_assert_eq(nf, fence + 1);
    EXPECT(DMT_ERR_CONFLICT, s, run_renew, a, fence, 60);
}

Test(store_lease, expiry_and_revoke) {
    int64_t a = add_run_id("j", "e", RUN_QUEUED);
    int64_t b = add_run_id("j", "e", RUN_QUEUED);
    int64_t ida, fa, idb, fb;
    cr_assert_eq(claim(s, "h:1", 0, &ida, &fa), DMT_OK); /* expires at once */
    cr_assert_eq(claim(s, "h:1", 60, &idb, &fb), DMT_OK);
    cr_assert_eq(ida, a);
    usleep(20 * 1000);
    int64_t ids[8];
    size_t n = 0;
    OK(s, run_expired, 8, ids, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], a);
    /* Only an expired lease is revoked when expired_only. */
    int64_t nf;
    cr_assert_eq(revoke_run(b, fb, true, &nf), DMT_ERR_CONFLICT);
    cr_assert_eq(revoke_run(a, fa + 5, true, &nf), DMT_ERR_CONFLICT);
    cr_assert_eq(revoke_run(a, fa, true, &nf), DMT_OK, "%s", err.msg);
    cr_assert_eq(nf, fa + 1);
    struct run r = get_run(a);
    cr_assert_eq(r.fence, fa + 1);
    cr_assert_eq(r.lease_until, 0);
    cr_assert_eq(r.status, RUN_RUNNING);
    /* No lease counts as expired: the sweep still sees it. */
    OK(s, run_expired, 8, ids, &n);
    cr_assert_eq(n, 1);
    /* A queued run is not revoked. */
    int64_t q = add_run_id("j", "e", RUN_QUEUED);
    cr_assert_eq(revoke_run(q, 0, false, &nf), DMT_ERR_CONFLICT);
    /* A terminal status drops the lease; the run is no longer expired. */
    r.status = RUN_INTERRUPTED;
    OK(s, run_update, &r);
    run_cleanup(&r);
    OK(s, run_expired, 8, ids, &n);
    cr_assert_eq(n, 0);
    /* Requeued and claimed again: the fence moves on once more. */
    r = get_run(b);
    r.status = RUN_QUEUED;
    OK(s, run_update, &r);
    run_cleanup(&r);
    int64_t id, f2;
    cr_assert_eq(claim(s, "h:2", 60, &id, &f2), DMT_OK);
    cr_assert_eq(id, b);
    cr_assert_eq(f2, fb + 1);
}

Test(store_lease, fenced_writes_of_a_lost_run_are_rejected) {
    int64_t a = add_run_id("j", "e", RUN_QUEUED);
    struct task_result t = add_result(a, 0, "build");
    task_result_cleanup(&t);
    int64_t id, fence;
    cr_assert_eq(claim(s, "old:1", 60, &id, &fence), DMT_OK);
    /* What the old holder read. */
    struct run mine = get_run(a);
    struct task_result_list l = {0};
    OK(s, result_list, a, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.items[0].fence, fence);
    cr_assert_eq(mine.fence, fence);
    /* While it holds the run, its writes go through. */
    l.items[0].status = RESULT_RUNNING;
    l.items[0].attempts = 1;
    OK(s, result_update, &l.items[0]);
    OK(s, run_update, &mine);
    /* Another node takes it back. */
    int64_t nf;
    cr_assert_eq(revoke_run(a, fence, false, &nf), DMT_OK, "%s", err.msg);
    /* The old holder's late writes are refused and change nothing. */
    l.items[0].status = RESULT_SUCCEEDED;
    l.items[0].exit_code = 0;
    EXPECT(DMT_ERR_CONFLICT, s, result_update, &l.items[0]);
    mine.status = RUN_SUCCEEDED;
    EXPECT(DMT_ERR_CONFLICT, s, run_update, &mine);
    struct run now = get_run(a);
    cr_assert_eq(now.status, RUN_RUNNING);
    task_result_list_cleanup(&l);
    OK(s, result_list, a, &l);
    cr_assert_eq(l.items[0].status, RESULT_RUNNING);
    cr_assert_eq(l.items[0].fence, nf);
    /* The new fence writes. */
    now.status = RUN_INTERRUPTED;
    OK(s, run_update, &now);
    l.items[0].status = RESULT_FAILED;
    OK(s, result_update, &l.items[0]);
    /* Missing rows are still "not found". */
    mine.m.id = 9999;
    EXPECT(DMT_ERR_NOT_FOUND, s, run_update, &mine);
    l.items[0].id = 9999;
    EXPECT(DMT_ERR_NOT_FOUND, s, result_update, &l.items[0]);
    task_result_list_cleanup(&l);
    run_cleanup(&mine);
    run_cleanup(&now);
}

/* A run whose environment requires tags goes only to an executor that has
 * all of them; the untagged ones stay claimable by anyone, oldest first. */
Test(store_lease, claim_honours_the_tags_a_run_needs) {
    struct run r = add_run("deploy", "prod", RUN_QUEUED);
    run_cleanup(&r);
    r = (struct run){0};
    r.job = strdup("deploy");
    r.environment = strdup("prod");
    r.status = RUN_QUEUED;
    r.triggered_by = strdup("admin");
    r.snapshot = snapshot_of("deploy", "prod");
    r.tags = json_pack("[s, s]", "eu", "prod");
    OK(s, run_insert, &r);
    int64_t tagged = r.m.id;
    run_cleanup(&r);
    struct run back = get_run(tagged);
    json_t *want = json_pack("[s, s]", "eu", "prod");
    cr_assert(json_equal(back.tags, want));
    json_decref(want);
    run_cleanup(&back);
    int64_t plain = add_run_id("deploy", "dev", RUN_QUEUED);

    int64_t id, fence;
    /* The first run needs nothing: anyone takes it. */
    cr_assert_eq(claim_tagged(s, "a:1", NULL, &id, &fence), DMT_OK, "%s", err.msg);
    cr_assert_neq(id, tagged);
    /* Untagged, or with only one of the two tags: the tagged run is skipped. */
    cr_assert_eq(claim_tagged(s, "a:1", "[\"prod\"]", &id, &fence), DMT_OK, "%s", err.msg);
    cr_assert_eq(id, plain);
    cr_assert_eq(claim_tagged(s, "a:1", NULL, &id, &fence), DMT_ERR_NOT_FOUND);
    cr_assert_eq(claim_tagged(s, "a:1", "[\"eu\", \"gpu\"]", &id, &fence), DMT_ERR_NOT_FOUND);
    /* Every tag and more: taken. */
    cr_assert_eq(claim_tagged(s, "b:2", "[\"eu\", \"gpu\", \"prod\"]", &id, &fence), DMT_OK,
                 "%s", err.msg);
    cr_assert_eq(id, tagged);
    back = get_run(tagged);
    cr_assert_str_eq(back.owner, "b:2");
    run_cleanup(&back);
}

static struct worker *find_worker(struct worker_list *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
    return NULL;
}

Test(store_lease, workers_beat_list_and_go) {
    json_t *tags = json_pack("[s]", "prod");
    struct worker w = {.name = "h:10", .kind = "worker", .tags = tags, .concurrency = 4,
                       .active = 0, .lease_s = 30, .started_at = "2026-12-04T10:00:00Z"};
    OK(s, worker_beat, &w);
    struct worker w2 = {.name = "h:11", .kind = "serve", .concurrency = 16, .lease_s = 9,
                        .started_at = "2026-12-04T11:00:00Z", .draining = true};
    OK(s, worker_beat, &w2);
    w.active = 5;
    OK(s, worker_beat, &w); /* a second beat updates, never duplicates */

    int64_t id, fence;
    add_run_id("j", "e", RUN_QUEUED);
    cr_assert_eq(claim(s, "h:10", 30, &id, &fence), DMT_OK, "%s", err.msg);

    struct worker_list l = {0};
    OK(s, worker_list, &l);
    cr_assert_eq(l.n, 2);
    struct worker *a = find_worker(&l, "h:10"), *b = find_worker(&l, "h:11");
    cr_assert(a != NULL && b != NULL);
    cr_assert_str_eq(a->kind, "worker");
    cr_assert(json_equal(a->tags, tags));
    cr_assert_eq(a->concurrency, 4);
    cr_assert_eq(a->active, 1, "the runs it holds, not what its beat said");
    cr_assert_eq(a->lease_s, 30);
    cr_assert_str_eq(a->started_at, "2026-12-04T10:00:00Z");
    cr_assert(a->seen_ago_ms >= 0 && a->seen_ago_ms < 60000, "seen %lld ms ago",
              (long long)a->seen_ago_ms);
    cr_assert_eq(json_array_size(a->runs), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(a->runs, 0), "id")), id);
    cr_assert_gt(json_integer_value(json_object_get(json_array_get(a->runs, 0), "lease_until")), 0);
    cr_assert_eq(json_array_size(b->tags), 0);
    cr_assert(b->draining && !a->draining);
    cr_assert_eq(json_array_size(b->runs), 0);
    worker_list_cleanup(&l);

    OK(s, worker_gone, "h:11");
    OK(s, worker_gone, "nobody:1");
    OK(s, worker_list, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.items[0].name, "h:10");
    worker_list_cleanup(&l);
    json_decref(tags);
}

/* The output of a task whose executor lost the run is not stored; what
 * the nodes say about the run (unfenced system lines) always is. */
Test(store_lease, fenced_log_chunks_need_the_current_fence) {
    int64_t a = add_run_id("j", "e", RUN_QUEUED);
    int64_t id, fence, nf;
    cr_assert_eq(claim(s, "h:1", 30, &id, &fence), DMT_OK, "%s", err.msg);
    struct log_chunk c = {.run_id = a, .task_idx = 0, .stream = LOG_STDOUT, .data = "before\n",
                          .len = 7, .fence = fence};
    OK(s, log_append, &c);
    cr_assert_eq(revoke_run(a, fence, false, &nf), DMT_OK, "%s", err.msg);
    struct log_chunk late = {.run_id = a, .task_idx = 0, .stream = LOG_STDOUT, .data = "late\n",
                             .len = 5, .fence = fence};
    EXPECT(DMT_ERR_CONFLICT, s, log_append, &late);
    struct log_chunk sys = {.run_id = a, .task_idx = -1, .stream = LOG_SYSTEM,
                            .data = "h:1 lost its lease\n", .len = 19};
    OK(s, log_append, &sys);
    struct log_chunk_list l = {0};
    OK(s, log_read, a, 0, 1 << 20, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].len, 7);
    cr_assert_eq(memcmp(l.items[0].data, "before\n", 7), 0);
    cr_assert_eq(l.items[1].stream, LOG_SYSTEM);
    log_chunk_list_cleanup(&l);
}
