/* test_bus.c - the change feed (core/events.c) and the messages between
 * nodes (core/bus.c): ids, forwarding, ingesting, gaps; and why a queued
 * run waits (model_run_waiting). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/events.h"
#include "core/notify.h"
#include "model/runs.h"

static char sent[8][EVENTS_DATA_MAX];
static char sent_kind[8];
static int nsent;

static void capture(char kind, const char *body, void *arg) {
    (void)arg;
    if (nsent < 8) {
        sent_kind[nsent] = kind;
        snprintf(sent[nsent], sizeof(sent[nsent]), "%s", body);
    }
    nsent++;
}

static void reset_capture(void) {
    nsent = 0;
    bus_attach(capture, NULL);
}

static void detach(void) { bus_attach(NULL, NULL); }

TestSuite(bus, .init = reset_capture, .fini = detach);

Test(bus, ids_start_at_a_random_high_number) {
    uint64_t first = events_last_id();
    /* Not 0 or 1: an id of another node or process is not taken for ours. */
    cr_assert_gt(first, (uint64_t)1 << 20);
    cr_assert_lt(first, (uint64_t)1 << 53, "fits a JavaScript number");
    char out[EVENTS_DATA_MAX];
    uint64_t id;
    cr_assert_eq(events_next(first - 5, &id, out), -1, "ids before the start are unknown");
}

Test(bus, a_published_event_is_kept_and_sent_to_other_nodes) {
    uint64_t before = events_last_id();
    events_publish("job", "deploy", "/api/v1/jobs/deploy", 3, "updated", NULL);
    char out[EVENTS_DATA_MAX];
    uint64_t id;
    cr_assert_eq(events_next(before, &id, out), 1);
    cr_assert_eq(id, before + 1);
    json_t *e = json_loads(out, 0, NULL);
    cr_assert_not_null(e, "%s", out);
    cr_assert_eq((uint64_t)json_integer_value(json_object_get(e, "id")), id);
    cr_assert_str_eq(json_string_value(json_object_get(e, "name")), "deploy");
    json_decref(e);
    cr_assert_eq(nsent, 1);
    cr_assert_eq(sent_kind[0], BUS_EVENT);
    /* What is sent is the body without the id: the receiver numbers it. */
    cr_assert_null(strstr(sent[0], "\"id\""));
    cr_assert_not_null(strstr(sent[0], "\"kind\":\"job\""));
}

Test(bus, an_event_of_another_node_enters_the_feed_and_is_not_sent_back) {
    uint64_t before = events_last_id(), seen = notify_counter();
    bus_receive("E \"kind\":\"run\",\"name\":\"42\",\"action\":\"updated\",\"version\":2,"
                "\"status\":\"succeeded\"");
    cr_assert_gt(notify_counter(), seen, "waiters are woken");
    char out[EVENTS_DATA_MAX];
    uint64_t id;
    cr_assert_eq(events_next(before, &id, out), 1);
    json_t *e = json_loads(out, 0, NULL);
    cr_assert_not_null(e, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(e, "status")), "succeeded");
    json_decref(e);
    cr_assert_eq(nsent, 0, "not echoed to the other nodes");
}

Test(bus, malformed_messages_are_ignored) {
    uint64_t before = events_last_id();
    bus_receive("E \"kind\":\"run\"\ndata: injected");
    bus_receive("E {\"not\":\"a body\"}");
    bus_receive("E ");
    bus_receive("X whatever");
    bus_receive("");
    cr_assert_eq(events_last_id(), before);
}

Test(bus, a_log_message_wakes_the_followers) {
    uint64_t seen = notify_counter(), before = events_last_id();
    bus_receive("L");
    cr_assert_gt(notify_counter(), seen);
    cr_assert_eq(events_last_id(), before, "not an event");
}

Test(bus, a_lost_link_makes_every_reader_start_over) {
    events_publish("job", "a", NULL, 1, "created", NULL);
    uint64_t reader = events_last_id() - 1;
    bus_lost();
    char out[EVENTS_DATA_MAX];
    uint64_t id;
    cr_assert_eq(events_next(reader, &id, out), -1);
    cr_assert_eq(id, events_last_id());
    /* A reader that starts over reads what comes next. */
    events_publish("job", "b", NULL, 1, "created", NULL);
    cr_assert_eq(events_next(id, &id, out), 1);
    cr_assert_not_null(strstr(out, "\"name\":\"b\""));
}

