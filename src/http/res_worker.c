/*
 * res_worker.c - GET /api/v1/workers: the executors sharing the database
 * (DESIGN.md §3, §6), each with its tags, lease and current runs.
 *
 * Executors report themselves (exec/executor.c: at start, every third of
 * their lease, and gone at a clean stop); one not heard of for a whole
 * lease is "lost": its runs are taken back when their leases expire. The
 * answer depends on the clock, not only on the data, so it is never
 * cached (route Q in server.c).
 */
#include <time.h>

#include "core/util.h"
#include "http/http.h"

static json_t *repr_worker(const struct worker *w) {
    char seen[40], until[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    util_ms_rfc3339(now_ms - w->seen_ago_ms, seen, sizeof(seen));
    json_t *runs = json_array(), *item;
    size_t i;
    json_array_foreach(w->runs, i, item) {
        util_ms_rfc3339(json_integer_value(json_object_get(item, "lease_until")), until,
                        sizeof(until));
        json_array_append_new(runs, json_pack("{s:O, s:s}", "id", json_object_get(item, "id"),
                                              "lease_until", until));
    }
    return json_pack("{s:s, s:s, s:s, s:O, s:i, s:i, s:i, s:s, s:s, s:o}", "name", w->name, "kind",
                     w->kind, "status", !worker_online(w) ? "lost" : w->draining ? "draining" : "online", "tags", w->tags,
                     "concurrency", w->concurrency, "active", w->active, "lease_s", w->lease_s,
                     "started_at", w->started_at, "last_seen_at", seen, "runs", runs);
}

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct worker_list l = {0};
    int rc = s->ops->worker_list(s->ctx, &l, err);
    if (rc == DMT_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < l.n; i++) json_array_append_new(items, repr_worker(&l.items[i]));
        op_answer(op, 200, repr_list(items), NULL, NULL);
    }
    worker_list_cleanup(&l);
    return rc;
}

int res_worker_list(struct req *r) { return op_run(r, false, list_tx, NULL); }
