/*
 * res_events.c - GET /api/v1/events: the change feed as server-sent events
 * (DESIGN.md §3).
 *
 * Each event of core/events.c is sent as `id: N`, `event: change` and its
 * JSON line. A client that reconnects with Last-Event-ID gets what it
 * missed; if that fell out of the ring (or the id is from an earlier server
 * process) it gets one `reset` event: reload everything. While nothing
 * happens the stream sends `: keep-alive` comments; it suspends its
 * connection like the log follower (res_run.c) and ends at shutdown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/events.h"
#include "core/notify.h"
#include "core/util.h"
#include "http/http.h"

#define KEEPALIVE_S 10

struct feed {
    struct req *r;
    struct http_waiter w;
    uint64_t last_id; /* the last event sent */
    char buf[EVENTS_DATA_MAX + 64];
    size_t len, off; /* buf[off..len) is still to be sent */
    struct timespec last_write;
};

static void feed_free(void *arg) {
    struct feed *f = arg;
    if (f == NULL) return;
    http_waiter_remove(f->r, &f->w);
    free(f);
}

static void put(struct feed *f, const char *fmt, unsigned long long id, const char *text) {
    int n = snprintf(f->buf, sizeof(f->buf), fmt, id, text);
    f->len = n < 0 ? 0 : (size_t)n < sizeof(f->buf) ? (size_t)n : sizeof(f->buf) - 1;
    f->off = 0;
}

static double since(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* The content reader: sends the events after last_id, then waits. */
static ssize_t feed_reader(void *cls, uint64_t pos, char *out, size_t max) {
    struct feed *f = cls;
    size_t n = 0;
    for (;;) {
        if (f->off < f->len) {
            size_t k = f->len - f->off;
            if (k > max - n) k = max - n;
            memcpy(out + n, f->buf + f->off, k);
            f->off += k;
            n += k;
            if (n == max) break;
            continue;
        }
        uint64_t seen = notify_counter();
        char data[EVENTS_DATA_MAX];
        uint64_t id = 0;
        int got = events_next(f->last_id, &id, data);
        if (got > 0) {
            f->last_id = id;
            put(f, "id: %llu\nevent: change\ndata: %s\n\n", (unsigned long long)id, data);
            continue;
        }
        if (got < 0) {
            f->last_id = events_last_id();
            put(f, "id: %llu\nevent: reset\ndata: %s\n\n", (unsigned long long)f->last_id,
                "{\"reason\":\"events were missed: reload\"}");
            continue;
        }
        if (n > 0) break;
        if (since(&f->last_write) >= KEEPALIVE_S) {
            put(f, ": keep-alive %llu%s\n\n", (unsigned long long)f->last_id, "");
            continue;
        }
        enum http_wait w = http_waiter_suspend(f->r, &f->w, seen);
        if (w == HTTP_WAIT_SUSPENDED) return 0;
        if (w == HTTP_WAIT_STOPPING) return MHD_CONTENT_READER_END_OF_STREAM;
    }
    clock_gettime(CLOCK_MONOTONIC, &f->last_write);
    return (ssize_t)n;
}

int res_events(struct req *r) {
    const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (last == NULL) last = req_query(r, "after");
    uint64_t now = events_last_id(), from = now;
    bool reset = false;
    if (last != NULL && last[0] != '\0') {
        int64_t v;
        if (!util_parse_i64(last, &v) || v < 0) {
            dmt_err_field(&r->err, "Last-Event-ID", "must be an event id (an integer >= 0)");
            return dmt_err_set(&r->err, DMT_ERR_INVALID, "the request has 1 invalid parameter");
        }
        /* An id from an earlier server process: what this one has is new. */
        if ((uint64_t)v > now)
            reset = true;
        else
            from = (uint64_t)v;
    }
    struct feed *f = calloc(1, sizeof(*f));
    if (f == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "out of memory");
    f->r = r;
    f->last_id = from;
    clock_gettime(CLOCK_MONOTONIC, &f->last_write);
    /* The first bytes tell the client how soon to reconnect, and let its
     * EventSource open at once. */
    if (reset)
        put(f, "retry: 2000\nid: %llu\nevent: reset\ndata: %s\n\n", (unsigned long long)from,
            "{\"reason\":\"the server restarted: reload\"}");
    else
        put(f, "retry: 2000\n: events after %llu%s\n\n", (unsigned long long)from, "");
    r->cleanup = feed_free;
    r->cleanup_arg = f;
    http_waiter_add(r, &f->w);
    return reply_stream(r, 200, "text/event-stream; charset=utf-8", feed_reader, f);
}

/* --- publishing the API's writes ------------------------------------------- */

static const struct {
    const char *plural, *kind;
} kinds[] = {
    {"environments", "environment"}, {"jobs", "job"}, {"tasks", "task"},
    {"variables", "variable"},       {"overrides", "override"}, {"runs", "run"},
    {"users", "user"},               {"tokens", "token"},
};

/* The version in an ETag "KIND-ID-VERSION[-...]", 0 if there is none. */
static int64_t etag_version(const char *etag) {
    const char *p = etag != NULL ? strchr(etag, '-') : NULL;
    if (p != NULL) p = strchr(p + 1, '-');
    return p != NULL ? strtoll(p + 1, NULL, 10) : 0;
}

void http_events_publish_write(struct req *r, unsigned status, const char *etag,
                               const char *location) {
    char path[512];
    snprintf(path, sizeof(path), "%s", location != NULL && location[0] != '\0' ? location : r->url);
    if (strncmp(path, "/api/v1/", 8) != 0) return;
    const char *kind = NULL, *name = NULL, *verb = NULL;
    char copy[512];
    memcpy(copy, path, sizeof(copy));
    char *save = NULL, *seg = strtok_r(copy + 8, "/", &save);
    while (seg != NULL) {
        const char *k = NULL;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
            if (strcmp(seg, kinds[i].plural) == 0) k = kinds[i].kind;
        char *next = strtok_r(NULL, "/", &save);
        if (k != NULL && next != NULL) {
            kind = k;
            name = next;
            verb = NULL;
            seg = strtok_r(NULL, "/", &save);
        } else {
            verb = seg; /* cancel, rerun */
            seg = next;
        }
    }
    if (kind == NULL) return; /* a login, say: nothing others show */
    const char *action = verb != NULL                         ? verb
                         : strcmp(r->method, "DELETE") == 0   ? "deleted"
                         : status == 201                      ? "created"
                                                              : "updated";
    events_publish(kind, name, path, etag_version(etag), action, NULL);
}