/* --- why a queued run waits ------------------------------------------------- */

static struct worker worker(const char *name, const char *tags, int active, int64_t seen_ago) {
    return (struct worker){.name = (char *)name, .kind = (char *)"worker",
                           .tags = json_loads(tags, 0, NULL), .concurrency = 2, .active = active,
                           .lease_s = 30, .seen_ago_ms = seen_ago};
}

static char *waiting(const char *run_tags, struct worker *w, size_t n) {
    struct run r = {.status = RUN_QUEUED, .environment = (char *)"prod",
                    .tags = run_tags != NULL ? json_loads(run_tags, 0, NULL) : NULL};
    struct worker_list l = {.items = w, .n = n};
    char *why = model_run_waiting(&r, &l);
    json_decref(r.tags);
    return why;
}

static void free_workers(struct worker *w, size_t n) {
    for (size_t i = 0; i < n; i++) json_decref(w[i].tags);
}

Test(bus, a_queued_run_says_why_it_waits) {
    struct worker w[3] = {worker("a:1", "[\"eu\"]", 0, 1000), worker("b:2", "[]", 0, 1000),
                          worker("c:3", "[\"prod\", \"eu\"]", 0, 90000)}; /* c: lost */
    char *why = waiting("[\"prod\"]", w, 3);
    cr_assert_not_null(why);
    cr_assert_not_null(strstr(why, "tags prod"), "%s", why);
    cr_assert_not_null(strstr(why, "environment prod"), "%s", why);
    cr_assert_not_null(strstr(why, "2 online"), "a lost worker does not count: %s", why);
    free(why);

    why = waiting("[\"prod\"]", w, 0);
    cr_assert_not_null(strstr(why, "no executor is online"), "%s", why);
    free(why);

    w[0].active = 2; /* full */
    why = waiting("[\"eu\"]", w, 2);
    cr_assert_not_null(strstr(why, "busy"), "%s", why);
    free(why);

    why = waiting(NULL, w, 2);
    cr_assert_not_null(strstr(why, "claimed by one of 2"), "%s", why);
    free(why);

    w[0].active = 0;
    w[0].draining = true; /* the only eu executor drains */
    why = waiting("[\"eu\"]", w, 2);
    cr_assert_not_null(strstr(why, "draining"), "%s", why);
    free(why);

    struct run done = {.status = RUN_SUCCEEDED};
    struct worker_list l = {.items = w, .n = 3};
    cr_assert_null(model_run_waiting(&done, &l));
    free_workers(w, 3);
}

/* --- who is woken --------------------------------------------------------------- */

static int work_wakes, all_wakes;
static void on_work(void *arg) { (void)arg, work_wakes++; }
static void on_all(void *arg) { (void)arg, all_wakes++; }

/* Executors wake for work only (a run to claim or to cancel, here or on
 * another node); streams for everything. */
Test(bus, executors_wake_for_work_streams_for_everything) {
    int a = notify_add_hook(on_work, NULL, NOTIFY_WORK), b = notify_add_hook(on_all, NULL, NOTIFY_ALL);
    cr_assert(a >= 0 && b >= 0);
    events_publish("run", "7", "/api/v1/runs/7", 2, "updated", "running");
    bus_receive("E \"kind\":\"run\",\"name\":\"8\",\"action\":\"task\",\"version\":0,\"status\":\"succeeded\"");
    bus_receive("L");
    events_publish("job", "j", NULL, 1, "created", NULL);
    cr_assert_eq(work_wakes, 0, "progress of runs and other changes are not work");
    cr_assert_eq(all_wakes, 4);
    events_publish("run", "9", "/api/v1/runs/9", 1, "created", NULL);
    bus_receive("E \"kind\":\"run\",\"name\":\"9\",\"action\":\"cancel\",\"version\":2");
    bus_receive("E \"kind\":\"run\",\"name\":\"10\",\"action\":\"updated\",\"version\":3,\"status\":\"queued\"");
    cr_assert_eq(work_wakes, 3, "created, canceled, queued again by a sweep");
    notify_remove_hook(a);
    notify_remove_hook(b);
}
